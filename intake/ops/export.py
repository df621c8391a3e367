"""Export every referral intake as JSON lines or CSV, per the contract.

Only the intakes table is read: ignored messages, bounces, notes and second
deliveries never become intakes, so they are never exported. The contract's
keys come first, in its order; a few more useful to the MASH follow.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator, Sequence
from datetime import date, datetime
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from ..domain.clock import day_bounds, iso, parse_iso
from ..domain.records import Intake
from ..domain.safe_text import csv_safe
from ..store.database import Store
from .queue_view import export_extras

CONTRACT_KEYS: tuple[str, ...] = (
    "reference", "message_id", "sender", "received_at", "status", "missing", "invalid",
    "cc_missing", "fields", "priority", "age_band", "source", "review_reason",
)
EXTRA_KEYS: tuple[str, ...] = (
    "last_message_at", "urgent_because", "reminders_sent", "bounced", "folder", "closed_at",
    "close_reason", "purged_at", "sender_auth",
    "earlier_referrals", "screening_due", "screened_at",  # issue 17 (queue_view.py)
)
KEYS = CONTRACT_KEYS + EXTRA_KEYS
EXPORT_EXTRA_KEYS = frozenset({"earlier_referrals", "screening_due", "screened_at"})
FORMATS = ("jsonl", "csv")
_TIMES = frozenset({"received_at", "last_message_at", "closed_at", "purged_at",
                    "screening_due", "screened_at"})


def export(store: Store, out: TextIO, fmt: str, *, since: date | None, timezone: str,
           wide_fields: Sequence[str] | None = None) -> int:
    """Write intakes received on or after `since` (a local day) to `out`; return the count.

    CSV times are in `timezone` with their offset (JSON lines keep UTC's). `wide_fields`
    (CSV only): one column per form field, these canonical keys in this order (the
    form's), then any other key found, in place of the one `fields` JSON column.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}: jsonl or csv")
    _ensure_utf8(out)
    records = _records(store, since, timezone)
    count = 0
    if fmt == "jsonl":
        for record in records:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
        out.flush()
        return count
    zone = ZoneInfo(timezone)
    rows = [_local_times(record, zone) for record in records]
    keys: list[str] = list(KEYS)
    field_keys: list[str] = []
    if wide_fields is not None:
        found = {key for record in rows for key in record["fields"]}
        field_keys = [*wide_fields, *sorted(found - set(wide_fields))]
        keys = [key for key in KEYS if key != "fields"]
    out.write("\ufeff")  # the byte-order mark Excel looks for
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(keys + field_keys)
    for record in rows:
        writer.writerow([csv_safe(_csv_cell(record[key])) for key in keys]
                        + [csv_safe(str(record["fields"].get(key, ""))) for key in field_keys])
        count += 1
    out.flush()
    return count


def _local_times(record: dict[str, Any], zone: ZoneInfo) -> dict[str, Any]:
    """The record's times in the digest's timezone, with their offset."""
    return record | {key: parse_iso(record[key]).astimezone(zone).isoformat(timespec="seconds")
                     for key in _TIMES if record.get(key)}


def _records(store: Store, since: date | None, timezone: str) -> Iterator[dict[str, Any]]:
    where, params = "1", []
    if since is not None:
        where = "received_at >= ?"
        params.append(iso(day_bounds(since, timezone)[0]))
    extras = export_extras(store)
    for intake in store.intakes(where, params):
        yield _record(intake, extras.get(intake.id, {"earlier_referrals": []}))


def _record(intake: Intake, extras: dict[str, Any]) -> dict[str, Any]:
    """The contract's keys and ours, JSON-ready: plain words, lists, times as ISO text."""
    columns = {"reference": intake.reference, **intake.to_row()}
    record: dict[str, Any] = {
        key: extras.get(key) if key in EXPORT_EXTRA_KEYS else columns[key] for key in KEYS}
    for key in _TIMES:
        value = record[key]
        if value:  # always with its offset
            record[key] = iso(value if isinstance(value, datetime) else parse_iso(value))
    for key in ("status", "priority", "age_band", "review_reason"):
        record[key] = str(record[key]) if record[key] is not None else None
    record["sender"] = (record["sender"] or "").lower() or None
    record["bounced"] = bool(record["bounced"])
    for key in ("missing", "invalid", "cc_missing", "urgent_because", "earlier_referrals"):
        record[key] = list(record[key] or [])
    record["fields"] = dict(record["fields"] or {})
    record["sender_auth"] = record["sender_auth"] or "none"
    return record


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return "; ".join(str(item) for item in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _ensure_utf8(out: TextIO) -> None:
    """Standard output under a C locale is ASCII; the contract says UTF-8 whatever the locale."""
    encoding = (getattr(out, "encoding", None) or "utf-8").lower().replace("_", "-")
    if encoding not in ("utf-8", "utf8") and hasattr(out, "reconfigure"):
        out.reconfigure(encoding="utf-8")
