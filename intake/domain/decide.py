"""Decide what a message is, from the message and what the store already knows.

The answer is a Decision: a pure description (no writes) that record.py
turns into rows. The order of the questions is the table DECISION_STEPS.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..store.database import Store
from .check import parse_date
from .classify import (
    behind_secure_link,
    bounced_message_ids,
    is_own_mail,
    machine_mail_reason,
    references_in,
    reply_address,
    says_referral,
)
from .models import Extraction, ParsedEmail, RawMessage
from .records import Outcome
from .rules import Rules
from .sender_auth import FAIL


@dataclass(frozen=True)
class Decision:
    """What to record for one message."""

    outcome: Outcome  # intake | correction | note | bounce | ignored | duplicate
    reason: str | None = None  # why ignored / duplicate / why no auto-reply
    intake: dict[str, Any] | None = None  # the intake a correction, note or bounce belongs to
    reply_to: str | None = None  # where an auto-reply may go; None: never answer
    machine_reason: str | None = None
    review_reason: str | None = None  # no form read, yet a person must look (intake)
    forged: bool = False  # a correction from the referrer's address that failed DMARC

    def __post_init__(self) -> None:
        object.__setattr__(self, "outcome", Outcome(self.outcome))  # unknown: ValueError


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
    sender_auth: str = "none"  # pass | fail | none (sender_auth.py)
    position_uid: int | None = None  # where the folder position may move; None: raw.uid


def folder_position(ctx: Context) -> int:
    """The UID the folder's recorded position moves to with this message (0: stays)."""
    return ctx.raw.uid if ctx.position_uid is None else ctx.position_uid


Step = Callable[[Context], Decision | None]


def _duplicate(ctx: Context) -> Decision | None:
    first = ctx.store.first_delivery(ctx.email.message_id, ctx.content_hash)
    if first is None:
        return None
    if first["content_hash"] != ctx.content_hash and ctx.extraction.carries_form:
        return None  # a reused Message-ID on a different form: never discard a referral
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
    marks = ",".join("?" * len(originals))
    kinds = {row[0] for row in ctx.store.query(
        f"SELECT kind FROM outbox WHERE message_id IN ({marks})", originals)}
    if kinds & {"alert", "digest"}:
        # Our alert to the MASH came back: the referrer is fine, the MASH must be told.
        return Decision("note", reason="alert-bounced", intake=intake, machine_reason=machine)
    return Decision("bounce", reason=machine, intake=intake, machine_reason=machine)


def _thread(ctx: Context) -> Decision | None:
    """A reply in the thread of an intake: a correction from its referrer, else a note.

    A form about another individual, or any form once the intake is closed or
    purged, is a new referral: nothing is merged into a record a person has
    finished with, or into someone else's.
    """
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
    has_form = ctx.extraction.carries_form
    finished = bool(intake.get("closed_at") or intake.get("purged_at"))
    if has_form and (finished or _about_someone_else(ctx.extraction, intake)):
        return None
    machine = machine_mail_reason(email, ctx.rules)
    if finished or (machine and not has_form):
        return Decision("note", reason=machine or "intake closed", intake=intake,
                        machine_reason=machine)
    if email.sender and email.sender in may_correct(intake):
        if ctx.sender_auth == FAIL:
            # Mail under the referrer's address the receiving server says is not theirs:
            # it changes nothing, and the MASH is told.
            return Decision("note", reason="unauthenticated-correction", intake=intake,
                            forged=True)
        return Decision(
            "correction",
            intake=intake,
            reply_to=None if machine else reply_address(email, ctx.own_addresses),
            machine_reason=machine,
        )
    return Decision("note", reason="reply from someone else in the thread", intake=intake)


def may_correct(intake: dict[str, Any]) -> set[str]:
    """Who may correct an intake: its sender, or the referrer's email on the form as first
    received. Never an address a correction wrote: no correction widens the list."""
    first = intake.get("first_referrer_email")
    if first is None and "first_referrer_email" not in intake:
        first = (intake.get("fields") or {}).get("referrer_email", "")
    allowed = {intake.get("sender"), (first or "").strip().lower()}
    return {address for address in allowed if address}


def _about_someone_else(extraction: Extraction, intake: dict[str, Any]) -> bool:
    """A form naming a different individual: another surname, or another real date of
    birth (a date that was invalid and is now put right is a correction)."""
    old = intake.get("fields") or {}
    new = extraction.fields
    before, after = _name(old.get("subject_surname", "")), _name(new.get("subject_surname", ""))
    if before and after and before != after:
        return True
    born_before = parse_date(old.get("subject_dob", ""))
    born_after = parse_date(new.get("subject_dob", ""))
    return bool(born_before and born_after and born_before != born_after)


def _name(value: str) -> str:
    """A comparable name: case, Unicode forms, curly apostrophes, hyphens and spaces."""
    text = unicodedata.normalize("NFKC", value).casefold().replace("\u2019", "'")
    return " ".join(text.replace("-", " ").split())


def _referral(ctx: Context) -> Decision | None:
    email = ctx.email
    machine = machine_mail_reason(email, ctx.rules)
    if ctx.extraction.carries_form:
        # A form is a referral whatever its headers say; machine mail is only never answered.
        return Decision(
            "intake",
            reply_to=None if machine else reply_address(email, ctx.own_addresses),
            machine_reason=machine,
            reason=machine,
        )
    if machine:
        return Decision("ignored", reason=machine, machine_reason=machine)
    if behind_secure_link(email, ctx.rules):
        # Whatever the subject says, a referral may wait behind the link: a person looks.
        return Decision("intake", reply_to=reply_address(email, ctx.own_addresses),
                        review_reason="encrypted-email")
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
