"""check: the answers of one referral -> Verdict (referral-form.md, "Checks").

Pure: no I/O, no clock. Each field's validator (rules/fields.toml) maps to a
small function below. A finding is a code (its kind) with the values its wording
needs; the referrer-facing text is templates/_findings.j2's, said when a message or
page is made, so new wording reaches open intakes too.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import date, datetime

from email_validator import EmailNotValidError, validate_email

from .classify import matching_phrases
from .models import Extraction, Finding, ParsedEmail, Verdict
from .records import AgeBand, Priority, Status
from .rules import Rules

COMPLETE, INCOMPLETE, MANUAL_REVIEW = Status.COMPLETE, Status.INCOMPLETE, Status.MANUAL_REVIEW
URGENT, NORMAL = Priority.URGENT, Priority.NORMAL
CHILD, ADULT = AgeBand.CHILD, AgeBand.ADULT
FORM_KEY = "form"
FORM_LABEL = "Prevent National Referral Form"

TOO_OLD = "too-old"  # its wording names the oldest plausible age: rules.max_age_years

MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("january", "jan"), ("february", "feb"), ("march", "mar"), ("april", "apr"),
            ("may",), ("june", "jun"), ("july", "jul"), ("august", "aug"),
            ("september", "sep", "sept"), ("october", "oct"), ("november", "nov"),
            ("december", "dec"),
        ),
        start=1,
    )
    for name in names
}
_NUMERIC = re.compile(r"([0-9]{1,2})\s*([/.\-])\s*([0-9]{1,2})\s*\2\s*([0-9]{4})\.?")
_SPACED = re.compile(r"([0-9]{1,2})\s+([0-9]{1,2})\s+([0-9]{4})")
_ISO = re.compile(r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})")
_WORDY = re.compile(r"([0-9]{1,2})(?:st|nd|rd|th)?\s+([a-z]+)\.?,?\s+([0-9]{4})", re.IGNORECASE)
_YES_NO = re.compile(r"(?<![a-z])(yes|no)(?![a-z])", re.IGNORECASE)


def parse_date(text: str) -> date | None:
    """A day-first date: d/m/yyyy (/ . - or spaces), yyyy-mm-dd or "d Month yyyy"; else None."""
    text = " ".join((text or "").split())
    try:
        if match := _NUMERIC.fullmatch(text):
            day, _, month, year = match.groups()
            return date(int(year), int(month), int(day))
        if match := _SPACED.fullmatch(text) or _ISO.fullmatch(text):
            first, second, third = match.groups()
            if len(first) == 4:
                return date(int(first), int(second), int(third))
            return date(int(third), int(second), int(first))
        if match := _WORDY.fullmatch(text):
            day, month_name, year = match.groups()
            month = MONTHS.get(month_name.lower())
            return date(int(year), month, int(day)) if month else None
    except ValueError:
        return None
    return None


def yes_no(text: str) -> str | None:
    """'Yes' or 'No' when the answer says exactly one of them first; else None."""
    words = {word.lower() for word in _YES_NO.findall(text)}
    first = _YES_NO.match(text.strip())
    if len(words) == 1 and first:
        return first.group(1).capitalize()
    return None


def age_on(born: date, day: date) -> int:
    """Whole years on `day` (a 29 February birthday falls on 1 March in other years)."""
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


def years_before(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


# --- validators: value, day received, rules -> finding kind or None --------------------


def _date_of_birth(value: str, received: date, rules: Rules) -> str | None:
    born = parse_date(value)
    if born is None:
        return "not-a-date"
    if born > received:
        return "future-date"
    if born < years_before(received, rules.max_age_years):
        return TOO_OLD
    return None


def _date(value: str, received: date, rules: Rules) -> str | None:
    return None if parse_date(value) else "not-a-date"


def _email(value: str, received: date, rules: Rules) -> str | None:
    try:
        validate_email(value.strip(), check_deliverability=False)
    except EmailNotValidError:
        return "email"
    return None


def _yes_no(value: str, received: date, rules: Rules) -> str | None:
    return None if yes_no(value) else "yes-no"


VALIDATORS: dict[str, Callable[[str, date, Rules], str | None]] = {
    "text": lambda value, received, rules: None,
    "date-of-birth": _date_of_birth,
    "date": _date,
    "email": _email,
    "yes-no": _yes_no,
}


def finding(rule: str, field: str, label: str, rules: Rules, kind: str | None = None) -> Finding:
    """A finding of `kind` (by default the rule's own id), with the values its wording needs."""
    code = kind or rule
    values = {"years": rules.max_age_years} if code == TOO_OLD else {}
    return Finding(rule, field, label, code, values)


def is_given(value: str | None, rules: Rules) -> bool:
    """An answer, not an empty box or a placeholder ("N/A" is an answer)."""
    text = " ".join((value or "").split()).lower()
    return bool(text) and text not in rules.placeholders


def check(
    fields: dict[str, str],
    extraction: Extraction,
    email: ParsedEmail,
    received_at: datetime,
    rules: Rules,
    *,
    mailbox_address: str,
    extra_recipients: Iterable[str] = (),
) -> Verdict:
    """Check one referral. `received_at`'s own date is "the day received"."""
    received = received_at.date()
    findings: list[Finding] = []
    missing: list[str] = []
    invalid: list[str] = []
    has_form = extraction.carries_form or bool(extraction.review_reason) or any(
        is_given(value, rules) for value in fields.values()
    )
    if extraction.review_reason:
        status = MANUAL_REVIEW  # nobody knows what the form says until a person reads it
    elif not has_form:
        status = INCOMPLETE
        missing.append(FORM_KEY)
        findings.append(finding("form", FORM_KEY, FORM_LABEL, rules))
    else:
        for rule in rules.fields:
            value = fields.get(rule.key, "")
            if not is_given(value, rules):
                if rule.required:
                    missing.append(rule.key)
                    findings.append(finding("required", rule.key, rule.label, rules))
                continue
            # the validator's name is the finding's rule id (kebab-case)
            kind = VALIDATORS.get(rule.validator, VALIDATORS["text"])(value, received, rules)
            if kind:
                invalid.append(rule.key)
                findings.append(finding(rule.validator, rule.key, rule.label, rules, kind))
        status = COMPLETE

    cc_missing = recipients_gap(email, rules, mailbox_address, extra_recipients)
    findings.extend(finding("recipients", address, address, rules) for address in cc_missing)
    if status == COMPLETE and (missing or invalid or cc_missing):
        status = INCOMPLETE

    urgent_because = urgency(fields, email, rules)
    return Verdict(
        status=status,
        missing=tuple(missing),
        invalid=tuple(invalid),
        cc_missing=tuple(cc_missing),
        findings=tuple(findings),
        priority=URGENT if urgent_because else NORMAL,
        urgent_because=tuple(urgent_because),
        age_band=age_band(fields.get("subject_dob", ""), received, rules),
    )


def recipients_gap(
    email: ParsedEmail, rules: Rules, mailbox_address: str, extra: Iterable[str] = ()
) -> list[str]:
    """Required addresses absent from To and Cc (and `extra`); our mailbox counts as present."""
    present = {a.strip().lower() for a in (*email.to, *email.cc, *extra, mailbox_address)}
    return [address for address in rules.required_recipients if address not in present]


def urgency(fields: dict[str, str], email: ParsedEmail, rules: Rules) -> list[str]:
    """The urgency phrases found in the urgency fields' answers, subject and body."""
    texts = [fields.get(key, "") for key in rules.urgency_fields]
    if rules.urgency_in_subject:
        texts.append(email.subject)
    if rules.urgency_in_body:
        texts.append(email.body_text)
    return matching_phrases(texts, rules.urgency_phrases)


def age_band(dob: str, received: date, rules: Rules) -> str | None:
    """child (under rules.adult_age, 18, on the day received), adult, or None without a
    valid date of birth."""
    born = parse_date(dob)
    if born is None or _date_of_birth(dob, received, rules) is not None:
        return None
    return CHILD if age_on(born, received) < rules.adult_age else ADULT
