"""Is the service working? What the worker last managed, and each outage.

The worker records every mailbox round (ok, or the error) and every SMTP
round that could or could not reach the server. A failure starts an outage;
the first success ends it. When one lasts `[health] alert_after_minutes`, the
MASH alert addresses get one message saying the service cannot read the
mailbox (or cannot send), and one when it works again. `intake health`
reads this and the heartbeat; the digest lists the day's outages.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo

from ..config.settings_types import Settings
from ..domain.clock import day_bounds, iso, parse_iso
from ..domain.records import Kind
from ..mail.outbox import queue
from .database import Store

log = logging.getLogger("intake")

WHAT = {"mailbox": "cannot read the mailbox", "smtp": "cannot send email"}
BACK = {"mailbox": "reads the mailbox again", "smtp": "sends email again"}


@dataclass(frozen=True)
class Outage:
    component: str  # mailbox | smtp
    started_at: datetime
    ended_at: datetime | None
    error: str


def record_ok(store: Store, component: str, composer: Any, settings: Settings,
              now: datetime) -> bool:
    """The component worked: end its outage, and say so if the MASH was told of it.
    True when that message was queued."""
    rows = store.query("SELECT id, started_at, alerted FROM outages WHERE component = ? "
                       "AND ended_at IS NULL ORDER BY id", (component,))
    if not rows:
        return False
    told = any(row["alerted"] for row in rows)
    with store.transaction():
        for row in rows:
            store.update("outages", row["id"], {"ended_at": now})
        started = parse_iso(rows[0]["started_at"])
        minutes = int((now - started).total_seconds() // 60)
        store.audit("service-recovered", at=now, component=component, minutes=minutes)
        if told:
            _tell(store, composer, settings, component, started, now, recovered=True)
    log.warning("%s: working again after %d min (%s)", component, minutes,
                BACK[component])
    return told


def record_failure(store: Store, component: str, error: str, composer: Any,
                   settings: Settings, now: datetime) -> None:
    """The component failed: start (or continue) its outage; past the threshold, tell the
    MASH once."""
    rows = store.query("SELECT id, started_at, alerted FROM outages WHERE component = ? "
                       "AND ended_at IS NULL ORDER BY id", (component,))
    with store.transaction():
        if not rows:
            store.insert("outages", {"component": component, "started_at": now,
                                     "error": error[:300], "alerted": 0})
            store.audit("service-failing", at=now, component=component)
            return
        row = rows[0]
        store.update("outages", row["id"], {"error": error[:300]})
        started = parse_iso(row["started_at"])
        due = now - started >= timedelta(minutes=settings.health.alert_after_minutes)
        if due and not row["alerted"]:
            store.update("outages", row["id"], {"alerted": 1})
            store.audit("service-down", at=now, component=component,
                        minutes=int((now - started).total_seconds() // 60))
            _tell(store, composer, settings, component, started, now, recovered=False)
            log.error("%s: %s since %s; the MASH alert addresses are told", component,
                      WHAT[component], local_label(started, settings.digest.timezone))


def open_outages(store: Store) -> list[Outage]:
    return [_outage(row) for row in store.query(
        "SELECT * FROM outages WHERE ended_at IS NULL ORDER BY id")]


def outages_on(store: Store, day: date, timezone: str) -> list[Outage]:
    """Outages that overlapped the local day."""
    start, end = day_bounds(day, timezone)
    return [_outage(row) for row in store.query(
        "SELECT * FROM outages WHERE started_at < ? AND (ended_at IS NULL OR ended_at > ?) "
        "ORDER BY started_at", (iso(end), iso(start)))]


def outage_lines(outages: list[Outage], timezone: str, now: datetime) -> list[str]:
    """One line per outage for the digest: what failed, from when to when."""
    lines = []
    for outage in outages:
        until = outage.ended_at or now
        minutes = int((until - outage.started_at).total_seconds() // 60)
        end = local_label(outage.ended_at, timezone) if outage.ended_at else "still failing"
        lines.append(f"The service {WHAT[outage.component]}: "
                     f"{local_label(outage.started_at, timezone)} to {end} ({minutes} min)")
    return lines


def local_label(moment: datetime, timezone: str) -> str:
    local = moment.astimezone(ZoneInfo(timezone))
    return local.strftime("%Y-%m-%d %H:%M %Z")


def _outage(row: Any) -> Outage:
    return Outage(row["component"], parse_iso(row["started_at"]),
                  parse_iso(row["ended_at"]) if row["ended_at"] else None, row["error"] or "")


def service_message(composer: Any, settings: Settings, component: str, started: datetime,
                    now: datetime, *, recovered: bool) -> EmailMessage:
    """The message to the MASH that `component` is down (or working again)."""
    timezone = settings.digest.timezone
    what = BACK[component] if recovered else WHAT[component]
    return composer.message(
        kind=Kind.SERVICE, to=list(settings.alert_to),
        subject=composer.subject("service", what=what), template="service",
        context={"component": component, "what": what, "recovered": recovered,
                 "since": local_label(started, timezone), "now": local_label(now, timezone),
                 "minutes": int((now - started).total_seconds() // 60)},
        auto_reply=False)


def _tell(store: Store, composer: Any, settings: Settings, component: str,
          started: datetime, now: datetime, *, recovered: bool) -> None:
    message = service_message(composer, settings, component, started, now,
                              recovered=recovered)
    queue(store, message, kind=Kind.SERVICE, intake_id=None, now=now)
