"""Working-time arithmetic for the MASH's screening clock. Pure: no store, no clock.

A deadline is `hours` of working time after a start: only the working hours
of working days count, in the council's timezone, bank holidays skipped (the
`holidays` package). Arithmetic is done in UTC between local opening and
closing times, so a clock change (at night) neither adds nor loses an hour.
The deadlines themselves are rules data: rules/screening.toml.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import holidays

from ..config.paths import project_dir
from .errors import SettingsError

DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MAX_DAYS = 3660  # a deadline further than ten years away is a mistake in the rules
_HOURS = re.compile(r"([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)")


def working_hours_problem(text: str) -> str | None:
    """Why "HH:MM-HH:MM" is not a working day, or None."""
    found = _HOURS.fullmatch(text)
    if not found:
        return 'must be "HH:MM-HH:MM", e.g. "09:00-17:00"'
    start, end = (int(found[1]), int(found[2])), (int(found[3]), int(found[4]))
    if end <= start or end > (24, 0):
        return "the end must be after the start, on the same day"
    return None


@dataclass(frozen=True)
class DeadlineRule:
    priority: str  # urgent | normal | *
    age_band: str  # child | adult | unknown | *
    hours: float


@dataclass(frozen=True)
class ScreeningRules:
    deadlines: tuple[DeadlineRule, ...]
    working_days: frozenset[int]  # 0 = Monday
    holidays_country: str = "GB"
    holidays_subdivision: str | None = "ENG"

    def hours_for(self, priority: str | None, age_band: str | None) -> float:
        band = age_band or "unknown"
        for rule in self.deadlines:
            if rule.priority in ("*", priority) and rule.age_band in ("*", band):
                return rule.hours
        raise ValueError(f"no deadline in rules/screening.toml for {priority}/{band}")


class Calendar:
    """Working hours on working days in one timezone, bank holidays skipped."""

    def __init__(self, working_hours: str, timezone: str, rules: ScreeningRules):
        if working_hours_problem(working_hours):
            raise ValueError(f"working hours {working_hours!r}")
        opening, closing = working_hours.split("-")
        self.opens = time.fromisoformat(opening)
        self.closes_at_midnight = closing == "24:00"
        self.closes = time(0) if self.closes_at_midnight else time.fromisoformat(closing)
        self.zone = ZoneInfo(timezone)
        self.days = rules.working_days
        self.holidays: Any = holidays.country_holidays(
            rules.holidays_country, subdiv=rules.holidays_subdivision)

    def is_working_day(self, day: date) -> bool:
        return day.weekday() in self.days and day not in self.holidays

    def window(self, day: date) -> tuple[datetime, datetime]:
        """The day's opening and closing, in UTC (local wall-clock times)."""
        start = datetime.combine(day, self.opens, self.zone)
        end_day = day + timedelta(days=1) if self.closes_at_midnight else day
        end = datetime.combine(end_day, self.closes, self.zone)
        return start.astimezone(UTC), end.astimezone(UTC)

    def add(self, start: datetime, hours: float) -> datetime:
        """The moment `hours` of working time after `start` (aware), in UTC."""
        remaining = timedelta(hours=hours)
        day = start.astimezone(self.zone).date()
        for _ in range(MAX_DAYS):
            if self.is_working_day(day):
                opening, closing = self.window(day)
                begin = max(opening, start.astimezone(UTC))
                if begin < closing:
                    if remaining <= closing - begin:
                        return begin + remaining
                    remaining -= closing - begin
            day += timedelta(days=1)
        raise ValueError("no deadline within ten years: check rules/screening.toml")

    def between(self, start: datetime, end: datetime) -> timedelta:
        """Working time from `start` to `end`; negative when `end` is earlier."""
        if end < start:
            return -self.between(end, start)
        total = timedelta(0)
        day = start.astimezone(self.zone).date()
        last = end.astimezone(self.zone).date()
        while day <= last:
            if self.is_working_day(day):
                opening, closing = self.window(day)
                overlap = min(closing, end) - max(opening, start)
                if overlap > timedelta(0):
                    total += overlap
            day += timedelta(days=1)
        return total


def describe(left: timedelta, *, past_deadline: bool) -> str:
    """"due in 3h", "due in 40m", "overdue 2h": working time, rounded down."""
    amount = abs(left)
    hours, minutes = int(amount.total_seconds() // 3600), int(amount.total_seconds() // 60)
    size = f"{hours}h" if hours else f"{minutes}m"
    if past_deadline:
        return "overdue" if minutes == 0 else f"overdue {size}"
    return f"due in {size}"


@lru_cache(maxsize=8)
def load_screening_rules(directory: Path | None = None) -> ScreeningRules:
    """rules/screening.toml, checked; SettingsError listing each problem."""
    directory = directory or project_dir("rules")
    try:
        data = tomllib.loads((Path(directory) / "screening.toml").read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise SettingsError([f"[rules] screening.toml: file not found in {directory}"]) from err
    except tomllib.TOMLDecodeError as err:
        raise SettingsError([f"[rules] screening.toml: not valid TOML ({err})"]) from err
    problems, deadlines = [], []
    for index, spec in enumerate(data.get("deadline", [])):
        hours = spec.get("hours")
        if not isinstance(hours, int | float) or isinstance(hours, bool) or hours <= 0:
            problems.append(f"[rules] screening.toml deadline {index + 1}: hours must be "
                            "a number above 0")
            continue
        deadlines.append(DeadlineRule(str(spec.get("priority", "*")),
                                      str(spec.get("age_band", "*")), float(hours)))
    if not any(d.priority == "*" and d.age_band == "*" for d in deadlines):
        problems.append('[rules] screening.toml: the last deadline must fit every intake '
                        '(priority = "*", age_band = "*")')
    days = data.get("working_days", list(DAY_NAMES[:5]))
    unknown = [d for d in days if d not in DAY_NAMES]
    if unknown or not days:
        problems.append(f"[rules] screening.toml working_days: use {', '.join(DAY_NAMES)}")
    country = str(data.get("holidays_country", "GB"))
    subdivision = data.get("holidays_subdivision", "ENG")
    try:
        holidays.country_holidays(country, subdiv=subdivision)
    except NotImplementedError as err:
        problems.append(f"[rules] screening.toml holidays: {err}")
    if problems:
        raise SettingsError(problems)
    return ScreeningRules(tuple(deadlines), frozenset(DAY_NAMES.index(d) for d in days),
                          country, subdivision)
