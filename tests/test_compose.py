"""What the Composer writes: headers, wording, and never a form answer."""

from __future__ import annotations

import re
from dataclasses import fields, replace
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from support.settings import SENDER

from intake.config.settings_types import Settings
from intake.domain.records import LOOP_HEADER, Intake, ReviewReason, Status
from intake.mail.compose import Composer

REFERRAL_ID = "<referral-1@school.example.org>"

# Distinctive personal values a reply must never carry.
PERSONAL = {
    "subject_forenames": "Zebedee",
    "subject_surname": "Quixtable",
    "subject_dob": "29/02/2008",
    "subject_address": "14 Wisteria Crescent, Bexcombe SE6 9QQ",
    "concerns": "Xylophonic grievances against the harbourmaster",
    "referrer_name": "Ottoline Fairweather",
}

FINDINGS = [
    {"rule": "required", "field": "subject_dob", "label": "Date of Birth (DD/MM/YYYY)",
     "message": "Please give the individual's date of birth."},
    {"rule": "required", "field": "subject_address", "label": "Known Address(es)",
     "message": "Please give the individual's known address."},
    {"rule": "recipients", "field": "mashagency@lewisham.gov.uk",
     "label": "mashagency@lewisham.gov.uk", "message": "Copy in the MASH."},
    {"rule": "recipients", "field": "preventreferrals@met.pnn.police.uk",
     "label": "preventreferrals@met.pnn.police.uk", "message": "Address it to the police."},
]


def make_intake(**overrides: Any) -> Intake:
    """An intake as the store would hand it over, from its columns' values."""
    intake: dict[str, Any] = {
        "id": 1, "reference": "PRV-2026-00042", "status": "complete",
        "received_at": "2026-06-01T08:30:00+00:00", "last_message_at": "2026-06-01T08:30:00+00:00",
        "sender": "jo.teacher@school.example.org", "reply_to": "jo.teacher@school.example.org",
        "message_id": REFERRAL_ID, "findings": [], "missing": [], "invalid": [],
        "cc_missing": [], "review_reason": None, "priority": "normal", "urgent_because": [],
        "reminders_sent": 0, "fields": dict(PERSONAL), "recipients": [],
    }
    intake.update(overrides)
    return Intake.from_row(intake)


class GuardedIntake(Intake):
    """An intake whose form answers raise when anything reads them (to_row, asdict and
    vars-style copies read them too)."""

    FORBIDDEN = frozenset({"fields", "field_sources"})

    def __getattribute__(self, name: str) -> Any:
        if name in GuardedIntake.FORBIDDEN:
            raise AssertionError(f"compose read {name}")
        return super().__getattribute__(name)


def guarded(intake: Intake) -> GuardedIntake:
    return GuardedIntake(**{f.name: getattr(intake, f.name) for f in fields(Intake)})


@pytest.fixture
def composer(settings: Settings) -> Composer:
    return Composer(settings)


def text_of(msg: EmailMessage) -> str:
    plain = msg.get_body(("plain",))
    assert plain is not None
    return plain.get_content()


def html_of(msg: EmailMessage) -> str:
    html = msg.get_body(("html",))
    assert html is not None
    return html.get_content()


def reparse(msg: EmailMessage) -> EmailMessage:
    return message_from_bytes(msg.as_bytes(policy=policy.SMTP), policy=policy.default)


def test_acknowledgement_has_exactly_the_reply_headers_and_one_recipient(composer):
    msg = reparse(composer.acknowledgement(make_intake()))

    assert sorted(msg.keys()) == sorted([
        "From", "To", "Subject", "Date", "Message-ID", "In-Reply-To", "References",
        "Auto-Submitted", "X-Auto-Response-Suppress", LOOP_HEADER, "MIME-Version",
        "Content-Type",
    ])
    assert msg["Subject"] == "[PRV-2026-00042] Prevent referral received"
    assert msg["From"] == SENDER
    assert [a.addr_spec for a in msg["To"].addresses] == ["jo.teacher@school.example.org"]
    assert msg["In-Reply-To"] == REFERRAL_ID and msg["References"] == REFERRAL_ID
    assert msg["Auto-Submitted"] == "auto-replied"
    assert msg["X-Auto-Response-Suppress"] == "All"
    assert msg[LOOP_HEADER] == "PRV-2026-00042"
    assert re.fullmatch(r"<[^<>@\s]+@lewisham\.gov\.uk>", msg["Message-ID"])
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]


