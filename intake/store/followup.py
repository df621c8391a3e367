"""What record.py does after writing an intake, in the same transaction: link it to the
other intakes about the same individual (intake/store/links.py) and set its screening
deadline (intake/store/screening_clock.py). Also the purge's and the close's share.

Links reach the MASH only (triage, show, export, alerts, digest counts): the
replies to referrers are built from a short list of safe keys (compose.py)
that never includes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..domain.alerts import AlertAction, AlertFacts, AlertRules, Alerts, State, alerts_for
from ..domain.matching import load_match_rules
from ..domain.records import Intake, Kind
from ..mail.bursts import BurstRule, hold_review_alert
from ..mail.compose import Composer
from ..mail.outbox import queue
from . import links, screening_clock
from .database import Store


@dataclass(frozen=True)
class Followup:
    raised: bool  # this intake is newly raised: a new referral about someone referred lately
    earlier_referrals: tuple[str, ...]  # the earlier linked intakes: "PRV-... (same individual)"
    others_alerted: tuple[str, ...] = ()  # later intakes this one raised (their references)


def follow_up(store: Store, intake: Intake, composer: Composer,
              now: datetime, *, alerts: AlertRules) -> Followup:
    """Call inside the recording transaction, after the intake row is written.

    Alerts the MASH about any *other* intake this one newly raises (a correction of an
    earlier referral that now matches a later one), as `alerts` say; the caller alerts
    about this one."""
    settings = composer.settings
    rules = load_match_rules(settings.rules_dir)
    changes = links.relink(store, intake.id, rules, now)
    screening_clock.set_deadline(store, intake, settings, now)
    earlier = tuple(links.earlier_for_alert(store, intake.id))
    others = [queue_raised_alert(store, composer, other_id, now, alerts)
              for other_id in sorted(changes.newly_raised - {intake.id})]
    return Followup(intake.id in changes.newly_raised, earlier,
                    tuple(ref for ref in others if ref))


def state(intake: Intake) -> State:
    """What the alert policy reads of a stored intake."""
    return State(intake.status, intake.priority)


def queue_alert(store: Store, composer: Composer, planned: Alerts, intake: Intake,
                now: datetime, burst_rule: BurstRule | None = None, *,
                earlier: tuple[str, ...] = ()) -> list[str]:
    """Queue the intake's alert as `alerts_for` planned it, naming the `earlier` linked
    referrals (Followup.earlier_referrals); what was queued ("alert", or
    "alert-batched": held to go with the others of a burst, in one). A `hold` goes at
    once without a burst rule."""
    if planned.alert is AlertAction.NONE:
        return []
    if (planned.alert is AlertAction.HOLD and burst_rule is not None
            and hold_review_alert(store, burst_rule, intake.id, now)):
        return ["alert-batched"]
    queue(store, composer.alert(intake, earlier_referrals=earlier), kind=Kind.ALERT,
          intake_id=intake.id, now=now)
    return ["alert"]


def queue_raised_alert(store: Store, composer: Composer, intake_id: int,
                       now: datetime, alerts: AlertRules) -> str | None:
    """Alert the MASH that an open intake is about someone referred before, when the rules
    say so; its reference."""
    intake = store.intake_by_id(intake_id)
    if intake is None or intake.closed_at:
        return None
    planned = alerts_for(AlertFacts(state(intake), before=state(intake), raised=True), alerts)
    if planned.alert is AlertAction.NONE:
        return None
    earlier = tuple(links.earlier_for_alert(store, intake_id))
    queue_alert(store, composer, planned, intake, now, earlier=earlier)
    return intake.reference


def on_close(store: Store, intake_id: int, now: datetime) -> None:
    """Inside the close's transaction: closing stops the screening clock."""
    screening_clock.stop(store, intake_id, now, stopped_by="closed")


def on_purge(store: Store, intake_id: int) -> None:
    """Inside the purge's transaction: links keep only the two intakes; the triage
    outcome (free text a person wrote) is erased with the form answers."""
    links.forget(store, intake_id)
    store.conn.execute("UPDATE screening SET outcome = NULL WHERE intake_id = ?", (intake_id,))
