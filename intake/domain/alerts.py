"""Who the MASH is alerted about: the alert policy as data (rules/alerts.toml), and the one
pure function that applies it.

Each way an intake can need the MASH's eyes is a trigger; rules/alerts.toml says
what each trigger does: `alert` (queued at once), `hold` (manual review only: at
once, unless a burst of them holds it for one alert together, mail/bursts.py) or
`none` (refused for processing_failed: NEVER_NONE). The callers (store/record.py,
store/followup.py, jobs/reread.py,
jobs/retry.py, ops/accept.py, the pipeline's error path) give the facts of an
intake before and after, as values; `alerts_for` says which alerts to queue.
Loaded and checked with the other rules in rules.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType

from .records import Priority, Status


class Trigger(StrEnum):
    URGENT = "urgent"  # a new referral is urgent
    MANUAL_REVIEW = "manual_review"  # a new referral needs a person to read it
    REFERRED_BEFORE = "referred_before"  # an open intake is newly about someone referred lately
    NEWLY_URGENT = "newly_urgent"  # a correction, a reread or an accept made it urgent
    NEWLY_MANUAL_REVIEW = "newly_manual_review"  # a correction or a reread put it in review
    FORGED_CORRECTION = "forged_correction"  # a correction from the referrer failed DMARC
    PROCESSING_FAILED = "processing_failed"  # the service failed on a message (error path)


class AlertAction(StrEnum):
    ALERT = "alert"  # queue the alert at once
    HOLD = "hold"  # at once, unless a burst holds it back to go with the others, in one
    NONE = "none"  # no alert


# The triggers whose alerts a burst may hold: the burst's one alert lists review reasons
# (a failed message is in manual review too, review reason `error`).
HOLDABLE = frozenset({Trigger.MANUAL_REVIEW, Trigger.PROCESSING_FAILED})
# The triggers that may not be "none": a message nobody could read, told to nobody, is the
# referral lost that this service exists to prevent.
NEVER_NONE = frozenset({Trigger.PROCESSING_FAILED})

# What the shipped rules/alerts.toml says; a trigger a council's copy leaves out keeps this.
DEFAULT_ACTIONS: Mapping[Trigger, AlertAction] = MappingProxyType({
    Trigger.URGENT: AlertAction.ALERT,
    Trigger.MANUAL_REVIEW: AlertAction.HOLD,
    Trigger.REFERRED_BEFORE: AlertAction.ALERT,
    Trigger.NEWLY_URGENT: AlertAction.ALERT,
    Trigger.NEWLY_MANUAL_REVIEW: AlertAction.ALERT,
    Trigger.FORGED_CORRECTION: AlertAction.ALERT,
    Trigger.PROCESSING_FAILED: AlertAction.ALERT,
})


@dataclass(frozen=True)
class BurstRule:
    """More than `threshold` manual-review alerts within `minutes`: the next ones wait."""

    threshold: int = 5
    minutes: float = 10.0


@dataclass(frozen=True)
class AlertRules:
    actions: Mapping[Trigger, AlertAction] = field(default_factory=lambda: DEFAULT_ACTIONS)
    burst: BurstRule = BurstRule()

    def action(self, trigger: Trigger) -> AlertAction:
        return self.actions.get(trigger, DEFAULT_ACTIONS[trigger])


@dataclass(frozen=True)
class State:
    """What the alert policy reads of an intake."""

    status: Status | str
    priority: Priority | str = Priority.NORMAL


@dataclass(frozen=True)
class AlertFacts:
    after: State  # the intake as it is now recorded
    before: State | None = None  # as it was; None: a new referral (or a retried one)
    raised: bool = False  # newly found about someone referred lately (store/links.py)
    forged: bool = False  # a correction from the referrer's address that failed DMARC
    review_alerted: bool = False  # the MASH was already told it needs a person (a retry)
    failed: bool = False  # the service failed on the message: recorded for a person to read


@dataclass(frozen=True)
class Alerts:
    """The alerts to queue: about the intake (`alert`), and the forged-correction one."""

    alert: AlertAction = AlertAction.NONE
    forged: bool = False
    because: tuple[Trigger, ...] = ()  # the triggers that fired and are not `none`


def fired(facts: AlertFacts) -> tuple[Trigger, ...]:
    """The triggers the facts meet, whatever the rules make of them."""
    after, before = facts.after, facts.before
    found: list[Trigger] = []
    if facts.failed:  # what it says is not known: neither urgent nor a review reason
        if not facts.review_alerted:
            found.append(Trigger.PROCESSING_FAILED)
    elif before is None:
        if after.priority == Priority.URGENT:
            found.append(Trigger.URGENT)
        if after.status == Status.MANUAL_REVIEW and not facts.review_alerted:
            found.append(Trigger.MANUAL_REVIEW)
    else:
        if after.priority == Priority.URGENT and before.priority != Priority.URGENT:
            found.append(Trigger.NEWLY_URGENT)
        if after.status == Status.MANUAL_REVIEW and before.status != Status.MANUAL_REVIEW:
            found.append(Trigger.NEWLY_MANUAL_REVIEW)
    if facts.raised:
        found.append(Trigger.REFERRED_BEFORE)
    if facts.forged:
        found.append(Trigger.FORGED_CORRECTION)
    return tuple(found)


def alerts_for(facts: AlertFacts, rules: AlertRules) -> Alerts:
    """Which alerts the MASH gets: one `alert` trigger sends the intake's alert at once,
    even when another would hold it; `hold` alone lets a burst hold it; else none."""
    because = tuple(t for t in fired(facts) if rules.action(t) is not AlertAction.NONE)
    about_intake = {rules.action(t) for t in because if t is not Trigger.FORGED_CORRECTION}
    if AlertAction.ALERT in about_intake:
        alert = AlertAction.ALERT
    elif AlertAction.HOLD in about_intake:
        alert = AlertAction.HOLD
    else:
        alert = AlertAction.NONE
    return Alerts(alert, Trigger.FORGED_CORRECTION in because, because)
