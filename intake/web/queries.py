"""Every read and write the web page makes on the store, in one place.

The queue and the counts come from the same functions as `intake triage` and
`intake digest` (triage.triage_rows, digest.digest_counts), closing from
triage.close_intake: the page and the commands cannot disagree. Writes are
short transactions; the worker's one-worker lock is never taken.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from ..config.settings_types import Settings
from ..domain.clock import parse_iso
from ..domain.models import Attachment
from ..domain.records import AgeBand, Intake, Status, json_list
from ..jobs.digest import day_counts, digest_counts
from ..mail.compose import finding_words
from ..mail.parse import parse
from ..ops.triage import close_intake, gaps, not_copied, rules_or_none, triage_rows, undelivered
from ..store import links, screening_clock
from ..store.database import Store

CHART_DAYS = 90


@dataclass(frozen=True)
class QueueFilters:
    status: Status | None = None  # None: the open statuses (incomplete, manual review)
    any_status: bool = False  # every status, complete too (still not closed)
    priority: str | None = None
    age_band: AgeBand | None = None
    since: date | None = None
    until: date | None = None
    min_days_open: int | None = None
    reference: str = ""


@dataclass(frozen=True)
class QueueRow:
    intake: Intake
    received_local: str
    days_open: int
    missing: tuple[str, ...]  # gaps other than the recipients, in the rules' short words
    notes: str  # no response, referrer could not be reached, alert not delivered, ...
    screening: str = "-"  # issue 17: "due in 3h", "overdue 2h", "screened"
    seen_before: int = 0  # earlier intakes linked to it (the same individual, or possibly)
    not_copied: tuple[str, ...] = ()  # the required addresses missed, by name ("Police")


@dataclass(frozen=True)
class ThreadMessage:
    id: int
    received_at: datetime
    sender: str | None
    outcome: str
    reason: str | None
    subject: str = ""
    body: str = ""
    attachments: tuple[Attachment, ...] = ()
    erased: bool = False


@dataclass(frozen=True)
class Answer:
    label: str
    value: str
    source: str | None


@dataclass(frozen=True)
class Sent:
    kind: str
    status: str
    recipients: tuple[str, ...]
    created_at: datetime
    sent_at: datetime | None
    last_error: str | None


@dataclass(frozen=True)
class Event:
    at: datetime
    event: str
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Screening:
    """The intake page's screening clock: the deadline, and whether and how it was met."""

    text: str  # "due in 3h", "overdue 2h", "screened (late)"
    due: datetime
    working_hours: float  # 0: recorded before the clock (no deadline)
    met: datetime | None
    late: bool
    stopped_by: str | None
    screened_by: str | None
    outcome: str | None


@dataclass(frozen=True)
class Note:
    at: datetime
    author: str
    text: str | None  # None once purged


# -- the queue ---------------------------------------------------------------


def queue(store: Store, settings: Settings, filters: QueueFilters,
          now: datetime) -> list[QueueRow]:
    """Open intakes, urgent first then oldest, as `intake triage` lists them, filtered."""
    statuses: list[Status | None] = list(Status) if filters.any_status else [filters.status]
    rows = [row for status in statuses
            for row in triage_rows(store, settings, status=status, priority=filters.priority,
                                   since=filters.since, until=filters.until, now=now)]
    if filters.any_status:  # triage_rows' order across the statuses
        rows.sort(key=lambda row: row.queue_key)
    wanted = filters.reference.strip().upper()
    rules = rules_or_none(settings)
    out = []
    for row in rows:
        intake = row.intake
        if filters.age_band and intake.age_band != filters.age_band:
            continue
        if filters.min_days_open is not None and row.days_open < filters.min_days_open:
            continue
        if wanted and wanted not in intake.reference:
            continue
        out.append(QueueRow(intake, row.received_local, row.days_open,
                            tuple(gaps(intake, rules, recipients=False)), row.note,
                            row.screening or "-", row.seen_before or 0,
                            tuple(not_copied(intake, rules))))
    return out


def refused_lately(store: Store, now: datetime) -> list[str]:
    return undelivered(store, now)


# -- one intake ----------------------------------------------------------------


def find_intake(store: Store, reference: str) -> Intake | None:
    return store.intake(reference.strip())


def answers(settings: Settings, intake: Intake) -> list[Answer]:
    """The form's answers in the form's order, by its wording, with where each was read."""
    loaded = rules_or_none(settings)
    rules = loaded.fields if loaded else ()
    labels = {rule.key: rule.label for rule in rules}
    order = [rule.key for rule in rules if rule.key in intake.fields]
    order += sorted(key for key in intake.fields if key not in labels)
    return [Answer(labels.get(key, key), str(intake.fields[key]), intake.field_sources.get(key))
            for key in order]


def findings(settings: Settings, intake: Intake) -> list[str]:
    """What each finding says, in today's wording and labels (as the next reminder says it)."""
    words = finding_words(settings)
    return [words.sentence(finding) for finding in intake.findings]


def review_words(settings: Settings, intake: Intake) -> str | None:
    """Why it waits for a person, in the rules' short words (as the queue says it)."""
    if not intake.review_reason:
        return None
    rules = rules_or_none(settings)
    return rules.reason_name(intake.review_reason) if rules else str(intake.review_reason)


