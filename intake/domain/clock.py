"""The one clock everything asks, and how times are written.

Times are stored as ISO 8601 in UTC with an explicit offset, so they sort as
text. `INTAKE_NOW` (ISO 8601) pins the clock for tests and for replaying a
day; nothing else reads it.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo


def utcnow() -> datetime:
    pinned = os.environ.get("INTAKE_NOW")
    if pinned:
        return parse_iso(pinned)
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("naive datetime")
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def parse_iso(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def local_day(moment: datetime, timezone: str) -> date:
    """The calendar day a moment falls on in the given timezone."""
    return moment.astimezone(ZoneInfo(timezone)).date()


def day_bounds(day: date, timezone: str) -> tuple[datetime, datetime]:
    """The first moment of a local day and of the next, in UTC (clock changes included)."""
    zone = ZoneInfo(timezone)
    start = datetime(day.year, day.month, day.day, tzinfo=zone)
    following = date.fromordinal(day.toordinal() + 1)
    end = datetime(following.year, following.month, following.day, tzinfo=zone)
    return start.astimezone(UTC), end.astimezone(UTC)
