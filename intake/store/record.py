"""Record one message and everything it leads to, in one transaction.

The message row, the intake (new or updated), the audit events, the
replies and alerts to send, and the mailbox position commit together; the
sender and the mailbox act from these rows afterwards.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any

from ..domain.alerts import AlertFacts, BurstRule, State, alerts_for
from ..domain.decide import Context, Decision, folder_position
from ..domain.models import Extraction, Verdict
from ..domain.records import KEEPS_RAW, Intake, Kind, Outcome, Priority, Status
from ..mail.compose import Composer
from ..mail.outbox import queue
from .answers import keep_version, propose
from .database import Store
from .followup import follow_up, queue_alert, state
from .rows import insert_intake, insert_message, update_intake


@dataclass(frozen=True)
class Recorded:
    """What was recorded for one message: enough for one log line, no personal data."""

    uid: int
    outcome: Outcome
    reference: str | None = None
    status: Status | None = None
    reason: str | None = None
    queued: tuple[str, ...] = ()
    message_row: int | None = None  # the messages row written


def record(store: Store, ctx: Context, decision: Decision, composer: Composer, *,
           mailbox_address: str, main_folder: str, now: datetime,
           burst_rule: BurstRule | None = None) -> Recorded:
    """Write the decision; return what was written. Raises StoreError if it could not be."""
    with store.transaction():
        message_row = insert_message(store, ctx.raw, ctx.email, ctx.content_hash,
                                     outcome=decision.outcome, reason=decision.reason,
                                     kept=_raw_to_keep(ctx, decision),
                                     sender_auth=ctx.sender_auth, now=now)
        store.audit("received", message_row=message_row, at=now, uid=ctx.raw.uid,
                    folder=ctx.raw.folder, outcome=decision.outcome, reason=decision.reason)
        outcome = decision.outcome
        if outcome is Outcome.INTAKE:
            result = _new_intake(store, ctx, decision, composer, message_row, main_folder,
                                 now, burst_rule)
        elif outcome is Outcome.CORRECTION:
            result = _correction(store, ctx, decision, composer, message_row, now)
        elif outcome in (Outcome.NOTE, Outcome.BOUNCE) and decision.intake:
            result = _attach(store, ctx, decision, composer, message_row, now)
        elif outcome in (Outcome.NOTE, Outcome.BOUNCE, Outcome.IGNORED, Outcome.DUPLICATE):
            result = Recorded(ctx.raw.uid, outcome, reason=decision.reason)
        else:
            raise ValueError(f"record: no writer for outcome {outcome!r}")
        store.set_folder_state(ctx.raw.folder, ctx.raw.uidvalidity, folder_position(ctx))
    return replace(result, message_row=message_row)


NOTE_RAW_CAP = 1024 * 1024  # bytes kept of a message that is not a referral (a note)


def _raw_to_keep(ctx: Context, decision: Decision) -> bytes | None:
    """The bytes stored with the message: a referral's (or correction's) whole; a note's
    up to NOTE_RAW_CAP (a 28 MB reply from someone else in the thread is not kept whole);
    nothing for the rest."""
    if not _keeps_raw(decision):
        return None
    if decision.outcome is Outcome.NOTE and len(ctx.raw.data) > NOTE_RAW_CAP:
        return ctx.raw.data[:NOTE_RAW_CAP]
    return ctx.raw.data


def _keeps_raw(decision: Decision) -> bool:
    """Referrals, corrections and notes keep their bytes, until their intake is purged:
    a reply that arrives after the purge keeps nothing personal either."""
    if decision.outcome not in KEEPS_RAW:
        return False
    return not (decision.intake and decision.intake.purged_at)


def verdict_columns(verdict: Verdict) -> dict[str, Any]:
    return {
        "status": verdict.status,
        "missing": list(verdict.missing),
        "invalid": list(verdict.invalid),
        "cc_missing": list(verdict.cc_missing),
        "findings": [asdict(f) for f in verdict.findings],
        "age_band": verdict.age_band,
    }


def first_message_columns(ctx: Context, decision: Decision, extraction: Extraction,
                          verdict: Verdict) -> dict[str, Any]:
    """The intake's columns that come from its first message (recorded, or retried)."""
    return {
        **verdict_columns(verdict),
        "reply_to": decision.reply_to,
        "fields": extraction.fields,
        "field_sources": extraction.where,
        "recipients": sorted({*ctx.email.to, *ctx.email.cc}),
        "priority": verdict.priority,
        "urgent_because": list(verdict.urgent_because),
        "source": extraction.source,
        "review_reason": extraction.review_reason,
        "machine_reason": decision.machine_reason,
        "sender_auth": ctx.sender_auth,
        "first_referrer_email": extraction.fields.get("referrer_email", "").strip().lower(),
    }