def test_each_message_gets_its_own_message_id(composer):
    first = composer.acknowledgement(make_intake())
    second = composer.acknowledgement(make_intake())
    assert first["Message-ID"] != second["Message-ID"]


def test_complete_acknowledgement_says_reference_time_and_complete(composer):
    text = text_of(composer.acknowledgement(make_intake()))
    assert "PRV-2026-00042" in text
    assert "Monday 1 June 2026 at 09:30 (BST)" in text  # Europe/London, not UTC
    assert "is complete" in text
    for guidance in ("999", "0800 789 321", "020 8314 6660"):
        assert guidance in text


def test_incomplete_acknowledgement_names_each_missing_label_and_absent_address(composer):
    intake = make_intake(
        status="incomplete", findings=FINDINGS, missing=["subject_dob", "subject_address"],
        cc_missing=["mashagency@lewisham.gov.uk", "preventreferrals@met.pnn.police.uk"],
    )
    msg = composer.acknowledgement(intake)
    # The HTML part escapes the apostrophe; the plain-text part keeps it.
    for body, apostrophe in ((text_of(msg), "'"), (html_of(msg), "&#39;")):
        assert "not complete" in body
        assert "Date of Birth (DD/MM/YYYY)" in body
        assert f"Please give the individual{apostrophe}s date of birth." in body
        assert "Known Address(es)" in body
        assert "these addresses in Cc" in " ".join(body.split())
        assert "mashagency@lewisham.gov.uk" in body
        assert "preventreferrals@met.pnn.police.uk" in body
        assert "0800 789 321" in body


def test_referral_without_a_form_is_told_so(composer):
    intake = make_intake(status="incomplete", missing=["form"], findings=[])
    assert "No referral form was attached" in text_of(composer.acknowledgement(intake))


def test_manual_review_acknowledgement_says_why_and_what_to_send(composer):
    intake = make_intake(status="manual_review", review_reason="scan")
    msg = composer.acknowledgement(intake)
    text = text_of(msg)
    assert "received your Prevent referral" in text
    assert "could not read the referral form" in text
    assert "scan or a photo" in text
    assert "Word document (.docx) or the fillable PDF form" in text
    assert "password-protected" in text
    assert "999" in text and "020 8314 6660" in text
    assert "not complete" not in text


def test_correction_and_reminder_subjects(composer):
    intake = make_intake(status="incomplete", findings=FINDINGS[:1], missing=["subject_dob"])
    correction = composer.acknowledgement(intake, correction=True)
    assert correction["Subject"] == "[PRV-2026-00042] Prevent referral updated"
    assert "update to your Prevent referral" in text_of(correction)
    reminder = composer.reminder(intake, 2)
    assert reminder["Subject"] == "[PRV-2026-00042] Prevent referral: still needed"
    assert reminder["Auto-Submitted"] == "auto-replied"
    assert reminder["In-Reply-To"] == REFERRAL_ID
    assert "Reminder 2 of 3" in text_of(reminder)
    assert "Date of Birth (DD/MM/YYYY)" in text_of(reminder)
    assert "last reminder" in text_of(composer.reminder(intake, 3))


def test_alert_goes_to_mash_with_verdicts_only(composer):
    intake = make_intake(status="incomplete", priority="urgent",
                         urgent_because=["knife", "attack"])
    msg = composer.alert(intake)
    assert [a.addr_spec for a in reparse(msg)["To"].addresses] == ["mashagency@lewisham.gov.uk"]
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg[LOOP_HEADER] == "PRV-2026-00042"
    text = text_of(msg)
    assert "PRV-2026-00042" in text and "Priority: urgent" in text
    assert "Reason: urgent (matched: knife, attack)" in text
    review = text_of(composer.alert(make_intake(status="manual_review", priority="urgent",
                                                urgent_because=["bomb"],
                                                review_reason="encrypted")))
    assert "Reason: urgent (matched: bomb)\nReason: manual review: the file is " \
        "password-protected (encrypted)\n" in review
    failed = text_of(composer.alert(make_intake(status="manual_review", review_reason="error")))
    assert "Reason: manual review: the service failed while processing the email; it is kept " \
        "and tried again at the next start (error)\n" in failed


