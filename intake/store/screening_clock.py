"""The screening clock in the store: each intake's deadline, when it was met, and the
one reminder alert to the MASH when an intake becomes overdue.

The deadline is set in the transaction that records the intake and set again
when a correction changes its priority or age band (from when it was first
received). `intake triaged` stops the clock; closing stops it too. Intakes
recorded before the clock existed have none.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from functools import lru_cache
from typing import Any

from ..config.settings_types import Settings
from ..domain.clock import day_bounds, iso, parse_iso
from ..domain.records import Intake, Kind
from ..domain.screening import Calendar, describe, load_screening_rules
from ..mail.compose import Composer
from ..mail.outbox import queue
from .database import Store

log = logging.getLogger("intake")


@dataclass(frozen=True)
class Clock:
    """One intake's screening clock as stored (screening table); times as ISO text."""

    intake_id: int
    due_at: str
    working_hours: float  # 0: recorded before the clock existed (no deadline)
    screened_at: str | None = None
    screened_by: str | None = None
    outcome: str | None = None  # what the MASH decided (free text; erased by purge)
    stopped_by: str | None = None  # "triaged" or "closed"
    overdue_alerted_at: str | None = None


@dataclass(frozen=True)
class LateScreening:
    """An intake whose deadline passed unmet (or met late)."""

    reference: str
    due_at: str
    screened_at: str | None


@dataclass(frozen=True)
class ClockState:
    due_at: datetime | None
    stopped_at: datetime | None
    left: timedelta | None  # working time left (negative: overdue); None when stopped
    text: str  # "due in 3h", "overdue 2h", "screened", "-"

    @property
    def sort_key(self) -> float:
        """Least time left first; stopped clocks and intakes without one last."""
        if self.left is None:
            return float("inf")
        return self.left.total_seconds() - (1 if self.text.startswith("overdue") else 0)


@lru_cache(maxsize=8)
def _calendar(working_hours: str, timezone: str, rules_dir: Any) -> Calendar:
    return Calendar(working_hours, timezone, load_screening_rules(rules_dir))


def calendar_for(settings: Settings) -> Calendar:
    return _calendar(settings.working_hours, settings.digest.timezone, settings.rules_dir)


def set_deadline(store: Store, intake: Intake, settings: Settings, now: datetime) -> None:
    """Call inside the recording transaction: the intake's deadline, by its priority and
    age band, from when it was received. A stopped clock is left alone."""
    rules = load_screening_rules(settings.rules_dir)
    hours = rules.hours_for(intake.priority, intake.age_band)
    due = calendar_for(settings).add(intake.received_at, hours)
    rows = store.query("SELECT due_at, screened_at FROM screening WHERE intake_id = ?",
                       (intake.id,))
    if rows and (rows[0]["screened_at"] or rows[0]["due_at"] == iso(due)):
        return
    store.conn.execute(
        "INSERT INTO screening (intake_id, due_at, working_hours) VALUES (?, ?, ?) "
        "ON CONFLICT(intake_id) DO UPDATE SET due_at = excluded.due_at, "
        "working_hours = excluded.working_hours", (intake.id, iso(due), hours))
    store.audit("screening-due", intake_id=intake.id, at=now, due_at=iso(due),
                working_hours=hours, previous=rows[0]["due_at"] if rows else None)


def stop(store: Store, intake_id: int, now: datetime, *, stopped_by: str,
         by: str | None = None, outcome: str | None = None) -> bool:
    """Call inside a transaction: stop the clock (triaged or closed). False when it was
    already stopped or the intake has none."""
    rows = store.query("SELECT due_at, screened_at FROM screening WHERE intake_id = ?",
                       (intake_id,))
    if not rows or rows[0]["screened_at"]:
        return False
    store.conn.execute("UPDATE screening SET screened_at = ?, screened_by = ?, outcome = ?, "
                       "stopped_by = ? WHERE intake_id = ?",
                       (iso(now), by, outcome, stopped_by, intake_id))
    store.audit("screened", intake_id=intake_id, at=now, stopped_by=stopped_by, by=by,
                on_time=iso(now) <= rows[0]["due_at"])
    return True


