"""The check stage: one message's answers checked before decide.

Pure: no I/O, no clock. The message is checked as a new referral, and, when it
replies in the thread of an intake, as a correction of that intake (its answers
merged into the intake's) and for whether its form names another individual.
decide picks which of these apply; record writes the one it picked.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from .check import check, parse_date
from .models import Extraction, ParsedEmail, Verdict
from .records import Intake
from .rules import Rules


@dataclass(frozen=True)
class Correction:
    """The message as a correction of its thread's intake, checked."""

    readable: bool  # its form was read: its non-empty answers replace the intake's
    fields: dict[str, str]  # the intake's answers after the correction
    sources: dict[str, str]  # where each answer was read
    extraction: Extraction  # source, review reason and form of the intake after it
    recipients: list[str]  # the addresses of the referral and of every correction
    verdict: Verdict


@dataclass(frozen=True)
class Checked:
    """What the check stage found; decide reads it, record writes from it."""

    verdict: Verdict  # the message's own answers, as a new referral
    correction: Correction | None = None  # as a correction of its thread's intake
    someone_else: bool = False  # its form names another individual than that intake's


def check_message(email: ParsedEmail, extraction: Extraction, received_at: datetime,
                  thread_intake: Intake | None, rules: Rules, *, timezone: str,
                  mailbox_address: str) -> Checked:
    verdict = _local_check(dict(extraction.fields), extraction, email, received_at, rules,
                           timezone, mailbox_address, [])
    if thread_intake is None:
        return Checked(verdict)
    return Checked(
        verdict,
        as_correction(thread_intake, email, extraction, rules, timezone=timezone,
                      mailbox_address=mailbox_address),
        extraction.carries_form and about_someone_else(extraction.fields,
                                                       thread_intake.fields),
    )


def as_correction(intake: Intake, email: ParsedEmail, new: Extraction, rules: Rules,
                  *, timezone: str, mailbox_address: str) -> Correction:
    """The intake with the message's answers merged in, checked again as of the day the
    intake was received, counting every address it and its corrections went to."""
    readable = new.carries_form and new.review_reason is None
    fields = dict(intake.fields)
    if readable:
        fields.update({k: v for k, v in new.fields.items() if v.strip()})
    merged = Extraction(
        source=new.source if new.carries_form else intake.source,
        fields=fields,
        review_reason=new.review_reason if new.carries_form else intake.review_reason,
        carries_form=new.carries_form or intake.source != "none",
    )
    recipients = sorted({*intake.recipients, *email.to, *email.cc})
    verdict = _local_check(fields, merged, email, intake.received_at, rules,
                           timezone, mailbox_address, recipients)
    sources = dict(intake.field_sources)
    if readable:
        sources.update(new.where)
    return Correction(readable, fields, sources, merged, recipients, verdict)


def _local_check(fields: dict[str, str], extraction: Extraction, email: ParsedEmail,
                 received_at: datetime, rules: Rules, timezone: str, mailbox_address: str,
                 extra_recipients: list[str]) -> Verdict:
    # Ages and date limits count in the council's calendar, not UTC's.
    local = received_at.astimezone(ZoneInfo(timezone))
    return check(fields, extraction, email, local, rules, mailbox_address=mailbox_address,
                 extra_recipients=extra_recipients)


def about_someone_else(new: dict[str, str], old: dict[str, str]) -> bool:
    """A form naming a different individual: another surname, or another real date of
    birth (a date that was invalid and is now put right is a correction)."""
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
