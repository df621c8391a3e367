"""Which attachment is the form, and what a message without a readable form gives."""

from __future__ import annotations

import pytest
from support import RULES
from support.forms import HOSTILE, SAMPLE_VALUES, expected_fields, make_form, make_photo

from intake.domain.models import Attachment
from intake.domain.records import ReviewReason
from intake.extract import extract


def attach(made: tuple[str, str, bytes], **extra) -> Attachment:
    filename, content_type, data = made
    return Attachment(filename, content_type, data, len(data), **extra)


def test_no_attachment_is_no_form() -> None:
    result = extract([], RULES, body_text="Please find my Prevent referral")
    assert (result.source, result.carries_form, result.review_reason) == ("none", False, None)


def test_logo_and_signature_images_do_not_carry_a_form() -> None:
    logo = Attachment("logo.png", "image/png", b"\x89PNG" + b"0" * 3000, 3004)
    photo = attach(make_photo(), inline=True)
    assert extract([logo, photo], RULES).source == "none"


def test_supporting_documents_beside_the_form_are_fine() -> None:
    form = attach(make_form("docx", SAMPLE_VALUES))
    letter = Attachment("letter.pdf", "application/pdf", *_pdf_letter())
    result = extract([letter, form, attach(make_photo())], RULES)
    assert result.review_reason is None
    assert result.filename == form.filename
    assert result.fields == expected_fields(SAMPLE_VALUES)


def test_the_same_form_twice_as_word_and_pdf_is_one_form() -> None:
    result = extract(
        [attach(make_form("docx", SAMPLE_VALUES)), attach(make_form("pdf-text", SAMPLE_VALUES))],
        RULES,
    )
    assert result.review_reason is None
    assert result.fields == expected_fields(SAMPLE_VALUES)


def test_two_forms_that_disagree_go_to_review() -> None:
    other = {**SAMPLE_VALUES, "subject_surname": "Okafor"}
    result = extract(
        [attach(make_form("docx", SAMPLE_VALUES)), attach(make_form("pdf-form", other))], RULES
    )
    assert result.review_reason == "several-forms"
    assert result.carries_form


def test_a_form_in_a_forwarded_message_counts() -> None:
    result = extract([attach(make_form("pdf-form", SAMPLE_VALUES), depth=1)], RULES)
    assert result.fields == expected_fields(SAMPLE_VALUES)


def test_a_readable_file_that_is_not_the_form_is_not_recognised() -> None:
    result = extract([Attachment("letter.pdf", "application/pdf", *_pdf_letter())], RULES)
    assert (result.review_reason, result.carries_form) == ("not-recognised", True)


@pytest.mark.parametrize(
    ("filename", "content_type", "reason"),
    [
        ("message.rpmsg", "application/x-microsoft-rpmsg-message", "encrypted-email"),
        ("smime.p7m", "application/pkcs7-mime", "encrypted-email"),
    ],
)
def test_recognised_but_unreadable_types(filename: str, content_type: str, reason: str) -> None:
    result = extract([Attachment(filename, content_type, b"\xd0\xcf\x11\xe0" * 100, 400)], RULES)
    assert (result.review_reason, result.carries_form) == (reason, True)


OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
OFFICE_FILES = [
    ("referral.doc", "application/msword", OLE + b"\x00" * 4000),
    ("referral.odt", "application/vnd.oasis.opendocument.text", b"PK\x03\x04" + b"\x00" * 26
     + b"mimetypeapplication/vnd.oasis.opendocument.text" + b"\x00" * 400),
    ("referral.rtf", "application/rtf", b"{\\rtf1 {{{{ not really"),
]


@pytest.mark.parametrize(("filename", "content_type", "data"), OFFICE_FILES)
def test_a_broken_doc_odt_or_rtf_is_damaged(filename: str, content_type: str,
                                            data: bytes) -> None:
    result = extract([Attachment(filename, content_type, data, len(data))], RULES)
    assert (result.review_reason, result.carries_form) == ("damaged", True)


@pytest.mark.parametrize(("filename", "content_type", "data"), OFFICE_FILES)
def test_without_libreoffice_doc_odt_and_rtf_stay_unsupported(monkeypatch, filename: str,
                                                              content_type: str,
                                                              data: bytes) -> None:
    from intake.extract import office

    monkeypatch.setattr(office, "soffice", lambda: None)
    result = extract([Attachment(filename, content_type, data, len(data))], RULES)
    assert (result.review_reason, result.carries_form) == ("unsupported", True)


def test_a_password_protected_word_file_is_encrypted() -> None:
    data = OLE + b"\x00" * 500 + "EncryptedPackage".encode("utf-16-le") + b"\x00" * 500
    for name in ("referral.docx", "referral.doc"):
        result = extract([Attachment(name, "application/octet-stream", data, len(data))], RULES)
        assert (result.review_reason, result.carries_form) == ("encrypted", True)


def test_too_large_attachment() -> None:
    big = Attachment("referral.pdf", "application/pdf", b"", 60_000_000, too_large=True)
    assert extract([big], RULES).review_reason == "too-large"


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_files_in_process_give_their_reason(name: str) -> None:
    maker, reason = HOSTILE[name]
    result = extract([attach(maker())], RULES)
    assert (result.review_reason, result.carries_form) == (reason, True)
    assert result.fields == {}


def _pdf_letter() -> tuple[bytes, int]:
    import io

    from reportlab.pdfgen import canvas

    out = io.BytesIO()
    page = canvas.Canvas(out)
    page.drawString(72, 720, "Dear colleague, please see the attached referral. Name: Jo Bloggs")
    page.save()
    return out.getvalue(), len(out.getvalue())


@pytest.mark.parametrize(
    ("attachments", "reason"),
    [
        ([Attachment("smime.p7m", "application/pkcs7-mime", b"\x30" * 400, 400)],
         "encrypted-email"),
        ([Attachment(*OFFICE_FILES[2], len(OFFICE_FILES[2][2]))], "damaged"),
        ([Attachment("referral.pdf", "application/pdf", b"", 60_000_000, too_large=True)],
         "too-large"),
    ],
)
def test_the_reason_leaves_extract_as_the_contract_word_typed(attachments, reason: str) -> None:
    """The reason is the enum member itself, so the intake it becomes cannot hold a word
    the contract's review_reason does not list."""
    assert extract(attachments, RULES).review_reason is ReviewReason(reason)


def test_the_rules_check_file_types_against_every_kind_extract_reads() -> None:
    from intake.domain.rules import READ_KINDS
    from intake.extract import office

    assert READ_KINDS == {"pdf", "docx", *office.KINDS}
