"""Links between intakes about the same individual, kept in the store.

relink() runs inside the transaction that records (or corrects) an intake: it
compares the intake's answers with every other intake not purged
(intake/domain/matching.py), then adds, changes or removes its links, each audited
on both intakes (references, strengths and field keys; never an answer).
A purged intake is never matched again; its links keep only the two intakes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ..domain.check import parse_date
from ..domain.clock import parse_iso
from ..domain.matching import Match, MatchRules, match
from ..domain.records import Status
from .database import Store


@dataclass(frozen=True)
class LinkedIntake:
    """Another intake linked to one, as `intake show` and the intake page list it."""

    side: str  # "earlier" or "later" than the intake shown
    reference: str
    received: datetime
    status: Status
    closed_at: str | None
    purged_at: str | None
    sender: str | None
    referrer_role: str | None
    strength: str | None  # "same" | "possible"; None once either intake is purged
    rule: str | None
    fields: tuple[str, ...]  # the keys that matched
    found_at: str


@dataclass(frozen=True)
class Relinked:
    """What relink() changed for one intake."""

    added: tuple[int, ...] = ()  # the other intakes newly linked
    changed: tuple[int, ...] = ()
    removed: tuple[int, ...] = ()
    newly_raised: frozenset[int] = field(default_factory=frozenset)  # later intakes to alert


def _answers(store: Store, keys: tuple[str, ...], where: str,
             params: tuple[Any, ...]) -> list[dict[str, Any]]:
    extracts = ", ".join(f"json_extract(fields, '$.{key}') AS \"{key}\"" for key in keys)
    rows = store.query(f"SELECT id, reference, received_at, {extracts} FROM intakes "
                       f"WHERE purged_at IS NULL AND {where}", params)
    return [dict(row) for row in rows]


def _order(a: dict[str, Any], b: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(earlier, later) by receipt, then by id."""
    return (a, b) if (a["received_at"], a["id"]) <= (b["received_at"], b["id"]) else (b, a)


def within(earlier_at: str, later_at: str, days: int) -> bool:
    gap = parse_iso(later_at) - parse_iso(earlier_at)
    return timedelta(0) <= gap <= timedelta(days=days)


def relink(store: Store, intake_id: int, rules: MatchRules, now: datetime) -> Relinked:
    """Call inside a transaction: bring the intake's links up to date with its answers."""
    mine = _answers(store, rules.fields, "id = ?", (intake_id,))
    if not mine:
        return Relinked()  # purged (or gone): nothing to compare
    this = mine[0]
    found: dict[int, tuple[Match, dict[str, Any]]] = {}
    dob_key = rules.date_in_every_rule
    born = parse_date(str(this.get(dob_key) or "")) if dob_key else None
    if dob_key and born is None:
        candidates: list[dict[str, Any]] = []  # every rule needs a date of birth: none here
    else:
        candidates = _answers(store, rules.fields, "id != ?", (intake_id,))
    for other in candidates:
        if dob_key and parse_date(str(other.get(dob_key) or "")) != born:
            continue  # the cheap test first: most intakes are about someone else
        earlier, later = _order(this, other)
        hit = match(later, earlier, rules)
        if hit is not None:
            found[other["id"]] = (hit, other)
    existing = {
        (row["earlier_id"] if row["later_id"] == intake_id else row["later_id"]): row
        for row in store.query(
            "SELECT l.*, i.purged_at FROM links l JOIN intakes i ON i.id = "
            "CASE WHEN l.earlier_id = ? THEN l.later_id ELSE l.earlier_id END "
            "WHERE l.earlier_id = ? OR l.later_id = ?", (intake_id, intake_id, intake_id))
    }
    added, changed, removed, raised = [], [], [], set()
    for other_id, (hit, other) in found.items():
        earlier, later = _order(this, other)
        old = existing.get(other_id)
        values = {"strength": hit.strength, "rule": hit.rule, "fields": list(hit.fields)}
        if old is None:
            store.insert("links", {"earlier_id": earlier["id"], "later_id": later["id"],
                                   "found_at": now, **values})
            added.append(other_id)
            _audit_both(store, "linked", this, other, hit, now)
            if (hit.strength in rules.raise_strengths
                    and within(earlier["received_at"], later["received_at"],
                               rules.raise_within_days)):
                raised.add(later["id"])
        elif (old["strength"], old["rule"]) != (hit.strength, hit.rule):
            store.update("links", old["id"], values)
            changed.append(other_id)
            _audit_both(store, "link-changed", this, other, hit, now,
                        previous=old["strength"])
    for other_id, old in existing.items():
        if other_id in found or old["purged_at"] or old["strength"] is None:
            continue  # a link to a purged intake stays as it is: it cannot be compared now
        store.conn.execute("DELETE FROM links WHERE id = ?", (old["id"],))
        removed.append(other_id)
        other_ref = store.query("SELECT reference FROM intakes WHERE id = ?", (other_id,))
        for a, b in ((intake_id, other_ref[0][0]), (other_id, this["reference"])):
            store.audit("unlinked", intake_id=a, at=now, other=b, previous=old["strength"])
    return Relinked(tuple(added), tuple(changed), tuple(removed), frozenset(raised))


