"""A burst of manual-review alerts becomes one alert listing the references.

The rule is data (rules/alerts.toml, loaded in domain/rules.py): more than
`threshold` manual-review alerts within `minutes`, and the next ones wait in
`alert_batch`; they go together as one alert, at most once every `minutes`.
Only a `hold` trigger's alert is ever held (domain/alerts.py): urgent alerts
go at once.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from ..domain.alerts import BurstRule
from ..domain.clock import iso
from ..domain.records import Kind
from ..store.database import Store
from .compose import Composer
from .outbox import queue

BATCH_KIND = Kind.ALERT  # an alert like any other: never rate-limited, never answered
__all__ = ["BurstRule", "flush_review_alerts", "hold_review_alert"]


def hold_review_alert(store: Store, rule: BurstRule, intake_id: int, now: datetime) -> bool:
    """Inside the caller's transaction: True when this manual-review alert must wait for
    the next batch (the burst threshold is passed), and it is put in the batch."""
    since = iso(now - timedelta(minutes=rule.minutes))
    (recent,) = store.conn.execute(
        "SELECT COUNT(*) FROM audit WHERE event = 'review-alerted' AND at > ?",
        (since,)).fetchone()
    (waiting,) = store.conn.execute(
        "SELECT COUNT(*) FROM alert_batch WHERE outbox_id IS NULL").fetchone()
    if recent < rule.threshold and not waiting:
        store.audit("review-alerted", intake_id=intake_id, at=now)
        return False
    store.insert("alert_batch", {"intake_id": intake_id, "at": now})
    store.audit("alert-batched", intake_id=intake_id, at=now)
    return True


def flush_review_alerts(store: Store, composer: Composer, rule: BurstRule,
                        now: datetime) -> int:
    """Queue one alert listing every waiting reference, unless one went within `minutes`.
    Returns how many references it listed (0: none waiting, or not yet)."""
    with store.transaction():
        rows = store.query(
            "SELECT b.id, i.reference, i.review_reason, i.priority FROM alert_batch b "
            "JOIN intakes i ON i.id = b.intake_id WHERE b.outbox_id IS NULL ORDER BY b.id")
        if not rows:
            return 0
        last = store.query("SELECT MAX(at) FROM alert_batch WHERE outbox_id IS NOT NULL")[0][0]
        if last and last > iso(now - timedelta(minutes=rule.minutes)):
            return 0
        message = composer.review_batch_alert(
            [(row["reference"], row["review_reason"] or "unknown") for row in rows])
        outbox_id = queue(store, message, kind=BATCH_KIND, intake_id=None, now=now)
        store.conn.executemany("UPDATE alert_batch SET outbox_id = ?, at = ? WHERE id = ?",
                               [(outbox_id, iso(now), row["id"]) for row in rows])
        store.audit("alert-batch-queued", at=now, outbox_id=outbox_id, references=len(rows))
    return len(rows)
