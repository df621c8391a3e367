"""The MASH triage view: open intakes, urgent (and referred before) first, then least
screening time left; one intake in full; closing.

This is for the MASH worker at a terminal: `render_show` prints form answers
(personal data) on standard output on purpose. The triage table and the
digest carry references and verdicts only.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from ..config.settings_types import Settings
from ..domain.clock import day_bounds, iso, local_day, parse_iso, utcnow
from ..domain.errors import SettingsError
from ..domain.records import OPEN_STATUSES, Intake, Kind, Priority, SendStatus, Status
from ..domain.rules import Rules, load_rules
from ..domain.safe_text import visible
from ..mail.compose import finding_words
from ..mail.outbox import HELD_EVENT, smtp_code
from ..store.answers import WAITING, history_lines
from ..store.database import Store
from ..store.followup import on_close
from ..store.rows import update_intake
from .queue_view import TriageRow, annotate, show_lines

# `intake show`'s column lines, in the store's column order (reference, answers and
# findings are shown on their own).
SHOWN_COLUMNS: tuple[str, ...] = (
    "id", "message_id", "sender", "reply_to", "received_at", "last_message_at", "status",
    "missing", "invalid", "cc_missing", "recipients", "priority", "urgent_because",
    "age_band", "source", "review_reason", "folder", "machine_reason", "reminders_sent",
    "last_reminder_at", "bounced", "closed_at", "close_reason", "purged_at", "created_at",
    "updated_at", "sender_auth", "first_referrer_email",
)
UNDELIVERED_DAYS = 7  # how far back the triage table and digest list refused messages

COLUMNS: tuple[tuple[str, str], ...] = (
    ("reference", "Reference"),
    ("received_local", "Received"),
    ("age_band", "Age band"),
    ("priority", "Priority"),
    ("screening", "Screening"),  # issue 17: working time left (queue_view.py)
    ("seen_before", "Seen before"),
    ("status", "Status"),
    ("missing_text", "Missing"),
    ("reminders_sent", "Reminders"),
    ("days_open", "Days open"),
    ("sender_auth_text", "Sender auth"),
    ("note", "Note"),
)


# -- shared with the digest --------------------------------------------------


def days_open(intake: Intake, now: datetime, timezone: str) -> int:
    """Calendar days since the intake was received, counted in the local timezone."""
    received = local_day(intake.received_at, timezone)
    return max(0, (local_day(now, timezone) - received).days)


def rules_or_none(settings: Settings) -> Rules | None:
    """The rules, for their wording; None when they do not load (the lists show keys)."""
    try:
        return load_rules(settings.rules_dir)
    except SettingsError:
        return None


def gaps(intake: Intake, rules: Rules | None = None, *, recipients: bool = True) -> list[str]:
    """What stands between the intake and complete, never values: in the rules' short
    words ("Referrer's phone", "not copied in: Police", "Scan or photo"), keys without
    them. `recipients=False`: not the required addresses missed (the queue's own column)."""
    def name(key: str) -> str:
        return rules.field_name(key) if rules else key

    out = [name(key) for key in intake.missing]
    out += [f"{name(key)} (invalid)" for key in intake.invalid]
    if intake.cc_missing and recipients:
        if rules and rules.recipient_names:
            out.append(f"not copied in: {', '.join(not_copied(intake, rules))}")
        else:
            out.append(f"not copied in ({len(intake.cc_missing)})")
    if intake.status == Status.MANUAL_REVIEW:
        code = intake.review_reason or "unknown"
        word = rules.review_reason_names.get(code) if rules else None
        out.append(word or f"review: {code}")
    return out


def not_copied(intake: Intake, rules: Rules | None) -> list[str]:
    """The required addresses not copied in, by the rules' names ("Police", "MASH")."""
    return [rules.recipient_name(a) if rules else a for a in intake.cc_missing]


def notes(intake: Intake, reminders_max: int, held: set[Kind] | None = None) -> list[str]:
    """Flags a person should see: no response, a bounce, mail found in another folder,
    an alert the mail server refused (`held`: the kinds of its messages refused for good)."""
    out = []
    last_reminder = intake.last_reminder_at
    if (intake.status == Status.INCOMPLETE and reminders_max > 0
            and intake.reminders_sent >= reminders_max
            and (last_reminder is None or intake.last_message_at <= last_reminder)):
        out.append("no response")
    if intake.bounced:
        out.append("referrer could not be reached")
    if intake.folder:  # record.py leaves it NULL for the main folder
        out.append("junk folder")
    if Kind.ALERT in (held or ()):
        out.append("alert not delivered")
    return out


def held_kinds(store: Store) -> dict[int, set[Kind]]:
    """Intake id -> the kinds of its messages the mail server refused for good."""
    out: dict[int, set[Kind]] = {}
    for row in store.query("SELECT DISTINCT intake_id, kind FROM outbox "
                           "WHERE status = ? AND intake_id IS NOT NULL", (SendStatus.HELD,)):
        out.setdefault(row["intake_id"], set()).add(Kind(row["kind"]))
    return out


def undelivered(store: Store, now: datetime) -> list[str]:
    """One line per message the mail server refused for good in the last days, or has
    been turning away for over a day: kind, reference, the server's code. Addresses
    stay out: `intake show` has them."""
    lines = []
    for row in store.query(
        "SELECT o.id, o.kind, o.status, o.last_error, i.reference FROM outbox o "
        "LEFT JOIN intakes i ON i.id = o.intake_id "
        f"WHERE (o.status = '{SendStatus.HELD}' AND EXISTS (SELECT 1 FROM audit a "
        "WHERE a.event = ? "
        "AND json_extract(a.detail, '$.outbox_id') = o.id AND a.at >= ?)) "
        f"OR (o.status = '{SendStatus.PENDING}' AND o.attempts > 0 AND o.created_at < ?) "
        "ORDER BY o.id",
        (HELD_EVENT, iso(now - timedelta(days=UNDELIVERED_DAYS)), iso(now - timedelta(days=1))),
    ):
        code = smtp_code(row["last_error"] or "") or "refused"
        still = ", still retrying" if SendStatus(row["status"]) is SendStatus.PENDING else ""
        lines.append(f"{row['kind']} {row['reference'] or f'(outbox {row[0]})'}: {code}{still}")
    return lines


# -- the triage table --------------------------------------------------------


def triage_rows(store: Store, settings: Settings, *, status: Status | str | None = None,
                priority: Priority | str | None = None, since: date | None = None,
                until: date | None = None, now: datetime) -> list[TriageRow]:
    """Open (not closed) intakes, urgent first then oldest, each with display columns added.

    By default those incomplete or in manual review; `status` picks one status instead
    (complete included). `since`/`until` are inclusive local days of receipt.
    """
    timezone = settings.digest.timezone
    where, params = ["closed_at IS NULL"], []
    if status is None:
        where.append(f"status IN ({', '.join('?' * len(OPEN_STATUSES))})")
        params += OPEN_STATUSES
    else:
        where.append("status = ?")
        params.append(Status(status))
    if priority is not None:
        where.append("priority = ?")
        params.append(Priority(priority))
    if since is not None:
        where.append("received_at >= ?")
        params.append(iso(day_bounds(since, timezone)[0]))
    if until is not None:
        where.append("received_at < ?")
        params.append(iso(day_bounds(until, timezone)[1]))
    zone = ZoneInfo(timezone)
    held = held_kinds(store)
    waiting = {row[0] for row in store.query(
        "SELECT DISTINCT intake_id FROM proposals WHERE status = ?", (WAITING,))}
    rules = rules_or_none(settings)
    rows = []
    for intake in store.intakes(" AND ".join(where), [*params, Priority.URGENT],
                                order="priority = ? DESC, received_at, id"):
        kinds = held.get(intake.id, set())
        rows.append(TriageRow(
            intake,
            received_local=intake.received_at.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z"),
            days_open=days_open(intake, now, timezone),
            missing_text=", ".join(gaps(intake, rules)),
            note="; ".join(notes(intake, settings.reminders.max, kinds)
                           + (["correction waiting (intake accept)"]
                              if intake.id in waiting else [])),
            sender_auth_text=intake.sender_auth or "none",
            held_kinds=frozenset(kinds)))
    return annotate(store, settings, rows, now)


def render_triage(rows: list[TriageRow], *, now: datetime,
                  refused: list[str] | None = None, timezone: str | None = None) -> str:
    """A plain aligned table of `triage_rows`, one intake a line; then the messages
    the mail server refused lately (`undelivered`), which someone must pass on."""
    footer = []
    if refused:
        footer = ["", f"Not delivered, refused by the mail server (last {UNDELIVERED_DAYS} days; "
                  "addresses in `intake show`):", *(f"  {line}" for line in refused)]
    if not rows:
        return "\n".join(["No open intakes.", *footer])
    table = [[label for _, label in COLUMNS]]
    for row in rows:
        table.append([_cell(row.cell(key)) for key, _ in COLUMNS])
    widths = [max(len(line[i]) for line in table) for i in range(len(COLUMNS))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True))
             .rstrip() for line in table]
    lines.insert(1, "  ".join("-" * width for width in widths))
    urgent = sum(1 for row in rows if row.intake.priority is Priority.URGENT)
    lines.append("")
    lines.append(f"{len(rows)} intake{'s' if len(rows) != 1 else ''}, {urgent} urgent "
                 f"(as of {_as_of(now, timezone)})")
    return "\n".join(lines + footer)


