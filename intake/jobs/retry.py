"""At each start, take again every message that could not be processed (`error`).

A message that raised while being recorded was kept whole, as an intake for
manual review with review_reason `error`, alerted (rules/alerts.toml
processing_failed) if the alert could be written. Once the cause is fixed (a
template, a rule, a bug), the next start reads it again from the store: the
intake gets its real verdict, the reply and alert it owes are queued, and the
audit trail says so (`retried`). A message that turns out to belong elsewhere
(a correction, a note, not a referral) is recorded there and the stand-in
intake closed, audited. If it fails again it stays as it was, with
`retry-failed` in its trail, and its processing_failed alert is queued if it
never was (the first could not be written).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from ..domain.alerts import AlertFacts, State, alerts_for
from ..domain.clock import parse_iso
from ..domain.decide import Context, Decision, decide
from ..domain.errors import StoreError
from ..domain.models import RawMessage
from ..domain.records import Intake, Kind, Outcome, ReviewReason
from ..domain.sender_auth import sender_auth
from ..mail.outbox import queue
from ..runtime.pipeline import Pipeline, content_hash
from ..store.database import Store
from ..store.followup import follow_up, queue_alert
from ..store.record import _attach, _correction, first_message_columns
from ..store.rows import update_intake

log = logging.getLogger("intake")

_ERRORS_SQL = """
    SELECT i.id AS intake_id, i.reference, m.id AS message_row, m.folder, m.uidvalidity,
           m.uid, m.received_at, m.raw
    FROM intakes i JOIN messages m ON m.intake_id = i.id AND m.reason = ?
    WHERE i.review_reason = ? AND i.closed_at IS NULL AND i.purged_at IS NULL
      AND m.raw IS NOT NULL
    ORDER BY i.id
"""


@dataclass(frozen=True)
class Failed:
    """A message the pipeline failed on, kept whole, and its stand-in intake."""

    intake_id: int
    reference: str
    message_row: int
    raw: RawMessage


def failed_messages(store: Store) -> list[Failed]:
    return [Failed(row["intake_id"], row["reference"], row["message_row"],
                   RawMessage(row["folder"], row["uidvalidity"], row["uid"],
                              parse_iso(row["received_at"]), bytes(row["raw"]),
                              len(row["raw"])))
            for row in store.query(_ERRORS_SQL, (ReviewReason.ERROR, ReviewReason.ERROR))]


def retry_errors(pipeline: Pipeline, now: datetime) -> list[str]:
    """Retry each open `error` intake; return one log line for each."""
    lines = []
    for row in failed_messages(pipeline.store):
        try:
            lines.append(_retry_one(pipeline, row, now))
        except StoreError:
            raise
        except Exception as err:  # still failing: left as it was, the trail says so
            with pipeline.store.transaction():
                pipeline.store.audit("retry-failed", intake_id=row.intake_id,
                                     message_row=row.message_row, at=now,
                                     error=type(err).__name__)
                _alert_failed(pipeline, row.intake_id, now)
            log.debug("%s retry traceback", row.reference, exc_info=True)
            lines.append(f"{row.reference} retried: failed again ({type(err).__name__}); "
                         "still for manual review")
    for line in lines:
        log.info("%s", line)
    return lines


def _alerted(pipeline: Pipeline, intake_id: int) -> bool:
    """The MASH was told about the intake: an alert queued, or held for a burst's."""
    return bool(pipeline.store.query(
        "SELECT 1 FROM outbox WHERE intake_id = ? AND kind = ? UNION ALL "
        "SELECT 1 FROM alert_batch WHERE intake_id = ?", (intake_id, Kind.ALERT, intake_id)))


def _alert_failed(pipeline: Pipeline, intake_id: int, now: datetime) -> None:
    """Inside the retry-failed transaction: the processing_failed alert the error path
    could not write, if it can be written now."""
    intake = pipeline.store.intake_by_id(intake_id)
    if intake is not None:
        pipeline.alert_failed(intake, now, alerted=_alerted(pipeline, intake_id))


