"""The screening clock's working-time arithmetic, as a table: 09:00-17:00 Monday to
Friday in Europe/London, the bank holidays of England and Wales skipped."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from intake.domain.errors import SettingsError
from intake.domain.screening import Calendar, describe, load_screening_rules, working_hours_problem

LONDON = ZoneInfo("Europe/London")
RULES = load_screening_rules()
CALENDAR = Calendar("09:00-17:00", "Europe/London", RULES)


def local(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=LONDON)


DEADLINES = [
    # (received, local time, working hours) -> deadline, local time
    # Friday 16:30 before the Spring bank holiday Monday (25 May 2026): 30 minutes on
    # Friday, Monday skipped, the rest on Tuesday.
    ("2026-05-22 16:30", 4, "2026-05-26 12:30"),
    ("2026-05-22 16:30", 24, "2026-05-28 16:30"),
    # at 03:00 on a Wednesday: the clock starts at 09:00
    ("2026-06-10 03:00", 4, "2026-06-10 13:00"),
    ("2026-06-10 03:00", 24, "2026-06-12 17:00"),
    # received on a Saturday: Monday is the first working day
    ("2026-06-13 11:00", 4, "2026-06-15 13:00"),
    # received at closing time: nothing left that day
    ("2026-06-15 17:00", 4, "2026-06-16 13:00"),
    # exactly fills the day: due at closing time, not the next morning
    ("2026-06-15 13:00", 4, "2026-06-15 17:00"),
    # the March clock change (Sunday 29 March 2026, GMT -> BST) over the weekend
    ("2026-03-27 14:00", 4, "2026-03-30 10:00"),
    # received in the night of the change itself
    ("2026-03-29 00:30", 4, "2026-03-30 13:00"),
    # the October clock change (Sunday 25 October 2026, BST -> GMT)
    ("2026-10-23 15:00", 4, "2026-10-26 11:00"),
    ("2026-10-23 15:00", 24, "2026-10-28 15:00"),
    # Christmas: the 25th, a weekend, Boxing Day observed on Monday 28 December
    ("2026-12-24 16:00", 4, "2026-12-29 12:00"),
    # Good Friday and Easter Monday 2027
    ("2027-03-25 16:00", 4, "2027-03-30 12:00"),
    # a team's 72 working hours for a green contact: nine working days
    ("2026-06-15 09:00", 72, "2026-06-25 17:00"),
]


@pytest.mark.parametrize(("received", "hours", "due"), DEADLINES)
def test_deadline_in_working_hours(received, hours, due):
    deadline = CALENDAR.add(local(received), hours)
    assert deadline.astimezone(LONDON) == local(due)
    # and back again: the working time between the two is the hours given
    assert CALENDAR.between(local(received), deadline) == timedelta(hours=hours)


def test_across_the_clock_change_real_time_is_counted_not_wall_clock():
    """09:00 BST is 08:00 UTC: the Monday after the March change starts an hour earlier
    in UTC than the Friday before it, and no working hour is lost or gained."""
    friday_close = local("2026-03-27 17:00").astimezone(UTC)
    monday_ten = local("2026-03-30 10:00").astimezone(UTC)
    assert (friday_close.hour, monday_ten.hour) == (17, 9)
    assert CALENDAR.between(local("2026-03-27 14:00"), monday_ten) == timedelta(hours=4)


BETWEEN = [
    ("2026-05-22 16:30", "2026-05-26 10:00", timedelta(hours=1, minutes=30)),
    ("2026-06-13 08:00", "2026-06-14 20:00", timedelta(0)),  # a weekend
    ("2026-06-15 08:00", "2026-06-15 20:00", timedelta(hours=8)),
    ("2026-06-15 12:00", "2026-06-15 10:00", -timedelta(hours=2)),
]


@pytest.mark.parametrize(("start", "end", "worked"), BETWEEN)
def test_working_time_between_two_moments(start, end, worked):
    assert CALENDAR.between(local(start), local(end)) == worked


def test_other_working_hours_from_settings():
    early = Calendar("08:00-16:00", "Europe/London", RULES)
    assert early.add(local("2026-06-15 15:00"), 2).astimezone(LONDON) == local(
        "2026-06-16 09:00")


@pytest.mark.parametrize(("left", "past", "text"), [
    (timedelta(hours=3, minutes=59), False, "due in 3h"),
    (timedelta(minutes=40), False, "due in 40m"),
    (timedelta(hours=2, minutes=10), True, "overdue 2h"),
    (timedelta(minutes=5), True, "overdue 5m"),
    (timedelta(0), True, "overdue"),
])
def test_time_left_is_said_plainly(left, past, text):
    assert describe(left, past_deadline=past) == text


@pytest.mark.parametrize(("text", "ok"), [
    ("09:00-17:00", True), ("08:30-18:15", True), ("00:00-24:00", True),
    ("17:00-09:00", False), ("9-5", False), ("09:00", False), ("09:00-25:00", False),
])
def test_working_hours_setting_is_checked(text, ok):
    assert (working_hours_problem(text) is None) is ok


def test_deadlines_by_priority_and_age_band_from_rules():
    assert RULES.hours_for("urgent", "child") == 4
    assert RULES.hours_for("urgent", None) == 4
    assert RULES.hours_for("normal", "adult") == 24


def test_a_team_can_set_its_own_deadlines(tmp_path):
    (tmp_path / "screening.toml").write_text(
        '[[deadline]]\npriority = "urgent"\nage_band = "*"\nhours = 4\n'
        '[[deadline]]\npriority = "normal"\nage_band = "adult"\nhours = 72\n'
        '[[deadline]]\npriority = "*"\nage_band = "*"\nhours = 24\n')
    rules = load_screening_rules(tmp_path)
    assert (rules.hours_for("normal", "adult"), rules.hours_for("normal", "child")) == (72, 24)


def test_rules_without_a_catch_all_deadline_are_refused(tmp_path):
    (tmp_path / "screening.toml").write_text(
        '[[deadline]]\npriority = "urgent"\nage_band = "*"\nhours = 0\n')
    with pytest.raises(SettingsError) as caught:
        load_screening_rules(tmp_path)
    assert len(caught.value.problems) == 2


@given(start=st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2028, 12, 31),
                          timezones=st.just(UTC)),
       minutes=st.integers(min_value=1, max_value=72 * 60))
@example(start=datetime(2025, 4, 1, 8, 0, 0, 1, tzinfo=UTC), minutes=480)  # rolls over by 1 µs
@settings(max_examples=300, deadline=None)
def test_the_working_time_up_to_a_deadline_is_always_the_hours_given(start, minutes):
    due = CALENDAR.add(start, minutes / 60)
    assert due >= start
    assert CALENDAR.between(start, due) == timedelta(minutes=minutes)
    local_due = due.astimezone(LONDON)
    assert local_due.weekday() < 5 and local_due.date() not in CALENDAR.holidays
    # inside a working day: after opening (a microsecond after 09:00 counts) and by closing
    assert time(9, 0) < local_due.time() <= time(17, 0)