def _as_of(now: datetime, timezone: str | None) -> str:
    """When the table was made: in the table's timezone, labelled (UTC when none is given)."""
    if timezone is None:
        return iso(now)
    return now.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M %Z")


def _cell(value: Any) -> str:
    """One table cell on one line; anything that would act on a terminal shown as an escape."""
    if value is None or value == "":
        return "-"
    return visible(str(value), keep_newlines=False)


# -- one intake in full ------------------------------------------------------


def render_show(store: Store, settings: Settings, reference: str) -> str | None:
    """Every column, the form answers and the audit trail of one intake; None if unknown."""
    intake = store.intake(reference.strip())
    if intake is None:
        return None
    zone = ZoneInfo(settings.digest.timezone)

    def when(text: str | datetime | None) -> str:
        if not text:
            return "-"
        moment = text if isinstance(text, datetime) else parse_iso(text)
        return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %Z")

    lines = [f"{intake.reference}  {intake.status}  {intake.priority}"]
    for key in SHOWN_COLUMNS:
        value = getattr(intake, key)
        if isinstance(value, datetime):
            value = when(value)
        elif isinstance(value, tuple):
            value = ", ".join(str(v) for v in value) or "-"
        elif isinstance(value, bool):
            value = int(value)  # as the store keeps it
        lines.append(f"  {key:<16} {_cell(value)}")
    note = "; ".join(notes(intake, settings.reminders.max))
    if note:
        lines.append(f"  {'note':<16} {note}")

    lines += show_lines(store, settings, intake, utcnow())
    lines += ["", "Findings"]
    words = finding_words(settings)
    for finding in intake.findings:
        lines.append(f"  {finding.get('field', '')}: {words.sentence(finding)}")
    if not intake.findings:
        lines.append("  (none)")

    lines += ["", "Form answers"]
    fields, sources = intake.fields, intake.field_sources
    if intake.purged_at:
        lines.append("  (erased by purge)")
    elif not fields:
        lines.append("  (none)")
    width = max((len(key) for key in fields), default=0)
    for key in _form_order(settings, fields):
        text = str(fields[key]).splitlines() or [""]
        where = f"  [{sources[key]}]" if key in sources else ""
        lines.append(f"  {key:<{width}}  {text[0]}{where if len(text) == 1 else ''}")
        lines += [f"  {'':<{width}}  {more}" for more in text[1:]]
        if len(text) > 1 and where:
            lines.append(f"  {'':<{width}}{where}")

    if not intake.purged_at:
        lines += history_lines(store, intake, when)

    lines += ["", "Messages"]
    for message in store.query(
        "SELECT id, received_at, sender, outcome, reason, sender_auth, raw IS NOT NULL AS kept "
        "FROM messages WHERE intake_id = ? ORDER BY id", (intake.id,)
    ):
        kept = "" if message["kept"] else "  (erased)"
        auth = f"sender_auth={message['sender_auth'] or 'none'}"
        lines.append(f"  #{message['id']}  {when(message['received_at'])}  {message['outcome']}"
                     f"  {message['sender'] or '-'}  {auth}  {message['reason'] or ''}{kept}"
                     .rstrip())

    lines += ["", "Outgoing messages"]
    outgoing = store.query("SELECT id, kind, status, recipients, created_at, sent_at, last_error, "
                           "queued_in FROM outbox WHERE intake_id = ? ORDER BY id",
                           (intake.id,))
    for out in outgoing:
        to = ", ".join(json.loads(out["recipients"]) if out["recipients"] else [])
        at = when(out["sent_at"] or out["created_at"])
        sent = SendStatus(out["status"]) is SendStatus.SENT
        error = f"  {out['last_error']}" if not sent and out["last_error"] else ""
        status = out["status"]
        if sent and out["queued_in"] not in (None, "send"):
            status = "written to shadow folder"  # a trial's: nobody received it
        lines.append(f"  #{out['id']}  {at}  {Kind(out['kind'])}  {status}  {to}{error}")
    if not outgoing:
        lines.append("  (none)")

    lines += ["", "Audit trail"]
    for event in store.query(
        "SELECT * FROM audit WHERE intake_id = ? OR message_row IN "
        "(SELECT id FROM messages WHERE intake_id = ?) ORDER BY id", (intake.id, intake.id)
    ):
        detail = json.loads(event["detail"] or "{}")
        text = " ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in detail.items())
        lines.append(f"  {when(event['at'])}  {event['event']}  {text}".rstrip())
    # Form answers and headers were cleaned when read; whatever is left does nothing here.
    return visible("\n".join(lines))


