"""Corrections, notes and bounces in a referral's thread, through the real pipeline.

A maildir and the outbox sender stand in for the servers (test_worker.py
covers those); what is checked is what the MASH sees and who gets a reply.
"""

from __future__ import annotations

import json
import mailbox
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from support.forms import SAMPLE_VALUES, make_form
from support.mail import raw_email, referral_email

from intake.cli import main
from intake.ops.demo import DEMO_SETTINGS

SETTINGS = DEMO_SETTINGS + "\n[parser]\nworkers = 1\n"  # the demo's maildir and outbox

ORIGINAL_ID = "<original@school.example.org>"


class Service:
    def __init__(self, directory: Path):
        self.directory = directory
        self.config = directory / "settings.toml"
        self.config.write_text(SETTINGS, encoding="utf-8")
        self.box = mailbox.Maildir(directory / "mailbox", create=True)

    def deliver(self, *messages: bytes) -> None:
        for message in messages:
            self.box.add(mailbox.MaildirMessage(message))

    def run(self, capsys) -> str:
        assert main(["--config", str(self.config), "run", "--once"]) == 0
        return capsys.readouterr().err

    def intakes(self, capsys) -> list[dict]:
        assert main(["--config", str(self.config), "export", "--format", "jsonl"]) == 0
        return [json.loads(line) for line in capsys.readouterr().out.splitlines()]

    def sent(self) -> list:
        return [message_from_bytes(p.read_bytes(), policy=policy.default)
                for p in sorted((self.directory / "outgoing").glob("*.eml"))]


@pytest.fixture
def service(tmp_path) -> Service:
    return Service(tmp_path)


def original(values: dict[str, str] | None = None, **kwargs) -> bytes:
    values = values if values is not None else {**SAMPLE_VALUES, "referrer_phone": ""}
    return referral_email([make_form("docx", values)], message_id=ORIGINAL_ID, **kwargs)


def reply(values: dict[str, str] | None, *, sender: str = "jo.teacher@school.example.org",
          message_id: str = "<reply-1@school.example.org>", headers: dict | None = None) -> bytes:
    attachments = [make_form("docx", values)] if values is not None else []
    return referral_email(attachments, sender=sender, subject="RE: Prevent referral",
                          message_id=message_id,
                          headers={"In-Reply-To": ORIGINAL_ID, "References": ORIGINAL_ID,
                                   **(headers or {})})


SECURE_LINK = ("Jo Teacher has sent you a secure email. "
               "Read it at https://switch.egress.com/ui/#/read/abc123")


def test_secure_link_mail_in_a_thread_or_from_a_machine_opens_no_review(service, capsys):
    """Secure-link wording makes a manual-review intake only of a new message from a
    person: a reply in the thread stays a reply, an auto-reply stays ignored."""
    service.deliver(original(SAMPLE_VALUES))
    service.run(capsys)
    (first,) = service.intakes(capsys)
    service.deliver(
        referral_email([], subject="RE: Prevent referral", body=f"Thanks. {SECURE_LINK}",
                       message_id="<thread-1@school.example.org>",
                       headers={"In-Reply-To": ORIGINAL_ID}),
        referral_email([], subject="Automatic reply: Prevent", body=SECURE_LINK,
                       message_id="<ooo-1@school.example.org>",
                       headers={"Auto-Submitted": "auto-replied"}))
    service.run(capsys)
    (after,) = service.intakes(capsys)
    assert after["reference"] == first["reference"] and after["status"] == "complete"
    alerts = [m for m in service.sent() if "manual review" in str(m["Subject"])]
    assert alerts == []

    service.deliver(referral_email([], subject="Concern about a pupil", body=SECURE_LINK,
                                   message_id="<secure-1@school.example.org>"))
    service.run(capsys)
    new = [i for i in service.intakes(capsys) if i["reference"] != first["reference"]]
    assert [(i["status"], i["review_reason"]) for i in new] == \
        [("manual_review", "encrypted-email")]
    assert any(new[0]["reference"] in str(m["Subject"]) and "manual review" in str(m["Subject"])
               for m in service.sent())


def test_correction_from_the_referrer_completes_the_intake(service, capsys):
    service.deliver(original())
    service.run(capsys)
    (first,) = service.intakes(capsys)
    assert first["missing"] == ["referrer_phone"]

    service.deliver(reply(SAMPLE_VALUES))
    log = service.run(capsys)
    (corrected,) = service.intakes(capsys)
    assert corrected["reference"] == first["reference"]
    assert corrected["status"] == "complete"
    assert f"{first['reference']} correction complete" in log
    updates = [m for m in service.sent() if "updated" in str(m["Subject"])]
    assert [str(m["To"]) for m in updates] == ["jo.teacher@school.example.org"]


def test_a_form_about_another_child_in_the_thread_is_a_new_referral(service, capsys):
    service.deliver(original())
    service.run(capsys)
    other = {**SAMPLE_VALUES, "subject_forenames": "Adam", "subject_surname": "Smith",
             "subject_dob": ""}
    service.deliver(reply(other))
    service.run(capsys)
    intakes = service.intakes(capsys)
    assert len(intakes) == 2
    assert {row["fields"]["subject_surname"] for row in intakes} == {"O'Connor", "Smith"}


