"""Forms as people make them: written in Word layouts, then saved by LibreOffice as
PDF, .docx, .doc, .odt and .rtf, each read back field by field with long answers
(a 63-character email address, a three-line address, a 2,000-character concern,
names with apostrophes and hyphens). Converted once per run (`office_forms`)."""

from __future__ import annotations

import functools
from datetime import UTC, datetime
from pathlib import Path

import pytest
from forms import DOCX_LAYOUTS, VALUE_SETS, expected_fields, same_as_written
from mail import referral_email

from intake.check import check
from intake.extract import extract
from intake.models import Attachment, Extraction
from intake.parse import parse
from intake.rules import load_rules

RULES = load_rules()
WRITERS = ("pdf", "docx", "doc", "odt", "rtf")
RECEIVED = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
SOURCE = {"pdf": "pdf-text", "docx": "docx", "doc": "doc", "odt": "odt", "rtf": "rtf"}


@functools.cache
def read(path: Path) -> Extraction:
    """Each converted file is read once per run (a .doc costs a LibreOffice start)."""
    data = path.read_bytes()
    return extract([Attachment(path.name, "application/octet-stream", data, len(data))], RULES)


@pytest.mark.parametrize("writer", WRITERS)
@pytest.mark.parametrize("values", VALUE_SETS)
@pytest.mark.parametrize("layout", DOCX_LAYOUTS)
def test_every_field_comes_back_from_what_libreoffice_wrote(office_forms, layout, values,
                                                            writer):
    result = read(office_forms[(f"{layout}/{values}", writer)])
    assert result.review_reason is None
    assert result.source == SOURCE[writer]
    expected = expected_fields(VALUE_SETS[values])
    wrong = {key: (expected.get(key), result.fields.get(key))
             for key in expected.keys() | result.fields.keys()
             if not same_as_written(expected.get(key, ""), result.fields.get(key, ""),
                                    wrapped=writer == "pdf")}
    assert wrong == {}


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
