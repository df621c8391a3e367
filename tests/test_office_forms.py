"""Forms as people make them: written in Word layouts, then saved by LibreOffice as
PDF, .docx, .doc, .odt and .rtf, each read back field by field with long answers
(a 63-character email address, a three-line address, a 2,000-character concern,
names with apostrophes and hyphens). Converted once per run (`office_forms`)."""

from __future__ import annotations

import functools
import io
import random
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from docx import Document
from support import RULES
from support.forms import (
    DOCX_LAYOUTS,
    LONG_VALUES,
    VALUE_SETS,
    expected_fields,
    make_form,
    same_as_written,
)
from support.forms_docx import continued_rows, typed_line_breaks
from support.mail import referral_email

from intake.domain.check import check
from intake.domain.models import Attachment, Extraction
from intake.extract import extract
from intake.mail.parse import parse

WRITERS = ("pdf", "docx", "doc", "odt", "rtf")
RECEIVED = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
SOURCE = {"pdf": "pdf-text", "docx": "docx", "doc": "doc", "odt": "odt", "rtf": "rtf"}


def read_bytes(name: str, data: bytes) -> Extraction:
    return extract([Attachment(name, "application/octet-stream", data, len(data))], RULES)


@functools.cache
def read(path: Path) -> Extraction:
    """Each converted file is read once per run (a .doc costs a LibreOffice start)."""
    return read_bytes(path.name, path.read_bytes())


def misread(values: dict[str, str], result: Extraction, writer: str) -> dict[str, tuple]:
    """Each field not read as written (or read though not written): key -> (written, read).
    A PDF may join a line wrapped at the edge with a space."""
    expected = expected_fields(values)
    return {key: (expected.get(key), result.fields.get(key))
            for key in expected.keys() | result.fields.keys()
            if not same_as_written(expected.get(key, ""), result.fields.get(key, ""),
                                   wrapped=writer == "pdf")}


@pytest.mark.parametrize("writer", WRITERS)
@pytest.mark.parametrize("values", VALUE_SETS)
@pytest.mark.parametrize("layout", DOCX_LAYOUTS)
def test_every_field_comes_back_from_what_libreoffice_wrote(office_forms, layout, values,
                                                            writer):
    result = read(office_forms[(f"{layout}/{values}", writer)])
    assert result.review_reason is None
    assert result.source == SOURCE[writer]
    assert misread(VALUE_SETS[values], result, writer) == {}


@pytest.mark.parametrize("writer", WRITERS)
@pytest.mark.parametrize("layout", DOCX_LAYOUTS)
def test_verdicts_on_what_libreoffice_wrote(office_forms, layout, writer):
    """Complete forms are complete (no address 'not valid' for being wrapped); the
    incomplete one names exactly what is missing or invalid."""
    for values, status, missing, invalid in (
        ("long", "complete", (), ()),
        ("sample", "complete", (), ()),
        ("incomplete", "incomplete", ("subject_surname", "referrer_phone"),
         ("referrer_email",)),
    ):
        path = office_forms[(f"{layout}/{values}", writer)]
        email = parse(referral_email([(path.name, "application/octet-stream",
                                       path.read_bytes())]))
        [attachment] = email.attachments
        assert attachment.data == path.read_bytes()
        extraction = read(path)
        verdict = check(extraction.fields, extraction, email, RECEIVED, RULES,
                        mailbox_address="prevent@lewisham.gov.uk")
        assert (verdict.status, verdict.missing, verdict.invalid) == (status, missing, invalid)


@pytest.mark.parametrize("writer", ("generator", *WRITERS))
def test_typed_line_breaks_come_back_as_line_breaks(office_forms, writer):
    """A line break typed inside an answer (Shift+Enter, not a new paragraph) is a line
    break: Word, .doc, .odt and .rtf files say so. Only from a PDF may one typed exactly
    where the next word would not have fitted read as a space."""
    if writer == "generator":
        data = typed_line_breaks(make_form("docx", LONG_VALUES)[2])
        with zipfile.ZipFile(io.BytesIO(data)) as docx:
            xml = docx.read("word/document.xml").decode()
        assert xml.count("<w:br/>") >= LONG_VALUES["subject_address"].count("\n")
        result = read_bytes("form.docx", data)
    else:
        result = read(office_forms[("docx-breaks/long", writer)])
    assert result.review_reason is None
    assert misread(LONG_VALUES, result, writer) == {}


@pytest.mark.parametrize("writer", ("generator", *WRITERS))
def test_an_answer_carried_on_in_rows_added_under_it_is_read_whole(office_forms, writer):
    """An address typed one line a table row, its label on the first row only and the
    label cell of the rows under it left empty, is read whole: every line, in order,
    one line break apart; the questions in the rows after it keep their own answers."""
    if writer == "generator":
        data = continued_rows(make_form("docx", LONG_VALUES)[2])
        document = Document(io.BytesIO(data))
        unlabelled = [row for table in document.tables for row in table.rows
                      if len(row.cells) == 2 and not row.cells[0].text and row.cells[1].text]
        assert len(unlabelled) == LONG_VALUES["subject_address"].count("\n")
        result = read_bytes("form.docx", data)
    else:
        result = read(office_forms[("docx-rows/long", writer)])
    assert result.review_reason is None
    assert misread(LONG_VALUES, result, writer) == {}


def random_values(rng: random.Random) -> dict[str, str]:
    """Long, wrapping answers: hyphenated names, long email addresses and tokens."""
    words = ["Seán-Patrick", "D'Arcy-Jones", "O'Brien-Ashworth", "well-being", "Rushey",
             "Catford", "internationalisation", "221-223", "SE6", "4BD", "school", "online",
             "Llanfairpwllgwyngyllgogerychwyrndrobwll", "mother", "x", "a", "Year", "9"]

    def text(count: int) -> str:
        return " ".join(rng.choice(words) for _ in range(count))

    local = ".".join(rng.choice(["mary-kate", "obrien-ashworth", "safeguarding", "dsl", "j"])
                     for _ in range(rng.randint(1, 5)))
    values = {key: text(rng.randint(1, 12)) for key in VALUE_SETS["long"]}
    values.update(
        subject_dob="07/03/2011", referral_date="12/11/2026", individual_aware="Yes",
        subject_address="\n".join(text(rng.randint(2, 6)) for _ in range(3)),
        concerns=text(rng.randint(150, 300)),
        referrer_email=f"{local}@{rng.choice(['sedgehill', 'prendergast-school'])}"
                       ".example.sch.uk")
    return values


@pytest.mark.soak
def test_random_long_answers_through_libreoffice_pdf_soak(tmp_path):
    """200 forms of random long answers, every Word layout, saved as PDF by LibreOffice."""
    from support.forms import make_form
    from support.office import OfficeForms

    rng = random.Random(13)
    cases = {f"{layout}/{n}": (layout, random_values(rng))
             for n in range(50) for layout in DOCX_LAYOUTS}
    built = OfficeForms(tmp_path).build(
        {name: make_form(layout, values)[2] for name, (layout, values) in cases.items()},
        targets=("pdf",))
    wrong = {}
    for name, (_layout, values) in cases.items():
        result = read(built[(name, "pdf")])
        expected = expected_fields(values)
        bad = {k: (v, result.fields.get(k)) for k, v in expected.items()
               if not same_as_written(v, result.fields.get(k, ""), wrapped=True)}
        if bad:
            wrong[name] = bad
    assert wrong == {}
