"""Make Prevent referral forms in every layout they reach us in, and hostile files.

    make_form(layout, values, older_labels=False) -> (filename, content_type, bytes)

Layouts (LAYOUTS): "pdf-form" (fillable, meaningful field names),
"pdf-form-generic" (Text1... with the question as tooltip),
"pdf-form-unnamed" (Text1... without tooltips: only the printed label),
"pdf-text" (Word saved as PDF: headings, two-column tables, ticks as ☒/☐),
"docx" (Word tables with ☒/☐), "docx-controls" (Word check-box content
controls), "docx-boxes" (each question in a box, its answer under it in the
same box), "docx-lines" (no tables: "Label: answer" lines, long answers under
their label). Values are canonical key -> answer; "" or a missing key leaves the
answer empty. Used by tests, the demo samples and benchmarks/bench_extract.py.
"""

from __future__ import annotations

import io
import sys
import zipfile
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent
if str(TESTS) not in sys.path:  # imported from outside tests/ (benchmarks, tools)
    sys.path.append(str(TESTS))

from support import RULES, forms_pdf  # noqa: E402
from support.forms_docx import make_docx, make_docx_boxes, make_docx_lines  # noqa: E402

PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
LAYOUTS = (
    "pdf-form",
    "pdf-form-generic",
    "pdf-form-unnamed",
    "pdf-text",
    "docx",
    "docx-controls",
    "docx-boxes",
    "docx-lines",
)
DOCX_LAYOUTS = ("docx", "docx-controls", "docx-boxes", "docx-lines")
SOURCE_OF_LAYOUT = {
    "pdf-form": "pdf-form",
    "pdf-form-generic": "pdf-form",
    "pdf-form-unnamed": "pdf-form",
    "pdf-text": "pdf-text",
    "docx": "docx",
    "docx-controls": "docx",
    "docx-boxes": "docx",
    "docx-lines": "docx",
}

CONCERNS = (
    "Zoë has been sharing videos from an extreme right-wing channel with younger pupils "
    'during lunch breaks, and told a classmate that "people like her" should be sent back. '
    "Staff have noticed a marked change in her behaviour since September.\n"
    "On 3 November she was found in the library using a school laptop to look at a forum that "
    "glorifies attacks abroad. She said a man she met online, who calls himself 'Brother Jan', "
    "sends her material every evening and told her not to tell her family.\n"
    "Her mother, Mrs O'Connor, has been told and is supportive. Zoë's attendance has dropped to "
    "81% this term."
)

SAMPLE_VALUES: dict[str, str] = {
    "subject_forenames": "Zoë Anne",
    "subject_surname": "O'Connor",
    "subject_dob": "07/03/2011",
    "subject_gender": "Female",
    "subject_address": "Flat 2, Łukasz Court\n14 Lewisham High Street\nLondon SE13 6LG",
    "subject_nationality": "British / Irish",
    "subject_language": "English",
    "subject_phone": "07700 900123",
    "concerns": CONCERNS,
    "complex_needs": "",
    "other_information": "Known to CAMHS since 2024. Social worker: Renée Adébáyó (Lewisham "
    "Children's Social Care).",
    "individual_aware": "Yes",
    "referrer_name": "Łukasz Nowak-Żelazny",
    "referrer_role": "Head of Year 9, Prendergast School",
    "referrer_relationship": "Teacher",
    "referrer_phone": "020 8690 0000",
    "referrer_email": "l.nowak@prendergast.example.org",
    "referral_date": "12/11/2026",
}