@pytest.mark.parametrize("kind", ["ack", "correction", "reminder", "alert", "review"])
def test_no_message_carries_a_personal_value_and_none_reads_the_form(composer, kind):
    """GIVEN an intake whose form answers are distinctive (and raise when read)
    WHEN any message about it is composed THEN none of those values is in its bytes."""
    base = make_intake(status="incomplete", findings=FINDINGS, missing=["subject_dob"],
                       cc_missing=["mashagency@lewisham.gov.uk"], priority="urgent",
                       urgent_because=["bomb"])
    if kind == "review":
        base = replace(base, status=Status.MANUAL_REVIEW, review_reason=ReviewReason.DAMAGED)
    intake = guarded(base)
    msg = {
        "ack": lambda: composer.acknowledgement(intake),
        "correction": lambda: composer.acknowledgement(intake, correction=True),
        "reminder": lambda: composer.reminder(intake, 1),
        "alert": lambda: composer.alert(intake),
        "review": lambda: composer.acknowledgement(intake),
    }[kind]()
    raw = msg.as_bytes(policy=policy.SMTP)
    readable = raw.decode("ascii") + text_of(msg) + html_of(msg)
    for value in PERSONAL.values():
        assert value not in readable, (kind, value)
        for piece in value.replace(",", " ").split():
            if len(piece) > 4:  # every long word of these values is distinctive
                assert piece not in readable, (kind, piece)
    assert "29/02" not in readable and "SE6 9QQ" not in readable


def test_header_values_from_input_cannot_break_lines(composer):
    intake = make_intake(reference="PRV-2026-00042\r\nBcc: everyone@example.org",
                         message_id="<x@y>\r\nBcc: evil@example.org",
                         reply_to="jo@school.example.org\r\nBcc: evil@example.org")
    with pytest.raises(ValueError):
        composer.acknowledgement(intake)  # the reply address no longer is one address
    intake = replace(intake, reply_to="jo@school.example.org")
    msg = composer.acknowledgement(intake)
    raw = msg.as_bytes(policy=policy.SMTP)
    assert b"\nBcc:" not in raw
    assert all("\n" not in v and "\r" not in v for v in msg.values())
    assert reparse(msg)["In-Reply-To"] == "<x@y>"


def test_machine_mail_without_reply_address_gets_no_acknowledgement(composer):
    with pytest.raises(ValueError):
        composer.acknowledgement(make_intake(reply_to=None))


def test_html_part_escapes_what_it_shows(composer):
    finding = {"rule": "required", "field": "x", "label": "<b>Label</b>",
               "message": "<script>alert(1)</script>"}
    intake = make_intake(status="incomplete", findings=[finding], missing=["x"])
    html = html_of(composer.acknowledgement(intake))
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<b>Label</b>" in text_of(composer.acknowledgement(intake))


def test_message_is_reusable_for_the_digest(composer, tmp_path):
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "note.txt.j2").write_text("Counts: {{ n }}\n")
    (templates / "note.html.j2").write_text("<p>{{ n }}</p>\n")
    custom = Composer(composer.settings, templates)
    msg = custom.message(kind="digest", to=["a@x.org", "b@x.org"], subject="Digest",
                         template="note", context={"n": "<3>"}, auto_reply=False)
    assert msg["Auto-Submitted"] == "auto-generated"
    assert "In-Reply-To" not in msg and msg[LOOP_HEADER] == "digest"
    assert text_of(msg) == "Counts: <3>\n" and "&lt;3&gt;" in html_of(msg)
    assert len(reparse(msg)["To"].addresses) == 2


def test_non_ascii_wording_goes_out_as_7bit(composer):
    finding = {"rule": "required", "field": "x", "label": "Dyddiad geni (DD/MM/BBBB) – Łódź",
               "message": "Rhowch y dyddiad."}
    intake = make_intake(status="incomplete", findings=[finding], missing=["x"],
                         reference="PRV-2026-00042")
    msg = composer.acknowledgement(intake)
    raw = msg.as_bytes(policy=policy.SMTP)
    assert raw.isascii()
    assert "Łódź" in text_of(reparse(msg))
