"""Changes of an intake's answers: every earlier version kept, proposals a person accepts.

A correction's answers replace the intake's, and the answers before it are
kept in `answer_versions` with the keys that changed and the message that
changed them. A correction of an intake in manual review changes nothing by
itself: its answers wait in `proposals` until a person runs `intake accept
REFERENCE --by NAME`, which applies them (one more version), checks the
intake again and audits who did it. Audit rows name keys, never answers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from ..domain.records import Intake, Status
from .database import Store, decode_row

# A proposal's status: waiting for a person, accepted, or cancelled by a purge.
WAITING, ACCEPTED, CANCELLED = "waiting", "accepted", "cancelled"


@dataclass(frozen=True)
class Proposal:
    """A correction's answers waiting for a person (proposals table)."""

    id: int
    message_row: int | None
    created_at: str
    fields: dict[str, str]
    sources: dict[str, str]
    source: str


@dataclass(frozen=True)
class AnswerVersion:
    """The answers before one change of them (answer_versions table)."""

    at: str
    message_row: int | None
    accepted_by: str | None
    fields_before: dict[str, str]
    changed_keys: tuple[str, ...]
    status_before: Status | None
    status_after: Status | None


def changed_keys(before: dict[str, str], after: dict[str, str]) -> list[str]:
    return sorted(key for key in {*before, *after} if before.get(key) != after.get(key))


def keep_version(store: Store, intake: Intake, after: dict[str, str], *,
                 now: datetime, message_row: int | None = None, accepted_by: str | None = None,
                 status_after: Status | None = None) -> list[str]:
    """Inside the caller's transaction: keep the answers before a change; the keys changed."""
    before = dict(intake.fields)
    keys = changed_keys(before, after)
    if keys:
        store.insert("answer_versions", {
            "intake_id": intake.id, "at": now, "message_row": message_row,
            "accepted_by": accepted_by, "fields_before": before, "changed_keys": keys,
            "status_before": intake.status, "status_after": status_after,
        })
    return keys


def propose(store: Store, intake: Intake, fields: dict[str, str],
            sources: dict[str, str], source: str, *, message_row: int,
            now: datetime) -> int:
    """Inside the caller's transaction: a correction's answers wait for a person."""
    proposal = store.insert("proposals", {
        "intake_id": intake.id, "message_row": message_row, "created_at": now,
        "proposed_fields": fields, "proposed_sources": sources, "source": source,
        "status": WAITING,
    })
    store.audit("proposed", intake_id=intake.id, message_row=message_row, at=now,
                proposal=proposal, fields=sorted(fields))
    return proposal


def waiting_proposals(store: Store, intake_id: int) -> list[Proposal]:
    rows = store.query("SELECT * FROM proposals WHERE intake_id = ? AND status = ? ORDER BY id",
                       (intake_id, WAITING))
    return [Proposal(row["id"], row["message_row"], row["created_at"],
                     row["proposed_fields"], row["proposed_sources"], row["source"])
            for row in map(decode_row, rows)]


def versions(store: Store, intake_id: int) -> list[AnswerVersion]:
    rows = store.query("SELECT * FROM answer_versions WHERE intake_id = ? ORDER BY id",
                       (intake_id,))
    return [AnswerVersion(row["at"], row["message_row"], row["accepted_by"],
                          row["fields_before"], tuple(row["changed_keys"] or ()),
                          _status(row["status_before"]), _status(row["status_after"]))
            for row in map(decode_row, rows)]


def _status(word: str | None) -> Status | None:
    return Status(word) if word else None


def history_lines(store: Store, intake: Intake, when: Callable[[str], str]) -> list[str]:
    """`intake show`'s account of every change of answers: when, from what, old -> new;
    then the proposals waiting for a person. Form answers: for the MASH's terminal only."""
    lines = ["", "Changes of answers"]
    rows = versions(store, intake.id)
    # What each change led to: the version after it, or the answers as they stand.
    later = [row.fields_before for row in rows[1:]] + [intake.fields]
    for row, after in zip(rows, later[:len(rows)], strict=True):
        by = (f"accepted by {row.accepted_by}" if row.accepted_by
              else f"from message #{row.message_row}")
        status = ""
        if row.status_before and row.status_after:
            status = f"  ({row.status_before} -> {row.status_after})"
        lines.append(f"  {when(row.at)}  {by}{status}")
        for key in row.changed_keys:
            old = _one_line(row.fields_before.get(key, ""))
            new = _one_line(after.get(key, ""))
            lines.append(f"    {key}: {old or '(empty)'} -> {new or '(empty)'}")
    if not rows:
        lines.append("  (none)")
    waiting = waiting_proposals(store, intake.id)
    if waiting:
        lines += ["", f"Proposed answers, waiting for a person "
                      f"(intake accept {intake.reference} --by NAME)"]
        for proposal in waiting:
            lines.append(f"  {when(proposal.created_at)}  from message "
                         f"#{proposal.message_row}")
            current = intake.fields
            for key in sorted(proposal.fields):
                new = proposal.fields[key]
                if current.get(key) != new:
                    lines.append(f"    {key}: {_one_line(current.get(key, '')) or '(empty)'}"
                                 f" -> {_one_line(new)}")
    return lines


def _one_line(text: object) -> str:
    value = " ".join(str(text).split())
    return value if len(value) <= 120 else value[:117] + "..."
