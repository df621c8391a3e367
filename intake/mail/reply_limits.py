"""The outbox's hourly limits on automatic replies (kinds in REPLY_KINDS): at most
`max_replies_per_address_per_hour` to any one address, and at most
`max_automatic_per_hour` together. Read from the sent rows of the past hour.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from ..domain.clock import iso, parse_iso
from ..domain.records import REPLY_KINDS, SendStatus, json_list
from ..store.database import Store

RATE_WINDOW = timedelta(hours=1)


# -- the global hourly cap on automatic replies ---------------------------------


def recent_reply_times(store: Store, now: datetime) -> list[list[str]]:
    """When each automatic reply of the past hour was sent, one row each."""
    marks = ",".join("?" * len(REPLY_KINDS))
    return [[row["sent_at"]] for row in store.query(
        f"SELECT sent_at FROM outbox WHERE status = '{SendStatus.SENT}' AND kind IN ({marks}) "
        f"AND sent_at > ?", (*sorted(REPLY_KINDS), iso(now - RATE_WINDOW)))]


def cap_free_at(store: Store, cap: int, now: datetime) -> datetime:
    """When the hour's count will have fallen below the cap."""
    times = sorted(parse_iso(t) for (t,) in recent_reply_times(store, now))
    if len(times) < cap:
        return now
    return max(now, times[len(times) - cap] + RATE_WINDOW)


# -- the per-address hourly limit -----------------------------------------------


def recent_replies(store: Store, now: datetime) -> dict[str, list[datetime]]:
    """When each address was last sent a reply, within the past hour."""
    recent: dict[str, list[datetime]] = {}
    marks = ",".join("?" * len(REPLY_KINDS))
    for row in store.query(
        f"SELECT recipients, sent_at FROM outbox WHERE status = '{SendStatus.SENT}' "
        f"AND kind IN ({marks}) AND sent_at > ?",
        (*sorted(REPLY_KINDS), iso(now - RATE_WINDOW)),
    ):
        for address in json_list(row["recipients"]):
            recent.setdefault(address, []).append(parse_iso(row["sent_at"]))
    return recent


def limited_until(recent: dict[str, list[datetime]], recipients: list[str], limit: int,
                  now: datetime) -> datetime | None:
    """None when every recipient is under the limit, else when the last of them will be."""
    until: datetime | None = None
    for address in recipients:
        times = sorted(t for t in recent.get(address, []) if t > now - RATE_WINDOW)
        if len(times) >= limit:
            free_at = times[len(times) - limit] + RATE_WINDOW
            until = free_at if until is None else max(until, free_at)
    return until
