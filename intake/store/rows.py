"""The one writer of a received message's row and of an intake's row.

record.py, the pipeline's error path and retry.py write through these, inside
the caller's transaction. Each returns what it wrote as the rest of the
recording reads it (replies, alerts, links): the values in memory, the same as
a read back of the row would give, so nothing is written to be read again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..domain.models import ParsedEmail, RawMessage
from ..domain.records import Intake, Outcome
from .database import Store, read_back


def insert_message(store: Store, raw: RawMessage, email: ParsedEmail, content_hash: str, *,
                   outcome: Outcome, reason: str | None, kept: bytes | None,
                   sender_auth: str | None, now: datetime) -> int:
    """The messages row of one received message; its id."""
    return store.insert("messages", {
        "folder": raw.folder,
        "uidvalidity": raw.uidvalidity,
        "uid": raw.uid,
        "message_id": email.message_id,
        "content_hash": content_hash,
        "sender": email.sender,
        "received_at": raw.received_at,
        "recorded_at": now,
        "outcome": Outcome(outcome),
        "reason": reason,
        "raw": kept,
        **({"sender_auth": sender_auth} if sender_auth is not None else {}),
    })


def insert_intake(store: Store, raw: RawMessage, email: ParsedEmail, message_row: int,
                  columns: dict[str, Any], *, folder: str | None, now: datetime) -> Intake:
    """A new intake from its first message (given the verdict's and answers' `columns`),
    numbered, and linked to its message row. Returns the intake as stored."""
    values = {
        "reference": store.next_reference(raw.received_at.year),
        "message_id": email.message_id,
        "sender": email.sender,
        "received_at": raw.received_at,
        "last_message_at": raw.received_at,
        **columns,
        "folder": folder,
        "created_at": now,
        "updated_at": now,
    }
    # Every column, the defaults too: Intake names them all (an unknown word raises).
    row = Intake.from_row(read_back({"id": 0, **values})).to_row()
    intake_id = store.insert("intakes", values)
    store.update("messages", message_row, {"intake_id": intake_id})
    return _as_read_back(intake_id, row)


def update_intake(store: Store, intake: Intake, changes: dict[str, Any]) -> Intake:
    """Write `changes` (columns and their new values) to the intake's row; the intake as
    it now stands. A column the intakes table does not have raises."""
    unknown = set(changes) - set(intake.to_row())
    if unknown:
        raise ValueError(f"update_intake: no intakes column {sorted(unknown)[0]!r}")
    store.update("intakes", intake.id, changes)
    return _as_read_back(intake.id, {**intake.to_row(), **changes})


def _as_read_back(intake_id: int, columns: dict[str, Any]) -> Intake:
    """The intake exactly as decode_row would read these columns back."""
    return Intake.from_row(read_back({"id": intake_id, **columns}))
