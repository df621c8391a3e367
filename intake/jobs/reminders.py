"""Remind referrers whose referral is still incomplete.

Only `incomplete` intakes with an address to answer, not closed, whose
referrer's address has not bounced and whose mail did not fail DMARC (the
address may be someone else's), up to `[reminders] max`. The first is due
`first_after_hours` after the intake's latest message, each next one
`every_hours` after the one before (and never sooner than `first_after_hours`
after a later message). Each reminder is queued, counted and audited in one
transaction.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from ..config.settings_types import Settings
from ..domain.records import Intake, Kind, Status
from ..mail.compose import Composer
from ..mail.outbox import queue
from ..store.database import Store
from ..store.rows import update_intake

log = logging.getLogger("intake.reminders")

_CANDIDATES = (
    "SELECT id FROM intakes WHERE status = ? AND closed_at IS NULL "
    "AND purged_at IS NULL AND bounced = 0 AND reply_to IS NOT NULL AND reply_to != '' "
    "AND COALESCE(sender_auth, 'none') != 'fail' "
    "AND reminders_sent < ? ORDER BY id"
)


def reminder_due_at(intake: Intake, settings: Settings) -> datetime:
    """When the intake's next reminder is due (whether or not it may still have one)."""
    rules = settings.reminders
    due = intake.last_message_at + timedelta(hours=rules.first_after_hours)
    if intake.reminders_sent and intake.last_reminder_at:
        due = max(due, intake.last_reminder_at + timedelta(hours=rules.every_hours))
    return due


def wants_reminder(intake: Intake, settings: Settings, now: datetime) -> bool:
    return (
        intake.status == Status.INCOMPLETE
        and intake.closed_at is None
        and intake.purged_at is None
        and not intake.bounced
        and intake.sender_auth != "fail"  # never chase an address that may not be theirs
        and bool(intake.reply_to)
        and intake.reminders_sent < settings.reminders.max
        and reminder_due_at(intake, settings) <= now
    )


def queue_due_reminders(store: Store, composer: Composer, settings: Settings,
                        now: datetime) -> list[str]:
    """Queue every reminder due by `now`; return the references reminded."""
    if settings.reminders.max <= 0:
        return []
    reminded = []
    for (intake_id,) in store.query(_CANDIDATES, (Status.INCOMPLETE, settings.reminders.max)):
        with store.transaction():
            intake = store.intake_by_id(intake_id)  # as it stands inside the transaction
            if intake is None:
                continue
            if not wants_reminder(intake, settings, now):
                continue
            number = intake.reminders_sent + 1
            try:
                message = composer.reminder(intake, number)
            except ValueError as err:  # no usable reply address: nothing to send, skip it
                log.warning("%s no reminder: %s", intake.reference, err)
                continue
            outbox_id = queue(store, message, kind=Kind.REMINDER, intake_id=intake_id, now=now)
            update_intake(store, intake, {"reminders_sent": number, "last_reminder_at": now,
                                          "updated_at": now})
            store.audit("reminded", intake_id=intake_id, at=now, number=number,
                        outbox_id=outbox_id)
        reminded.append(intake.reference)
        log.debug("%s reminder %d queued", intake.reference, number)
    return reminded