def _new_intake(store: Store, ctx: Context, decision: Decision, composer: Composer,
                message_row: int, main_folder: str, now: datetime,
                burst_rule: BurstRule | None = None) -> Recorded:
    raw, extraction, verdict = ctx.raw, ctx.extraction, ctx.checked.verdict
    intake = insert_intake(store, raw, ctx.email, message_row,
                           first_message_columns(ctx, decision, extraction, verdict),
                           folder=raw.folder if raw.folder != main_folder else None, now=now)
    intake_id, reference = intake.id, intake.reference
    audit = {"intake_id": intake_id, "message_row": message_row, "at": now}
    store.audit("extracted", **audit, source=extraction.source,
                fields=sorted(extraction.fields), review_reason=extraction.review_reason)
    store.audit("checked", **audit, status=verdict.status, missing=list(verdict.missing),
                invalid=list(verdict.invalid), cc_missing=list(verdict.cc_missing),
                priority=verdict.priority, age_band=verdict.age_band)
    followup = follow_up(store, intake, composer, now, alerts=ctx.rules.alerts)
    queued = []
    if decision.reply_to:
        queue(store, composer.acknowledgement(intake), kind=Kind.ACK, intake_id=intake_id,
              now=now)
        queued.append("ack")
    else:
        store.audit("not-answered", **audit, reason=decision.machine_reason or "no-reply-address")
    planned = alerts_for(AlertFacts(State(verdict.status, verdict.priority),
                                    raised=followup.raised), ctx.rules.alerts)
    queued += queue_alert(store, composer, planned, intake, now, burst_rule,
                          earlier=followup.earlier_referrals)
    return Recorded(raw.uid, Outcome.INTAKE, reference, verdict.status,
                    extraction.review_reason, tuple(queued))


def _correction(store: Store, ctx: Context, decision: Decision, composer: Composer,
                message_row: int, now: datetime) -> Recorded:
    new = ctx.extraction
    intake = _belongs_to(decision)
    intake_id = intake.id
    checked = ctx.checked.correction
    if checked is None:
        raise ValueError("record: a correction with no check of it")
    readable, fields, merged = checked.readable, checked.fields, checked.extraction
    recipients, verdict, sources = checked.recipients, checked.verdict, checked.sources
    if readable and intake.status is Status.MANUAL_REVIEW:
        # No correction takes an intake out of manual review by itself: a person accepts.
        return _proposal(store, ctx, decision, composer, message_row, now)
    priority = stays_urgent(intake, verdict)
    reply_to = intake.reply_to or decision.reply_to
    still_incomplete = verdict.status is Status.INCOMPLETE
    keep_version(store, intake, fields, now=now, message_row=message_row,
                 status_after=verdict.status)
    updated = update_intake(store, intake, {
        **verdict_columns(verdict),
        "reply_to": reply_to,
        # Reminders are timed from the latest message: a new message starts them afresh.
        "reminders_sent": 0 if still_incomplete else intake.reminders_sent,
        "fields": fields,
        "field_sources": sources,
        "recipients": recipients,
        "priority": priority,
        "urgent_because": sorted({*intake.urgent_because, *verdict.urgent_because}),
        "source": merged.source,
        "review_reason": merged.review_reason,
        "last_message_at": ctx.raw.received_at,
        "updated_at": now,
    })
    store.update("messages", message_row, {"intake_id": intake_id})
    store.audit("corrected", intake_id=intake_id, message_row=message_row, at=now,
                previous_status=intake.status, status=verdict.status,
                missing=list(verdict.missing), invalid=list(verdict.invalid),
                cc_missing=list(verdict.cc_missing), fields_replaced=sorted(new.fields)
                if readable else [])
    followup = follow_up(store, updated, composer, now, alerts=ctx.rules.alerts)
    queued = []
    if decision.reply_to:
        ack = composer.acknowledgement(updated, correction=True)
        queue(store, ack, kind=Kind.CORRECTION, intake_id=intake_id, now=now)
        queued.append("correction")
    planned = alerts_for(AlertFacts(State(verdict.status, priority), before=state(intake),
                                    raised=followup.raised), ctx.rules.alerts)
    queued += queue_alert(store, composer, planned, updated, now,
                          earlier=followup.earlier_referrals)
    queued += [f"alert {reference}" for reference in followup.others_alerted]
    return Recorded(ctx.raw.uid, Outcome.CORRECTION, intake.reference, verdict.status,
                    merged.review_reason, tuple(queued))