# Long answers, as real referrers write them: a 60-character email address, a
# three-line address, a 2,000-character concern, apostrophes and hyphens.
LONG_CONCERNS = (
    "Since the start of the autumn term D'Arcy-Jones has spent most lunch breaks alone in the "
    "IT suite. Staff have seen him watching long videos from a channel that promotes an "
    "extreme right-wing group, and on two occasions he has shown them to Year 7 pupils, "
    "saying they should 'wake up' before it is too late. "
    "On 14 October he told his form tutor that a man he plays online games with, who calls "
    "himself 'Wolf-88', has offered to meet him at the weekend and 'sort out his future'. "
    "He would not say where they would meet.\n"
    "His attendance has dropped from 97% to 82%, his written work now includes slogans "
    "copied from the channel, and he has stopped seeing the friends he had last year. "
    "When his head of year asked about this, he said that teachers 'would not understand' "
    "and that 'people like us' are being replaced. His older brother was excluded from "
    "another school in 2024 after a similar change in behaviour.\n"
    "His mother, Mrs O'Sullivan-Baptiste, says he is on his phone until the early hours and "
    "has become withdrawn at home. She has agreed to this referral and wants help. "
    "The school's safeguarding team has spoken to him twice; on both occasions he repeated "
    "the same phrases and asked whether the school 'reports people to the police'. "
    "We have not seen any sign that he intends to hurt anyone, but we are worried about the "
    "adult who contacts him, the material he is sharing with younger pupils and how quickly "
    "his views have hardened. He has an assessment with the educational psychologist "
    "booked for January, and the school nurse is aware of his poor sleep. We would welcome "
    "advice on how to speak with him about the online contact without pushing him away, "
    "and whether the man he describes is known to the police.\n"
    "Contact with the family has been by phone and at two meetings in school. His father "
    "works away during the week; the family's first language is English. There are no "
    "other agencies involved at present, although the family was supported by early help "
    "in 2022 after a housing move. Any questions to the safeguarding team, please."
)
LONG_VALUES: dict[str, str] = {
    **SAMPLE_VALUES,
    "subject_forenames": "Seán-Patrick",
    "subject_surname": "D'Arcy-Jones",
    "subject_address": "Flat 12, Rushey Green House\n221-223 Rushey Green\nCatford, London SE6 4BD",
    "subject_nationality": "British",
    "concerns": LONG_CONCERNS,
    "complex_needs": "Diagnosed with ADHD in 2023; awaiting an autism assessment.",
    "referrer_name": "Mary-Kate O'Brien-Ashworth",
    "referrer_role": "Designated Safeguarding Lead, Sedgehill Academy",
    "referrer_email": "mary-kate.obrien-ashworth.safeguarding@sedgehill.example.sch.uk",
}

# Long answers with two required ones missing and an email address that is not one.
INCOMPLETE_VALUES = {**LONG_VALUES, "subject_surname": "", "referrer_phone": "",
                     "referrer_email": "mary-kate.obrien-ashworth at sedgehill academy"}
VALUE_SETS = {"sample": SAMPLE_VALUES, "long": LONG_VALUES, "incomplete": INCOMPLETE_VALUES}


def same_as_written(expected: str, got: str, wrapped: bool) -> bool:
    """`got` is `expected`, character for character. From a file whose lines were
    wrapped by the writer (a PDF), a line break the writer made exactly where the next
    word would not have fitted cannot be told from a wrap: it may read as a space.
    A space read as a line break, or a space lost or added, is still a mismatch."""
    if not wrapped:
        return got == expected
    return len(got) == len(expected) and all(
        g == e or (e == "\n" and g == " ") for g, e in zip(got, expected, strict=True))


# How an older, locally edited copy of the form words some questions.
OLDER_LABELS = {
    "subject_forenames": "First name(s)",
    "subject_dob": "DOB",
    "subject_address": "Address",
    "subject_phone": "Telephone",
    "concerns": "Details of concern",
    "referrer_role": "Job title / Organisation",
    "referrer_email": "Email",
}

# Field names a fillable PDF with meaningful names uses.
FIELD_NAMES = {
    "subject_forenames": "SubjectForenames",
    "subject_surname": "SubjectSurname",
    "subject_dob": "SubjectDOB",
    "subject_gender": "SubjectGender",
    "subject_address": "SubjectAddress",
    "subject_nationality": "SubjectNationality",
    "subject_language": "SubjectLanguage",
    "subject_phone": "SubjectPhone",
    "concerns": "Concerns",
    "complex_needs": "ComplexNeeds",
    "other_information": "OtherInformation",
    "individual_aware": "IndividualAwareOfReferral",
    "referrer_name": "ReferrerName",
    "referrer_role": "ReferrerRoleAndOrganisation",
    "referrer_relationship": "ReferrerRelationship",
    "referrer_phone": "ReferrerPhone",
    "referrer_email": "ReferrerEmail",
    "referral_date": "ReferralDate",
}


def form_outline(older_labels: bool = False) -> list[tuple[str, list[tuple[str, str, str]]]]:
    """[(section heading, [(key, printed label, validator), ...]), ...] in form order."""
    rules = RULES
    outline: list[tuple[str, list[tuple[str, str, str]]]] = []
    for section in rules.sections:
        questions = []
        for rule in rules.fields:
            if rule.section == section.key:
                label = OLDER_LABELS.get(rule.key, rule.label) if older_labels else rule.label
                questions.append((rule.key, label, rule.validator))
        heading = section.aliases[0] if older_labels and section.aliases else section.title
        outline.append((heading, questions))
    return outline