def _audit_both(store: Store, event: str, this: dict[str, Any], other: dict[str, Any],
                hit: Match, now: datetime, **extra: Any) -> None:
    for a, b in ((this, other), (other, this)):
        earlier = (a["received_at"], a["id"]) > (b["received_at"], b["id"])
        store.audit(event, intake_id=a["id"], at=now, other=b["reference"],
                    other_is="earlier" if earlier else "later", strength=hit.strength,
                    rule=hit.rule, fields=list(hit.fields), **extra)


def forget(store: Store, intake_id: int) -> int:
    """Call inside purge's transaction: the intake's links keep only the two intakes."""
    return store.conn.execute(
        "UPDATE links SET strength = NULL, rule = NULL, fields = NULL "
        "WHERE earlier_id = ? OR later_id = ?", (intake_id, intake_id)).rowcount


# -- reading -----------------------------------------------------------------


def earlier_references(store: Store) -> dict[int, list[str]]:
    """Intake id -> the references of the earlier intakes linked to it, oldest first."""
    out: dict[int, list[str]] = {}
    for row in store.query("SELECT l.later_id, e.reference FROM links l JOIN intakes e "
                           "ON e.id = l.earlier_id ORDER BY e.received_at, e.id"):
        out.setdefault(row[0], []).append(row[1])
    return out


def earlier_for_alert(store: Store, intake_id: int) -> list[str]:
    """"PRV-2026-00003 (same individual)", "... (possibly the same)": for the MASH alert."""
    wording = {"same": "same individual", "possible": "possibly the same"}
    rows = store.query("SELECT e.reference, l.strength FROM links l JOIN intakes e "
                       "ON e.id = l.earlier_id WHERE l.later_id = ? ORDER BY e.received_at, e.id",
                       (intake_id,))
    return [f"{row[0]} ({wording.get(row[1], 'details erased')})" for row in rows]


def raised_ids(store: Store, rules: MatchRules) -> set[int]:
    """Intakes with an earlier linked intake received within `raise_within_days` before."""
    marks = ", ".join("?" * len(rules.raise_strengths)) or "NULL"
    rows = store.query(
        "SELECT l.later_id, e.received_at, n.received_at FROM links l "
        "JOIN intakes e ON e.id = l.earlier_id JOIN intakes n ON n.id = l.later_id "
        f"WHERE l.strength IN ({marks})", rules.raise_strengths)
    return {row[0] for row in rows if within(row[1], row[2], rules.raise_within_days)}


def linked(store: Store, intake_id: int) -> list[LinkedIntake]:
    """The intake's links for `intake show`: the other intake's reference, receipt, status,
    who referred (organisation) and the link's strength, earlier ones first."""
    rows = store.query(
        "SELECT l.strength, l.rule, l.fields, l.found_at, "
        "CASE WHEN l.later_id = ? THEN 'earlier' ELSE 'later' END AS side, o.reference, "
        "o.received_at, o.status, o.closed_at, o.purged_at, o.sender, "
        "json_extract(o.fields, '$.referrer_role') AS referrer_role FROM links l "
        "JOIN intakes o ON o.id = CASE WHEN l.later_id = ? THEN l.earlier_id ELSE l.later_id END "
        "WHERE l.earlier_id = ? OR l.later_id = ? ORDER BY o.received_at, o.id",
        (intake_id, intake_id, intake_id, intake_id))
    return [LinkedIntake(
        side=row["side"], reference=row["reference"], received=parse_iso(row["received_at"]),
        status=Status(row["status"]), closed_at=row["closed_at"], purged_at=row["purged_at"],
        sender=row["sender"], referrer_role=row["referrer_role"], strength=row["strength"],
        rule=row["rule"], fields=tuple(json.loads(row["fields"]) if row["fields"] else ()),
        found_at=row["found_at"]) for row in rows]
