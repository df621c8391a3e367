"""What the MASH sees of links and the screening clock: the triage columns and order,
the sections of `intake show`, the digest's counts and the export's keys.

Read from the store only; nothing here reaches a referrer.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from ..config.settings_types import Settings
from ..domain.clock import day_bounds, iso, parse_iso
from ..domain.errors import SettingsError
from ..domain.matching import load_match_rules
from ..domain.records import Intake, Kind, Priority
from ..store import links, screening_clock
from ..store.database import Store


@dataclass(frozen=True)
class TriageRow:
    """One open intake as the triage table, the web queue and their order show it."""

    intake: Intake
    received_local: str  # in the digest's timezone, labelled
    days_open: int
    missing_text: str  # triage.gaps, joined
    note: str  # no response, a bounce, junk folder, referred before...
    sender_auth_text: str  # pass | fail | none
    held_kinds: frozenset[Kind] = frozenset()
    screening: str = "-"  # working time left: "due in 3h", "overdue 2h", "screened"
    seen_before: int | None = None  # earlier intakes linked to it (None: none)
    referred_before: bool = False  # raised: an earlier linked intake within the window
    queue_key: tuple[Any, ...] = field(default=(), compare=False)  # the queue's order

    def cell(self, key: str) -> Any:
        """A triage column: this row's own, else the intake's."""
        return getattr(self, key) if key in _ROW_KEYS else getattr(self.intake, key)


_ROW_KEYS = frozenset(f.name for f in fields(TriageRow))


def raised_in_queue(store: Store, settings: Settings) -> set[int]:
    """Intakes raised in the queue: referred before, within the rules' window."""
    try:
        return links.raised_ids(store, load_match_rules(settings.rules_dir))
    except SettingsError:
        return set()


def annotate(store: Store, settings: Settings, rows: list[TriageRow],
             now: datetime) -> list[TriageRow]:
    """Add `screening` ("due in 3h") and `seen_before` (earlier linked intakes) to triage
    rows, and order them: urgent and referred-before first, then least time left."""
    earlier = links.earlier_references(store)
    raised = raised_in_queue(store, settings)
    clocks = screening_clock.clocks(store)
    calendar = screening_clock.calendar_for(settings)
    out = []
    for row in rows:
        intake = row.intake
        state = screening_clock.state(clocks.get(intake.id), calendar, now)
        referred_before = intake.id in raised
        first = intake.priority is Priority.URGENT or referred_before
        note = row.note
        if referred_before:
            note = "; ".join(n for n in ("referred before", note) if n)
        out.append(replace(
            row, screening=state.text, seen_before=len(earlier.get(intake.id, [])) or None,
            referred_before=referred_before, note=note,
            # the order, for lists merged from several queries
            queue_key=(not first, state.sort_key, intake.received_at, intake.id)))
    return sorted(out, key=lambda row: row.queue_key)


def show_lines(store: Store, settings: Settings, intake: Intake,
               now: datetime) -> list[str]:
    """The "Screening" and "Linked intakes" sections of `intake show`."""
    zone = ZoneInfo(settings.digest.timezone)

    def when(text: str | datetime | None) -> str:
        if not text:
            return "-"
        moment = text if isinstance(text, datetime) else parse_iso(text)
        return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")

    clock = screening_clock.clocks(store).get(intake.id)
    lines = ["", "Screening"]
    if clock is None:
        lines.append("  (no deadline: recorded before the screening clock)")
    else:
        state = screening_clock.state(clock, screening_clock.calendar_for(settings), now)
        if clock.working_hours:
            lines.append(f"  deadline  {when(clock.due_at)} ({clock.working_hours:g} working "
                         f"hours, {settings.working_hours})")
        else:
            lines.append("  deadline  none (recorded before the screening clock)")
        if clock.screened_at:
            met = "on time" if clock.screened_at <= clock.due_at else "late"
            who = f" by {clock.screened_by}" if clock.screened_by else ""
            lines.append(f"  met       {when(clock.screened_at)} ({met}; "
                         f"{clock.stopped_by}{who})")
            if clock.outcome:
                lines.append(f"  outcome   {clock.outcome}")
        else:
            lines.append(f"  met       not yet: {state.text}")
        if clock.overdue_alerted_at:
            lines.append(f"  overdue alert sent to the MASH {when(clock.overdue_alerted_at)}")
    lines += ["", "Linked intakes (the same individual, or possibly)"]
    found = links.linked(store, intake.id)
    for link in found:
        if link.strength is None:
            lines.append(f"  {link.side:<8} {link.reference}  (details erased by purge)")
            continue
        status = "closed" if link.closed_at else link.status
        who = link.referrer_role or (link.sender or "").rpartition("@")[2] or "-"
        lines.append(f"  {link.side:<8} {link.reference}  {when(link.received)}  "
                     f"{status}  {link.strength} ({', '.join(link.fields)})  "
                     f"referred by: {who}")
    if not found:
        lines.append("  (none)")
    return lines


def digest_extras(store: Store, settings: Settings, day: date,
                  now: datetime) -> tuple[dict[str, int], list[str]]:
    """The digest's "Referred before" and "Screened late" counts for `day`, and one line
    per intake that missed its deadline that day (references only)."""
    start, end = day_bounds(day, settings.digest.timezone)
    earlier = links.earlier_references(store)
    received = store.query("SELECT id FROM intakes WHERE received_at >= ? AND received_at < ?",
                           (iso(start), iso(end)))
    referred_before = sum(1 for row in received if earlier.get(row[0]))
    zone = ZoneInfo(settings.digest.timezone)
    late = []
    for missed in screening_clock.screened_late(store, settings, day, now):
        due = parse_iso(missed.due_at).astimezone(zone).strftime("%H:%M")
        met = (parse_iso(missed.screened_at).astimezone(zone).strftime("%Y-%m-%d %H:%M")
               if missed.screened_at else "not yet")
        late.append(f"{missed.reference}: due {due}, screened {met}")
    return {"Referred before": referred_before, "Screened late": len(late)}, late


def export_extras(store: Store) -> dict[int, dict[str, Any]]:
    """Intake id -> `earlier_referrals`, `screening_due`, `screened_at` for the export."""
    earlier = links.earlier_references(store)
    clocks = screening_clock.clocks(store)
    ids = set(earlier) | set(clocks)
    out: dict[int, dict[str, Any]] = {}
    for i in ids:
        clock = clocks.get(i)
        out[i] = {"earlier_referrals": earlier.get(i, []),
                  "screening_due": clock.due_at if clock and clock.working_hours else None,
                  "screened_at": clock.screened_at if clock else None}
    return out