def expected_fields(values: dict[str, str]) -> dict[str, str]:
    """What extraction should give back: every non-empty answer, stripped."""
    return {key: value.strip() for key, value in values.items() if value.strip()}


def _fillable(outline, values: dict[str, str], naming: str) -> bytes:
    return forms_pdf.fillable(outline, values, naming=naming, field_names=FIELD_NAMES)


def make_form(
    layout: str, values: dict[str, str], *, older_labels: bool = False
) -> tuple[str, str, bytes]:
    outline = form_outline(older_labels)
    if layout == "pdf-form":
        return (
            "referral.pdf",
            PDF,
            _fillable(outline, values, "meaningful"),
        )
    if layout == "pdf-form-generic":
        return (
            "referral.pdf",
            PDF,
            _fillable(outline, values, "tooltip"),
        )
    if layout == "pdf-form-unnamed":
        return (
            "referral.pdf",
            PDF,
            _fillable(outline, values, "none"),
        )
    if layout == "pdf-text":
        return "Prevent referral form.pdf", PDF, forms_pdf.flat(outline, values)
    if layout == "docx":
        return "Prevent referral.docx", DOCX, make_docx(outline, values, controls=False)
    if layout == "docx-controls":
        return "Prevent referral.docx", DOCX, make_docx(outline, values, controls=True)
    if layout == "docx-boxes":
        return "Prevent referral.docx", DOCX, make_docx_boxes(outline, values)
    if layout == "docx-lines":
        return "Prevent referral.docx", DOCX, make_docx_lines(outline, values)
    raise ValueError(f"unknown layout {layout!r}")


# Hostile and unreadable files: name -> (filename, content_type, bytes) maker.


def make_encrypted_pdf() -> tuple[str, str, bytes]:
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    writer.append(PdfReader(io.BytesIO(make_form("pdf-text", SAMPLE_VALUES)[2])))
    writer.encrypt(user_password="s3cret", owner_password="owner", algorithm="AES-128")
    out = io.BytesIO()
    writer.write(out)
    return "referral.pdf", PDF, out.getvalue()


def make_truncated_pdf() -> tuple[str, str, bytes]:
    data = make_form("pdf-text", SAMPLE_VALUES)[2]
    return "referral.pdf", PDF, data[: len(data) // 2]


def make_loop_pdf() -> tuple[str, str, bytes]:
    """A page tree and a field tree that each name themselves as their own kid."""
    return (
        "referral.pdf",
        PDF,
        forms_pdf.raw_pdf(
            [
                b"<< /Type /Catalog /Pages 2 0 R /AcroForm << /Fields [3 0 R] >> >>",
                b"<< /Type /Pages /Kids [2 0 R 4 0 R] /Count 2 >>",
                b"<< /T (Surname) /Kids [3 0 R] /V (x) >>",
                b"<< /Type /Pages /Parent 2 0 R /Kids [2 0 R] /Count 1 >>",
            ]
        ),
    )


def make_many_pages_pdf(pages: int = 20000) -> tuple[str, str, bytes]:
    return "referral.pdf", PDF, forms_pdf.many_pages(pages)


def make_html_pdf() -> tuple[str, str, bytes]:
    html = b"<!DOCTYPE html><html><body><h1>Prevent referral</h1><p>Surname: X</p></body></html>"
    return "referral.pdf", PDF, html


def make_scan_pdf() -> tuple[str, str, bytes]:
    return "scan0001.pdf", PDF, forms_pdf.scan()


def make_docx_bomb(megabytes: int = 200) -> tuple[str, str, bytes]:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open("word/document.xml", "w", force_zip64=True) as handle:
            chunk = b" " * (1024 * 1024)
            for _ in range(megabytes):
                handle.write(chunk)
    return "referral.docx", DOCX, out.getvalue()


def make_photo() -> tuple[str, str, bytes]:
    return "IMG_2041.jpg", "image/jpeg", forms_pdf.noise_jpeg()


HOSTILE = {
    "encrypted": (make_encrypted_pdf, "encrypted"),
    "truncated": (make_truncated_pdf, "damaged"),
    "object-loop": (make_loop_pdf, "damaged"),
    "many-pages": (make_many_pages_pdf, "not-recognised"),
    "html-as-pdf": (make_html_pdf, "damaged"),
    "scan": (make_scan_pdf, "scan"),
    "docx-bomb": (make_docx_bomb, "too-large"),
    "photo": (make_photo, "scan"),
}
