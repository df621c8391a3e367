"""Decide what a message is, from the message, its answers, the check's result and what
the store already knew.

Pure: no store, no clock. The pipeline looks up what the store knows about the
message once (lookup.py: `Known`) and checks it first (check_stage.py:
`Checked`); decide asks the questions of the table DECISION_STEPS, each a rule
that answers or passes, and returns a Decision that record.py turns into rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .check_stage import Checked
from .classify import (
    is_own_mail,
    machine_mail_reason,
    reply_address,
    says_referral,
)
from .models import Extraction, ParsedEmail, RawMessage
from .records import Intake, Kind, Outcome
from .rules import Rules
from .sender_auth import FAIL


@dataclass(frozen=True)
class Delivery:
    """A message row recorded before: what a second delivery of it repeats."""

    row_id: int
    message_id: str | None
    content_hash: str


@dataclass(frozen=True)
class Known:
    """What the store knew about one message when it was decided (lookup.py)."""

    first_delivery: Delivery | None = None  # the row this message repeats
    thread_intake: Intake | None = None  # named by the subject or In-Reply-To
    bounced_intake: Intake | None = None  # whose message a bounce returns
    bounced_kinds: frozenset[Kind] = frozenset()  # the kinds of ours it returns


@dataclass(frozen=True)
class Decision:
    """What to record for one message."""

    outcome: Outcome  # intake | correction | note | bounce | ignored | duplicate
    reason: str | None = None  # why ignored / duplicate / why no auto-reply
    intake: Intake | None = None  # the intake a correction, note or bounce belongs to
    reply_to: str | None = None  # where an auto-reply may go; None: never answer
    machine_reason: str | None = None
    forged: bool = False  # a correction from the referrer's address that failed DMARC

    def __post_init__(self) -> None:
        object.__setattr__(self, "outcome", Outcome(self.outcome))  # unknown: ValueError


@dataclass(frozen=True)
class Context:
    """Everything decide reads about one message: values only, no store."""

    raw: RawMessage
    email: ParsedEmail
    extraction: Extraction
    content_hash: str
    rules: Rules
    own_addresses: tuple[str, ...]
    known: Known
    checked: Checked
    sender_auth: str = "none"  # pass | fail | none (sender_auth.py)
    position_uid: int | None = None  # where the folder position may move; None: raw.uid


def folder_position(ctx: Context) -> int:
    """The UID the folder's recorded position moves to with this message (0: stays)."""
    return ctx.raw.uid if ctx.position_uid is None else ctx.position_uid


Step = Callable[[Context], Decision | None]


def _duplicate(ctx: Context) -> Decision | None:
    first = ctx.known.first_delivery
    if first is None:
        return None
    if first.content_hash != ctx.content_hash and ctx.extraction.carries_form:
        return None  # a reused Message-ID on a different form: never discard a referral
    return Decision(Outcome.DUPLICATE, reason=f"repeats message row {first.row_id}")


def _own_mail(ctx: Context) -> Decision | None:
    if is_own_mail(ctx.email, ctx.own_addresses):
        return Decision(Outcome.IGNORED, reason="own-mail")
    return None


def _bounce(ctx: Context) -> Decision | None:
    machine = machine_mail_reason(ctx.email, ctx.rules)
    if not machine or ctx.extraction.carries_form:
        return None
    intake = ctx.known.bounced_intake
    if intake is None:
        return None
    if ctx.known.bounced_kinds & {Kind.ALERT, Kind.DIGEST}:
        # Our alert to the MASH came back: the referrer is fine, the MASH must be told.
        return Decision(Outcome.NOTE, reason="alert-bounced", intake=intake,
                        machine_reason=machine)
    return Decision(Outcome.BOUNCE, reason=machine, intake=intake, machine_reason=machine)


def _thread(ctx: Context) -> Decision | None:
    """A reply in the thread of an intake: a correction from its referrer, else a note.

    A form about another individual, or any form once the intake is closed or
    purged, is a new referral: nothing is merged into a record a person has
    finished with, or into someone else's.
    """
    email, intake = ctx.email, ctx.known.thread_intake
    if intake is None:
        return None
    has_form = ctx.extraction.carries_form
    finished = bool(intake.closed_at or intake.purged_at)
    if has_form and (finished or ctx.checked.someone_else):
        return None
    machine = machine_mail_reason(email, ctx.rules)
    if finished or (machine and not has_form):
        return Decision(Outcome.NOTE, reason=machine or "intake closed", intake=intake,
                        machine_reason=machine)
    if email.sender and email.sender in may_correct(intake):
        if ctx.sender_auth == FAIL:
            # Mail under the referrer's address the receiving server says is not theirs:
            # it changes nothing, and the MASH is told.
            return Decision(Outcome.NOTE, reason="unauthenticated-correction", intake=intake,
                            forged=True)
        return Decision(
            Outcome.CORRECTION,
            intake=intake,
            reply_to=None if machine else reply_address(email, ctx.own_addresses),
            machine_reason=machine,
        )
    return Decision(Outcome.NOTE, reason="reply from someone else in the thread",
                    intake=intake)


def may_correct(intake: Intake) -> set[str]:
    """Who may correct an intake: its sender, or the referrer's email on the form as first
    received. Never an address a correction wrote: no correction widens the list."""
    allowed = {intake.sender, (intake.first_referrer_email or "").strip().lower()}
    return {address for address in allowed if address}


def _referral(ctx: Context) -> Decision | None:
    email = ctx.email
    machine = machine_mail_reason(email, ctx.rules)
    if ctx.extraction.carries_form:
        # A form is a referral whatever its headers say; machine mail is only never answered.
        return Decision(
            Outcome.INTAKE,
            reply_to=None if machine else reply_address(email, ctx.own_addresses),
            machine_reason=machine,
            reason=machine,
        )
    if machine:
        return Decision(Outcome.IGNORED, reason=machine, machine_reason=machine)
    if ctx.extraction.review_reason:
        # No form, yet a person must look (the pipeline found the body behind a secure
        # link): whatever the subject says, a referral may wait there.
        return Decision(Outcome.INTAKE, reply_to=reply_address(email, ctx.own_addresses))
    if says_referral(email, ctx.rules):
        return Decision(Outcome.INTAKE, reply_to=reply_address(email, ctx.own_addresses))
    return None


def _not_a_referral(ctx: Context) -> Decision:
    return Decision(Outcome.IGNORED, reason="not-referral")


DECISION_STEPS: tuple[Step, ...] = (_duplicate, _own_mail, _bounce, _thread, _referral)


def decide(ctx: Context) -> Decision:
    for step in DECISION_STEPS:
        decision = step(ctx)
        if decision is not None:
            return decision
    return _not_a_referral(ctx)
