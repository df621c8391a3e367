"""Retention: erase the personal data of intakes closed more than N days ago.

Erased: the form answers and where they were found (intakes.fields and
field_sources), the text of notes added on the web page, every earlier version
of the answers and every proposal waiting (answer_versions, proposals), the
stored messages with their attachments (messages.raw, and any that came in
after an earlier purge), and the bytes of every message we queued about the
intake (outbox.raw; they hold no personal data by design, erased all the same)
with their `.eml` copies in the shadow folder. The digests older than DAYS go
the same way (they carry initials). Kept: the reference, dates, verdicts and
the audit trail, which never holds form answers. Times are compared as times,
not as text: an intake closed in the same second as `purge --older-than 0` is
purged.

SQLite keeps old copies of changed pages in the write-ahead log and, without
care, in free pages: secure_delete (set by the Store) zeroes freed space,
VACUUM rebuilds the file, and a TRUNCATE checkpoint empties the WAL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from ..domain.clock import iso, parse_iso
from ..domain.records import SendStatus
from ..mail.send import eml_name
from ..store.answers import CANCELLED, WAITING
from ..store.database import Store
from ..store.followup import on_purge


@dataclass(frozen=True)
class Purged:
    """What was erased for one intake."""

    reference: str
    closed_at: str
    form_answers: int
    messages: int
    outbox: int


@dataclass(frozen=True)
class PurgeReport:
    older_than_days: int
    cutoff: str
    intakes: tuple[Purged, ...] = ()
    wal_cleared: bool = True  # False: another connection kept the WAL from being emptied
    late_messages: int = 0  # stored messages of intakes purged before (replies since)
    digests: int = 0  # digests (and other messages about no intake) erased
    dry_run: bool = False  # what would be erased; nothing was

    def __str__(self) -> str:
        if self.dry_run:
            return self._preview()
        lines = [f"{p.reference} (closed {p.closed_at[:10]}): erased {p.form_answers} form "
                 f"answer{'s' if p.form_answers != 1 else ''}, {p.messages} stored "
                 f"message{'s' if p.messages != 1 else ''}, {p.outbox} outgoing "
                 f"message{'s' if p.outbox != 1 else ''}" for p in self.intakes]
        if self.late_messages:
            lines.append(f"erased {self.late_messages} stored message"
                         f"{'s' if self.late_messages != 1 else ''} that came in after "
                         "their intake was purged")
        if self.digests:
            lines.append(f"erased {self.digests} digest{'s' if self.digests != 1 else ''} "
                         "and other messages about no one intake")
        total = len(self.intakes)
        lines.append(f"purged {total} intake{'s' if total != 1 else ''} closed before "
                     f"{self.cutoff}" if total else
                     f"nothing to purge: no intake closed before {self.cutoff} is unpurged")
        if not self.wal_cleared:
            lines.append("warning: the write-ahead log could not be emptied while another "
                         "process had the store open; run purge again when the worker is idle")
        return "\n".join(lines)

    def _preview(self) -> str:
        lines = [f"{p.reference} (closed {p.closed_at[:10]}): would erase {p.form_answers} "
                 f"form answer{'s' if p.form_answers != 1 else ''}, {p.messages} stored "
                 f"message{'s' if p.messages != 1 else ''}" for p in self.intakes]
        total = len(self.intakes)
        lines.append(f"{total} intake{'s' if total != 1 else ''} closed before {self.cutoff} "
                     "would be purged (dry run: nothing erased)")
        return "\n".join(lines)



class _Rollback(Exception):
    """Ends a dry run's transaction without committing it."""


def purge(store: Store, older_than_days: int, *, now: datetime, dry_run: bool = False,
          shadow_folder: Path | None = None) -> PurgeReport:
    """Erase personal data of intakes closed more than `older_than_days` days before `now`
    (closed at `now` itself counts for 0 days), with their `.eml` copies in `shadow_folder`.
    dry_run: the same counts, from a transaction rolled back."""
    if older_than_days < 0:
        raise ValueError("older_than_days must be 0 or more")
    limit = now - timedelta(days=older_than_days)
    cutoff = iso(limit)
    purged: list[Purged] = []
    files: list[str] = []
    late = digests = 0
    try:
        with store.transaction():
            closed = store.intakes("closed_at IS NOT NULL AND purged_at IS NULL",
                                   order="closed_at, id")
            for intake in closed:
                if intake.closed_at is not None and intake.closed_at <= limit:
                    purged.append(_erase(store, intake.id, intake.reference,
                                         iso(intake.closed_at), now, files))
            late = _erase_late_messages(store)
            digests = _erase_unattached(store, limit, now, files)
            if dry_run:
                raise _Rollback()
    except _Rollback:
        return PurgeReport(older_than_days, cutoff, tuple(purged), dry_run=True,
                           late_messages=late, digests=digests)
    if shadow_folder is not None:
        for name in dict.fromkeys(files):
            (Path(shadow_folder) / f"{name}.eml").unlink(missing_ok=True)
    if purged or late or digests:
        store.conn.execute("VACUUM")  # rebuild the file: no free page keeps an old copy
    return PurgeReport(older_than_days, cutoff, tuple(purged), wal_cleared=_checkpoint(store),
                       late_messages=late, digests=digests)


