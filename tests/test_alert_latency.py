"""Urgent alerts first, end to end: real Dovecot, real aiosmtpd, the real `intake` command.

Each message is recorded, and its alert and acknowledgement sent, as soon as it
is decided; a form that keeps the parser busy to its time limit (10 s here)
moves aside after a grace of seconds, so it delays no other message's alert.
Order is checked from the store's own times (when each was recorded, when each
alert was sent), not with a stopwatch.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime

import pytest
from support.forms import SAMPLE_VALUES, make_form
from support.harness import intake, write_settings
from support.mail import referral_email
from support.slow_pdf import slow_pdf

from intake.domain.models import RawMessage
from intake.runtime.pipeline import _Order

pytestmark = pytest.mark.servers

URGENT = {**SAMPLE_VALUES, "concerns": "He has a knife and talks of an attack at school."}


@pytest.fixture
def config(tmp_path, dovecot, smtp_server):
    return write_settings(tmp_path, dovecot, smtp_server)


def urgent(number: int) -> bytes:
    return referral_email([make_form("docx", URGENT)], message_id=f"<urgent-{number}@x.org>")


def slow(number: int) -> bytes:
    return referral_email([slow_pdf()], message_id=f"<slow-{number}@x.org>",
                          sender=f"Office {number} <office{number}@school.example.org>")


def times(config) -> tuple[dict[str, datetime], dict[str, datetime]]:
    """message_id -> when recorded; message_id of the referral -> when its alert was sent."""
    db = sqlite3.connect(config.parent / "intake.sqlite3")
    try:
        recorded = {m: datetime.fromisoformat(at) for m, at in db.execute(
            "SELECT message_id, recorded_at FROM messages")}
        alerted = {m: datetime.fromisoformat(at) for m, at in db.execute(
            "SELECT i.message_id, o.sent_at FROM outbox o JOIN intakes i ON i.id = o.intake_id "
            "WHERE o.kind = 'alert' AND o.status = 'sent'")}
    finally:
        db.close()
    return recorded, alerted


def test_an_urgent_referral_is_alerted_before_the_slow_ones_behind_it_are_read(
        config, dovecot, smtp_server):
    dovecot.append_many([urgent(1), slow(1), slow(2), slow(3)])
    done = intake(config, "run", "--once", timeout=240)
    assert done.returncode == 0, done.stderr
    recorded, alerted = times(config)
    first_slow = min(recorded[f"<slow-{n}@x.org>"] for n in (1, 2, 3))
    assert alerted["<urgent-1@x.org>"] < first_slow  # sent while the slow ones were read
    assert len(recorded) == 4  # nothing lost: each slow one is recorded (timeout review)


def test_one_slow_form_ahead_does_not_hold_up_the_urgent_one_behind_it(
        config, dovecot, smtp_server):
    dovecot.append_many([slow(1), urgent(2)])
    done = intake(config, "run", "--once", timeout=240)
    assert done.returncode == 0, done.stderr
    recorded, alerted = times(config)
    assert recorded["<urgent-2@x.org>"] < recorded["<slow-1@x.org>"]
    assert alerted["<urgent-2@x.org>"] < recorded["<slow-1@x.org>"]
    # Taken again, nothing is repeated: the position never skipped the slow one.
    again = intake(config, "run", "--once")
    assert again.returncode == 0, again.stderr
    assert len(times(config)[0]) == 2


def test_the_folder_position_moves_only_over_messages_recorded_with_all_before_them():
    def raw(folder: str, uid: int) -> RawMessage:
        return RawMessage(folder, 1, uid, datetime(2026, 1, 1), b"", 0)

    order = _Order([raw("INBOX", 5), raw("INBOX", 6), raw("Junk", 3), raw("INBOX", 7)],
                   [None] * 4)  # type: ignore[list-item]
    assert order.taken(1) == 0  # uid 5 is still being read: INBOX stays where it was
    assert order.taken(2) == 3
    assert order.taken(3) == 0
    assert order.taken(0) == 7  # now 5, 6 and 7 are all recorded


def test_a_burst_of_manual_review_alerts_becomes_one_alert_listing_the_references(
        config, dovecot, smtp_server):
    """GIVEN 12 unreadable PDFs and then an urgent referral WHEN they are taken together
    THEN the MASH gets the first 5 manual-review alerts one by one (rules/alerts.toml),
    then one alert listing the other 7, and the urgent alert on its own, at once."""
    junk = [referral_email([("scan.pdf", "application/pdf", b"%PDF-1.4 not really")],
                           message_id=f"<junk-{n}@x.org>",
                           sender=f"Clinic {n} <clinic{n}@gp.example.org>")
            for n in range(12)]
    dovecot.append_many([*junk, urgent(1)])
    done = intake(config, "run", "--once", timeout=240)
    assert done.returncode == 0, done.stderr
    to_mash = [m.content.decode("utf-8", "replace") for m in smtp_server.received
               if m.rcpt_tos == ("mashagency@lewisham.gov.uk",)]
    single = [m for m in to_mash if "manual review needed" in m]
    batch = [m for m in to_mash if "7 need manual review" in m]
    assert len(single) == 5 and len(batch) == 1
    assert len([m for m in to_mash if "URGENT" in m]) == 1
    references = {word for word in done.stderr.split() if word.startswith("PRV-")}
    listed = {ref for ref in references if ref in batch[0]}
    assert len(listed) == 7
    assert "alert-batched" in done.stderr
