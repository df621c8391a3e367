"""The store: one SQLite file holding everything the service knows.

WAL with synchronous=FULL so a commit survives power loss; secure_delete so
erased personal data leaves no copy in free pages; the file is 0600; the
schema is versioned by named migrations recorded in the database itself.
One transaction a message: the message row, its intake, its audit events and
the replies it needs are committed together, before anything is sent or the
mailbox is touched.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any

from ..config.paths import make_private_dir
from ..domain.clock import iso, utcnow
from ..domain.errors import StoreError, StoreLockedError
from ..domain.records import Intake, Outcome, format_reference
from .finding_codes import coded_findings
from .schema import MIGRATIONS, statements

LOW_SPACE_BYTES = 1024 * 1024  # below this, a failed write is put down to a full disk

JSON_COLUMNS = frozenset(
    {"missing", "invalid", "cc_missing", "findings", "fields", "field_sources", "recipients",
     "urgent_because", "fields_before", "changed_keys", "proposed_fields", "proposed_sources"}
)


class Store:
    """A connection to the store file, with the queries every stage shares."""

    def __init__(self, path: Path, *, readonly: bool = False):
        self.path = Path(path)
        self._lock_handle: Any = None
        # The [smtp] mode of whoever opened it, kept with each queued message (outbox.py).
        self.queue_mode: str | None = None
        try:
            if not readonly:
                make_private_dir(self.path.parent)
                if not self.path.exists():
                    os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
                os.chmod(self.path, 0o600)
            old_umask = os.umask(0o077)  # the -wal and -shm files are private too
            try:
                uri = f"file:{self.path}?mode=ro" if readonly else f"file:{self.path}"
                self.conn = sqlite3.connect(uri, uri=True, timeout=30, isolation_level=None)
            finally:
                os.umask(old_umask)
            self.conn.row_factory = sqlite3.Row
            self.conn.execute("PRAGMA foreign_keys = ON")
            self.conn.execute("PRAGMA secure_delete = ON")
            if not readonly:
                self.conn.execute("PRAGMA journal_mode = WAL")
                self.conn.execute("PRAGMA synchronous = FULL")
                self._migrate()
        except sqlite3.Error as err:
            raise StoreError(self._failed(err)) from err
        except OSError as err:
            raise StoreError(f"store {self.path}: {err.strerror}") from err

    def _failed(self, err: sqlite3.Error) -> str:
        """The error for one line of log; SQLite says "disk I/O error" when it cannot
        even grow its shared-memory file on a full disk: name the real cause."""
        text = f"store {self.path}: {err}"
        if "full" not in str(err):
            try:
                if shutil.disk_usage(self.path.parent).free < LOW_SPACE_BYTES:
                    text += " (no space left on the disk)"
            except OSError:
                pass
        return text

    # -- lifecycle -------------------------------------------------------

    def _migrate(self) -> None:
        self.conn.create_function("coded_findings", 1, coded_findings, deterministic=True)
        self.conn.execute(
            "CREATE TABLE IF NOT EXISTS migrations "
            "(name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
        )
        applied = {row[0] for row in self.conn.execute("SELECT name FROM migrations")}
        unknown = applied - {name for name, _ in MIGRATIONS}
        if unknown:  # a newer version wrote it: this code would misread what it changed
            raise StoreError(f"store {self.path} was written by a newer version of intake "
                             f"(migration {sorted(unknown)[0]} is not known here): run that "
                             "version, or restore the backup made before upgrading")
        for name, sql in MIGRATIONS:
            if name in applied:
                continue
            with self.transaction():
                for statement in statements(sql):
                    self.conn.execute(statement)
                self.conn.execute(
                    "INSERT INTO migrations (name, applied_at) VALUES (?, ?)", (name, iso(utcnow()))
                )

    def lock(self) -> None:
        """Take the one-worker-per-store lock, or raise StoreLockedError."""
        handle = open(f"{self.path}.lock", "a+")  # noqa: SIM115 - held until close()
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as err:
            handle.close()
            raise StoreLockedError(f"another worker is already running on {self.path}") from err
        self._lock_handle = handle

    def close(self) -> None:
        self.conn.close()
        if self._lock_handle:
            self._lock_handle.close()
            self._lock_handle = None

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT; a failed write raises StoreError after rollback."""
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as err:
            raise StoreError(self._failed(err)) from err
        try:
            yield self.conn
            self.conn.execute("COMMIT")
        except sqlite3.Error as err:
            self._rollback()
            raise StoreError(self._failed(err)) from err
        except BaseException:
            self._rollback()
            raise

    def _rollback(self) -> None:
        if self.conn.in_transaction:
            self.conn.execute("ROLLBACK")

    @contextmanager
    def savepoint(self, name: str) -> Iterator[None]:
        """Inside a transaction: the writes of the block, undone alone if it raises (the
        error is raised on); the rest of the transaction goes on."""
        self.conn.execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            if self.conn.in_transaction:  # SQLite may have rolled the whole of it back
                self.conn.execute(f"ROLLBACK TO {name}")
                self.conn.execute(f"RELEASE {name}")
            raise
        self.conn.execute(f"RELEASE {name}")

    def query(self, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
        try:
            return self.conn.execute(sql, tuple(params)).fetchall()
        except sqlite3.Error as err:
            raise StoreError(self._failed(err)) from err

    # -- mailbox position ------------------------------------------------

    def folder_state(self, folder: str) -> tuple[int, int] | None:
        rows = self.query(
            "SELECT uidvalidity, last_uid FROM mailbox_state WHERE folder = ?", (folder,)
        )
        return (rows[0][0], rows[0][1]) if rows else None

    def set_folder_state(self, folder: str, uidvalidity: int, last_uid: int) -> None:
        """Call inside a transaction: the position moves with the record."""
        self.conn.execute(
            "INSERT INTO mailbox_state (folder, uidvalidity, last_uid) VALUES (?, ?, ?) "
            "ON CONFLICT(folder) DO UPDATE SET uidvalidity = excluded.uidvalidity, "
            "last_uid = MAX(CASE WHEN mailbox_state.uidvalidity = excluded.uidvalidity "
            "THEN mailbox_state.last_uid ELSE 0 END, excluded.last_uid)",
            (folder, uidvalidity, last_uid),
        )

    def known_uids(self, folder: str, uidvalidity: int, uids: Iterable[int]) -> set[int]:
        wanted = list(uids)
        known: set[int] = set()
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            marks = ",".join("?" * len(chunk))
            known.update(
                row[0]
                for row in self.query(
                    f"SELECT uid FROM messages WHERE folder = ? AND uidvalidity = ? "
                    f"AND uid IN ({marks})",
                    (folder, uidvalidity, *chunk),
                )
            )
        return known

    def unmarked_uids(self, folder: str, uidvalidity: int) -> list[int]:
        return [
            row[0]
            for row in self.query(
                "SELECT uid FROM messages WHERE folder = ? AND uidvalidity = ? AND marked = 0 "
                "ORDER BY uid",
                (folder, uidvalidity),
            )
        ]

    def left_in_place(self, folder: str, uidvalidity: int, uids: Iterable[int]) -> set[int]:
        """Recorded mail a person still has to answer (not a referral): keyword, never move."""
        wanted = set(uids)
        rows = self.query(
            "SELECT uid FROM messages WHERE folder = ? AND uidvalidity = ? AND marked = 0 "
            f"AND outcome = '{Outcome.IGNORED}' AND reason = 'not-referral'",
            (folder, uidvalidity),
        )
        return {row[0] for row in rows} & wanted

    def set_marked(self, folder: str, uidvalidity: int, uids: Iterable[int]) -> None:
        with self.transaction():
            self.conn.executemany(
                "UPDATE messages SET marked = 1 WHERE folder = ? AND uidvalidity = ? AND uid = ?",
                [(folder, uidvalidity, uid) for uid in uids],
            )

    def first_delivery(self, message_id: str | None, content_hash: str) -> sqlite3.Row | None:
        """The message row this one repeats: same Message-ID (the same bytes first), or the
        same content when it has no usable Message-ID."""
        if message_id and len(message_id.strip("<> ")) > 0:
            rows = self.query(
                "SELECT id, content_hash FROM messages WHERE message_id = ? "
                f"AND outcome != '{Outcome.DUPLICATE}' ORDER BY content_hash = ? DESC, id LIMIT 1",
                (message_id, content_hash),
            )
        else:
            rows = self.query(
                "SELECT id, content_hash FROM messages WHERE content_hash = ? "
                f"AND outcome != '{Outcome.DUPLICATE}' ORDER BY id LIMIT 1",
                (content_hash,),
            )
        return rows[0] if rows else None

    # -- records ---------------------------------------------------------

    def next_reference(self, year: int) -> str:
        """Call inside a transaction: PRV-YYYY-NNNNN, counting per year."""
        self.conn.execute(
            "INSERT INTO reference_counters (year, last) VALUES (?, 1) "
            "ON CONFLICT(year) DO UPDATE SET last = last + 1",
            (year,),
        )
        (last,) = self.conn.execute(
            "SELECT last FROM reference_counters WHERE year = ?", (year,)
        ).fetchone()
        return format_reference(year, last)

    def insert(self, table: str, values: dict[str, Any]) -> int:
        """Call inside a transaction. JSON columns are encoded here."""
        encoded = {key: _encode(key, value) for key, value in values.items()}
        columns = ", ".join(encoded)
        marks = ", ".join("?" * len(encoded))
        cursor = self.conn.execute(
            f"INSERT INTO {table} ({columns}) VALUES ({marks})", tuple(encoded.values())
        )
        return int(cursor.lastrowid or 0)

    def update(self, table: str, row_id: int, values: dict[str, Any]) -> None:
        """Call inside a transaction."""
        encoded = {key: _encode(key, value) for key, value in values.items()}
        assignments = ", ".join(f"{key} = ?" for key in encoded)
        self.conn.execute(
            f"UPDATE {table} SET {assignments} WHERE id = ?", (*encoded.values(), row_id)
        )

    def audit(
        self,
        event: str,
        *,
        intake_id: int | None = None,
        message_row: int | None = None,
        at: datetime | None = None,
        **detail: Any,
    ) -> None:
        """Call inside a transaction. Detail holds references and keys, never form answers."""
        self.conn.execute(
            "INSERT INTO audit (at, intake_id, message_row, event, detail) VALUES (?, ?, ?, ?, ?)",
            (iso(at or utcnow()), intake_id, message_row, event,
             json.dumps(detail, sort_keys=True, default=str)),
        )

    # -- intakes ---------------------------------------------------------

    def intake(self, reference: str) -> Intake | None:
        rows = self.query("SELECT * FROM intakes WHERE reference = ?", (reference.upper(),))
        return intake_from_row(rows[0]) if rows else None

    def intake_by_id(self, intake_id: int) -> Intake | None:
        rows = self.query("SELECT * FROM intakes WHERE id = ?", (intake_id,))
        return intake_from_row(rows[0]) if rows else None

    def intakes(self, where: str = "1", params: Iterable[Any] = (), *,
                order: str = "received_at, id") -> list[Intake]:
        """The intakes `where` selects (SQL over the intakes columns), in `order`."""
        rows = self.query(f"SELECT * FROM intakes WHERE {where} ORDER BY {order}", params)
        return [intake_from_row(row) for row in rows]

    def intake_for_message_ids(self, message_ids: Iterable[str]) -> Intake | None:
        """The intake a thread belongs to: its referral, a correction, or a message we sent."""
        ids = [m for m in message_ids if m]
        if not ids:
            return None
        marks = ",".join("?" * len(ids))
        rows = self.query(
            f"SELECT intake_id FROM messages WHERE message_id IN ({marks}) "
            f"AND intake_id IS NOT NULL "
            f"UNION SELECT intake_id FROM outbox WHERE message_id IN ({marks}) "
            f"AND intake_id IS NOT NULL ORDER BY intake_id LIMIT 1",
            (*ids, *ids),
        )
        return self.intake_by_id(rows[0][0]) if rows else None

    def outbox_kinds(self, message_ids: Iterable[str]) -> set[str]:
        """The kinds of the messages we queued under these Message-IDs."""
        ids = list(message_ids)
        if not ids:
            return set()
        marks = ",".join("?" * len(ids))
        return {row[0] for row in self.query(
            f"SELECT kind FROM outbox WHERE message_id IN ({marks})", ids)}

    def audit_trail(self, intake_id: int) -> list[sqlite3.Row]:
        return self.query("SELECT * FROM audit WHERE intake_id = ? ORDER BY id", (intake_id,))


def intake_from_row(row: sqlite3.Row) -> Intake:
    """An intakes row as the record every other module reads; a word the code does not
    know (a status, a priority, a review reason...) raises ValueError naming the intake."""
    try:
        return Intake.from_row(decode_row(row))
    except ValueError as err:
        raise ValueError(f"intake row {row['id']} ({row['reference']}): {err}") from err


def decode_row(row: sqlite3.Row) -> dict[str, Any]:
    """A row as a dict, JSON columns decoded."""
    return {
        key: json.loads(row[key]) if key in JSON_COLUMNS and row[key] is not None else row[key]
        for key in row.keys()
    }


def read_back(values: dict[str, Any]) -> dict[str, Any]:
    """Values as decode_row reads them back once store.insert or update wrote them."""
    return {key: _read_back(key, value) for key, value in values.items()}


def _read_back(column: str, value: Any) -> Any:
    encoded = _encode(column, value)
    if column in JSON_COLUMNS:
        return json.loads(encoded)
    if isinstance(encoded, Enum):
        return encoded.value
    return int(encoded) if isinstance(encoded, bool) else encoded


def _encode(column: str, value: Any) -> Any:
    if column in JSON_COLUMNS:
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    if isinstance(value, datetime):
        return iso(value)
    return value
