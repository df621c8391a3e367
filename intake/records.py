"""Typed records over the store's rows: an intake and the words its columns may hold.

The store keeps rows as dicts (store.decode_row); these give them names and
types for code that reads them, such as the web page. `Intake.from_row` takes
a row as `decode_row` or `triage_rows` returns it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from .clock import parse_iso


class Status(StrEnum):
    COMPLETE = "complete"
    INCOMPLETE = "incomplete"
    MANUAL_REVIEW = "manual_review"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ").capitalize()


class Priority(StrEnum):
    URGENT = "urgent"
    NORMAL = "normal"


class AgeBand(StrEnum):
    CHILD = "child"
    ADULT = "adult"


def _when(text: str | None) -> datetime | None:
    return parse_iso(text) if text else None


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
    review_reason: str | None = None
    missing: tuple[str, ...] = ()
    invalid: tuple[str, ...] = ()
    cc_missing: tuple[str, ...] = ()
    urgent_because: tuple[str, ...] = ()
    findings: tuple[dict[str, Any], ...] = ()
    fields: dict[str, str] = field(default_factory=dict)
    field_sources: dict[str, str] = field(default_factory=dict)
    reminders_sent: int = 0
    bounced: bool = False
    folder: str | None = None
    closed_at: datetime | None = None
    close_reason: str | None = None
    purged_at: datetime | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Intake:
        band = row.get("age_band")
        return cls(
            id=int(row["id"]),
            reference=row["reference"],
            status=Status(row["status"]),
            priority=Priority(row.get("priority") or Priority.NORMAL),
            age_band=AgeBand(band) if band else None,
            received_at=parse_iso(row["received_at"]),
            last_message_at=parse_iso(row["last_message_at"]),
            sender=row.get("sender"),
            review_reason=row.get("review_reason"),
            missing=tuple(row.get("missing") or ()),
            invalid=tuple(row.get("invalid") or ()),
            cc_missing=tuple(row.get("cc_missing") or ()),
            urgent_because=tuple(row.get("urgent_because") or ()),
            findings=tuple(row.get("findings") or ()),
            fields=dict(row.get("fields") or {}),
            field_sources=dict(row.get("field_sources") or {}),
            reminders_sent=int(row.get("reminders_sent") or 0),
            bounced=bool(row.get("bounced")),
            folder=row.get("folder"),
            closed_at=_when(row.get("closed_at")),
            close_reason=row.get("close_reason"),
            purged_at=_when(row.get("purged_at")),
        )

    @property
    def is_open(self) -> bool:
        return self.closed_at is None