def _form_order(settings: Settings, fields: dict[str, str]) -> list[str]:
    """The keys in the order the form asks them (rules/fields.toml), then any others."""
    rules = rules_or_none(settings)
    order = [rule.key for rule in rules.fields] if rules else []
    known = [key for key in order if key in fields]
    return known + sorted(key for key in fields if key not in order)


# -- closing -----------------------------------------------------------------


def close_received_before(store: Store, settings: Settings, day: date, reason: str,
                          now: datetime, *, dry_run: bool = False) -> list[str]:
    """Close every open intake received before `day` (local): one commit, each audited.
    dry_run: only the references that would be closed."""
    start = iso(day_bounds(day, settings.digest.timezone)[0])
    with store.transaction():
        intakes = store.intakes("closed_at IS NULL AND received_at < ?", (start,), order="id")
        for intake in [] if dry_run else intakes:
            _close(store, intake, reason, now, received_before=day.isoformat())
    return [intake.reference for intake in intakes]


def close_intake(store: Store, reference: str, reason: str, now: datetime,
                 by: str | None = None) -> bool:
    """Close an open intake (any status). False when there is none, or it is already closed.
    `by`: who closed it (the web page's signed-in person), kept in the audit."""
    with store.transaction():
        intake = store.intake(reference.strip())
        if intake is None or intake.closed_at:
            return False
        _close(store, intake, reason, now, **({"by": by} if by else {}))
    return True


def _close(store: Store, intake: Intake, reason: str, now: datetime, **detail: Any) -> None:
    """Inside the caller's transaction: the intake closed, and the audit saying so."""
    update_intake(store, intake, {"closed_at": now, "close_reason": reason.strip(),
                                  "updated_at": now})
    store.audit("closed", intake_id=intake.id, at=now, status=intake.status, **detail)
    on_close(store, intake.id, now)
