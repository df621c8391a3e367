"""The daily digest: counts by local day of receipt, the open list, sent once a day."""

from __future__ import annotations

import dataclasses
import email
import io
import socket
from datetime import UTC, date, datetime, timedelta

import pytest
from support.settings import make_settings
from support.storefill import add_intake

from intake.config.settings_types import Settings
from intake.jobs.digest import (
    LABELS,
    digest_for_day,
    due_days,
    initials,
    queue_digest,
    queue_due_digests,
    render_digest,
    send_digest_command,
)
from intake.ops.triage import close_intake, undelivered
from intake.store.database import Store

NOW = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
DAY = date(2026, 11, 20)
PERSONAL = ("Okafor", "Jane", "14/03/1990", "Catford Road", "extremist material",
            "Sam Teacher", "020 8000 0000")




def counts_line(text: str, label: str) -> int:
    lines = [line for line in text.splitlines() if line.startswith(f"{label}: ")]
    assert len(lines) == 1, (label, lines)
    return int(lines[0].split(": ")[1])


def test_counts_match_the_store_for_the_day(store: Store, settings: Settings) -> None:
    day = "2026-11-20T{}:00+00:00"  # GMT in November: UTC is local time
    add_intake(store, day.format("00:00"), status="complete", age_band="child")
    add_intake(store, day.format("09:30"), status="incomplete", missing=["subject_dob"],
               age_band=None)
    add_intake(store, day.format("11:00"), status="manual_review", priority="urgent",
               age_band=None)
    add_intake(store, day.format("15:45"), status="incomplete", priority="urgent",
               age_band="child", missing=["referrer_phone"])
    closed = add_intake(store, day.format("23:59"), status="complete")
    close_intake(store, closed.reference, "no further action", NOW)  # still counted
    # a referral corrected since counts by its status now
    corrected = add_intake(store, day.format("12:00"), status="incomplete")
    with store.transaction():
        store.update("intakes", corrected.id, {"status": "complete"})
    # other days
    add_intake(store, "2026-11-19T23:59:59+00:00", status="incomplete")
    add_intake(store, "2026-11-21T00:00:00+00:00", status="incomplete")

    digest = digest_for_day(store, settings, DAY, now=NOW)

    assert list(digest.counts) == [*LABELS, "Referred before", "Screened late"]
    assert digest.counts == {"Received": 6, "Complete": 3, "Incomplete": 2,
                             "Manual review": 1, "Urgent": 2, "Children": 2, "Adults": 2,
                             "Referred before": 0, "Screened late": 0}
    text, html = render_digest(digest)
    for label, number in digest.counts.items():
        assert counts_line(text, label) == number
        assert f">{label}</th>" in html


def test_open_list_spans_every_day_with_initials_only(store: Store, settings: Settings) -> None:
    old = add_intake(store, "2026-11-02T10:00:00+00:00", status="incomplete",
                     missing=["subject_dob"], reminders_sent=3,
                     last_reminder_at="2026-11-05T10:00:00+00:00")
    bounced = add_intake(store, "2026-11-18T10:00:00+00:00", status="incomplete",
                         invalid=["referrer_email"], bounced=1,
                         fields={"subject_forenames": "mary-ann Zoë", "subject_surname": "ó Néill"})
    review = add_intake(store, "2026-11-20T10:00:00+00:00", status="manual_review",
                        priority="urgent")
    add_intake(store, "2026-11-20T11:00:00+00:00", status="complete")
    gone = add_intake(store, "2026-11-03T10:00:00+00:00", status="incomplete")
    close_intake(store, gone.reference, "withdrawn", NOW)

    digest = digest_for_day(store, settings, DAY, now=NOW)

    assert [(i.reference, i.initials, i.days_open, i.reminders_sent, i.note)
            for i in digest.open] == [
        (review.reference, "?.?.", 1, 0, "urgent"),
        (old.reference, "J.O.", 19, 3, "no response"),
        (bounced.reference, "M.Ó.", 3, 0, "referrer could not be reached"),
    ]
    assert digest.open[1].missing == ("Date of birth",)
    assert digest.open[2].missing == ("Referrer's email (invalid)",)
    assert digest.open[0].missing == ("Scan or photo",)
    text, html = render_digest(digest)
    for reference in (old.reference, bounced.reference, review.reference):
        assert reference in text and reference in html
    assert gone.reference not in text
    assert "J.O." in text and "no response" in text
    for personal in (*PERSONAL, "Zoë", "Néill"):
        assert personal not in text and personal not in html


def test_initials() -> None:
    assert initials({"subject_forenames": "Jane Amina", "subject_surname": "Okafor"}) == "J.O."
    assert initials({"subject_forenames": " 'jo ", "subject_surname": "d'Souza"}) == "J.D."
    assert initials({}) == "?.?."


