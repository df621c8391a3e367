"""`intake accept REFERENCE --by NAME`: a person accepts the answers a correction proposed.

Corrections of an intake in manual review wait as proposals (answers.py).
Accepting applies every waiting proposal in order (their non-empty answers
replace the intake's, the answers before are kept as a version), checks the
intake again as a new referral with those answers would be checked, and
audits who accepted. An urgent intake stays urgent.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from ..config.settings_types import Settings
from ..domain.alerts import AlertFacts, alerts_for
from ..domain.check import check
from ..domain.models import Extraction, ParsedEmail
from ..domain.records import Status
from ..domain.rules import load_rules
from ..mail.compose import Composer
from ..store.answers import ACCEPTED, keep_version, waiting_proposals
from ..store.database import Store
from ..store.followup import queue_alert, state
from ..store.record import stays_urgent, verdict_columns
from ..store.rows import update_intake


class NothingToAccept(Exception):
    """No such intake, or no proposal waiting on it."""


def accept(store: Store, settings: Settings, reference: str, by: str,
           now: datetime) -> tuple[str, Status, list[str]]:
    """Apply the waiting proposals; (reference, new status, keys changed)."""
    rules = load_rules(settings.rules_dir)
    composer = Composer(settings, settings.templates_dir)
    with store.transaction():
        intake = store.intake(reference.strip())
        if intake is None or intake.closed_at or intake.purged_at:
            raise NothingToAccept(f"no open intake {reference}")
        proposals = waiting_proposals(store, intake.id)
        if not proposals:
            raise NothingToAccept(f"{intake.reference}: no proposed answers are waiting")
        fields = dict(intake.fields)
        sources = dict(intake.field_sources)
        for proposal in proposals:
            fields.update(proposal.fields)
            sources.update(proposal.sources)
        extraction = Extraction(source=proposals[-1].source, fields=fields, where=sources,
                                carries_form=True)
        received = intake.received_at.astimezone(ZoneInfo(settings.digest.timezone))
        verdict = check(fields, extraction, _no_email(), received, rules,
                        mailbox_address=settings.mailbox.address,
                        extra_recipients=list(intake.recipients))
        keys = keep_version(store, intake, fields, now=now, accepted_by=by,
                            status_after=verdict.status)
        updated = update_intake(store, intake, {
            **verdict_columns(verdict),
            "fields": fields, "field_sources": sources, "source": extraction.source,
            "review_reason": None,
            "priority": stays_urgent(intake, verdict),
            "urgent_because": sorted({*intake.urgent_because, *verdict.urgent_because}),
            "reminders_sent": 0 if verdict.status is Status.INCOMPLETE else
            intake.reminders_sent,
            "updated_at": now,
        })
        for proposal in proposals:
            store.update("proposals", proposal.id, {"status": ACCEPTED, "decided_at": now,
                                                    "decided_by": by})
        store.audit("accepted", intake_id=intake.id, at=now, by=by,
                    proposals=[p.id for p in proposals], fields_replaced=keys,
                    previous_status=intake.status, status=verdict.status)
        planned = alerts_for(AlertFacts(state(updated), before=state(intake)), rules.alerts)
        queue_alert(store, composer, planned, updated, now)
    return intake.reference, verdict.status, keys


def _no_email() -> ParsedEmail:
    """The check reads To/Cc, subject and body from a message; an accept has none
    (the intake's recipients so far are passed as extra recipients)."""
    return ParsedEmail(message_id=None, subject="", sender=None, reply_to=(), return_path=None,
                       to=(), cc=(), in_reply_to=(), references=(), headers=(),
                       content_type="text/plain", body_text="", attachments=())
