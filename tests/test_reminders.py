"""Reminder schedule, with a clock the test moves."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from typing import Any

import pytest
from support import stored_by_id
from support.settings import make_settings

from intake.config.settings_types import ReminderSettings
from intake.domain.clock import iso
from intake.domain.records import Intake
from intake.jobs.reminders import queue_due_reminders
from intake.mail.compose import Composer
from intake.mail.outbox import deliver_due
from intake.mail.send import SmtpSender
from intake.store.database import Store

T0 = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
FINDING = {"rule": "required", "field": "subject_dob", "label": "Date of Birth (DD/MM/YYYY)",
           "message": "Please give the individual's date of birth."}


def hours(n: float) -> datetime:
    return T0 + timedelta(hours=n)


def add_intake(store: Store, number: int, *, status: str = "incomplete",
               reply_to: str | None = "jo@school.org", **columns: Any) -> int:
    with store.transaction():
        return store.insert("intakes", {
            "reference": f"PRV-2026-{number:05d}", "message_id": f"<ref-{number}@school.org>",
            "sender": reply_to, "reply_to": reply_to, "received_at": T0, "last_message_at": T0,
            "status": status, "missing": ["subject_dob"], "findings": [FINDING],
            "created_at": T0, "updated_at": T0, **columns,
        })


def update(store: Store, intake_id: int, **values: Any) -> None:
    with store.transaction():
        store.update("intakes", intake_id, values)


def reminders_queued(store: Store) -> list[dict[str, Any]]:
    return [dict(r) for r in store.query("SELECT * FROM outbox WHERE kind = 'reminder'")]


def test_first_after_24_hours_then_every_24_at_most_3(store, tmp_path):
    settings = make_settings(tmp_path)
    composer = Composer(settings)
    intake_id = add_intake(store, 1)

    def remind(now: datetime) -> list[str]:
        return queue_due_reminders(store, composer, settings, now)

    assert remind(hours(23.9)) == []
    assert remind(hours(24)) == ["PRV-2026-00001"]
    assert remind(hours(24.5)) == []
    assert remind(hours(47.9)) == []
    assert remind(hours(48)) == ["PRV-2026-00001"]
    assert remind(hours(80)) == ["PRV-2026-00001"]  # late: one reminder, not two
    assert remind(hours(103)) == []  # max 3
    assert remind(hours(500)) == []

    intake = stored_by_id(store, intake_id)
    assert intake.reminders_sent == 3
    assert iso(intake.last_reminder_at) == "2026-06-04T17:00:00+00:00"
    rows = reminders_queued(store)
    assert len(rows) == 3 and {r["status"] for r in rows} == {"pending"}
    subjects = [message_from_bytes(r["raw"])["Subject"] for r in rows]
    assert subjects == ["[PRV-2026-00001] Prevent referral: still needed"] * 3
    events = [r["event"] for r in store.audit_trail(intake_id)]
    assert events == ["queued", "reminded"] * 3


@pytest.mark.parametrize("change", [
    {"status": "complete"},
    {"closed_at": "2026-06-02T12:00:00+00:00", "close_reason": "handled"},
    {"bounced": 1},
])
def test_reminders_stop_when_complete_closed_or_bounced(store, tmp_path, change):
    settings = make_settings(tmp_path)
    composer = Composer(settings)
    intake_id = add_intake(store, 1)
    assert queue_due_reminders(store, composer, settings, hours(24)) == ["PRV-2026-00001"]
    update(store, intake_id, **change)
    assert queue_due_reminders(store, composer, settings, hours(48)) == []
    assert queue_due_reminders(store, composer, settings, hours(200)) == []
    assert len(reminders_queued(store)) == 1


def test_only_incomplete_intakes_with_an_address_to_answer(store, tmp_path):
    settings = make_settings(tmp_path)
    add_intake(store, 1, status="complete")
    add_intake(store, 2, status="manual_review")  # waits for a person
    add_intake(store, 3, reply_to=None)  # machine mail: never answered
    add_intake(store, 4)
    reminded = queue_due_reminders(store, Composer(settings), settings, hours(30))
    assert reminded == ["PRV-2026-00004"]


def test_a_later_message_moves_the_next_reminder(store, tmp_path):
    settings = make_settings(tmp_path)
    composer = Composer(settings)
    intake_id = add_intake(store, 1)
    assert queue_due_reminders(store, composer, settings, hours(24)) != []
    update(store, intake_id, last_message_at=hours(40))  # a correction, still incomplete
    assert queue_due_reminders(store, composer, settings, hours(63)) == []
    assert queue_due_reminders(store, composer, settings, hours(64)) == ["PRV-2026-00001"]


def test_no_reminders_when_max_is_zero(store, tmp_path):
    settings = replace(make_settings(tmp_path), reminders=ReminderSettings(24, 24, 0))
    add_intake(store, 1)
    assert queue_due_reminders(store, Composer(settings), settings, hours(100)) == []


class _Broken(Composer):
    def reminder(self, intake: Intake, number: int):  # type: ignore[override]
        raise RuntimeError("template missing")


def test_a_failed_reminder_changes_nothing(store, tmp_path):
    settings = make_settings(tmp_path)
    intake_id = add_intake(store, 1)
    with pytest.raises(RuntimeError):
        queue_due_reminders(store, _Broken(settings), settings, hours(24))
    intake = stored_by_id(store, intake_id)
    assert intake.reminders_sent == 0 and intake.last_reminder_at is None
    assert reminders_queued(store) == []
    assert [r["event"] for r in store.audit_trail(intake_id)] == []


@pytest.mark.servers
def test_a_reminder_reaches_the_referrer_only(store, tmp_path, smtp_server):
    settings = make_settings(tmp_path, smtp_server.settings())
    add_intake(store, 7, reply_to="jo@school.org")
    queue_due_reminders(store, Composer(settings), settings, hours(24))
    report = deliver_due(store, SmtpSender(settings.smtp), settings, hours(24))
    assert len(report.sent) == 1
    (mail,) = smtp_server.received
    assert mail.rcpt_tos == ("jo@school.org",)
    message = message_from_bytes(mail.content)
    assert message["Subject"] == "[PRV-2026-00007] Prevent referral: still needed"
    assert message["In-Reply-To"] == "<ref-7@school.org>"
    assert message["Auto-Submitted"] == "auto-replied"


def test_no_reminder_to_a_sender_whose_mail_failed_dmarc(store, tmp_path):
    """The address may be someone else's: it is acknowledged once, never chased."""
    settings = make_settings(tmp_path)
    composer = Composer(settings)
    add_intake(store, 1, sender_auth="fail")
    passed = add_intake(store, 2, sender_auth="pass")
    unknown = add_intake(store, 3, sender_auth=None)
    reminded = queue_due_reminders(store, composer, settings, hours(25))
    assert reminded == ["PRV-2026-00002", "PRV-2026-00003"]
    assert {r["intake_id"] for r in reminders_queued(store)} == {passed, unknown}