def test_a_late_evening_in_summer_is_the_next_local_day(store: Store,
                                                         settings: Settings) -> None:
    # 23:30 UTC on 30 June is 00:30 BST on 1 July
    add_intake(store, "2026-06-30T23:30:00+00:00")
    add_intake(store, "2026-06-30T22:59:59+00:00")
    june = digest_for_day(store, settings, date(2026, 6, 30), now=NOW)
    july = digest_for_day(store, settings, date(2026, 7, 1), now=NOW)
    assert (june.counts["Received"], july.counts["Received"]) == (1, 1)


def test_the_autumn_clock_change_day_has_25_hours(store: Store, settings: Settings) -> None:
    # Sunday 25 October 2026: BST ends at 01:00 UTC; the local day runs 23:00Z to 00:00Z+2
    add_intake(store, "2026-10-24T22:59:59+00:00")  # 23:59:59 BST on the 24th
    add_intake(store, "2026-10-24T23:00:00+00:00")  # 00:00 BST on the 25th
    add_intake(store, "2026-10-25T00:30:00+00:00")  # 01:30 BST, first time round
    add_intake(store, "2026-10-25T01:30:00+00:00")  # 01:30 GMT, second time round
    add_intake(store, "2026-10-25T23:59:59+00:00")  # 23:59:59 GMT on the 25th
    add_intake(store, "2026-10-26T00:00:00+00:00")  # the 26th
    counts = [digest_for_day(store, settings, date(2026, 10, d), now=NOW).counts["Received"]
              for d in (24, 25, 26)]
    assert counts == [1, 4, 1]


def test_dry_run_prints_the_plain_text_only(store: Store, settings: Settings) -> None:
    add_intake(store, "2026-11-20T10:00:00+00:00", status="incomplete")
    out = io.StringIO()
    assert send_digest_command(store, settings, day=None, dry_run=True, now=NOW, out=out) == 0
    assert "daily digest for Friday 20 November 2026" in out.getvalue()
    assert counts_line(out.getvalue(), "Received") == 1
    assert store.query("SELECT COUNT(*) FROM digests")[0][0] == 0


# -- queueing: needs intake.mail.outbox (and intake.mail.compose) ----------------


@pytest.fixture
def composer(settings: Settings):
    pytest.importorskip("intake.mail.outbox")
    from intake.mail.compose import Composer

    return Composer(settings)


def outbox_digests(store: Store) -> list[email.message.Message]:
    rows = store.query("SELECT raw FROM outbox WHERE kind = 'digest' ORDER BY id")
    return [email.message_from_bytes(bytes(row[0])) for row in rows]


def test_queued_digest_is_one_message_to_the_manager(store: Store, settings: Settings,
                                                     composer) -> None:
    add_intake(store, "2026-11-20T10:00:00+00:00", status="incomplete", missing=["subject_dob"])
    outbox_id = queue_digest(store, settings, composer, DAY, now=NOW)

    (message,) = outbox_digests(store)
    assert message["To"] == "prevent.manager@lewisham.gov.uk"
    assert "20 November 2026" in message["Subject"]
    text = next(p for p in message.walk() if p.get_content_type() == "text/plain")
    body = text.get_payload(decode=True).decode()
    assert counts_line(body, "Incomplete") == 1
    assert not any(personal in body for personal in PERSONAL)
    assert store.query("SELECT day, outbox_id FROM digests")[0][:] == ("2026-11-20", outbox_id)
    events = store.query("SELECT event FROM audit WHERE event = 'digested'")
    assert len(events) == 1


def test_worker_sends_yesterdays_digest_once_from_digest_time(
        settings: Settings, composer) -> None:
    store = Store(settings.store_path)
    early = datetime(2026, 11, 21, 7, 59, tzinfo=UTC)  # 07:59 GMT: not yet
    assert queue_due_digests(store, settings, composer, now=early) == []
    at = datetime(2026, 11, 21, 8, 0, tzinfo=UTC)
    assert queue_due_digests(store, settings, composer, now=at) == [DAY]
    assert queue_due_digests(store, settings, composer, now=at + timedelta(minutes=1)) == []
    store.close()

    again = Store(settings.store_path)  # a restart
    assert queue_due_digests(again, settings, composer, now=at + timedelta(hours=3)) == []
    assert len(outbox_digests(again)) == 1
    again.close()


def test_worker_catches_up_each_missed_day_once(store: Store, settings: Settings,
                                                composer) -> None:
    first = datetime(2026, 10, 20, 8, 30, tzinfo=UTC)  # 09:30 BST
    assert queue_due_digests(store, settings, composer, now=first) == [date(2026, 10, 19)]
    # A digest sent by hand (say, of a day still under way) neither repeats the worker's
    # nor stands in for it: the worker still sends its own of that day, once.
    queue_digest(store, settings, composer, date(2026, 10, 19), now=first)
    queue_digest(store, settings, composer, date(2026, 10, 23), now=first)
    # down until the morning after the clock change: 07:30 GMT is before 08:00 local
    back = datetime(2026, 10, 27, 7, 30, tzinfo=UTC)
    assert queue_due_digests(store, settings, composer, now=back) == [
        date(2026, 10, d) for d in (20, 21, 22, 23, 24, 25)]
    assert queue_due_digests(store, settings, composer, now=back) == []
    assert queue_due_digests(store, settings, composer, now=back + timedelta(minutes=30)) == [
        date(2026, 10, 26)]
    days = [row[0] for row in store.query("SELECT day FROM digests ORDER BY day")]
    assert days == [f"2026-10-{d}" for d in range(19, 27)]
    assert len(outbox_digests(store)) == 1 + 2 + 6 + 1