def _proposal(store: Store, ctx: Context, decision: Decision, composer: Composer,
              message_row: int, now: datetime) -> Recorded:
    """A readable correction of an intake in manual review: its answers wait for a person;
    the intake keeps its answers and status, and takes in the new message's addresses."""
    new = ctx.extraction
    intake = _belongs_to(decision)
    answers = {k: v for k, v in new.fields.items() if v.strip()}
    propose(store, intake, answers, dict(new.where), new.source, message_row=message_row,
            now=now)
    updated = update_intake(store, intake, {
        "recipients": sorted({*intake.recipients, *ctx.email.to, *ctx.email.cc}),
        "last_message_at": ctx.raw.received_at, "updated_at": now,
    })
    store.update("messages", message_row, {"intake_id": intake.id})
    queued = []
    if decision.reply_to:
        queue(store, composer.acknowledgement(updated, correction=True), kind=Kind.CORRECTION,
              intake_id=intake.id, now=now)
        queued.append("correction")
    return Recorded(ctx.raw.uid, Outcome.CORRECTION, intake.reference, intake.status,
                    "proposal waiting", tuple(queued))


def _attach(store: Store, ctx: Context, decision: Decision, composer: Composer,
            message_row: int, now: datetime) -> Recorded:
    """A note from someone else in the thread, or a bounce of what we sent."""
    intake = _belongs_to(decision)
    store.update("messages", message_row, {"intake_id": intake.id})
    if decision.outcome is Outcome.BOUNCE:
        update_intake(store, intake, {"bounced": 1, "updated_at": now})
    store.audit(decision.outcome, intake_id=intake.id, message_row=message_row, at=now,
                reason=decision.reason)
    queued: tuple[str, ...] = ()
    planned = alerts_for(AlertFacts(state(intake), before=state(intake),
                                    forged=decision.forged), ctx.rules.alerts)
    if planned.forged:
        queue(store, composer.forged_correction_alert(intake), kind=Kind.ALERT,
              intake_id=intake.id, now=now)
        queued = ("alert",)
    return Recorded(ctx.raw.uid, decision.outcome, intake.reference, intake.status,
                    decision.reason, queued)


def _belongs_to(decision: Decision) -> Intake:
    """The intake a correction, note or bounce is recorded on (decide always names it)."""
    if decision.intake is None:
        raise ValueError(f"record: a {decision.outcome} with no intake")
    return decision.intake


def stays_urgent(intake: Intake, verdict: Verdict) -> Priority:
    """An urgent intake stays urgent, whatever a later check of it says."""
    urgent = Priority.URGENT in (intake.priority, verdict.priority)
    return Priority.URGENT if urgent else Priority.NORMAL

