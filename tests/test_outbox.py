"""The outbox: record first, send from the record, against a real aiosmtpd."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pytest
from support import stored_by_id
from support.settings import MASH, make_settings
from support.smtp_server import SmtpServer

from intake.config.settings_types import Settings
from intake.domain.clock import iso, parse_iso
from intake.domain.errors import SendError
from intake.domain.records import Intake
from intake.jobs.digest import digest_for_day, render_digest
from intake.mail.compose import Composer
from intake.mail.outbox import backoff, deliver_due, queue
from intake.mail.send import ServerDown, SmtpSender
from intake.ops.triage import render_show, render_triage, triage_rows, undelivered
from intake.store.database import Store

pytestmark = pytest.mark.servers

T0 = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


def add_intake(store: Store, number: int, reply_to: str | None, *, status: str = "incomplete",
               at: datetime = T0, **columns: Any) -> Intake:
    with store.transaction():
        intake_id = store.insert("intakes", {
            "reference": f"PRV-2026-{number:05d}", "message_id": f"<ref-{number}@school.org>",
            "sender": reply_to, "reply_to": reply_to, "received_at": at, "last_message_at": at,
            "status": status, "created_at": at, "updated_at": at, **columns,
        })
    intake = store.intake_by_id(intake_id)
    assert intake is not None
    return intake


def queue_ack(store: Store, composer: Composer, intake: Intake, now: datetime = T0,
              kind: str = "ack") -> int:
    with store.transaction():
        message = composer.alert(intake) if kind == "alert" else composer.acknowledgement(intake)
        return queue(store, message, kind=kind, intake_id=intake.id, now=now)


def outbox(store: Store) -> list[dict[str, Any]]:
    return [dict(row) for row in store.query("SELECT * FROM outbox ORDER BY id")]


def received_ids(server: SmtpServer) -> list[str]:
    return [message_from_bytes(m.content)["Message-ID"] for m in server.received]


@pytest.fixture
def setup(tmp_path: Path, smtp_server: SmtpServer) -> Iterator[tuple[Store, Settings, Composer]]:
    settings = make_settings(tmp_path, smtp_server.settings())
    store = Store(settings.store_path)
    yield store, settings, Composer(settings)
    store.close()


def test_queue_records_the_message_and_needs_a_transaction(setup):
    store, settings, composer = setup
    intake = add_intake(store, 1, "jo@school.org")
    message = composer.acknowledgement(intake)
    with pytest.raises(RuntimeError, match="transaction"):
        queue(store, message, kind="ack", intake_id=intake.id, now=T0)
    outbox_id = queue_ack(store, composer, intake)
    (row,) = outbox(store)
    assert row["id"] == outbox_id and row["status"] == "pending" and row["attempts"] == 0
    assert json.loads(row["recipients"]) == ["jo@school.org"]
    assert row["message_id"] == message_from_bytes(row["raw"])["Message-ID"]
    assert row["next_attempt_at"] == iso(T0)
    assert b"\r\n" in row["raw"]
    events = [r["event"] for r in store.audit_trail(intake.id)]
    assert events == ["queued"]


def test_smtp_down_loses_nothing_and_later_sends_each_once_in_order(setup, smtp_server):
    store, settings, composer = setup
    ids = [queue_ack(store, composer, add_intake(store, n, f"r{n}@school.org"))
           for n in range(1, 5)]
    smtp_server.stop()
    sender = SmtpSender(settings.smtp)

    report = deliver_due(store, sender, settings, T0)
    assert report.sent == [] and report.retrying == [ids[0]] and report.stopped
    rows = outbox(store)
    assert [r["status"] for r in rows] == ["pending"] * 4
    assert [r["attempts"] for r in rows] == [1, 0, 0, 0]
    assert {r["next_attempt_at"] for r in rows} == {iso(T0 + timedelta(minutes=1))}

    # A reply queued while the server is down waits behind the others.
    ids.append(queue_ack(store, composer, add_intake(store, 5, "r5@school.org"),
                         now=T0 + timedelta(seconds=30)))
    report = deliver_due(store, sender, settings, T0 + timedelta(seconds=30))
    assert report.retrying == [ids[4]]
    assert deliver_due(store, sender, settings, T0 + timedelta(seconds=45)).retrying == []

    smtp_server.start()
    report = deliver_due(store, sender, settings, T0 + timedelta(minutes=3))
    assert report.sent == ids and report.stopped is None
    assert received_ids(smtp_server) == [r["message_id"] for r in outbox(store)]
    assert deliver_due(store, sender, settings, T0 + timedelta(hours=2)).sent == []
    assert len(smtp_server.received) == 5
    assert all(r["status"] == "sent" for r in outbox(store))


def test_refused_recipient_is_held_with_its_reason_and_stops_reminders(setup, smtp_server):
    store, settings, composer = setup
    gone = add_intake(store, 1, "gone@school.org")
    fine = add_intake(store, 2, "fine@school.org")
    held_id = queue_ack(store, composer, gone)
    sent_id = queue_ack(store, composer, fine)
    smtp_server.refuse("gone@school.org")

    report = deliver_due(store, SmtpSender(settings.smtp), settings, T0)
    assert report.held == [held_id] and report.sent == [sent_id]
    held = outbox(store)[0]
    assert held["status"] == "held" and "550" in held["last_error"]
    assert "rejected" in held["last_error"]
    assert stored_by_id(store, gone.id).bounced == 1
    assert stored_by_id(store, fine.id).bounced == 0
    events = [r["event"] for r in store.audit_trail(gone.id)]
    assert events == ["queued", "held", "bounced"]
    assert deliver_due(store, SmtpSender(settings.smtp), settings, T0 + timedelta(hours=3)) \
        .sent == []
    assert [m.rcpt_tos for m in smtp_server.received] == [("fine@school.org",)]


def two_address_alert(tmp_path: Path, smtp_server: SmtpServer
                      ) -> tuple[Store, Settings, Intake, int]:
    settings = make_settings(tmp_path, smtp_server.settings(),
                             alert_to=("duty@mash.example", "manager@mash.example"))
    store = Store(settings.store_path)
    intake = add_intake(store, 7, "jo@school.org", status="manual_review")
    return store, settings, intake, queue_ack(store, Composer(settings), intake, kind="alert")


def test_alert_reaches_the_addresses_taken_and_holds_the_one_refused(tmp_path, smtp_server):
    """GIVEN an alert to two MASH addresses, one unknown to the server WHEN it is sent
    THEN the other gets it at once and the refused one is held with its 550."""
    store, settings, intake, alert_id = two_address_alert(tmp_path, smtp_server)
    smtp_server.refuse("manager@mash.example")

    report = deliver_due(store, SmtpSender(settings.smtp), settings, T0)
    assert [m.rcpt_tos for m in smtp_server.received] == [("duty@mash.example",)]
    sent, held = outbox(store)
    assert report.sent == [alert_id] and report.held == [held["id"]]
    assert sent["status"] == "sent" and json.loads(sent["recipients"]) == ["duty@mash.example"]
    assert held["status"] == "held" and json.loads(held["recipients"]) == \
        ["manager@mash.example"]
    assert "550" in held["last_error"] and held["message_id"] == sent["message_id"]
    assert stored_by_id(store, intake.id).bounced == 0  # not the referrer
    assert deliver_due(store, SmtpSender(settings.smtp), settings,
                       T0 + timedelta(hours=3)).sent == []
    assert len(smtp_server.received) == 1
    store.close()


def test_a_refused_alert_is_shown_in_triage_show_and_the_digest(tmp_path, smtp_server):
    """MASH and the manager learn that an alert did not reach an address: the triage
    line, the list under the table, `intake show` and the digest all say so."""
    store, settings, intake, _ = two_address_alert(tmp_path, smtp_server)
    urgent = add_intake(store, 8, "al@school.org", status="complete", priority="urgent")
    queue_ack(store, Composer(settings), urgent, kind="alert")
    smtp_server.refuse("manager@mash.example")
    deliver_due(store, SmtpSender(settings.smtp), settings, T0)
    later = T0 + timedelta(hours=2)

    (row,) = triage_rows(store, settings, now=later)  # the complete one is not open
    assert row.intake.reference == intake.reference and "alert not delivered" in row.note
    table = render_triage([row], now=later, refused=undelivered(store, later))
    assert "alert PRV-2026-00007: 550" in table and "alert PRV-2026-00008: 550" in table
    assert "manager@mash.example" not in table
    shown = render_show(store, settings, urgent.reference) or ""
    assert "alert  held  manager@mash.example" in shown
    assert "alert  sent  duty@mash.example" in shown
    text, html = render_digest(digest_for_day(store, settings, T0.date(), now=later))
    assert "Not delivered, refused by the mail server (last 7 days): 2" in text
    assert "alert PRV-2026-00008: 550" in text and "alert PRV-2026-00008: 550" in html
    assert "alert not delivered" in text
    store.close()


def test_refusals_are_listed_by_when_they_happened_and_long_retries_too(tmp_path,
                                                                         smtp_server):
    """A message turned away (450) for over a day is listed as still retrying; when at
    last refused for good (550), it is listed for a week from then, not from its queuing."""
    store, settings, _, alert_id = two_address_alert(tmp_path, smtp_server)
    smtp_server.put_off("duty@mash.example")
    smtp_server.put_off("manager@mash.example")
    sender = SmtpSender(settings.smtp)
    deliver_due(store, sender, settings, T0)
    assert undelivered(store, T0 + timedelta(hours=2)) == []
    deliver_due(store, sender, settings, T0 + timedelta(days=2))
    assert undelivered(store, T0 + timedelta(days=2)) == \
        ["alert PRV-2026-00007: 450, still retrying"]

    smtp_server.refuse("duty@mash.example")
    smtp_server.refuse("manager@mash.example")
    deliver_due(store, sender, settings, T0 + timedelta(days=9))
    assert outbox(store)[0]["status"] == "held" and outbox(store)[0]["id"] == alert_id
    assert undelivered(store, T0 + timedelta(days=10)) == ["alert PRV-2026-00007: 550"]
    assert undelivered(store, T0 + timedelta(days=17)) == []
    store.close()


def test_alert_put_off_for_one_address_reaches_it_later_once(tmp_path, smtp_server):
    store, settings, _, alert_id = two_address_alert(tmp_path, smtp_server)
    smtp_server.put_off("manager@mash.example")

    report = deliver_due(store, SmtpSender(settings.smtp), settings, T0)
    sent, later = outbox(store)
    assert report.sent == [alert_id] and report.retrying == [later["id"]]
    assert later["status"] == "pending" and later["next_attempt_at"] == \
        iso(T0 + timedelta(minutes=1))
    smtp_server.put_off("manager@mash.example", until_further_notice=False)

    assert deliver_due(store, SmtpSender(settings.smtp), settings,
                       T0 + timedelta(minutes=1)).sent == [later["id"]]
    assert [m.rcpt_tos for m in smtp_server.received] == [("duty@mash.example",),
                                                          ("manager@mash.example",)]
    assert len(set(received_ids(smtp_server))) == 1  # one message, the same Message-ID
    assert deliver_due(store, SmtpSender(settings.smtp), settings,
                       T0 + timedelta(hours=3)).sent == []
    store.close()


def test_one_refused_and_one_put_off_holds_one_and_retries_the_other(tmp_path, smtp_server):
    store, settings, _, alert_id = two_address_alert(tmp_path, smtp_server)
    smtp_server.refuse("duty@mash.example")
    smtp_server.put_off("manager@mash.example")

    report = deliver_due(store, SmtpSender(settings.smtp), settings, T0)
    retrying, held = outbox(store)
    assert smtp_server.received == []
    assert report.retrying == [alert_id] and report.held == [held["id"]]
    assert json.loads(retrying["recipients"]) == ["manager@mash.example"]
    assert retrying["status"] == "pending" and retrying["attempts"] == 1
    assert "450" in retrying["last_error"] and "550" not in retrying["last_error"]
    assert json.loads(held["recipients"]) == ["duty@mash.example"] and held["status"] == "held"
    smtp_server.put_off("manager@mash.example", until_further_notice=False)

    assert deliver_due(store, SmtpSender(settings.smtp), settings,
                       T0 + timedelta(minutes=1)).sent == [alert_id]
    assert [m.rcpt_tos for m in smtp_server.received] == [("manager@mash.example",)]
    store.close()


def test_connection_dropped_mid_data_is_retried_and_sent_once(setup, smtp_server):
    store, settings, composer = setup
    first = queue_ack(store, composer, add_intake(store, 1, "a@school.org"))
    second = queue_ack(store, composer, add_intake(store, 2, "b@school.org"))
    smtp_server.drop_connection_in_data(1)
    sender = SmtpSender(settings.smtp)

    report = deliver_due(store, sender, settings, T0)
    assert report.retrying == [first] and report.sent == []
    report = deliver_due(store, sender, settings, T0 + timedelta(minutes=1))
    assert report.sent == [first, second]
    assert received_ids(smtp_server) == [r["message_id"] for r in outbox(store)]


class _KilledAfter:
    """A sender that dies (like a SIGKILL) right after the server took the Nth message."""

    def __init__(self, inner: SmtpSender, n: int):
        self.inner, self.n = inner, n

    def send(self, raw: bytes, mail_from: str, recipients: list[str]) -> None:
        self.inner.send(raw, mail_from, recipients)
        self.n -= 1
        if self.n == 0:
            raise SystemExit("killed")

    def close(self) -> None:
        self.inner.close()


def test_restart_resends_only_what_was_not_recorded_as_sent(setup, smtp_server):
    """GIVEN one reply sent and three queued WHEN the worker dies right after the server
    took the second (before recording it) and a new Store opens the same file
    THEN only the unrecorded ones go out: the one in hand again, same Message-ID."""
    store, settings, composer = setup
    ids = [queue_ack(store, composer, add_intake(store, 1, "r1@school.org"))]
    assert deliver_due(store, SmtpSender(settings.smtp), settings, T0).sent == ids
    ids += [queue_ack(store, composer, add_intake(store, n, f"r{n}@school.org"))
            for n in range(2, 5)]
    with pytest.raises(SystemExit):
        deliver_due(store, _KilledAfter(SmtpSender(settings.smtp), 1), settings, T0)
    store.close()

    again = Store(settings.store_path)
    try:
        assert deliver_due(again, SmtpSender(settings.smtp), settings, T0).sent == ids[1:]
        assert deliver_due(again, SmtpSender(settings.smtp), settings, T0).sent == []
        rows = [dict(r) for r in again.query("SELECT * FROM outbox ORDER BY id")]
    finally:
        again.close()
    assert all(r["status"] == "sent" for r in rows)
    order = [r["message_id"] for r in rows]
    assert received_ids(smtp_server) == [order[0], order[1], order[1], order[2], order[3]]


def test_sixth_reply_in_an_hour_waits_and_goes_later_but_alerts_do_not(setup, smtp_server):
    store, settings, composer = setup
    intake = add_intake(store, 1, "busy@school.org", priority="urgent")
    acks = [queue_ack(store, composer, intake) for _ in range(6)]
    to_same = Composer(replace(settings, alert_to=("busy@school.org",)))
    alert = queue_ack(store, to_same, intake, kind="alert")  # alerts are never held back
    sender = SmtpSender(settings.smtp)

    report = deliver_due(store, sender, settings, T0 + timedelta(minutes=10))
    assert report.sent == [*acks[:5], alert] and report.deferred == [acks[5]]
    sixth = outbox(store)[5]
    assert sixth["status"] == "pending"
    assert parse_iso(sixth["next_attempt_at"]) == T0 + timedelta(minutes=70)
    assert deliver_due(store, sender, settings, T0 + timedelta(minutes=40)).sent == []
    assert deliver_due(store, sender, settings, T0 + timedelta(minutes=70)).sent == [acks[5]]
    assert len(smtp_server.received) == 7
    events = [r["event"] for r in store.audit_trail(intake.id)]
    assert events.count("deferred") == 1 and events.count("sent") == 7


class _Failing:
    """A sender failing as told, for the retry arithmetic."""

    def __init__(self, error: SendError, only: str | None = None):
        self.error, self.only, self.sent = error, only, []

    def send(self, raw: bytes, mail_from: str, recipients: list[str]) -> None:
        if self.only is None or self.only in recipients:
            raise self.error
        self.sent.append(recipients)

    def close(self) -> None:
        pass


def test_backoff_doubles_from_a_minute_up_to_an_hour(setup):
    store, settings, composer = setup
    queue_ack(store, composer, add_intake(store, 1, "a@school.org"))
    sender = _Failing(ServerDown("connection refused"))
    now, waits = T0, []
    for _ in range(9):
        deliver_due(store, sender, settings, now)
        row = outbox(store)[0]
        waits.append(parse_iso(row["next_attempt_at"]) - now)
        now = parse_iso(row["next_attempt_at"])
    assert [w // timedelta(minutes=1) for w in waits] == [1, 2, 4, 8, 16, 32, 60, 60, 60]
    assert outbox(store)[0]["attempts"] == 9 and backoff(1) == timedelta(minutes=1)


def test_a_transient_refusal_of_one_message_does_not_stop_the_round(setup):
    store, settings, composer = setup
    first = queue_ack(store, composer, add_intake(store, 1, "busy@school.org"))
    second = queue_ack(store, composer, add_intake(store, 2, "ok@school.org"))
    sender = _Failing(SendError("451 4.3.0 try later"), only="busy@school.org")
    report = deliver_due(store, sender, settings, T0)
    assert report.retrying == [first] and report.sent == [second] and report.stopped is None
    assert outbox(store)[0]["status"] == "pending"


def test_automatic_replies_to_anyone_stop_at_the_hourly_cap_and_the_mash_is_told_once(
        tmp_path, smtp_server):
    """GIVEN a cap of 3 automatic replies an hour WHEN 5 referrers (each under their own
    limit) are due an acknowledgement THEN 3 go, 2 wait for the hour, the MASH gets one
    alert saying so (not one per held reply), and the 2 go once the hour allows."""
    settings = make_settings(tmp_path, smtp_server.settings(), max_automatic_per_hour=3)
    store, composer = Store(settings.store_path), Composer(settings)
    acks = [queue_ack(store, composer, add_intake(store, n, f"referrer{n}@school.org"))
            for n in range(1, 6)]
    sender = SmtpSender(settings.smtp)
    report = deliver_due(store, sender, settings, T0 + timedelta(minutes=1))
    assert report.sent == acks[:3] and report.deferred == acks[3:]
    again = deliver_due(store, sender, settings, T0 + timedelta(minutes=2))
    alerts = [m for m in smtp_server.received if m.rcpt_tos == (MASH,)]
    assert len(alerts) == 1 and again.sent and again.sent[0] not in acks
    assert b"automatic replies paused" in alerts[0].content
    assert deliver_due(store, sender, settings, T0 + timedelta(minutes=30)).sent == []
    later = deliver_due(store, sender, settings, T0 + timedelta(minutes=62))
    assert later.sent == acks[3:]
    assert len([m for m in smtp_server.received if m.rcpt_tos == (MASH,)]) == 1
    store.close()
