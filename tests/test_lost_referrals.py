"""Two ways a referral was lost under hostile input, end to end (real Dovecot).

- Without a Message-ID, two deliveries are the same message only when the
  sender and the Date header match too: a second referrer sending the same
  filled-in form, or a colleague re-sending it, is a referral of its own.
- A damaged message (From unparseable, MIME boundaries that do not match)
  that says it is a referral and holds a PDF part goes to manual review
  `damaged`, unanswered; it is never ignored for having no sender.
"""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
from support.forms import SAMPLE_VALUES, make_form
from support.harness import intake, write_settings
from support.mail import referral_email

pytestmark = pytest.mark.servers


@pytest.fixture
def config(tmp_path, dovecot, smtp_server):
    return write_settings(tmp_path, dovecot, smtp_server)


def exported(config) -> list[dict]:
    done = intake(config, "export", "--format", "jsonl")
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def no_id_referral(sender: str, sent: datetime) -> bytes:
    return referral_email([make_form("docx", SAMPLE_VALUES)], sender=sender, date=sent,
                          message_id=None)


def test_same_form_from_two_referrers_without_message_id_is_two_intakes(config, dovecot):
    sent = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    dovecot.append(no_id_referral("Jo Teacher <jo.teacher@school.example.org>", sent))
    dovecot.append(no_id_referral("Sam Head <sam.head@school.example.org>", sent))
    assert intake(config, "run", "--once").returncode == 0
    assert sorted(row["sender"] for row in exported(config)) == [
        "jo.teacher@school.example.org", "sam.head@school.example.org"]


def test_same_form_resent_later_without_message_id_is_not_dropped(config, dovecot):
    sender = "Jo Teacher <jo.teacher@school.example.org>"
    dovecot.append(no_id_referral(sender, datetime(2026, 3, 2, 9, 30, tzinfo=UTC)))
    dovecot.append(no_id_referral(sender, datetime(2026, 3, 3, 14, 5, tzinfo=UTC)))
    assert intake(config, "run", "--once").returncode == 0
    assert len(exported(config)) == 2


def test_the_very_same_message_without_message_id_delivered_twice_is_one(config, dovecot,
                                                                       smtp_server):
    message = no_id_referral("Jo Teacher <jo.teacher@school.example.org>",
                             datetime(2026, 3, 2, 9, 30, tzinfo=UTC))
    dovecot.append(message)
    dovecot.append(b"Received: from relay2.example.net; Mon, 2 Mar 2026 09:31:00 +0000\r\n"
                   + message)
    assert intake(config, "run", "--once").returncode == 0
    assert len(exported(config)) == 1


def damaged_referral() -> bytes:
    pdf = make_form("pdf-text", SAMPLE_VALUES)[2]
    return (
        "From: Jo Teacher at school dot example dot org\r\n"
        "To: prevent@lewisham.gov.uk\r\nSubject: Prevent referral\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="=_part_1"\r\n\r\n'
        "--=_part_1-mangled\r\nContent-Type: text/plain\r\n\r\n"
        "Please find attached a Prevent referral.\r\n"
        "--=_part_1-mangled\r\nContent-Type: application/pdf; name=referral.pdf\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(pdf).decode() + "\r\n--=_part_1-mangled--\r\n"
    ).encode()


def test_a_damaged_referral_with_a_pdf_part_goes_to_manual_review(config, dovecot,
                                                                  smtp_server):
    dovecot.append(damaged_referral())
    done = intake(config, "run", "--once")
    assert done.returncode == 0, done.stderr
    [row] = exported(config)
    assert row["status"] == "manual_review"
    assert row["review_reason"] == "damaged"
    # The MASH is alerted (and the manager's digest goes); no one else is written to.
    recipients = {rcpt for m in smtp_server.received for rcpt in m.rcpt_tos}
    assert "mashagency@lewisham.gov.uk" in recipients
    assert recipients <= {"mashagency@lewisham.gov.uk", "prevent.manager@lewisham.gov.uk"}
    assert all("$PreventIntake" in m.flags for m in dovecot.messages())
