"""`intake reread`: read stored intakes again with today's readers and rules.

For each open intake chosen (by reference, or by status and day of receipt),
every stored message of it that was read for a form (the referral, then its
corrections, in order) is parsed and read again in the isolated parser pool,
the answers merged as they were then (a later readable form's answers replace
earlier ones), and the referral checked again. When the answers or the verdict
changed, the intake is updated and the change audited ("reread", field names
only, never values) in one transaction; when the verdict changed, the referrer
gets one updated acknowledgement through the outbox (the usual rules: to the one
reply address, under the hourly cap, never to machine mail), and the MASH an
alert when the intake newly needs a person or became urgent. `--dry-run` prints
what would change and writes nothing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from datetime import date, datetime
from typing import TextIO
from zoneinfo import ZoneInfo

from ..config.settings_types import Settings
from ..domain.alerts import AlertFacts, State, alerts_for
from ..domain.check import check
from ..domain.clock import day_bounds, iso, parse_iso
from ..domain.models import Extraction, ParsedEmail, RawMessage
from ..domain.records import Intake, Kind, Outcome, ReviewReason, Status
from ..domain.rules import Rules
from ..extract import ParserPool
from ..mail.compose import Composer
from ..mail.outbox import queue
from ..mail.parse import parse
from ..runtime.pipeline import cut_short, damaged_referral
from ..store.database import Store
from ..store.followup import queue_alert, state
from ..store.record import stays_urgent
from ..store.rows import update_intake

SHOWN_FIELDS = 4  # field names listed on a line; the rest counted


@dataclass(frozen=True)
class Reread:
    """The outcome for one intake: one line of output, no personal data."""

    reference: str
    before: str
    after: str
    fields_changed: tuple[str, ...] = ()
    queued: tuple[str, ...] = ()
    skipped: str | None = None

    def line(self, dry_run: bool) -> str:
        if self.skipped:
            return f"{self.reference} skipped: {self.skipped}"
        if self.before == self.after and not self.fields_changed:
            return f"{self.reference} unchanged: {self.after}"
        would = "would change" if dry_run else "changed"
        text = f"{self.reference} {would}: {self.before} -> {self.after}"
        if self.fields_changed:
            names = ", ".join(self.fields_changed[:SHOWN_FIELDS])
            more = len(self.fields_changed) - SHOWN_FIELDS
            text += f"; answers changed: {names}{f' and {more} more' if more > 0 else ''}"
        if self.queued:
            text += f"; queued {','.join(self.queued)}"
        return text


def choose_intakes(store: Store, settings: Settings, references: list[str],
                   status: Status | None, since: date | None) -> list[Intake | str]:
    """The intakes named (a reference no intake has stays as it was given), or those
    with `status` received on or after `since`."""
    if references:
        return [store.intake(reference.upper()) or reference.upper()
                for reference in references]
    where, params = ["closed_at IS NULL", "purged_at IS NULL", "status = ?"], [Status(status)]
    if since is not None:
        where.append("received_at >= ?")
        params.append(iso(day_bounds(since, settings.digest.timezone)[0]))
    return list(store.intakes(" AND ".join(where), params))


def reread_intakes(store: Store, settings: Settings, rules: Rules, pool: ParserPool,
                   composer: Composer, intakes: list[Intake | str], *, dry_run: bool,
                   now: datetime) -> list[Reread]:
    return [_reread_one(store, settings, rules, pool, composer, intake, dry_run, now)
            if isinstance(intake, Intake) else Reread(intake, "", "", skipped="no such intake")
            for intake in intakes]


def _describe(intake: Intake) -> str:
    if intake.status is Status.MANUAL_REVIEW and intake.review_reason:
        return f"manual_review ({intake.review_reason})"
    if intake.status is Status.INCOMPLETE:
        missing = [*intake.missing, *(f"{k} (invalid)" for k in intake.invalid)]
        return f"incomplete ({', '.join(missing) or 'recipients'})"
    return str(intake.status)


def _reread_one(store: Store, settings: Settings, rules: Rules, pool: ParserPool,
                composer: Composer, intake: Intake, dry_run: bool,
                now: datetime) -> Reread:
    reference = intake.reference
    if intake.closed_at or intake.purged_at:
        return Reread(reference, "", "", skipped="closed")
    messages = store.query(
        "SELECT id, raw, received_at FROM messages WHERE intake_id = ? "
        "AND outcome IN (?, ?) ORDER BY id", (intake.id, Outcome.INTAKE, Outcome.CORRECTION))
    if not messages or any(row["raw"] is None for row in messages):
        return Reread(reference, _describe(intake), _describe(intake),
                      skipped="the stored message is no longer kept")
    fields: dict[str, str] = {}
    where: dict[str, str] = {}
    merged = Extraction(source="none")
    first_email: ParsedEmail | None = None
    for row in messages:
        raw = RawMessage("", 0, 0, parse_iso(row["received_at"]), bytes(row["raw"]),
                         len(row["raw"]))
        email = parse(raw.data, max_attachment_bytes=settings.mailbox.max_attachment_bytes)
        first_email = first_email or email
        new = _extraction(pool, email, raw, rules)
        if new.carries_form and new.review_reason is None:
            fields.update({k: v for k, v in new.fields.items() if v.strip()})
            where.update(new.where)
        if new.carries_form or row["id"] == messages[0]["id"]:
            merged = Extraction(source=new.source, review_reason=new.review_reason,
                                carries_form=new.carries_form or merged.carries_form,
                                filename=new.filename)
    if not merged.carries_form and intake.review_reason:
        # Why a person must look came from the message, not a form (cut to its header,
        # behind a secure link, a processing error): no reader can change that.
        merged = Extraction(source=intake.source, review_reason=intake.review_reason,
                            carries_form=True)
    assert first_email is not None
    received = intake.received_at.astimezone(ZoneInfo(settings.digest.timezone))
    verdict = check(fields, Extraction(merged.source, fields, where, merged.review_reason,
                                       merged.filename, merged.carries_form),
                    first_email, received, rules, mailbox_address=settings.mailbox.address,
                    extra_recipients=list(intake.recipients))
    old_fields = intake.fields
    changed = tuple(sorted(k for k in fields.keys() | old_fields.keys()
                           if fields.get(k) != old_fields.get(k)))
    columns = {"status": verdict.status, "missing": list(verdict.missing),
               "invalid": list(verdict.invalid), "cc_missing": list(verdict.cc_missing)}
    verdict_changed = ((verdict.status, verdict.missing, verdict.invalid, verdict.cc_missing)
                       != (intake.status, intake.missing, intake.invalid, intake.cc_missing))
    review_reason = ReviewReason(merged.review_reason) if merged.review_reason else None
    after = replace(intake, status=verdict.status, missing=verdict.missing,
                    invalid=verdict.invalid, cc_missing=verdict.cc_missing,
                    review_reason=review_reason)
    result = Reread(reference, _describe(intake), _describe(after), changed)
    if dry_run or (not changed and not verdict_changed
                   and review_reason == intake.review_reason):
        return result
    priority = stays_urgent(intake, verdict)
    queued: list[str] = []
    with store.transaction():
        updated = update_intake(store, intake, {
            **columns,
            "findings": [asdict(f) for f in verdict.findings],
            "age_band": verdict.age_band,
            "fields": fields,
            "field_sources": where,
            "priority": priority,
            "urgent_because": sorted({*intake.urgent_because, *verdict.urgent_because}),
            "source": merged.source,
            "review_reason": merged.review_reason,
            "updated_at": now,
        })
        store.audit("reread", intake_id=intake.id, at=now,
                    previous_status=intake.status, status=verdict.status,
                    previous_review_reason=intake.review_reason,
                    review_reason=merged.review_reason, source=merged.source,
                    missing=list(verdict.missing), invalid=list(verdict.invalid),
                    fields_changed=list(changed))
        if verdict_changed and intake.reply_to:
            queue(store, composer.acknowledgement(updated, correction=True),
                  kind=Kind.CORRECTION, intake_id=intake.id, now=now)
            queued.append("ack")
        elif verdict_changed:
            store.audit("not-answered", intake_id=intake.id, at=now,
                        reason=intake.machine_reason or "no-reply-address")
        planned = alerts_for(AlertFacts(State(verdict.status, priority), before=state(intake)),
                             rules.alerts)
        queued += queue_alert(store, composer, planned, updated, now)
    return Reread(reference, result.before, result.after, changed, tuple(queued))


def _extraction(pool: ParserPool, email: ParsedEmail, raw: RawMessage, rules: Rules) -> Extraction:
    """What the pipeline reads of a message today (the same damaged-message rules)."""
    extraction = pool.extract(email.attachments)
    if not extraction.carries_form and (cut_short(email) or damaged_referral(email, raw, rules)):
        return Extraction(source="none", review_reason=ReviewReason.DAMAGED, carries_form=True)
    return extraction


def reread_command(store: Store, settings: Settings, *, references: list[str],
                   status: str | None, since: date | None, dry_run: bool, now: datetime,
                   out: TextIO) -> int:
    """The CLI command: one line an intake on `out`. 0 done, 2 when a reference is unknown."""
    from ..domain.rules import load_rules

    rules = load_rules(settings.rules_dir)
    composer = Composer(settings, settings.templates_dir)
    intakes = choose_intakes(store, settings, references, status, since)
    with ParserPool(rules=rules, workers=1, timeout=settings.parse_timeout_seconds,
                    memory_mb=settings.parse_memory_mb) as pool:
        results = reread_intakes(store, settings, rules, pool, composer, intakes,
                                 dry_run=dry_run, now=now)
    for result in results:
        print(result.line(dry_run), file=out)
    changed = sum(1 for r in results if not r.skipped and (r.before != r.after or r.fields_changed))
    word = "would change" if dry_run else "changed"
    print(f"{len(results)} intake{'s' if len(results) != 1 else ''} reread, {changed} {word}",
          file=out)
    return 2 if any(r.skipped == "no such intake" for r in results) else 0