def test_digest_time_is_local_across_the_spring_change(store: Store, settings: Settings) -> None:
    # 29 March 2026, clocks go forward: 08:00 BST is 07:00 UTC. A first run owes only the
    # day before's, from 08:00 local.
    assert due_days(store, settings, now=datetime(2026, 3, 29, 6, 59, tzinfo=UTC)) == []
    assert due_days(store, settings, now=datetime(2026, 3, 29, 7, 0, tzinfo=UTC)) == [
        date(2026, 3, 28)]


def test_digest_command_sends_the_day_even_when_already_sent(store: Store, settings: Settings,
                                                             composer) -> None:
    add_intake(store, "2026-11-20T10:00:00+00:00", status="incomplete")
    out = io.StringIO()
    for _ in range(2):  # two runs of `intake digest`, each its own process and Store
        command_store = Store(settings.store_path)
        try:
            assert send_digest_command(command_store, settings, day=DAY, dry_run=False,
                                       now=NOW, out=out) == 0
        finally:
            command_store.close()
    assert out.getvalue() == ""  # nothing on standard output but a dry run's text
    rows = store.query("SELECT status FROM outbox WHERE kind = 'digest'")
    assert [row[0] for row in rows] == ["sent", "sent"]
    shadow = settings.smtp.shadow_folder
    assert shadow is not None and len(list(shadow.rglob("*.eml"))) == 2
    assert store.query("SELECT COUNT(*) FROM digests")[0][0] == 1


def test_digest_command_leaves_sending_to_a_running_worker(store: Store, settings: Settings,
                                                           composer) -> None:
    worker = Store(settings.store_path)
    worker.lock()
    try:
        assert send_digest_command(store, settings, day=None, dry_run=False, now=NOW,
                                   out=io.StringIO()) == 0
    finally:
        worker.close()
    rows = store.query("SELECT status FROM outbox WHERE kind = 'digest'")
    assert [row[0] for row in rows] == ["pending"]
    assert store.query("SELECT day FROM digests")[0][0] == "2026-11-20"


def test_digest_command_exits_1_when_one_manager_address_is_refused(
        store: Store, settings: Settings, composer, smtp_server) -> None:
    """The digest reached one of its two addresses: the command says the other did
    not (exit 1) and the refused copy is listed for a person."""
    two = dataclasses.replace(
        settings, smtp=smtp_server.settings(),
        digest=dataclasses.replace(settings.digest, to=("prevent.manager@lewisham.gov.uk",
                                                        "deputy@lewisham.gov.uk")))
    smtp_server.refuse("deputy@lewisham.gov.uk")
    assert send_digest_command(store, two, day=DAY, dry_run=False, now=NOW,
                               out=io.StringIO()) == 1
    assert [m.rcpt_tos for m in smtp_server.received] == [("prevent.manager@lewisham.gov.uk",)]
    rows = store.query("SELECT status FROM outbox WHERE kind = 'digest' ORDER BY id")
    assert [row[0] for row in rows] == ["sent", "held"]
    assert undelivered(store, NOW) == ["digest (outbox 2): 550"]


def test_digest_command_exits_1_when_the_server_is_down(store: Store, settings: Settings,
                                                        composer) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    down = dataclasses.replace(settings, smtp=dataclasses.replace(
        settings.smtp, mode="send", host="127.0.0.1", port=port, security="none", timeout=2))
    assert send_digest_command(store, down, day=DAY, dry_run=False, now=NOW,
                               out=io.StringIO()) == 1
    rows = store.query("SELECT status FROM outbox WHERE kind = 'digest'")
    assert [row[0] for row in rows] == ["pending"]  # kept for the worker to retry


def test_no_digest_for_days_before_the_store_existed(tmp_path, monkeypatch, composer) -> None:
    """A first run owes the day before's digest only if the service was there that day."""
    settings = make_settings(tmp_path / "new")
    monkeypatch.setenv("INTAKE_NOW", "2026-11-21T09:00:00+00:00")
    store = Store(settings.store_path)  # made on 21 November
    try:
        assert queue_due_digests(store, settings, composer,
                                 now=datetime(2026, 11, 21, 9, 0, tzinfo=UTC)) == []
        assert queue_due_digests(store, settings, composer,
                                 now=datetime(2026, 11, 22, 8, 30, tzinfo=UTC)) == [
            date(2026, 11, 21)]
    finally:
        store.close()
