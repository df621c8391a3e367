"""The alert of a message the service failed on (the pipeline's error path, and a retry
that fails again): rules/alerts.toml's processing_failed, never manual_review, so turning
manual-review alerts off never hides it; and its screening deadline. No servers: the
decision is broken on purpose (support.alerting.record_one, as test_alerts.py uses)."""

from __future__ import annotations

import json

from support.alerting import NOW, alerts_queued, pipeline_for, record_one, write_alerts
from support.forms import SAMPLE_VALUES
from support.mail import referral_email
from support.settings import MASH

from intake.domain.alerts import AlertRules
from intake.domain.models import Extraction, RawMessage
from intake.domain.rules import load_rules
from intake.mail.parse import parse
from intake.runtime.pipeline import content_hash

SHIPPED = AlertRules()
FORM = Extraction("docx", dict(SAMPLE_VALUES), carries_form=True)
SCAN = Extraction("unsupported", review_reason="scan", carries_form=True)


def fail_to_decide(monkeypatch) -> None:
    """A bug in the decision: every message goes down the pipeline's error path, and
    fails again when retried."""
    def broken(ctx):
        raise RuntimeError("a bug")
    monkeypatch.setattr("intake.runtime.pipeline.decide", broken)
    monkeypatch.setattr("intake.jobs.retry.decide", broken)


def test_with_manual_review_off_a_message_that_fails_still_alerts_the_mash(
        store, settings, rules_dir, monkeypatch, caplog):
    write_alerts(rules_dir, 'manual_review = "none"\nnewly_manual_review = "none"')
    alerts = load_rules(rules_dir).alerts
    fail_to_decide(monkeypatch)
    shunted = record_one(store, settings, alerts, referral_email(), FORM, uid=1)
    assert (shunted.status, shunted.reason) == ("manual_review", "error")
    assert "could not process; recorded for manual review" in caplog.text
    (alert,) = store.query("SELECT recipients, intake_id FROM outbox WHERE kind = 'alert'")
    assert json.loads(alert["recipients"]) == list(settings.alert_to) == [MASH]
    assert alerts_queued(store) == ["[PRV-2026-00001] Prevent referral: manual review needed"]

    # The same rules, a scan read without fault: manual_review = "none" holds.
    monkeypatch.undo()
    quiet = record_one(store, settings, alerts,
                       referral_email(message_id="<scan-2@school.example.org>"), SCAN, uid=2)
    assert (quiet.status, quiet.queued) == ("manual_review", ("ack",))
    assert len(alerts_queued(store)) == 1


def test_a_failed_message_whose_alert_could_not_be_written_is_still_recorded(
        store, settings, monkeypatch, caplog):
    fail_to_decide(monkeypatch)

    def no_alert(*args, **kwargs):
        raise RuntimeError("the composer's own fault")
    monkeypatch.setattr("intake.runtime.pipeline.queue_alert", no_alert)
    shunted = record_one(store, settings, SHIPPED, referral_email(), FORM, uid=1)
    assert (shunted.status, shunted.reason) == ("manual_review", "error")
    assert "PRV-2026-00001 alert could not be written: RuntimeError" in caplog.text
    assert alerts_queued(store) == []
    (row,) = store.query("SELECT status, review_reason FROM intakes")
    assert tuple(row) == ("manual_review", "error")


def test_a_retry_that_fails_again_queues_the_alert_the_error_path_could_not(
        store, settings, monkeypatch):
    from intake.jobs.retry import retry_errors

    class NoForms:
        def extract_many(self, attachment_lists):
            return [Extraction("none") for _ in attachment_lists]

    fail_to_decide(monkeypatch)
    pipeline = pipeline_for(store, settings, SHIPPED, NoForms())
    message = referral_email()
    raw = RawMessage("INBOX", 1, 1, NOW, message, len(message))
    email = parse(message)
    with monkeypatch.context() as patched:
        patched.setattr("intake.runtime.pipeline.queue_alert",
                        lambda *args, **kwargs: 1 / 0)
        pipeline.record_one(raw, email, FORM, content_hash(raw, email), NOW,
                            first_delivery=None)
    assert alerts_queued(store) == []
    assert retry_errors(pipeline, NOW) == [
        "PRV-2026-00001 retried: failed again (RuntimeError); still for manual review"]
    assert alerts_queued(store) == ["[PRV-2026-00001] Prevent referral: manual review needed"]
    retry_errors(pipeline, NOW)  # fails again: the MASH was told once, not at every start
    assert len(alerts_queued(store)) == 1


def test_a_deadline_that_cannot_be_set_does_not_stop_the_error_path(store, settings,
                                                                    monkeypatch, caplog):
    fail_to_decide(monkeypatch)

    def half_written(store, intake, settings, now):
        store.conn.execute("INSERT INTO screening (intake_id, due_at, working_hours) "
                           "VALUES (?, ?, 1)", (intake.id, "2026-11-20T10:00:00+00:00"))
        raise ValueError("rules/screening.toml is the fault")
    monkeypatch.setattr("intake.runtime.pipeline.set_deadline", half_written)
    shunted = record_one(store, settings, SHIPPED, referral_email(), FORM, uid=1)
    assert (shunted.status, shunted.reason) == ("manual_review", "error")
    assert "PRV-2026-00001 screening deadline could not be set: ValueError" in caplog.text
    assert store.query("SELECT * FROM screening") == []  # its half undone, nothing else
    assert alerts_queued(store) == ["[PRV-2026-00001] Prevent referral: manual review needed"]
