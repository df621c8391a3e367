"""The Prevent manager's daily digest: one local day's counts, then every open intake.

Counts are of the intakes first received that day (server receipt time, in
the [digest] timezone), by status as it stands when the digest is made. The
open list spans every day. References and initials only: no names, dates of
birth or concerns. The worker queues each day's digest once (the `digests`
table remembers), catching up missed days after a break; `intake digest`
queues a given day's whenever it is run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

import jinja2

from ..config.paths import project_dir
from ..config.settings_types import Settings
from ..domain.clock import day_bounds, iso, local_day, parse_iso
from ..domain.errors import SendError
from ..domain.records import OPEN_STATUSES, AgeBand, Kind, Priority, SendStatus, Status
from ..mail.compose import Composer, render_subject, template_env
from ..mail.outbox import deliver_now, queue
from ..ops.queue_view import digest_extras, raised_in_queue
from ..ops.triage import (
    UNDELIVERED_DAYS,
    days_open,
    gaps,
    held_kinds,
    notes,
    rules_or_none,
    undelivered,
)
from ..store.database import Store
from ..store.service_state import outage_lines, outages_on

log = logging.getLogger("intake")

LABELS: tuple[str, ...] = (
    "Received", "Complete", "Incomplete", "Manual review", "Urgent", "Children", "Adults",
)
# One count a label, in LABELS order: (column, the word it is counted by).
_COUNTED = (("status", Status.COMPLETE), ("status", Status.INCOMPLETE),
            ("status", Status.MANUAL_REVIEW), ("priority", Priority.URGENT),
            ("age_band", AgeBand.CHILD), ("age_band", AgeBand.ADULT))
_COUNTS_SQL = ("SELECT COUNT(*), "
               + ", ".join(f"COALESCE(SUM({column} = ?), 0)" for column, _ in _COUNTED)
               + " FROM intakes WHERE received_at >= ? AND received_at < ?")
TEMPLATE = "digest"


@dataclass(frozen=True)
class OpenItem:
    """One open intake as the digest shows it: nothing that names the individual."""

    reference: str
    initials: str
    days_open: int
    missing: tuple[str, ...]
    reminders_sent: int
    note: str


@dataclass(frozen=True)
class Digest:
    day: date
    timezone: str
    counts: dict[str, int]  # LABELS -> number, in that order
    open: tuple[OpenItem, ...]
    made_at: datetime
    undelivered: tuple[str, ...] = ()  # messages the mail server refused lately
    screened_late: tuple[str, ...] = ()  # deadlines that day not met (queue_view.py)
    outages: tuple[str, ...] = ()  # when the service could not read or send that day


# -- making it ---------------------------------------------------------------


def initials(fields: dict[str, Any]) -> str:
    """"J.O." from the first forename and the surname; "?" for a part not given."""
    forenames = str(fields.get("subject_forenames") or "").split()
    surname = str(fields.get("subject_surname") or "")
    parts = [_first_letter(forenames[0] if forenames else ""), _first_letter(surname)]
    return "".join(f"{letter}." for letter in parts)


def _first_letter(text: str) -> str:
    return next((ch.upper() for ch in text if ch.isalpha()), "?")


def day_counts(store: Store, settings: Settings, day: date) -> dict[str, int]:
    """The digest's counts for one local day: LABELS -> number, in that order."""
    start, end = day_bounds(day, settings.digest.timezone)
    numbers = store.query(_COUNTS_SQL, (*(word for _, word in _COUNTED), iso(start),
                                        iso(end)))[0]
    return {label: int(numbers[i]) for i, label in enumerate(LABELS)}


def digest_counts(store: Store, settings: Settings, day: date,
                  now: datetime) -> tuple[dict[str, int], list[str]]:
    """Every count the digest gives for `day` (LABELS, then "Referred before" and
    "Screened late"), and its lines for deadlines missed that day. The web overview
    shows these too."""
    counts = day_counts(store, settings, day)
    extra_counts, late = digest_extras(store, settings, day, now)
    return counts | extra_counts, late