def mark_triaged(store: Store, reference: str, by: str, outcome: str | None,
                 now: datetime) -> str:
    """`intake triaged`: "" when done, else why not (one line)."""
    with store.transaction():
        rows = store.query("SELECT id, closed_at FROM intakes WHERE reference = ?",
                           (reference.strip().upper(),))
        if not rows:
            return f"no intake {reference}"
        if not store.query("SELECT 1 FROM screening WHERE intake_id = ?", (rows[0]["id"],)):
            # recorded before the clock existed: a row with no deadline (0 hours), stopped
            store.conn.execute("INSERT INTO screening (intake_id, due_at, working_hours) "
                               "VALUES (?, ?, 0)", (rows[0]["id"], iso(now)))
        if not stop(store, rows[0]["id"], now, stopped_by="triaged", by=by.strip(),
                    outcome=(outcome or "").strip() or None):
            return f"{reference.upper()} was already screened (see intake show)"
    return ""


def clocks(store: Store) -> dict[int, Clock]:
    """Intake id -> its screening clock."""
    return {row["intake_id"]: _clock(row) for row in store.query("SELECT * FROM screening")}


def _clock(row: Any) -> Clock:
    return Clock(row["intake_id"], row["due_at"], row["working_hours"], row["screened_at"],
                 row["screened_by"], row["outcome"], row["stopped_by"],
                 row["overdue_alerted_at"])


def state(clock: Clock | None, calendar: Calendar, now: datetime) -> ClockState:
    if not clock:
        return ClockState(None, None, None, "-")
    due = parse_iso(clock.due_at)
    if clock.screened_at:
        stopped = parse_iso(clock.screened_at)
        late = " (late)" if stopped > due else ""
        return ClockState(due, stopped, None, f"screened{late}")
    left = calendar.between(now, due)
    return ClockState(due, None, left, describe(left, past_deadline=now >= due))


def screened_late(store: Store, settings: Settings, day: date,
                  now: datetime) -> list[LateScreening]:
    """Intakes whose deadline fell on `day` (local), before `now`, and was not met."""
    start, end = day_bounds(day, settings.digest.timezone)
    rows = store.query(
        "SELECT i.reference, s.due_at, s.screened_at FROM screening s "
        "JOIN intakes i ON i.id = s.intake_id WHERE s.due_at >= ? AND s.due_at < ? "
        "AND s.due_at <= ? AND (s.screened_at IS NULL OR s.screened_at > s.due_at) "
        "ORDER BY s.due_at, i.id", (iso(start), iso(end), iso(now)))
    return [LateScreening(row["reference"], row["due_at"], row["screened_at"]) for row in rows]


def overdue_alert(composer: Composer, intake: Intake, clock: Clock) -> EmailMessage:
    """The one reminder to the MASH that an intake is past its deadline: verdicts only."""
    return composer.message(
        kind=Kind.OVERDUE, to=list(composer.settings.alert_to),
        subject=composer.subject("overdue", reference=intake.reference),
        template="overdue", context={
            "reference": intake.reference,
            "received": composer._local_time(intake.received_at),
            "due": composer._local_time(clock.due_at),
            "working_hours": f"{clock.working_hours:g}",
            "priority": intake.priority,
            "status": intake.status},
        reply_to_id=intake.message_id, auto_reply=False)


def queue_overdue_alerts(store: Store, composer: Composer, settings: Settings,
                         now: datetime) -> list[str]:
    """One reminder alert to the MASH for each intake that has become overdue: once,
    recorded with the intake, sent from the outbox like every alert."""
    if not settings.alert_to:
        return []
    alerted = []
    due = store.query("SELECT intake_id FROM screening WHERE screened_at IS NULL "
                      "AND overdue_alerted_at IS NULL AND due_at <= ?", (iso(now),))
    for (intake_id,) in due:
        with store.transaction():
            intake = store.intake_by_id(intake_id)
            row = store.query("SELECT * FROM screening WHERE intake_id = ? AND screened_at "
                              "IS NULL AND overdue_alerted_at IS NULL", (intake_id,))
            if intake is None or not row or intake.closed_at:
                continue
            clock = _clock(row[0])
            message = overdue_alert(composer, intake, clock)
            outbox_id = queue(store, message, kind=Kind.OVERDUE, intake_id=intake_id, now=now)
            store.conn.execute("UPDATE screening SET overdue_alerted_at = ? WHERE intake_id = ?",
                               (iso(now), intake_id))
            store.audit("overdue-alerted", intake_id=intake_id, at=now, outbox_id=outbox_id,
                        due_at=clock.due_at)
        alerted.append(intake.reference)
    return alerted
