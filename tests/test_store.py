"""The store: private file, migrations recorded, append-only audit, one worker."""

from __future__ import annotations

import os
import sqlite3
import stat

import pytest

from intake.domain.errors import StoreError, StoreLockedError
from intake.store.database import Store
from intake.store.schema import MIGRATIONS, statements


def test_store_file_is_private_and_in_wal_mode(store):
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600
    assert store.query("PRAGMA journal_mode")[0][0] == "wal"
    assert store.query("PRAGMA synchronous")[0][0] == 2  # FULL


def test_migrations_are_recorded_and_applied_once(tmp_path, store):
    names = [row[0] for row in store.query("SELECT name FROM migrations ORDER BY rowid")]
    assert names == [name for name, _ in MIGRATIONS]  # each, in order
    store.close()
    again = Store(tmp_path / "intake.sqlite3")
    assert [row[0] for row in again.query("SELECT name FROM migrations ORDER BY rowid")] == names
    again.close()


def test_a_store_from_the_first_schema_keeps_its_outbox_when_migrated(tmp_path):
    """A store written before 002 still sends what waits in its outbox afterwards."""
    path = tmp_path / "old.sqlite3"
    old = sqlite3.connect(path)
    for statement in statements(MIGRATIONS[0][1]):
        old.execute(statement)
    old.execute("CREATE TABLE migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    old.execute("INSERT INTO migrations VALUES ('001-initial', '2026-01-01T00:00:00+00:00')")
    old.execute("INSERT INTO outbox (kind, recipients, message_id, raw, next_attempt_at, "
                "created_at) VALUES ('alert', '[\"a@x.org\"]', '<m@x>', x'41', 't', 't')")
    old.commit()
    old.close()

    store = Store(path)
    (row,) = store.query("SELECT kind, recipients, message_id, status FROM outbox")
    assert tuple(row) == ("alert", '["a@x.org"]', "<m@x>", "pending")
    with store.transaction():  # a split copy shares the Message-ID
        store.insert("outbox", {"kind": "alert", "recipients": ["b@x.org"],
                                "message_id": "<m@x>", "raw": b"A", "next_attempt_at": "t",
                                "created_at": "t"})
    assert store.query("SELECT COUNT(*) FROM outbox WHERE message_id = '<m@x>'")[0][0] == 2
    store.close()


def test_references_count_per_year(store):
    with store.transaction():
        refs = [store.next_reference(2026), store.next_reference(2026), store.next_reference(2027)]
    assert refs == ["PRV-2026-00001", "PRV-2026-00002", "PRV-2027-00001"]


def test_audit_is_append_only(store):
    with store.transaction():
        store.audit("received", uid=7)
    with pytest.raises(StoreError, match="append-only"):
        with store.transaction():
            store.conn.execute("UPDATE audit SET event = 'x'")
    with pytest.raises(StoreError, match="append-only"):
        with store.transaction():
            store.conn.execute("DELETE FROM audit")
    assert [row["event"] for row in store.query("SELECT event FROM audit")] == ["received"]


def test_a_second_worker_is_refused(tmp_path, store):
    store.lock()
    other = Store(tmp_path / "intake.sqlite3")
    with pytest.raises(StoreLockedError, match="another worker"):
        other.lock()
    other.close()


def test_failed_transaction_leaves_nothing(store):
    with pytest.raises(RuntimeError):
        with store.transaction():
            store.audit("received")
            raise RuntimeError("boom")
    assert store.query("SELECT COUNT(*) FROM audit")[0][0] == 0


def test_full_disk_is_a_store_error(store):
    store.conn.execute("PRAGMA max_page_count = 1")
    with pytest.raises(StoreError):
        with store.transaction():
            store.audit("received", filler="x" * 100_000)


def test_folder_position_resets_when_uidvalidity_changes(store):
    with store.transaction():
        store.set_folder_state("INBOX", 100, 40)
        store.set_folder_state("INBOX", 100, 12)  # never goes back within one UIDVALIDITY
    assert store.folder_state("INBOX") == (100, 40)
    with store.transaction():
        store.set_folder_state("INBOX", 200, 3)
    assert store.folder_state("INBOX") == (200, 3)


def test_read_only_store_refuses_writes(tmp_path, store):
    readonly = Store(tmp_path / "intake.sqlite3", readonly=True)
    with pytest.raises(StoreError):
        with readonly.transaction():
            readonly.audit("received")
    readonly.close()