def digest_for_day(store: Store, settings: Settings, day: date, *, now: datetime) -> Digest:
    timezone = settings.digest.timezone
    counts, late = digest_counts(store, settings, day, now)
    marks = ", ".join("?" * len(OPEN_STATUSES))
    intakes = store.intakes(f"closed_at IS NULL AND status IN ({marks})",
                            (*OPEN_STATUSES, Priority.URGENT),
                            order="priority = ? DESC, received_at, id")
    items = []
    raised = raised_in_queue(store, settings)
    held = held_kinds(store)
    rules = rules_or_none(settings)
    for intake in intakes:
        flags = notes(intake, settings.reminders.max, held.get(intake.id, set()))
        if intake.priority == Priority.URGENT:
            flags.insert(0, "urgent")
        if intake.id in raised:
            flags.append("referred before")
        items.append(OpenItem(
            reference=intake.reference,
            initials=initials(intake.fields),
            days_open=days_open(intake, now, timezone),
            missing=tuple(gaps(intake, rules)),
            reminders_sent=intake.reminders_sent,
            note="; ".join(flags),
        ))
    down = outage_lines(outages_on(store, day, timezone), timezone, now)
    return Digest(day=day, timezone=timezone, counts=counts, open=tuple(items), made_at=now,
                  undelivered=tuple(undelivered(store, now)), screened_late=tuple(late),
                  outages=tuple(down))


# -- rendering ---------------------------------------------------------------


def subject(day: date, env: jinja2.Environment | None = None) -> str:
    """The digest's subject line (templates/_subjects.j2), from `env`'s templates."""
    return render_subject(env or template_env(project_dir("templates")), TEMPLATE,
                          day_long=_long_day(day))


def _long_day(day: date) -> str:
    return f"{day:%A} {day.day} {day:%B %Y}"


def digest_context(digest: Digest, env: jinja2.Environment | None = None) -> dict[str, Any]:
    """What the digest templates see (the Composer gets the same); `env` words the
    subject (default: the shipped templates)."""
    headers = ("Reference", "Initials", "Days open", "Missing", "Reminders", "Note")
    rows = [(item.reference, item.initials, str(item.days_open),
             ", ".join(item.missing) or "-", str(item.reminders_sent), item.note or "-")
            for item in digest.open]
    widths = [max(len(r[i]) for r in [headers, *rows]) for i in range(len(headers))]

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()

    made = digest.made_at.astimezone(ZoneInfo(digest.timezone))
    return {
        "day": digest.day.isoformat(),
        "day_long": _long_day(digest.day),
        "timezone": digest.timezone,
        "made_at": made.strftime("%Y-%m-%d %H:%M %Z"),
        "counts": list(digest.counts.items()),
        "open": [vars(item) | {"missing_text": row[3]}
                 for item, row in zip(digest.open, rows, strict=True)],
        "open_headers": headers,
        "open_table": [line(headers), line(tuple("-" * w for w in widths))]
        + [line(row) for row in rows],
        "subject": subject(digest.day, env),
        "undelivered": list(digest.undelivered),
        "outages": list(digest.outages),
        "undelivered_days": UNDELIVERED_DAYS,
        "screened_late": list(digest.screened_late),
    }


def templates_dir(composer: Any = None) -> Path:
    """The Composer's templates when it names them, else the project's."""
    chosen = getattr(composer, "templates_dir", None)
    if chosen and (Path(chosen) / f"{TEMPLATE}.txt.j2").exists():
        return Path(chosen)
    return project_dir("templates")


def render_digest(digest: Digest, composer: Any = None) -> tuple[str, str]:
    """The plain text and HTML of a digest, from templates/digest.txt.j2 and .html.j2."""
    env = template_env(templates_dir(composer))
    context = digest_context(digest, env)
    return (env.get_template(f"{TEMPLATE}.txt.j2").render(context),
            env.get_template(f"{TEMPLATE}.html.j2").render(context))


# -- queueing ----------------------------------------------------------------


def queue_digest(store: Store, settings: Settings, composer: Any, day: date, *,
                 now: datetime) -> int:
    """Queue `day`'s digest (again, if it was sent before); return its outbox id."""
    outbox_id = _queue(store, settings, composer, day, now=now, by="command")
    assert outbox_id is not None
    return outbox_id


def _queue(store: Store, settings: Settings, composer: Any, day: date, *, now: datetime,
           by: str) -> int | None:
    """One transaction: make the digest, queue it, remember the day, audit.

    For the worker (`by="worker"`) a day already queued is left alone: None.
    """
    with store.transaction():
        if by == "worker" and day.isoformat() in _worker_days(store, day):
            return None  # a day sent by hand is still the worker's to send, once
        digest = digest_for_day(store, settings, day, now=now)
        message = composer.message(kind=Kind.DIGEST, to=list(settings.digest.to),
                                   subject=subject(day, composer.env), template=TEMPLATE,
                                   context=digest_context(digest, composer.env),
                                   reply_to_id=None, auto_reply=False)
        outbox_id = queue(store, message, kind=Kind.DIGEST, intake_id=None, now=now)
        store.conn.execute(
            "INSERT INTO digests (day, sent_at, outbox_id) VALUES (?, ?, ?) ON CONFLICT(day) "
            "DO UPDATE SET sent_at = excluded.sent_at, outbox_id = excluded.outbox_id",
            (day.isoformat(), iso(now), outbox_id),
        )
        store.audit("digested", at=now, day=day.isoformat(), outbox_id=outbox_id, by=by,
                    received=digest.counts["Received"], open=len(digest.open))
    return outbox_id


