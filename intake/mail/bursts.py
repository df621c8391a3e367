"""A burst of manual-review alerts becomes one alert listing the references.

The rule is data (rules/alerts.toml): more than `threshold` manual-review
alerts within `minutes`, and the next ones wait in `alert_batch`; they go
together as one alert, at most once every `minutes`. Urgent alerts are never
held: record.py queues them at once.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from ..config.paths import project_dir
from ..domain.clock import iso
from ..domain.errors import SettingsError
from ..store.database import Store
from .compose import Composer
from .outbox import queue

BATCH_KIND = "alert"  # an alert like any other: never rate-limited, never answered


@dataclass(frozen=True)
class BurstRule:
    threshold: int = 5
    minutes: float = 10.0


def load_burst_rule(rules_dir: Path | None) -> BurstRule:
    path = (rules_dir or project_dir("rules")) / "alerts.toml"
    if not path.exists():
        return BurstRule()
    try:
        spec = tomllib.loads(path.read_text(encoding="utf-8")).get("manual_review_burst", {})
        rule = BurstRule(int(spec.get("threshold", 5)), float(spec.get("minutes", 10)))
    except (OSError, tomllib.TOMLDecodeError, TypeError, ValueError) as err:
        raise SettingsError([f"[rules] alerts.toml: {err}"]) from err
    if rule.threshold < 1 or rule.minutes <= 0:
        raise SettingsError(["[rules] alerts.toml manual_review_burst: threshold must be 1 or "
                             "more and minutes more than 0"])
    return rule


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
