"""The screening clock in the store: deadlines set on record, stopped by triage or close,
one overdue alert, and the digest's late list only once a deadline has passed."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from datetime import UTC, date, datetime

from support.storefill import add_intake

from intake.domain.records import Priority
from intake.mail.compose import Composer
from intake.ops.export import export
from intake.ops.triage import close_intake
from intake.store import screening_clock

RECEIVED = "2026-06-15T09:00:00+00:00"  # Monday 10:00 in London
DUE_URGENT = "2026-06-15T13:00:00+00:00"  # four working hours later




def clocked(store, settings, **columns):
    intake = add_intake(store, RECEIVED, **columns)
    with store.transaction():
        screening_clock.set_deadline(store, intake, settings, datetime.now(UTC))
    return intake


def test_the_deadline_follows_priority_and_is_set_again_when_it_changes(store, settings):
    intake = clocked(store, settings, priority="urgent")
    assert screening_clock.clocks(store)[intake.id].due_at == DUE_URGENT
    with store.transaction():
        screening_clock.set_deadline(store, replace(intake, priority=Priority.NORMAL),
                                     settings, datetime.now(UTC))
    assert screening_clock.clocks(store)[intake.id].due_at == "2026-06-18T09:00:00+00:00"


def test_one_overdue_alert_only_after_the_deadline(store, settings):
    composer = Composer(settings)
    intake = clocked(store, settings, priority="urgent")
    before = datetime(2026, 6, 15, 12, 59, tzinfo=UTC)
    after = datetime(2026, 6, 15, 13, 1, tzinfo=UTC)
    assert screening_clock.queue_overdue_alerts(store, composer, settings, before) == []
    assert screening_clock.queue_overdue_alerts(store, composer, settings, after) == [
        intake.reference]
    assert screening_clock.queue_overdue_alerts(store, composer, settings, after) == []
    (row,) = store.query("SELECT kind, recipients FROM outbox WHERE kind = 'overdue'")
    assert row["recipients"] == '["mashagency@lewisham.gov.uk"]'


def test_closing_stops_the_clock_and_no_overdue_alert_follows(store, settings):
    intake = clocked(store, settings, priority="urgent")
    closed_at = datetime(2026, 6, 15, 10, 0, tzinfo=UTC)
    assert close_intake(store, intake.reference, "duplicate", closed_at)
    clock = screening_clock.clocks(store)[intake.id]
    assert (clock.screened_at, clock.stopped_by) == ("2026-06-15T10:00:00+00:00", "closed")
    later = datetime(2026, 6, 20, tzinfo=UTC)
    assert screening_clock.queue_overdue_alerts(store, Composer(settings), settings, later) == []


def test_late_is_counted_only_once_the_deadline_has_passed(store, settings):
    clocked(store, settings, priority="urgent")
    day = date(2026, 6, 15)
    noon = datetime(2026, 6, 15, 11, 0, tzinfo=UTC)
    evening = datetime(2026, 6, 15, 18, 0, tzinfo=UTC)
    assert screening_clock.screened_late(store, settings, day, noon) == []
    (late,) = screening_clock.screened_late(store, settings, day, evening)
    assert late.due_at == DUE_URGENT and late.screened_at is None


def test_triaged_on_time_is_not_late_and_cannot_be_triaged_twice(store, settings):
    intake = clocked(store, settings, priority="urgent")
    at = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
    assert screening_clock.mark_triaged(store, intake.reference, "A. Duty", None, at) == ""
    assert "already screened" in screening_clock.mark_triaged(
        store, intake.reference, "B. Duty", None, at)
    assert screening_clock.screened_late(store, settings, date(2026, 6, 15),
                                         datetime(2026, 6, 16, tzinfo=UTC)) == []
    state = screening_clock.state(screening_clock.clocks(store)[intake.id],
                                  screening_clock.calendar_for(settings), at)
    assert state.text == "screened"


def test_an_intake_from_before_the_clock_can_be_triaged_and_has_no_deadline(store, settings):
    old = add_intake(store, RECEIVED)  # no screening row: recorded before issue 17
    at = datetime(2026, 6, 16, 9, 0, tzinfo=UTC)
    assert screening_clock.mark_triaged(store, old.reference, "A. Duty", "NFA", at) == ""
    out = io.StringIO()
    export(store, out, "jsonl", since=None, timezone="Europe/London")
    (row,) = [json.loads(line) for line in out.getvalue().splitlines()]
    assert (row["screening_due"], row["screened_at"]) == (None, "2026-06-16T09:00:00+00:00")
    assert screening_clock.screened_late(store, settings, date(2026, 6, 16),
                                         datetime(2026, 6, 17, tzinfo=UTC)) == []
