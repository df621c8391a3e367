"""`intake health`: is the worker going round, and is nothing failing for long?

Unhealthy (exit 1, one line a problem) when no mailbox round has completed
within `[health] max_round_age_seconds` (default five poll intervals, at
least 300 s), or when signing in, fetching or sending has been failing for
longer than `[health] failing_after_minutes`. Reads the store, never makes it.
"""

from __future__ import annotations

from datetime import datetime

from ..config.settings_types import Settings
from ..domain.errors import StoreError
from ..store.database import Store
from ..store.service_state import WHAT, Outage, local_label, open_outages


def round_limit(settings: Settings, override: float | None = None) -> float:
    if override is not None:
        return override
    if settings.health.max_round_age_seconds is not None:
        return settings.health.max_round_age_seconds
    return max(300.0, 5 * settings.mailbox.poll_seconds)


def check_health(settings: Settings, *, now: datetime,
                 max_age: float | None = None) -> tuple[list[str], list[str]]:
    """(problems, notes): unhealthy when there is any problem."""
    from ..runtime.worker import heartbeat_age

    problems: list[str] = []
    notes: list[str] = []
    limit = round_limit(settings, max_age)
    age = heartbeat_age(settings.store_path)
    if age is None:
        problems.append("the worker has never completed a mailbox round")
    elif age > limit:
        problems.append(f"no mailbox round completed for {int(age)} s (limit {int(limit)} s)")
    else:
        notes.append(f"last mailbox round {int(age)} s ago")
    zone = settings.digest.timezone
    for outage in _outages(settings):
        minutes = (now - outage.started_at).total_seconds() / 60
        line = (f"{outage.component}: {WHAT[outage.component]} since "
                f"{local_label(outage.started_at, zone)} ({int(minutes)} min): {outage.error}")
        if minutes >= settings.health.failing_after_minutes:
            problems.append(line)
        else:
            notes.append(line)
    return problems, notes


def _outages(settings: Settings) -> list[Outage]:
    if not settings.store_path.exists():
        return []
    try:
        store = Store(settings.store_path, readonly=True)
    except StoreError:
        return []
    try:
        return open_outages(store)
    except StoreError:  # a store from before outages were kept
        return []
    finally:
        store.close()
