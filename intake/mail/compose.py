"""Every outgoing message, built here from the Jinja2 templates in templates/.

Replies to referrers are made from a short list of safe intake keys
(reference, times, status, findings, addresses not copied in, the review
reason): the form's answers never reach a template, so a reply can never
repeat the individual's name, date of birth, address or the concerns.
Header values are stripped of line breaks and control characters.
"""

from __future__ import annotations

import re
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, make_msgid, parseaddr
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2

from ..config.paths import project_dir
from ..config.settings_types import Settings
from ..domain.clock import parse_iso, utcnow
from ..domain.records import LOOP_HEADER, Intake, Kind, Priority, Status
from .finding_words import FINDINGS, FindingWords, finding_line

# 7bit: bodies go out quoted-printable or base64, so no server needs 8BITMIME.
_POLICY = policy.default.clone(cte_type="7bit")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_MESSAGE_ID = re.compile(r"<[^<>\s]+>")
_RECIPIENTS_RULE = "recipients"


def clean_header(value: object) -> str:
    """A header value on one line: CR, LF and other control characters become a space."""
    return _CONTROL.sub(" ", str(value)).strip()


# Files added to templates/ since a council may have copied the folder: taken from the
# council's own folder when it has them, else from the shipped one.
SUBJECTS = "_subjects.j2"
_NEWER_FILES = frozenset({SUBJECTS, FINDINGS})


class _ShippedNewerFiles(jinja2.BaseLoader):
    """Finds only _NEWER_FILES, in the shipped templates/."""

    def __init__(self) -> None:
        self.shipped = jinja2.FileSystemLoader(str(project_dir("templates")))

    def get_source(self, environment: jinja2.Environment,
                   template: str) -> tuple[str, str | None, Any]:
        if template not in _NEWER_FILES:
            raise jinja2.TemplateNotFound(template)
        return self.shipped.get_source(environment, template)


def template_env(folder: Path) -> jinja2.Environment:
    """The Jinja2 environment every message is rendered in (HTML parts escaped)."""
    loaders: list[jinja2.BaseLoader] = [jinja2.FileSystemLoader(str(folder))]
    if Path(folder).resolve() != project_dir("templates").resolve():
        loaders.append(_ShippedNewerFiles())
    return jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html", "html.j2"),
                                            default_for_string=False),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True, trim_blocks=True, lstrip_blocks=True,
    )


def render_subject(env: jinja2.Environment, template: str, **values: Any) -> str:
    """The `template` macro of _subjects.j2, called with `values`, on one line."""
    macro = getattr(env.get_template(SUBJECTS).module, template)
    return clean_header(macro(**values))


def finding_words(settings: Settings) -> FindingWords:
    """How the web page and `intake show` say findings: as replies and reminders do."""
    folder = settings.templates_dir or project_dir("templates")
    return FindingWords(template_env(folder), settings.rules_dir)


