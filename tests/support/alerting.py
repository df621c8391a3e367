"""One message through the pipeline's record step, no servers, and what the MASH was sent:
for the alert tests (test_alerts.py, test_alerts_error_path.py)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path

from intake.config.settings_types import Settings
from intake.domain.alerts import AlertRules
from intake.domain.models import Extraction, RawMessage
from intake.mail.compose import Composer
from intake.mail.parse import parse
from intake.runtime.pipeline import Pipeline, content_hash
from intake.store.database import Store
from intake.store.record import Recorded

from . import RULES

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def pipeline_for(store: Store, settings: Settings, alerts: AlertRules,
                 pool: object = None) -> Pipeline:
    """A pipeline on the shipped rules with these alert rules; no parser unless given."""
    return Pipeline(settings, store, replace(RULES, alerts=alerts), pool,  # type: ignore[arg-type]
                    Composer(settings, settings.templates_dir))


def record_one(store: Store, settings: Settings, alerts: AlertRules, message: bytes,
               extraction: Extraction, uid: int) -> Recorded:
    """One message through the pipeline's record step (decide, then record), no servers."""
    pipeline = pipeline_for(store, settings, alerts)
    raw = RawMessage("INBOX", 1, uid, NOW, message, len(message))
    email = parse(message)
    return pipeline.record_one(raw, email, extraction, content_hash(raw, email), NOW,
                               first_delivery=None)


def alerts_queued(store: Store) -> list[str]:
    """The subjects of the alerts in the outbox, in order."""
    return [str(message_from_bytes(bytes(row["raw"]), policy=policy.default)["Subject"])
            for row in store.query("SELECT raw FROM outbox WHERE kind = 'alert' ORDER BY id")]


def write_alerts(rules_dir: Path, triggers: str, burst: str = "") -> None:
    """A rules folder's alerts.toml: these [triggers] lines, then `burst`."""
    (rules_dir / "alerts.toml").write_text(f"[triggers]\n{triggers}\n{burst}", encoding="utf-8")
