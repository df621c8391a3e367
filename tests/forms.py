"""Make Prevent referral forms in every layout they reach us in, and hostile files.

    make_form(layout, values, older_labels=False) -> (filename, content_type, bytes)

Layouts (LAYOUTS): "pdf-form" (fillable, meaningful field names),
"pdf-form-generic" (Text1... with the question as tooltip),
"pdf-form-unnamed" (Text1... without tooltips: only the printed label),
"pdf-text" (Word saved as PDF: headings, two-column tables, ticks as ☒/☐),
"docx" (Word tables with ☒/☐), "docx-controls" (Word check-box content
controls). Values are canonical key -> answer; "" or a missing key leaves the
answer empty. Used by tests, the demo samples and benchmarks/bench_extract.py.
"""

from __future__ import annotations

import io
import sys
import zipfile
from pathlib import Path

from intake.rules import load_rules

if str(Path(__file__).resolve().parent) not in sys.path:  # imported as tests.forms
    sys.path.append(str(Path(__file__).resolve().parent))

import forms_pdf  # noqa: E402
from forms_docx import make_docx  # noqa: E402

PDF = "application/pdf"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
LAYOUTS = (
    "pdf-form",
    "pdf-form-generic",
    "pdf-form-unnamed",
    "pdf-text",
    "docx",
    "docx-controls",
)
SOURCE_OF_LAYOUT = {
    "pdf-form": "pdf-form",
    "pdf-form-generic": "pdf-form",
    "pdf-form-unnamed": "pdf-form",
    "pdf-text": "pdf-text",
    "docx": "docx",
    "docx-controls": "docx",
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
    rules = load_rules()
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
