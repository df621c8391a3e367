"""Before anything starts: every rules file parses and every template renders.

A template that is missing or broken would make every referral a manual
review with no acknowledgement and no MASH alert. So the worker refuses to
start (exit 2) and check-config says so, one line a problem, before a
single message is taken. Templates are rendered with invented sample data.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import jinja2

from ..domain.errors import SettingsError
from ..domain.records import Intake, Kind, Priority, ReviewReason, Status
from ..domain.rules import Rules, load_rules
from ..mail.compose import Composer
from .paths import project_dir
from .settings_types import Settings

SAMPLE_AT = datetime(2026, 1, 5, 10, 30, tzinfo=UTC)


def load_rules_and_templates(settings: Settings) -> Rules:
    """The rules, once both they and every template are known to work; else SettingsError."""
    rules = load_rules(settings.rules_dir)
    issue17_rules(settings)
    problems = template_problems(settings)
    if problems:
        raise SettingsError(problems)
    return rules


def issue17_rules(settings: Settings) -> None:
    """rules/matching.toml and rules/screening.toml; SettingsError listing each problem."""
    from ..domain.matching import load_match_rules
    from ..store.screening_clock import calendar_for

    load_match_rules(settings.rules_dir)
    calendar_for(settings)


def template_problems(settings: Settings) -> list[str]:
    """One line for each template that cannot be found or rendered with sample data."""
    composer = Composer(settings, settings.templates_dir)
    folder = composer.templates_dir
    problems: list[str] = []
    for what, build in _samples(composer):
        try:
            build()
        except jinja2.TemplateNotFound as err:
            line = f"[rules] templates: {err.name} not found in {folder}"
            if line not in problems:
                problems.append(line)
        except jinja2.TemplateSyntaxError as err:
            line = f"[rules] templates: {Path(err.filename or err.name or '?').name} line " \
                   f"{err.lineno}: {err.message}"
            if line not in problems:
                problems.append(line)
        except Exception as err:  # an undefined name, a filter that fails...
            problems.append(f"[rules] templates: {what} does not render with sample data "
                            f"({type(err).__name__}: {err})")
    return problems


def default_folders() -> tuple[Path, Path]:
    """The rules and templates used when settings name none."""
    return project_dir("rules"), project_dir("templates")


def _intake(**extra: Any) -> Intake:
    sample = Intake(
        id=0, reference="PRV-2026-00001", message_id="<sample@example.org>",
        reply_to="referrer@example.org", received_at=SAMPLE_AT, last_message_at=SAMPLE_AT,
        status=Status.INCOMPLETE, priority=Priority.NORMAL, age_band=None,
        findings=({"rule": "required", "field": "referrer_phone",
                   "label": "Contact Telephone Number", "code": "required", "values": {}},
                  {"rule": "date-of-birth", "field": "subject_dob",
                   "label": "Date of Birth", "code": "too-old", "values": {"years": 120}}),
        missing=("referrer_phone",), invalid=("subject_dob",),
        cc_missing=("mashagency@lewisham.gov.uk",),
    )
    return replace(sample, **extra)


def _samples(composer: Composer) -> list[tuple[str, Any]]:
    from ..jobs.digest import Digest, OpenItem, digest_context, subject
    from ..store.screening_clock import Clock, overdue_alert

    complete = _intake(status=Status.COMPLETE, findings=(), missing=(), cc_missing=())
    review = _intake(status=Status.MANUAL_REVIEW, review_reason=ReviewReason.SCAN,
                     findings=(), missing=())
    urgent = _intake(status=Status.COMPLETE, priority=Priority.URGENT,
                     urgent_because=("immediate risk",))
    digest = Digest(
        day=date(2026, 1, 4), timezone=composer.settings.digest.timezone,
        counts={"Received": 2, "Complete": 1, "Incomplete": 1, "Manual review": 0,
                "Urgent": 1, "Children": 1, "Adults": 1},
        open=(OpenItem("PRV-2026-00001", "J.D.", 1, ("referrer_phone",), 1, "urgent"),),
        made_at=SAMPLE_AT, undelivered=("ack PRV-2026-00002: 550",),
        screened_late=("PRV-2026-00001: due 14:30, screened not yet",),
        outages=("The service cannot read the mailbox: 2026-01-04 09:00 GMT to "
                 "2026-01-04 09:45 GMT (45 min)",),
    )
    return [
        ("acknowledgement (incomplete)", lambda: composer.acknowledgement(_intake())),
        ("acknowledgement (complete)", lambda: composer.acknowledgement(complete)),
        ("acknowledgement (manual review)", lambda: composer.acknowledgement(review)),
        ("acknowledgement (correction)",
         lambda: composer.acknowledgement(complete, correction=True)),
        ("reminder", lambda: composer.reminder(_intake(), 1)),
        ("alert (urgent)", lambda: composer.alert(urgent)),
        ("alert (manual review)", lambda: composer.alert(review)),
        ("alert (referred before)", lambda: composer.alert(
            complete, earlier_referrals=("PRV-2025-00007",))),
        ("overdue alert", lambda: overdue_alert(composer, complete, Clock(
            intake_id=0, due_at=SAMPLE_AT.isoformat(), working_hours=4.0))),
        ("alert (possible forged correction)",
         lambda: composer.forged_correction_alert(complete)),
        ("alert (manual-review burst)",
         lambda: composer.review_batch_alert([("PRV-2026-00001", "scan")])),
        ("alert (automatic replies paused)", lambda: composer.cap_alert(100)),
        ("service (down)", lambda: _service(composer, recovered=False)),
        ("service (recovered)", lambda: _service(composer, recovered=True)),
        ("digest", lambda: composer.message(
            kind=Kind.DIGEST, to=list(composer.settings.digest.to),
            subject=subject(digest.day, composer.env), template="digest",
            context=digest_context(digest, composer.env), auto_reply=False)),
    ]


def _service(composer: Composer, *, recovered: bool) -> Any:
    from ..store.service_state import service_message

    started = SAMPLE_AT - timedelta(minutes=90)
    return service_message(composer, composer.settings, "mailbox", started, SAMPLE_AT,
                           recovered=recovered)