def _retry_one(pipeline: Pipeline, row: Failed, now: datetime) -> str:
    raw = row.raw
    email = pipeline._parse(raw)
    extraction = pipeline.answers(email, pipeline.pool.extract_many([email.attachments])[0])
    # No first delivery: the message was recorded, as this error; it is no duplicate.
    ctx = pipeline.context(raw, email, extraction, content_hash(raw, email),
                           sender_auth(email, pipeline.settings.mailbox.trusted_authserv_ids),
                           first_delivery=None)
    decision = decide(ctx)
    store, composer = pipeline.store, pipeline.composer
    with store.transaction():
        intake = store.intake_by_id(row.intake_id)
        if intake is None:
            raise ValueError(f"retry: intake {row.intake_id} is gone")
        store.update("messages", row.message_row, {"outcome": decision.outcome,
                                                      "reason": decision.reason})
        outcome = decision.outcome
        if outcome is Outcome.INTAKE:
            queued = _redo_intake(pipeline, ctx, decision, intake, row.message_row, now)
            return f"{row.reference} retried: intake {queued}"
        if outcome is Outcome.CORRECTION:
            result = _correction(store, ctx, decision, composer, row.message_row, now)
        elif outcome in (Outcome.NOTE, Outcome.BOUNCE) and decision.intake:
            result = _attach(store, ctx, decision, composer, row.message_row, now)
        elif outcome in (Outcome.NOTE, Outcome.BOUNCE, Outcome.IGNORED, Outcome.DUPLICATE):
            store.update("messages", row.message_row, {"intake_id": None})
            result = None
        else:
            raise ValueError(f"retry: no writer for outcome {outcome!r}")
        where = f" of {result.reference}" if result and result.reference else ""
        reason = f"retried: a {decision.outcome}{where}, not a referral of its own"
        update_intake(store, intake, {"closed_at": now, "close_reason": reason,
                                      "updated_at": now})
        store.audit("retried", intake_id=intake.id, message_row=row.message_row, at=now,
                    outcome=decision.outcome, belongs_to=result.reference if result else None)
        store.audit("closed", intake_id=intake.id, at=now, status=intake.status)
    return f"{row.reference} {reason}"


def _redo_intake(pipeline: Pipeline, ctx: Context, decision: Decision, intake: Intake,
                 message_row: int, now: datetime) -> str:
    """The intake's real verdict in place of `error`; queue what it owes. Returns a summary."""
    store, composer = pipeline.store, pipeline.composer
    extraction, verdict = ctx.extraction, ctx.checked.verdict
    updated = update_intake(store, intake, {
        **first_message_columns(ctx, decision, extraction, verdict),
        "updated_at": now,
    })
    audit = {"intake_id": intake.id, "message_row": message_row, "at": now}
    store.audit("retried", **audit, previous="error", status=verdict.status,
                priority=verdict.priority, review_reason=extraction.review_reason)
    followup = follow_up(store, updated, composer, now,  # links and screening clock
                         alerts=ctx.rules.alerts)
    queued = []
    if decision.reply_to:
        queue(store, composer.acknowledgement(updated), kind=Kind.ACK, intake_id=intake.id,
              now=now)
        queued.append("ack")
    alerted = _alerted(pipeline, intake.id)
    # Its first alert (if it could be written) said "manual review": a retry says
    # "urgent" now, or "manual review" if that one could not be written; never held.
    planned = alerts_for(AlertFacts(State(verdict.status, verdict.priority),
                                    raised=followup.raised, review_alerted=alerted),
                         ctx.rules.alerts)
    queued += queue_alert(store, composer, planned, updated, now,
                          earlier=followup.earlier_referrals)
    return f"{verdict.status}" + (f" queued {','.join(queued)}" if queued else "")