def test_a_corrected_date_of_birth_is_the_same_child(service, capsys):
    service.deliver(original({**SAMPLE_VALUES, "subject_dob": "31/02/2011"}))
    service.run(capsys)
    service.deliver(reply(SAMPLE_VALUES))
    service.run(capsys)
    (only,) = service.intakes(capsys)
    assert only["status"] == "complete"
    assert only["fields"]["subject_dob"] == SAMPLE_VALUES["subject_dob"]


def test_a_form_after_the_intake_was_closed_opens_a_new_one(service, capsys):
    service.deliver(original())
    service.run(capsys)
    (first,) = service.intakes(capsys)
    assert main(["--config", str(service.config), "close", first["reference"],
                 "--reason", "passed to Channel panel"]) == 0
    service.deliver(reply(SAMPLE_VALUES))
    service.run(capsys)
    intakes = service.intakes(capsys)
    assert len(intakes) == 2
    closed = next(row for row in intakes if row["reference"] == first["reference"])
    assert closed["status"] == "incomplete"  # untouched


def test_close_received_before_from_the_command_line(service, capsys):
    service.deliver(original())
    service.run(capsys)
    config = ["--config", str(service.config)]
    assert main([*config, "close", "--reason", "x"]) == 2
    assert main([*config, "close", "PRV-2026-00001", "--received-before", "2026-01-01",
                 "--reason", "x"]) == 2
    assert "one of them" in capsys.readouterr().err
    later = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()
    assert main([*config, "close", "--received-before", later,
                 "--reason", "dealt with before going live"]) == 0
    assert capsys.readouterr().out == "1 intake closed\n"
    assert main([*config, "triage"]) == 0
    assert capsys.readouterr().out.startswith("No open intakes.")


def test_a_reply_from_the_police_is_a_note_and_gets_no_reply(service, capsys):
    service.deliver(original())
    service.run(capsys)
    replies_before = len(service.sent())
    service.deliver(reply(None, sender="DC Smith <dc.smith@met.pnn.police.uk>"))
    log = service.run(capsys)
    assert "note" in log
    assert len(service.intakes(capsys)) == 1
    assert len(service.sent()) == replies_before


def test_a_vacation_reply_to_our_acknowledgement_is_not_a_bounce(service, capsys):
    service.deliver(original())
    service.run(capsys)
    (ack,) = [m for m in service.sent() if "received" in str(m["Subject"])]
    service.deliver(raw_email(
        f"Auto-Submitted: auto-replied\r\nIn-Reply-To: {ack['Message-ID']}\r\n"
        "Return-Path: <>\r\nMessage-ID: <vacation@school.example.org>\r\n",
        "I am away until Monday.",
        head="From: jo.teacher@school.example.org\r\nTo: prevent@lewisham.gov.uk\r\n"
             "Subject: Automatic reply: [PRV] Prevent referral received\r\n"))
    service.run(capsys)
    (row,) = service.intakes(capsys)
    assert row["bounced"] in (0, False)


def test_correction_of_machine_forwarded_referral_is_answered_once(service, capsys):
    service.deliver(original(headers={"Auto-Submitted": "auto-forwarded"}))
    service.run(capsys)
    assert service.sent() == [] or all("received" not in str(m["Subject"])
                                       for m in service.sent())
    service.deliver(reply(SAMPLE_VALUES))
    service.run(capsys)
    (row,) = service.intakes(capsys)
    assert row["status"] == "complete"
    updates = [m for m in service.sent() if "updated" in str(m["Subject"])]
    assert [str(m["To"]) for m in updates] == ["jo.teacher@school.example.org"]


def test_a_bounced_alert_is_reported_and_the_referrer_is_not_marked_unreachable(service,
                                                                               capsys):
    from support.mail import bounce_email

    urgent = {**SAMPLE_VALUES, "concerns": "He has bought knives and plans an attack."}
    service.deliver(original(urgent))
    service.run(capsys)
    (alert,) = [p for p in (service.directory / "outgoing").glob("*.eml")
                if b"mashagency@lewisham.gov.uk" in p.read_bytes().split(b"\r\n\r\n")[0]]
    service.deliver(bounce_email(alert.read_bytes()))
    log = service.run(capsys)
    assert "our alert to the MASH was returned undelivered" in log
    (row,) = service.intakes(capsys)
    assert row["bounced"] in (0, False)


def test_a_reply_after_the_purge_keeps_nothing_and_the_next_purge_has_nothing_left(
        service, capsys):
    service.deliver(original())
    service.run(capsys)
    (first,) = service.intakes(capsys)
    config = ["--config", str(service.config)]
    assert main([*config, "close", first["reference"], "--reason", "done"]) == 0
    assert main([*config, "purge", "--older-than", "0"]) == 0
    assert "purged 1 intake" in capsys.readouterr().out
    service.deliver(reply(None))  # the referrer writes again: a note on the purged intake
    assert "note" in service.run(capsys)
    from intake.store.database import Store

    store = Store(service.directory / "intake.sqlite3")
    try:
        kept = store.query("SELECT COUNT(*) FROM messages WHERE raw IS NOT NULL AND "
                           "intake_id = (SELECT id FROM intakes WHERE reference = ?)",
                           (first["reference"],))[0][0]
    finally:
        store.close()
    assert kept == 0
