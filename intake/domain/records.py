"""Typed records over the store's rows, and the words their columns may hold.

The store reads rows as dicts (store.decode_row) and hands them on only as
these records (store.intake_from_row): every module outside the store reads
an intake by attribute, never by a column's name. `Intake.from_row` takes a row
as `decode_row` returns it; `to_row` gives the columns back for store.insert.
Every word is spelled once here, and a word the code does not know raises
ValueError instead of falling into an `else`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from .clock import parse_iso

# An intake's reference: PRV-YYYY-NNNNN, numbered per year of receipt (store.next_reference).
REFERENCE_PREFIX = "PRV"
REFERENCE_PATTERN = rf"{REFERENCE_PREFIX}-[0-9]{{4}}-[0-9]{{5}}"
# Our loop marker, on every message we send; its value is the reference (or the kind).
LOOP_HEADER = "X-Prevent-Intake"


def format_reference(year: int, number: int) -> str:
    return f"{REFERENCE_PREFIX}-{year:04d}-{number:05d}"


class Status(StrEnum):
    COMPLETE = "complete"
    INCOMPLETE = "incomplete"
    MANUAL_REVIEW = "manual_review"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


OPEN_STATUSES: tuple[Status, ...] = (Status.INCOMPLETE, Status.MANUAL_REVIEW)


class Priority(StrEnum):
    URGENT = "urgent"
    NORMAL = "normal"


class ReviewReason(StrEnum):
    """Why an intake needs a person before it is complete (contract: review_reason)."""

    ENCRYPTED_EMAIL = "encrypted-email"
    ENCRYPTED = "encrypted"
    TOO_LARGE = "too-large"
    TIMEOUT = "timeout"
    DAMAGED = "damaged"
    SCAN = "scan"
    UNSUPPORTED = "unsupported"
    NOT_RECOGNISED = "not-recognised"
    SEVERAL_FORMS = "several-forms"
    ERROR = "error"  # the pipeline failed on the message (pipeline.py, retry.py)


class Outcome(StrEnum):
    """What one received message was taken to be (messages.outcome)."""

    INTAKE = "intake"
    CORRECTION = "correction"
    NOTE = "note"
    BOUNCE = "bounce"
    IGNORED = "ignored"
    DUPLICATE = "duplicate"


# The outcomes whose bytes are kept with the message row, until a purge.
KEEPS_RAW: frozenset[Outcome] = frozenset({Outcome.INTAKE, Outcome.CORRECTION, Outcome.NOTE})


class Kind(StrEnum):
    """What an outgoing message is (outbox.kind)."""

    ACK = "ack"
    CORRECTION = "correction"
    REMINDER = "reminder"
    ALERT = "alert"
    OVERDUE = "overdue"
    DIGEST = "digest"
    SERVICE = "service"


# Answers to the referrer: each address gets a few an hour at most (outbox.py).
REPLY_KINDS: frozenset[Kind] = frozenset({Kind.ACK, Kind.CORRECTION, Kind.REMINDER})


class SendStatus(StrEnum):
    """Where an outgoing message stands (outbox.status)."""

    PENDING = "pending"
    SENT = "sent"
    HELD = "held"  # refused for good: a person must look
    DROPPED = "dropped"  # queued in a shadow trial: never sent in send mode
    CANCELLED = "cancelled"  # its intake was purged before it went


class AgeBand(StrEnum):
    CHILD = "child"
    ADULT = "adult"


def _when(text: str | datetime | None) -> datetime | None:
    if isinstance(text, datetime):
        return text
    return parse_iso(text) if text else None


def _moment(text: str | datetime) -> datetime:
    return text if isinstance(text, datetime) else parse_iso(text)


def json_list(value: Any) -> tuple[str, ...]:
    """A JSON list column, decoded or not; a lone string is refused, not taken as a list."""
    if isinstance(value, str):
        value = json.loads(value)
    if isinstance(value, str):
        raise ValueError(f"expected a JSON list, got the string {value!r}")
    return tuple(str(item) for item in (value or ()))


@dataclass(frozen=True)
class Intake:
    """One referral intake as stored (intakes table), JSON columns decoded."""

    id: int
    reference: str
    status: Status
    priority: Priority
    age_band: AgeBand | None
    received_at: datetime
    last_message_at: datetime
    sender: str | None = None
    message_id: str | None = None
    reply_to: str | None = None
    recipients: tuple[str, ...] = ()
    source: str = "none"
    review_reason: ReviewReason | None = None
    machine_reason: str | None = None
    missing: tuple[str, ...] = ()
    invalid: tuple[str, ...] = ()
    cc_missing: tuple[str, ...] = ()
    urgent_because: tuple[str, ...] = ()
    findings: tuple[dict[str, Any], ...] = ()
    fields: dict[str, str] = field(default_factory=dict)
    field_sources: dict[str, str] = field(default_factory=dict)
    reminders_sent: int = 0
    last_reminder_at: datetime | None = None
    bounced: bool = False
    folder: str | None = None
    closed_at: datetime | None = None
    close_reason: str | None = None
    purged_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    sender_auth: str | None = None  # pass | fail | none (sender_auth.py); None: before it
    first_referrer_email: str | None = None  # who may correct, with the sender (decide.py)

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Intake:
        band = row.get("age_band")
        reason = row.get("review_reason")
        return cls(
            id=int(row["id"]),
            reference=row["reference"],
            status=Status(row["status"]),
            priority=Priority(row.get("priority") or Priority.NORMAL),
            age_band=AgeBand(band) if band else None,
            received_at=_moment(row["received_at"]),
            last_message_at=_moment(row["last_message_at"]),
            sender=row.get("sender"),
            message_id=row.get("message_id"),
            reply_to=row.get("reply_to"),
            recipients=tuple(row.get("recipients") or ()),
            source=row.get("source") or "none",
            review_reason=ReviewReason(reason) if reason else None,
            machine_reason=row.get("machine_reason"),
            missing=tuple(row.get("missing") or ()),
            invalid=tuple(row.get("invalid") or ()),
            cc_missing=tuple(row.get("cc_missing") or ()),
            urgent_because=tuple(row.get("urgent_because") or ()),
            findings=tuple(row.get("findings") or ()),
            fields=dict(row.get("fields") or {}),
            field_sources=dict(row.get("field_sources") or {}),
            reminders_sent=int(row.get("reminders_sent") or 0),
            last_reminder_at=_when(row.get("last_reminder_at")),
            bounced=bool(row.get("bounced")),
            folder=row.get("folder"),
            closed_at=_when(row.get("closed_at")),
            close_reason=row.get("close_reason"),
            purged_at=_when(row.get("purged_at")),
            created_at=_when(row.get("created_at")),
            updated_at=_when(row.get("updated_at")),
            sender_auth=row.get("sender_auth"),
            first_referrer_email=row.get("first_referrer_email"),
        )

    def to_row(self) -> dict[str, Any]:
        """The intakes columns (without id), as store.insert and store.update take them."""
        return {
            "reference": self.reference, "message_id": self.message_id,
            "sender": self.sender, "reply_to": self.reply_to,
            "received_at": self.received_at, "last_message_at": self.last_message_at,
            "status": self.status, "missing": list(self.missing),
            "invalid": list(self.invalid), "cc_missing": list(self.cc_missing),
            "findings": [dict(f) for f in self.findings], "fields": dict(self.fields),
            "field_sources": dict(self.field_sources), "recipients": list(self.recipients),
            "priority": self.priority, "urgent_because": list(self.urgent_because),
            "age_band": self.age_band, "source": self.source,
            "review_reason": self.review_reason, "folder": self.folder,
            "machine_reason": self.machine_reason, "reminders_sent": self.reminders_sent,
            "last_reminder_at": self.last_reminder_at, "bounced": int(self.bounced),
            "closed_at": self.closed_at, "close_reason": self.close_reason,
            "purged_at": self.purged_at, "created_at": self.created_at,
            "updated_at": self.updated_at, "sender_auth": self.sender_auth,
            "first_referrer_email": self.first_referrer_email,
        }

    @property
    def is_open(self) -> bool:
        return self.closed_at is None


@dataclass(frozen=True)
class OutboxItem:
    """One outgoing message as the outbox reads it back (outbox table; `reference` joined
    from its intake when the query names it). The raw bytes are read on their own, just
    before sending: a purge may have emptied them since."""

    id: int
    kind: Kind
    intake_id: int | None
    recipients: tuple[str, ...]
    attempts: int = 0
    message_id: str = ""
    status: SendStatus = SendStatus.PENDING
    queued_in: str | None = None
    reference: str | None = None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> OutboxItem:
        keys = set(row.keys())

        def get(key: str) -> Any:
            return row[key] if key in keys else None

        return cls(
            id=int(row["id"]),
            kind=Kind(row["kind"]),
            intake_id=get("intake_id"),
            recipients=json_list(get("recipients")),
            attempts=int(get("attempts") or 0),
            message_id=get("message_id") or "",
            status=SendStatus(get("status") or SendStatus.PENDING),
            queued_in=get("queued_in"),
            reference=get("reference"),
        )

    @property
    def is_reply(self) -> bool:
        return self.kind in REPLY_KINDS


@dataclass(frozen=True)
class MessageRow:
    """One received message as recorded (messages table), without its bytes."""

    id: int
    folder: str
    uidvalidity: int
    uid: int
    message_id: str | None
    content_hash: str
    sender: str | None
    received_at: datetime
    outcome: Outcome
    reason: str | None = None
    intake_id: int | None = None
    marked: bool = False

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> MessageRow:
        return cls(
            id=int(row["id"]), folder=row["folder"], uidvalidity=int(row["uidvalidity"]),
            uid=int(row["uid"]), message_id=row["message_id"],
            content_hash=row["content_hash"], sender=row["sender"],
            received_at=parse_iso(row["received_at"]), outcome=Outcome(row["outcome"]),
            reason=row["reason"], intake_id=row["intake_id"], marked=bool(row["marked"]),
        )
