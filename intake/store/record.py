"""Record one message and everything it leads to, in one transaction.

The message row, the intake (new or updated), the audit events, the
replies and alerts to send, and the mailbox position commit together; the
sender and the mailbox act from these rows afterwards.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from ..domain.check import check
from ..domain.clock import parse_iso
from ..domain.decide import Context, Decision, folder_position
from ..domain.models import Extraction, Verdict
from ..domain.records import KEEPS_RAW, Outcome
from ..mail.bursts import BurstRule, hold_review_alert
from ..mail.compose import Composer
from ..mail.outbox import queue
from .answers import keep_version, propose
from .followup import follow_up, with_earlier


@dataclass(frozen=True)
class Recorded:
    """What was recorded for one message: enough for one log line, no personal data."""

    uid: int
    outcome: str
    reference: str | None = None
    status: str | None = None
    reason: str | None = None
    queued: tuple[str, ...] = ()


def record(ctx: Context, decision: Decision, composer: Composer, *, mailbox_address: str,
           main_folder: str, now: datetime, burst_rule: BurstRule | None = None) -> Recorded:
    """Write the decision; return what was written. Raises StoreError if it could not be."""
    store = ctx.store
    with store.transaction():
        message_row = store.insert("messages", {
            "folder": ctx.raw.folder,
            "uidvalidity": ctx.raw.uidvalidity,
            "uid": ctx.raw.uid,
            "message_id": ctx.email.message_id,
            "content_hash": ctx.content_hash,
            "sender": ctx.email.sender,
            "received_at": ctx.raw.received_at,
            "recorded_at": now,
            "outcome": decision.outcome,
            "reason": decision.reason,
            "raw": _raw_to_keep(ctx, decision),
            "sender_auth": ctx.sender_auth,
        })
        store.audit("received", message_row=message_row, at=now, uid=ctx.raw.uid,
                    folder=ctx.raw.folder, outcome=decision.outcome, reason=decision.reason)
        outcome = decision.outcome
        if outcome is Outcome.INTAKE:
            result = _new_intake(ctx, decision, composer, message_row, mailbox_address,
                                 main_folder, now, burst_rule)
        elif outcome is Outcome.CORRECTION:
            result = _correction(ctx, decision, composer, message_row, mailbox_address, now)
        elif outcome in (Outcome.NOTE, Outcome.BOUNCE) and decision.intake:
            result = _attach(ctx, decision, composer, message_row, now)
        elif outcome in (Outcome.NOTE, Outcome.BOUNCE, Outcome.IGNORED, Outcome.DUPLICATE):
            result = Recorded(ctx.raw.uid, outcome, reason=decision.reason)
        else:
            raise ValueError(f"record: no writer for outcome {outcome!r}")
        store.set_folder_state(ctx.raw.folder, ctx.raw.uidvalidity, folder_position(ctx))
    return result


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
    return not (decision.intake or {}).get("purged_at")


def _verdict(ctx: Context, fields: dict[str, str], extraction: Extraction, received_at: datetime,
             mailbox_address: str, extra_recipients: list[str]) -> Verdict:
    # Ages and date limits count in the council's calendar, not UTC's.
    local = received_at.astimezone(ZoneInfo(ctx.timezone))
    return check(fields, extraction, ctx.email, local, ctx.rules,
                 mailbox_address=mailbox_address, extra_recipients=extra_recipients)


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


def _new_intake(ctx: Context, decision: Decision, composer: Composer, message_row: int,
                mailbox_address: str, main_folder: str, now: datetime,
                burst_rule: BurstRule | None = None) -> Recorded:
    store, raw, extraction = ctx.store, ctx.raw, ctx.extraction
    if decision.review_reason:
        extraction = replace(extraction, review_reason=decision.review_reason)
    verdict = _verdict(ctx, dict(extraction.fields), extraction, raw.received_at,
                       mailbox_address, [])
    reference = store.next_reference(raw.received_at.year)
    intake_id = store.insert("intakes", {
        "reference": reference,
        "message_id": ctx.email.message_id,
        "sender": ctx.email.sender,
        "received_at": raw.received_at,
        "last_message_at": raw.received_at,
        **first_message_columns(ctx, decision, extraction, verdict),
        "folder": raw.folder if raw.folder != main_folder else None,
        "created_at": now,
        "updated_at": now,
    })
    store.update("messages", message_row, {"intake_id": intake_id})
    audit = {"intake_id": intake_id, "message_row": message_row, "at": now}
    store.audit("extracted", **audit, source=extraction.source,
                fields=sorted(extraction.fields), review_reason=extraction.review_reason)
    store.audit("checked", **audit, status=verdict.status, missing=list(verdict.missing),
                invalid=list(verdict.invalid), cc_missing=list(verdict.cc_missing),
                priority=verdict.priority, age_band=verdict.age_band)
    intake = store.intake_by_id(intake_id) or {}
    followup = follow_up(store, intake, composer, now)
    queued = []
    if decision.reply_to:
        queue(store, composer.acknowledgement(intake), kind="ack", intake_id=intake_id, now=now)
        queued.append("ack")
    else:
        store.audit("not-answered", **audit, reason=decision.machine_reason or "no-reply-address")
    if verdict.priority == "urgent" or followup.raised:
        queue(store, composer.alert(with_earlier(intake, followup)), kind="alert",
              intake_id=intake_id, now=now)
        queued.append("alert")
    elif verdict.status == "manual_review":
        if burst_rule is not None and hold_review_alert(store, burst_rule, intake_id, now):
            queued.append("alert-batched")  # goes with the others of the burst, in one
        else:
            queue(store, composer.alert(with_earlier(intake, followup)), kind="alert",
                  intake_id=intake_id, now=now)
            queued.append("alert")
    return Recorded(raw.uid, "intake", reference, verdict.status, extraction.review_reason,
                    tuple(queued))


def _correction(ctx: Context, decision: Decision, composer: Composer, message_row: int,
                mailbox_address: str, now: datetime) -> Recorded:
    store, new = ctx.store, ctx.extraction
    intake = decision.intake or {}
    intake_id = intake["id"]
    readable = new.carries_form and new.review_reason is None
    if readable and intake.get("status") == "manual_review":
        # No correction takes an intake out of manual review by itself: a person accepts.
        return _proposal(ctx, decision, composer, message_row, now)
    fields = dict(intake.get("fields") or {})
    if readable:
        fields.update({k: v for k, v in new.fields.items() if v.strip()})
    merged = Extraction(
        source=new.source if new.carries_form else intake.get("source", "none"),
        fields=fields,
        review_reason=new.review_reason if new.carries_form else intake.get("review_reason"),
        carries_form=new.carries_form or intake.get("source", "none") != "none",
    )
    recipients = sorted({*intake.get("recipients", []), *ctx.email.to, *ctx.email.cc})
    verdict = _verdict(ctx, fields, merged, _received(intake), mailbox_address, recipients)
    was_urgent = intake.get("priority") == "urgent"
    priority = "urgent" if was_urgent or verdict.priority == "urgent" else "normal"
    sources = dict(intake.get("field_sources") or {})
    if readable:
        sources.update(new.where)
    reply_to = intake.get("reply_to") or decision.reply_to
    still_incomplete = verdict.status == "incomplete"
    keep_version(store, intake, fields, now=now, message_row=message_row,
                 status_after=verdict.status)
    store.update("intakes", intake_id, {
        **verdict_columns(verdict),
        "reply_to": reply_to,
        # Reminders are timed from the latest message: a new message starts them afresh.
        "reminders_sent": 0 if still_incomplete else intake.get("reminders_sent", 0),
        "fields": fields,
        "field_sources": sources,
        "recipients": recipients,
        "priority": priority,
        "urgent_because": sorted({*intake.get("urgent_because", []), *verdict.urgent_because}),
        "source": merged.source,
        "review_reason": merged.review_reason,
        "last_message_at": ctx.raw.received_at,
        "updated_at": now,
    })
    store.update("messages", message_row, {"intake_id": intake_id})
    store.audit("corrected", intake_id=intake_id, message_row=message_row, at=now,
                previous_status=intake.get("status"), status=verdict.status,
                missing=list(verdict.missing), invalid=list(verdict.invalid),
                cc_missing=list(verdict.cc_missing), fields_replaced=sorted(new.fields)
                if readable else [])
    updated = store.intake_by_id(intake_id) or {}
    followup = follow_up(store, updated, composer, now)
    queued = []
    if decision.reply_to:
        ack = composer.acknowledgement(updated, correction=True)
        queue(store, ack, kind="correction", intake_id=intake_id, now=now)
        queued.append("correction")
    newly_for_review = (verdict.status == "manual_review"
                        and intake.get("status") != "manual_review")
    if (priority == "urgent" and not was_urgent) or newly_for_review or followup.raised:
        queue(store, composer.alert(with_earlier(updated, followup)), kind="alert",
              intake_id=intake_id, now=now)
        queued.append("alert")
    queued += [f"alert {reference}" for reference in followup.others_alerted]
    return Recorded(ctx.raw.uid, "correction", intake["reference"], verdict.status,
                    merged.review_reason, tuple(queued))


def _proposal(ctx: Context, decision: Decision, composer: Composer, message_row: int,
              now: datetime) -> Recorded:
    """A readable correction of an intake in manual review: its answers wait for a person;
    the intake keeps its answers and status, and takes in the new message's addresses."""
    store, new = ctx.store, ctx.extraction
    intake = decision.intake or {}
    answers = {k: v for k, v in new.fields.items() if v.strip()}
    propose(store, intake, answers, dict(new.where), new.source, message_row=message_row,
            now=now)
    store.update("intakes", intake["id"], {
        "recipients": sorted({*intake.get("recipients", []), *ctx.email.to, *ctx.email.cc}),
        "last_message_at": ctx.raw.received_at, "updated_at": now,
    })
    store.update("messages", message_row, {"intake_id": intake["id"]})
    queued = []
    if decision.reply_to:
        updated = store.intake_by_id(intake["id"]) or {}
        queue(store, composer.acknowledgement(updated, correction=True), kind="correction",
              intake_id=intake["id"], now=now)
        queued.append("correction")
    return Recorded(ctx.raw.uid, "correction", intake["reference"], intake.get("status"),
                    "proposal waiting", tuple(queued))


def _attach(ctx: Context, decision: Decision, composer: Composer, message_row: int,
            now: datetime) -> Recorded:
    """A note from someone else in the thread, or a bounce of what we sent."""
    store = ctx.store
    intake = decision.intake or {}
    store.update("messages", message_row, {"intake_id": intake["id"]})
    if decision.outcome is Outcome.BOUNCE:
        store.update("intakes", intake["id"], {"bounced": 1, "updated_at": now})
    store.audit(decision.outcome, intake_id=intake["id"], message_row=message_row, at=now,
                reason=decision.reason)
    queued: tuple[str, ...] = ()
    if decision.forged:
        queue(store, composer.forged_correction_alert(intake), kind="alert",
              intake_id=intake["id"], now=now)
        queued = ("alert",)
    return Recorded(ctx.raw.uid, decision.outcome, intake["reference"], intake.get("status"),
                    decision.reason, queued)


def _received(intake: dict[str, Any]) -> datetime:
    return parse_iso(intake["received_at"])