def _worker_days(store: Store, until: date) -> set[str]:
    """Days, up to `until`, whose digest the worker has queued."""
    rows = store.query(
        "SELECT json_extract(detail, '$.day') FROM audit WHERE event = 'digested' "
        "AND json_extract(detail, '$.by') = 'worker' AND json_extract(detail, '$.day') <= ?",
        (until.isoformat(),),
    )
    return {row[0] for row in rows}


def due_days(store: Store, settings: Settings, *, now: datetime) -> list[date]:
    """Days whose digest is due and not yet queued, oldest first.

    The day before's is due from [digest] at, local time. After a break, every day since
    the last one the worker queued is due too (a day `intake digest` sent by hand does not
    count: the worker still sends its own, once). A first run owes only the day
    before's, from [digest] at.
    """
    zone = ZoneInfo(settings.digest.timezone)
    local_now = now.astimezone(zone)
    at = time.fromisoformat(settings.digest.at)
    last_due = local_now.date() - timedelta(days=1 if local_now.time() >= at else 2)
    done = _worker_days(store, last_due)
    (anchor,) = store.query(
        "SELECT MAX(json_extract(detail, '$.day')) FROM audit WHERE event = 'digested' "
        "AND json_extract(detail, '$.by') = 'worker' AND json_extract(detail, '$.day') <= ?",
        (last_due.isoformat(),),
    )[0]
    # A first run is not a break: it owes nothing from before the day before, and
    # nothing from before the store existed (a day the service was not there).
    first = local_now.date() - timedelta(days=1)
    day = date.fromisoformat(anchor) + timedelta(days=1) if anchor else first
    created = store_created_day(store, settings.digest.timezone)
    if created is not None and day < created <= local_now.date():  # (a clock set back: no)
        day = created
    days = []
    while day <= last_due:
        if day.isoformat() not in done:
            days.append(day)
        day += timedelta(days=1)
    return days


def store_created_day(store: Store, timezone: str) -> date | None:
    """The local day the store was made (its first migration), if it says."""
    rows = store.query("SELECT MIN(applied_at) FROM migrations")
    return local_day(parse_iso(rows[0][0]), timezone) if rows and rows[0][0] else None


def queue_due_digests(store: Store, settings: Settings, composer: Any, *,
                      now: datetime) -> list[date]:
    """The worker's job: queue each due digest once; return the days queued."""
    queued = []
    for day in due_days(store, settings, now=now):
        if _queue(store, settings, composer, day, now=now, by="worker") is not None:
            queued.append(day)
    return queued


# -- `intake digest` ---------------------------------------------------------


def send_digest_command(store: Store, settings: Settings, *, day: date | None, dry_run: bool,
                        now: datetime, out: TextIO) -> int:
    """Print (dry run) or queue and send one day's digest; default the day before. Exit code."""
    if day is None:
        day = local_day(now, settings.digest.timezone) - timedelta(days=1)
    if dry_run:
        text, _ = render_digest(digest_for_day(store, settings, day, now=now))
        out.write(text)
        out.flush()
        return 0
    composer = Composer(settings, settings.templates_dir)
    outbox_id = queue_digest(store, settings, composer, day, now=now)
    log.info("digest for %s queued (outbox %d)", day.isoformat(), outbox_id)
    return _deliver_now(store, settings, outbox_id, now)


def _deliver_now(store: Store, settings: Settings, outbox_id: int, now: datetime) -> int:
    """Send what is due when no worker runs on this store (else the worker will). Exit code."""
    try:
        report = deliver_now(store, settings, now)
    except SendError as err:
        report = None
        log.warning("smtp: %s", err)
    else:
        if report is None:
            log.info("digest outbox %d: the running worker sends it", outbox_id)
            return 0
    if report is not None and outbox_id in report.sent:
        unsent = store.query(
            "SELECT status FROM outbox WHERE status != ? AND message_id = "
            "(SELECT message_id FROM outbox WHERE id = ?)", (SendStatus.SENT, outbox_id))
        if not unsent:
            return 0
        log.warning("digest outbox %d: sent, but %d recipient copy(ies) refused: %s "
                    "(see intake triage)", outbox_id, len(unsent),
                    ", ".join(sorted({row[0] for row in unsent})))
        return 1
    log.warning("digest outbox %d not sent yet: it waits in the outbox for the worker",
                outbox_id)
    return 1