def thread(store: Store, settings: Settings, intake_id: int) -> list[ThreadMessage]:
    """The messages recorded on the intake, oldest first, each read from its stored bytes."""
    out = []
    for row in store.query("SELECT id, received_at, sender, outcome, reason, raw FROM messages "
                           "WHERE intake_id = ? ORDER BY id", (intake_id,)):
        base = dict(id=row["id"], received_at=parse_iso(row["received_at"]),
                    sender=row["sender"], outcome=row["outcome"], reason=row["reason"])
        if row["raw"] is None:
            out.append(ThreadMessage(**base, erased=True))
            continue
        email = parse(bytes(row["raw"]),
                      max_attachment_bytes=settings.mailbox.max_attachment_bytes)
        files = tuple(a for a in email.attachments if not a.inline and not a.too_large)
        out.append(ThreadMessage(**base, subject=email.subject, body=email.body_text,
                                 attachments=files))
    return out


def attachment(store: Store, settings: Settings, intake_id: int, message_id: int,
               index: int) -> Attachment | None:
    """The index-th file of one of the intake's messages, as thread() numbers them."""
    for message in thread(store, settings, intake_id):
        if message.id == message_id and 0 <= index < len(message.attachments):
            return message.attachments[index]
    return None


def sent(store: Store, intake_id: int) -> list[Sent]:
    return [Sent(row["kind"], row["status"], json_list(row["recipients"] or "[]"),
                 parse_iso(row["created_at"]),
                 parse_iso(row["sent_at"]) if row["sent_at"] else None, row["last_error"])
            for row in store.query("SELECT kind, status, recipients, created_at, sent_at, "
                                   "last_error FROM outbox WHERE intake_id = ? ORDER BY id",
                                   (intake_id,))]


def audit_trail(store: Store, intake_id: int) -> list[Event]:
    rows = store.query("SELECT at, event, detail FROM audit WHERE intake_id = ? OR message_row "
                       "IN (SELECT id FROM messages WHERE intake_id = ?) ORDER BY id",
                       (intake_id, intake_id))
    return [Event(parse_iso(row["at"]), row["event"], json.loads(row["detail"] or "{}"))
            for row in rows]


def notes(store: Store, intake_id: int) -> list[Note]:
    return [Note(parse_iso(row["at"]), row["author"], row["text"])
            for row in store.query("SELECT at, author, text FROM notes WHERE intake_id = ? "
                                   "ORDER BY id", (intake_id,))]


# -- writes (each one short transaction) -----------------------------------------


def record_access(store: Store, intake: Intake, event: str, person: dict[str, str],
                  now: datetime, **detail: Any) -> None:
    """The audit row for a view or a download: who, when, which intake."""
    with store.transaction():
        store.audit(event, intake_id=intake.id, at=now, by=person["name"],
                    username=person["username"], **detail)


def add_note(store: Store, intake: Intake, text: str, person: dict[str, str],
             now: datetime) -> None:
    with store.transaction():
        note_id = store.insert("notes", {"intake_id": intake.id, "at": now,
                                         "author": person["name"], "text": text.strip()})
        store.audit("note-added", intake_id=intake.id, at=now, note_id=note_id,
                    by=person["name"], username=person["username"])


def close(store: Store, intake: Intake, reason: str, person: dict[str, str],
          now: datetime) -> bool:
    """`intake close`, with the person's name in the audit. False if it was closed already."""
    return close_intake(store, intake.reference, reason, now, by=person["name"])


def screening(store: Store, settings: Settings, intake_id: int,
              now: datetime) -> Screening | None:
    """The intake's screening clock (issue 17): deadline, state, when and by whom met."""
    clock = screening_clock.clocks(store).get(intake_id)
    if clock is None:
        return None
    state = screening_clock.state(clock, screening_clock.calendar_for(settings), now)
    return Screening(
        text=state.text, due=parse_iso(clock.due_at), working_hours=clock.working_hours,
        met=parse_iso(clock.screened_at) if clock.screened_at else None,
        late=bool(clock.screened_at) and (clock.screened_at or "") > clock.due_at,
        stopped_by=clock.stopped_by, screened_by=clock.screened_by, outcome=clock.outcome)


def linked(store: Store, intake_id: int) -> list[links.LinkedIntake]:
    """The intakes linked to this one (the same individual, or possibly), earlier first."""
    return links.linked(store, intake_id)


def triaged(store: Store, intake: Intake, outcome: str, person: dict[str, str],
            now: datetime) -> str:
    """`intake triaged`, by the signed-in person: "" when done, else why not."""
    return screening_clock.mark_triaged(store, intake.reference, person["name"], outcome, now)


# -- the overview ----------------------------------------------------------------


def overview(store: Store, settings: Settings, day: date, now: datetime) -> dict[str, int]:
    """The digest's counts for the day (digest.digest_counts, as `intake digest` prints)."""
    return digest_counts(store, settings, day, now)[0]


def series(store: Store, settings: Settings, last: date,
           days: int = CHART_DAYS) -> list[tuple[date, dict[str, int]]]:
    """The digest's counts for each of `days` days ending on `last`, oldest first."""
    first = last - timedelta(days=days - 1)
    return [(first + timedelta(days=n), day_counts(store, settings, first + timedelta(days=n)))
            for n in range(days)]
