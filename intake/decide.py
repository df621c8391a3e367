"""Decide what a message is, from the message and what the store already knows.

The answer is a Decision: a pure description (no writes) that record.py
turns into rows. The order of the questions is the table DECISION_STEPS.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .classify import (
    bounced_message_ids,
    is_own_mail,
    machine_mail_reason,
    references_in,
    reply_address,
    says_referral,
)
from .models import Extraction, ParsedEmail, RawMessage
from .rules import Rules
from .store import Store


@dataclass(frozen=True)
class Decision:
    """What to record for one message."""

    outcome: str  # intake | correction | note | bounce | ignored | duplicate
    reason: str | None = None  # why ignored / duplicate / why no auto-reply
    intake: dict[str, Any] | None = None  # the intake a correction, note or bounce belongs to
    reply_to: str | None = None  # where an auto-reply may go; None: never answer
    machine_reason: str | None = None


@dataclass(frozen=True)
class Context:
    raw: RawMessage
    email: ParsedEmail
    extraction: Extraction
    content_hash: str
    rules: Rules
    store: Store
    own_addresses: tuple[str, ...]
    timezone: str = "Europe/London"


Step = Callable[[Context], Decision | None]


def _duplicate(ctx: Context) -> Decision | None:
    first = ctx.store.first_delivery(ctx.email.message_id, ctx.content_hash)
    if first is None:
        return None
    return Decision("duplicate", reason=f"repeats message row {first['id']}")


def _own_mail(ctx: Context) -> Decision | None:
    if is_own_mail(ctx.email, ctx.own_addresses):
        return Decision("ignored", reason="own-mail")
    return None


def _bounce(ctx: Context) -> Decision | None:
    machine = machine_mail_reason(ctx.email, ctx.rules)
    if not machine or ctx.extraction.carries_form:
        return None
    originals = bounced_message_ids(ctx.email)
    intake = ctx.store.intake_for_message_ids(originals) if originals else None
    if intake is None:
        return None
    return Decision("bounce", reason=machine, intake=intake, machine_reason=machine)


def _thread(ctx: Context) -> Decision | None:
    """A reply in the thread of an intake: a correction from its referrer, else a note."""
    email = ctx.email
    intake = None
    for reference in references_in(email.subject):
        intake = ctx.store.intake(reference)
        if intake:
            break
    if intake is None:
        intake = ctx.store.intake_for_message_ids((*email.in_reply_to, *email.references))
    if intake is None:
        return None
    machine = machine_mail_reason(email, ctx.rules)
    if machine and not ctx.extraction.carries_form:
        return Decision("note", reason=machine, intake=intake, machine_reason=machine)
    referrer = {intake.get("sender"), intake.get("reply_to"),
                (intake.get("fields") or {}).get("referrer_email", "").strip().lower()}
    if email.sender and email.sender in referrer - {None, ""}:
        if _about_someone_else(ctx.extraction, intake):
            return None  # a new referral from the same referrer
        return Decision(
            "correction",
            intake=intake,
            reply_to=None if machine else reply_address(email, ctx.own_addresses),
            machine_reason=machine,
        )
    return Decision("note", reason="reply from someone else in the thread", intake=intake)


def _about_someone_else(extraction: Extraction, intake: dict[str, Any]) -> bool:
    """A form naming a different individual (surname and date of birth) is a new referral."""
    old = intake.get("fields") or {}
    new = extraction.fields
    keys = ("subject_surname", "subject_dob")
    if not all(new.get(k, "").strip() and old.get(k, "").strip() for k in keys):
        return False
    return any(new[k].strip().casefold() != old[k].strip().casefold() for k in keys)


def _referral(ctx: Context) -> Decision | None:
    email = ctx.email
    machine = machine_mail_reason(email, ctx.rules)
    has_form = ctx.extraction.carries_form or ctx.raw.too_large
    if has_form:
        # A form is a referral whatever its headers say; machine mail is only never answered.
        return Decision(
            "intake",
            reply_to=None if machine else reply_address(email, ctx.own_addresses),
            machine_reason=machine,
            reason=machine,
        )
    if machine:
        return Decision("ignored", reason=machine, machine_reason=machine)
    if says_referral(email, ctx.rules):
        return Decision("intake", reply_to=reply_address(email, ctx.own_addresses))
    return None


def _not_a_referral(ctx: Context) -> Decision:
    return Decision("ignored", reason="not-referral")


DECISION_STEPS: tuple[Step, ...] = (_duplicate, _own_mail, _bounce, _thread, _referral)


def decide(ctx: Context) -> Decision:
    for step in DECISION_STEPS:
        decision = step(ctx)
        if decision is not None:
            return decision
    return _not_a_referral(ctx)