def _erase_late_messages(store: Store) -> int:
    """Messages that reached an intake after it was purged (a late reply, a note)."""
    return store.conn.execute(
        "UPDATE messages SET raw = NULL WHERE raw IS NOT NULL AND intake_id IN "
        "(SELECT id FROM intakes WHERE purged_at IS NOT NULL)").rowcount


def _erase_unattached(store: Store, limit: datetime, now: datetime, files: list[str]) -> int:
    """Digests and other messages about no one intake, made before `limit` and done with."""
    rows = [row for row in store.query(
        "SELECT id, raw, created_at FROM outbox WHERE intake_id IS NULL AND length(raw) > 0 "
        f"AND status IN ('{SendStatus.SENT}', '{SendStatus.HELD}', '{SendStatus.CANCELLED}')")
        if parse_iso(row["created_at"]) <= limit]
    for row in rows:
        files.append(eml_name(bytes(row["raw"])))
        store.conn.execute("UPDATE outbox SET raw = X'' WHERE id = ?", (row["id"],))
    if rows:
        store.audit("purged-digests", at=now, outbox=len(rows))
    return len(rows)


def _erase(store: Store, intake_id: int, reference: str, closed_at: str,
           now: datetime, files: list[str]) -> Purged:
    conn = store.conn
    (answers,) = conn.execute(
        "SELECT COUNT(*) FROM intakes, json_each(intakes.fields) WHERE intakes.id = ?",
        (intake_id,),
    ).fetchone()
    # The messages of the intake, and any second delivery of them that kept its bytes.
    messages = conn.execute(
        "UPDATE messages SET raw = NULL WHERE raw IS NOT NULL AND (intake_id = ? OR "
        "(message_id IS NOT NULL AND message_id IN "
        "(SELECT message_id FROM messages WHERE intake_id = ?)))", (intake_id, intake_id),
    ).rowcount
    files += [eml_name(bytes(raw)) for (raw,) in conn.execute(
        "SELECT raw FROM outbox WHERE intake_id = ? AND length(raw) > 0", (intake_id,))]
    conn.execute("UPDATE answer_versions SET fields_before = '{}' WHERE intake_id = ?",
                 (intake_id,))
    conn.execute("UPDATE proposals SET proposed_fields = '{}', proposed_sources = '{}', "
                 "status = CASE WHEN status = ? THEN ? ELSE status END "
                 "WHERE intake_id = ?", (WAITING, CANCELLED, intake_id))
    # A message still waiting (held by the rate limit) would go out empty: cancel it.
    outbox = conn.execute(
        f"UPDATE outbox SET raw = X'', status = CASE WHEN status = '{SendStatus.SENT}' "
        f"THEN '{SendStatus.SENT}' ELSE '{SendStatus.CANCELLED}' END "
        "WHERE intake_id = ? AND length(raw) > 0", (intake_id,),
    ).rowcount
    # Notes written on the web page may name people: their text goes too (who and when stay).
    conn.execute("UPDATE notes SET text = NULL WHERE intake_id = ?", (intake_id,))
    store.update("intakes", intake_id, {"fields": {}, "field_sources": {}, "purged_at": now,
                                        "updated_at": now})
    on_purge(store, intake_id)
    store.audit("purged", intake_id=intake_id, at=now, form_answers=answers,
                messages=messages, outbox=outbox)
    return Purged(reference, closed_at, answers, messages, outbox)


def _checkpoint(store: Store) -> bool:
    """Copy the WAL into the file and truncate it to nothing; True when that fully happened."""
    busy, _log, _done = store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
    return busy == 0
