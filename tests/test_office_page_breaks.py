"""A table row that LibreOffice splits over a page break, in the Word layouts, saved
as PDF: each box keeps its own answer (nothing credited to the box beside it) and
what carried over to the next page joins on as the writer wrapped it.

Each form is made so the split falls at a known line whatever the fonts: every line
is exactly 14 points, and the table starts where its first row holds `lines` lines
on the first page (forms_docx.split_over_page). The first assertion of each test
checks that the split happened there."""

from __future__ import annotations

import pdfplumber
import pytest
from support import RULES
from support.forms import expected_fields, form_outline, same_as_written
from support.forms_docx import make_docx, make_docx_boxes, split_over_page

from intake.extract.labels import LabelMatcher
from intake.extract.pdf_text import group_lines, read_text_pdf

NAME = "Mary-Kate O'Brien-Ashworth Seán-Patrick D'Arcy-Jones Catford Rushey well-being"
# (layout, questions, answers, lines of the first row on the first page)
CASES: dict[str, tuple[str, tuple[str, ...], dict[str, str], int]] = {
    # label | answer: the answer's wrapped lines carry on over the page
    "answer-lines": ("docx", ("referrer_name", "referrer_role"),
                     {"referrer_name": NAME, "referrer_role": "Head of Year 9"}, 1),
    # ... broken inside one token too wide for its cell
    "answer-token": ("docx", ("referrer_email", "referral_date"),
                     {"referrer_email": "safeguardingteamleadsecondary@prendergastfederation"
                      ".example.sch.uk", "referral_date": "12/11/2026"}, 1),
    # the label wraps over the page ("Professional Role &" / "Organisation")
    "label-lines": ("docx", ("referrer_role", "referrer_relationship"),
                    {"referrer_role": "Head of Year 9", "referrer_relationship": "Teacher"}, 1),
    # a long question spanning the table, its second line and answer on the next page
    "long-label": ("docx", ("complex_needs",),
                   {"complex_needs": "Diagnosed with ADHD in 2023; awaiting an assessment."}, 1),
    # two boxes to a row: both questions on one page, both answers on the next
    "boxes-labels": ("docx-boxes", ("referrer_email", "referral_date"),
                     {"referrer_email": "mary-kate.obrien-ashworth@sedgehill.example.sch.uk",
                      "referral_date": "12/11/2026"}, 1),
    # ... the left answer broken inside its token, the right one whole on the first page
    "boxes-token": ("docx-boxes", ("referrer_email", "referral_date"),
                    {"referrer_email": "dsl.obrien-ashworth.dsl.obrien-ashworth@prendergast-"
                     "school.example.sch.uk", "referral_date": "12/11/2026"}, 2),
    # ... the left answer's wrapped lines carry on, the right one is whole
    "boxes-lines": ("docx-boxes", ("referrer_relationship", "referrer_phone"),
                    {"referrer_relationship": NAME, "referrer_phone": "020 8690 0000"}, 2),
    # a box alone in its row (a table of one cell on the first page)
    "box-alone": ("docx-boxes", ("subject_address", "subject_nationality"),
                  {"subject_address": "Flat 12, Rushey Green House\n221-223 Rushey Green\n"
                   "Catford, London SE6 4BD", "subject_nationality": "British"}, 2),
}


def _outline(questions: tuple[str, ...]):
    return [(heading, [q for q in asked if q[0] in questions])
            for heading, asked in form_outline() if any(q[0] in questions for q in asked)]


@pytest.fixture(scope="module")
def split_forms(tmp_path_factory):
    """Every case written as .docx and saved as PDF by LibreOffice, in one start."""
    from support.office import OfficeForms

    forms = {}
    for name, (layout, questions, values, lines) in CASES.items():
        outline = _outline(questions)
        docx = (make_docx_boxes(outline, values) if layout == "docx-boxes"
                else make_docx(outline, values, controls=False))
        forms[name] = split_over_page(docx, outline[0][0], lines)
    built = OfficeForms(tmp_path_factory.mktemp("page-breaks")).build(forms, targets=("pdf",))
    return {name: built[(name, "pdf")] for name in CASES}


@pytest.mark.parametrize("case", CASES)
def test_a_row_split_over_a_page_keeps_each_answer_in_its_box(split_forms, case):
    _layout, _questions, values, lines = CASES[case]
    with pdfplumber.open(split_forms[case]) as pdf:
        split = [len(group_lines(page.extract_words())) for page in pdf.pages[1:]]
        assert split[0] == lines and len(split) == 2 and split[1] > 0
        answers, _chars = read_text_pdf(pdf, LabelMatcher(RULES))
    expected = expected_fields(values)
    wrong = {key: (expected.get(key), answers.fields.get(key))
             for key in expected.keys() | answers.fields.keys()
             if not same_as_written(expected.get(key, ""), answers.fields.get(key, ""),
                                    wrapped=True)}
    assert wrong == {}
