"""Retention: a purge leaves no personal data of a long-closed intake anywhere in the files."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from support import stored
from support.storefill import FIELDS, add_intake

from intake.domain.clock import iso
from intake.jobs.purge import purge
from intake.ops.triage import close_intake
from intake.store.database import Store

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)

# Distinctive answers of the intake to be purged; long enough to spill into overflow pages.
SECRET_FIELDS = FIELDS | {
    "subject_forenames": "Quillon",
    "subject_surname": "Vantablackwood",
    "subject_dob": "29/02/2008",
    "subject_address": "77 Zephyrine Mews, Brockley SE4 9ZZ",
    "concerns": "Mentioned the Obsidian Lantern forum repeatedly. " * 200,
    "referrer_name": "Thaddeus Pemberton-Ngata",
}
SECRETS = ("Quillon", "Vantablackwood", "29/02/2008", "Zephyrine Mews", "Obsidian Lantern",
           "Thaddeus Pemberton-Ngata")
ATTACHMENT = b"%PDF-1.7 form bytes Vantablackwood " + b"Zephyrine Mews padding " * 2000



def file_bytes(store: Store) -> bytes:
    wal = Path(f"{store.path}-wal")
    return store.path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def contains(data: bytes, text: str) -> bool:
    return text.encode() in data or text.encode("utf-16-le") in data


def test_purge_erases_everything_personal_and_keeps_the_record(store: Store) -> None:
    """GIVEN an intake closed 40 days ago, one closed 5 days ago and one still open
    WHEN purging what was closed more than 30 days ago
    THEN the old one's answers, messages and outbox bytes are gone from the file and the WAL,
    its reference, dates, verdicts and audit trail remain, and the others are untouched."""
    old = add_intake(store, "2026-09-01T09:00:00+00:00", status="incomplete",
                     missing=["referrer_phone"], fields=SECRET_FIELDS,
                     raw=b"From: x\r\nSubject: Prevent referral\r\n\r\n" + ATTACHMENT)
    recent = add_intake(store, "2026-11-01T09:00:00+00:00", status="complete")
    open_ = add_intake(store, "2026-08-01T09:00:00+00:00", status="incomplete",
                       fields=FIELDS | {"subject_surname": "Stillopenson"})
    close_intake(store, old.reference, "passed to Channel panel", NOW - timedelta(days=40))
    close_intake(store, recent.reference, "no further action", NOW - timedelta(days=5))
    assert all(contains(file_bytes(store), secret) for secret in SECRETS)  # the test can see

    report = purge(store, 30, now=NOW)

    data = file_bytes(store)
    leaked = [secret for secret in SECRETS if contains(data, secret)]
    assert leaked == []
    assert Path(f"{store.path}-wal").stat().st_size == 0
    assert contains(data, "Stillopenson")  # the open intake's answers are still there

    purged = store.intake(old.reference)
    assert purged is not None
    assert purged.fields == {} and purged.field_sources == {}
    assert iso(purged.purged_at) == "2026-11-20T12:00:00+00:00"
    assert (purged.received_at, purged.status, purged.missing) == (
        old.received_at, "incomplete", ("referrer_phone",))
    assert purged.close_reason == "passed to Channel panel"
    assert store.query("SELECT raw FROM messages WHERE intake_id = ?", (old.id,))[0][0] is None
    assert bytes(store.query("SELECT raw FROM outbox WHERE intake_id = ?",
                             (old.id,))[0][0]) == b""
    events = [row["event"] for row in store.audit_trail(old.id)]
    assert events == ["checked", "closed", "purged"]

    for untouched in (recent, open_):
        row = store.intake(untouched.reference)
        assert row is not None and row.fields == untouched.fields
        assert row.purged_at is None
        assert store.query("SELECT raw FROM messages WHERE intake_id = ?",
                           (untouched.id,))[0][0] is not None

    assert [p.reference for p in report.intakes] == [old.reference]
    assert (report.intakes[0].form_answers, report.intakes[0].messages,
            report.intakes[0].outbox) == (len(SECRET_FIELDS), 1, 1)
    assert report.wal_cleared
    assert f"{old.reference} (closed 2026-10-11): erased 10 form answers, 1 stored message, " \
           "1 outgoing message" in str(report)
    assert not any(secret in str(report) for secret in SECRETS)

    # still nothing after the store is closed (the WAL is folded in on close)
    store.close()
    data = store.path.read_bytes()
    assert not any(contains(data, secret) for secret in SECRETS)


def test_purge_twice_and_nothing_due(store: Store) -> None:
    intake = add_intake(store, "2026-09-01T09:00:00+00:00")
    close_intake(store, intake.reference, "no further action", NOW - timedelta(days=10))

    report = purge(store, 30, now=NOW)
    assert report.intakes == ()
    assert str(report).startswith("nothing to purge")
    assert stored(store, intake.reference).fields == FIELDS

    assert [p.reference for p in purge(store, 7, now=NOW).intakes] == [intake.reference]
    assert purge(store, 7, now=NOW).intakes == ()
    assert [r["event"] for r in store.audit_trail(intake.id)].count("purged") == 1


def test_pending_message_of_a_purged_intake_is_cancelled(store: Store) -> None:
    intake = add_intake(store, "2026-09-01T09:00:00+00:00")
    with store.transaction():
        store.insert("outbox", {
            "intake_id": intake.id, "kind": "reminder", "recipients": "a@b.example",
            "message_id": "<held@x>", "raw": b"held reminder", "status": "held",
            "next_attempt_at": "2026-09-02T09:00:00+00:00",
            "created_at": "2026-09-02T09:00:00+00:00",
        })
    close_intake(store, intake.reference, "no further action", NOW - timedelta(days=1))
    purge(store, 0, now=NOW)
    rows = store.query("SELECT status, raw FROM outbox WHERE intake_id = ? ORDER BY id",
                       (intake.id,))
    assert [(row[0], bytes(row[1])) for row in rows] == [("sent", b""), ("cancelled", b"")]


def test_negative_days_are_refused(store: Store) -> None:
    with pytest.raises(ValueError):
        purge(store, -1, now=NOW)


def test_an_intake_closed_in_the_same_second_is_purged_at_zero_days(store: Store) -> None:
    intake = add_intake(store, "2026-09-01T09:00:00+00:00")
    close_intake(store, intake.reference, "no further action", NOW + timedelta(
        microseconds=400_000))  # the same second as the purge, a moment later
    assert [p.reference for p in purge(store, 0, now=NOW + timedelta(microseconds=700_000))
            .intakes] == [intake.reference]


def test_replies_after_a_purge_versions_proposals_digests_and_eml_files_are_erased(
        store: Store, tmp_path: Path) -> None:
    """GIVEN a purged intake that later got a reply (kept whole), an intake with earlier
    versions of its answers and a proposal waiting, a digest sent 40 days ago and the
    shadow folder's copies of what was sent WHEN purging THEN none of them keeps anything."""
    shadow = tmp_path / "shadow"
    shadow.mkdir()
    late = add_intake(store, "2026-08-01T09:00:00+00:00")
    close_intake(store, late.reference, "done", NOW - timedelta(days=50))
    purge(store, 30, now=NOW - timedelta(days=10))
    with store.transaction():  # the late reply, as the worker before this fix stored it
        store.insert("messages", {
            "folder": "INBOX", "uidvalidity": 1, "uid": 9999, "message_id": "<late@x>",
            "content_hash": "late", "received_at": NOW, "recorded_at": NOW,
            "outcome": "note", "intake_id": late.id,
            "raw": b"From: x\r\n\r\nVantablackwood lives at Zephyrine Mews"})
    old = add_intake(store, "2026-09-01T09:00:00+00:00", fields=SECRET_FIELDS)
    with store.transaction():
        store.insert("answer_versions", {
            "intake_id": old.id, "at": NOW - timedelta(days=45),
            "fields_before": {"subject_surname": "Vantablackwood"},
            "changed_keys": ["subject_surname"]})
        store.insert("proposals", {
            "intake_id": old.id, "created_at": NOW - timedelta(days=44),
            "proposed_fields": {"referrer_name": "Thaddeus Pemberton-Ngata"}})
        raw = b"Message-ID: <digest-1@lewisham.gov.uk>\r\n\r\nQ.V. Obsidian Lantern"
        store.insert("outbox", {
            "kind": "digest", "recipients": ["m@x"], "message_id": "<digest-1@lewisham.gov.uk>",
            "raw": raw, "status": "sent", "next_attempt_at": NOW - timedelta(days=40),
            "created_at": NOW - timedelta(days=40)})
    (shadow / "digest-1@lewisham.gov.uk.eml").write_bytes(raw)
    ack = store.query("SELECT raw FROM outbox WHERE intake_id = ?", (old.id,))[0][0]
    from intake.mail.send import eml_name

    (shadow / f"{eml_name(bytes(ack))}.eml").write_bytes(bytes(ack))
    (shadow / "other-intake@x.eml").write_bytes(b"kept")
    close_intake(store, old.reference, "done", NOW - timedelta(days=40))

    report = purge(store, 30, now=NOW, shadow_folder=shadow)
    assert [p.reference for p in report.intakes] == [old.reference]
    assert report.late_messages == 1 and report.digests == 1
    data = file_bytes(store)
    assert [s for s in SECRETS if contains(data, s)] == []
    assert sorted(p.name for p in shadow.iterdir()) == ["other-intake@x.eml"]