class Composer:
    """Builds acknowledgements, reminders, alerts (and, via message(), the digest)."""

    def __init__(self, settings: Settings, templates_dir: Path | None = None):
        self.settings = settings
        self.templates_dir = Path(templates_dir) if templates_dir else project_dir("templates")
        self.env = template_env(self.templates_dir)
        self.findings = FindingWords(self.env, settings.rules_dir)
        self.sender = clean_header(settings.smtp.sender)
        address = parseaddr(self.sender)[1]
        self.domain = address.rpartition("@")[2] or "localhost"

    # -- messages about an intake -------------------------------------------

    def acknowledgement(self, intake: Intake, *, correction: bool = False) -> EmailMessage:
        """The reply to a referral (or to its correction), to its sender only."""
        context = self._reply_context(intake)
        context["correction"] = correction
        return self.message(
            kind=Kind.CORRECTION if correction else Kind.ACK,
            to=[_single_address(intake.reply_to)],
            subject=self.subject("acknowledgement", reference=context["reference"],
                                 correction=correction),
            template="acknowledgement", context=context,
            reply_to_id=intake.message_id, auto_reply=True,
        )

    def reminder(self, intake: Intake, number: int) -> EmailMessage:
        """Reminder `number` (1, 2, ...) that an incomplete referral still needs something."""
        context = self._reply_context(intake)
        context.update(number=number, max=self.settings.reminders.max)
        return self.message(
            kind=Kind.REMINDER,
            to=[_single_address(intake.reply_to)],
            subject=self.subject("reminder", reference=context["reference"]),
            template="reminder", context=context,
            reply_to_id=intake.message_id, auto_reply=True,
        )

    def alert(self, intake: Intake, *, earlier_referrals: tuple[str, ...] = ()) -> EmailMessage:
        """An urgent or manual-review intake, to the MASH duty address: verdicts only;
        `earlier_referrals`: the linked intakes received before it (followup.py)."""
        if not self.settings.alert_to:
            raise ValueError("[triage] alert_to names no address")
        urgent = intake.priority is Priority.URGENT
        context = {
            "reference": clean_header(intake.reference),
            "received": self._local_time(intake.received_at),
            "status": str(intake.status),
            "priority": str(intake.priority),
            "urgent": urgent,
            "urgent_because": [str(p) for p in intake.urgent_because],
            "review_reason": intake.review_reason,
            # references only (intake/store/followup.py), never to a referrer
            "earlier_referrals": [clean_header(r) for r in earlier_referrals],
        }
        return self.message(
            kind=Kind.ALERT, to=list(self.settings.alert_to),
            subject=self.subject("alert", reference=context["reference"], urgent=urgent,
                                 manual_review=intake.status is Status.MANUAL_REVIEW,
                                 referred_before=bool(earlier_referrals)),
            template="alert", context=context,
            reply_to_id=intake.message_id, auto_reply=False,
        )

    def forged_correction_alert(self, intake: Intake) -> EmailMessage:
        """A correction under the referrer's address failed DMARC: the MASH is told.
        The reference, time and status only."""
        if not self.settings.alert_to:
            raise ValueError("[triage] alert_to names no address")
        context = {
            "reference": clean_header(intake.reference),
            "received": self._local_time(intake.received_at),
            "status": str(intake.status),
        }
        return self.message(
            kind=Kind.ALERT, to=list(self.settings.alert_to),
            subject=self.subject("forged", reference=context["reference"]),
            template="forged", context=context,
            reply_to_id=intake.message_id, auto_reply=False,
        )

    def review_batch_alert(self, references: list[tuple[str, str]]) -> EmailMessage:
        """Many manual-review referrals at once: one alert, (reference, review reason) each."""
        if not self.settings.alert_to:
            raise ValueError("[triage] alert_to names no address")
        listed = [(clean_header(r), clean_header(reason)) for r, reason in references]
        return self.message(
            kind=Kind.ALERT, to=list(self.settings.alert_to),
            subject=self.subject("review_batch", count=len(listed)),
            template="review_batch", context={"references": listed, "reference": None},
            auto_reply=False,
        )

    def cap_alert(self, cap: int) -> EmailMessage:
        """Automatic replies hit the hourly cap: they wait; the MASH hears it once."""
        return self.message(
            kind=Kind.ALERT, to=list(self.settings.alert_to),
            subject=self.subject("capped", cap=cap),
            template="capped", context={"cap": cap, "reference": None},
            auto_reply=False,
        )

    def subject(self, template: str, **values: Any) -> str:
        """The subject line of a `template` message, from templates/_subjects.j2."""
        return render_subject(self.env, template, **values)

    # -- the one place a message is assembled -------------------------------

    def message(self, *, kind: Kind, to: list[str], subject: str, template: str,
                context: dict[str, Any], reply_to_id: str | None = None,
                auto_reply: bool = True) -> EmailMessage:
        """Render `template`.txt.j2 and .html.j2 into a message with our headers.

        auto_reply: `Auto-Submitted: auto-replied` (an answer to someone's mail),
        else `auto-generated` (alerts, the digest). The Message-ID is fixed here, so
        the outbox row and any resend of it are the same message.
        """
        recipients = [clean_header(address) for address in to if clean_header(address)]
        if not recipients:
            raise ValueError(f"{kind}: no recipient")
        text = self.env.get_template(f"{template}.txt.j2").render(context)
        html = self.env.get_template(f"{template}.html.j2").render(context)

        msg = EmailMessage(policy=_POLICY)
        msg["From"] = self.sender
        msg["To"] = ", ".join(recipients)
        msg["Subject"] = clean_header(subject)
        msg["Date"] = format_datetime(utcnow().astimezone(ZoneInfo(self._timezone)))
        msg["Message-ID"] = make_msgid(domain=self.domain)
        thread = _message_id(reply_to_id)
        if thread:
            msg["In-Reply-To"] = thread
            msg["References"] = thread
        msg["Auto-Submitted"] = "auto-replied" if auto_reply else "auto-generated"
        msg["X-Auto-Response-Suppress"] = "All"
        msg[LOOP_HEADER] = clean_header(context.get("reference") or kind)
        msg.set_content(text)
        msg.add_alternative(html, subtype="html")
        return msg

    # -- helpers ------------------------------------------------------------

    @property
    def _timezone(self) -> str:
        return self.settings.digest.timezone

    def _local_time(self, value: str | datetime | None) -> str:
        if not value:
            return "unknown"
        moment = value if isinstance(value, datetime) else parse_iso(value)
        local = moment.astimezone(ZoneInfo(self._timezone))
        return f"{local:%A} {local.day} {local:%B %Y at %H:%M} ({local:%Z})"

    def _reply_context(self, intake: Intake) -> dict[str, Any]:
        """What a reply to the referrer may say: never a form answer."""
        cc_missing = [clean_header(a) for a in intake.cc_missing]
        findings = []
        covered: set[str] = set()
        for finding in intake.findings:
            field = str(finding.get("field") or "")
            if finding.get("rule") == _RECIPIENTS_RULE or field in cc_missing:
                continue  # listed with the request to forward the email
            covered.add(field)
            findings.append(self.findings.line(finding))
        # Keys the checker flagged without a finding (should not happen): named plainly.
        for key in [*intake.missing, *intake.invalid]:
            if key not in covered:
                covered.add(key)
                label = "" if key == "form" else key.replace("_", " ")
                findings.append(finding_line(label, _FALLBACK.get(key, "Please check this.")))
        return {
            "reference": clean_header(intake.reference),
            "received": self._local_time(intake.received_at),
            "status": str(intake.status),
            "complete": intake.status is Status.COMPLETE,
            "manual_review": intake.status is Status.MANUAL_REVIEW,
            "findings": findings,
            "cc_missing": cc_missing,
            "review_reason": intake.review_reason,
        }


_FALLBACK = {"form": "No referral form was attached to your email."}


def _single_address(value: object) -> str:
    """The one address a reply goes to; ValueError when there is not exactly one."""
    if not value:
        raise ValueError("no address to reply to")
    addresses = [a for _, a in getaddresses([clean_header(value)]) if "@" in a]
    if len(addresses) != 1:
        raise ValueError("reply address is not exactly one address")
    return addresses[0]


def _message_id(value: object) -> str | None:
    """A Message-ID as `<...>`, or None when the value holds none."""
    if not value:
        return None
    found = _MESSAGE_ID.search(clean_header(value))
    return found.group(0) if found else None
