"""Load rules/*.toml into typed, read-only rules.

Every rule the checks and extraction use is data here: a label alias, a
required address or an urgency phrase is a change to a TOML file, not code.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config.paths import project_dir
from .alerts import (
    DEFAULT_ACTIONS,
    HOLDABLE,
    NEVER_NONE,
    AlertAction,
    AlertRules,
    BurstRule,
    Trigger,
)
from .errors import SettingsError
from .records import ReviewReason

VALIDATORS = ("text", "date-of-birth", "date", "email", "yes-no")


@dataclass(frozen=True)
class SectionRule:
    key: str
    title: str
    aliases: tuple[str, ...]


@dataclass(frozen=True)
class FieldRule:
    key: str
    section: str
    label: str
    aliases: tuple[str, ...]
    required: bool
    validator: str
    short: str = ""  # a few words for it: the queue, triage and the digest (default: label)

    @property
    def wordings(self) -> tuple[str, ...]:
        return (self.label, *self.aliases)

    @property
    def name(self) -> str:
        """What the MASH's lists call it: its short wording, else the form's."""
        return self.short or self.label


@dataclass(frozen=True)
class HeaderRule:
    name: str  # lower case
    pattern: re.Pattern[str]
    reason: str


@dataclass(frozen=True)
class Rules:
    fields: tuple[FieldRule, ...]
    sections: tuple[SectionRule, ...]
    placeholders: frozenset[str]
    required_recipients: tuple[str, ...]
    urgency_phrases: tuple[str, ...]
    urgency_fields: tuple[str, ...]
    urgency_in_subject: bool
    urgency_in_body: bool
    referral_subject_phrases: tuple[str, ...]
    referral_body_phrases: tuple[str, ...]
    not_referral_subject_phrases: tuple[str, ...]
    secure_link_phrases: tuple[str, ...]
    form_types: dict[str, str]  # extension -> pdf | docx
    review_types: dict[str, str]  # extension -> review reason
    content_types: dict[str, str]  # content type -> pdf | docx | review reason
    min_labels_found: int
    min_image_bytes: int
    machine_headers: tuple[HeaderRule, ...]
    machine_senders: tuple[re.Pattern[str], ...]
    alerts: AlertRules = field(default_factory=AlertRules)  # alerts.toml
    adult_age: int = 18  # fields.toml [ages]: the age of majority (age band)
    max_age_years: int = 120  # fields.toml [ages]: the oldest plausible date of birth
    form_name: str = "form"  # fields.toml form_short: a referral with no form attached
    recipient_names: Mapping[str, str] = field(default_factory=dict)  # recipients.toml [names]
    review_reason_names: Mapping[str, str] = field(default_factory=dict)  # referral.toml

    def field(self, key: str) -> FieldRule:
        for rule in self.fields:
            if rule.key == key:
                return rule
        raise KeyError(key)

    # What the MASH's lists (the queue, `intake triage`, the digest) call a missing or
    # invalid answer, a required address not copied in, a review reason: words from the
    # rules files; the key, address or code itself where they give none.

    def field_name(self, key: str) -> str:
        if key == "form":
            return self.form_name
        return next((rule.name for rule in self.fields if rule.key == key), key)

    def recipient_name(self, address: str) -> str:
        return self.recipient_names.get(address.lower(), address)

    def reason_name(self, code: str) -> str:
        return self.review_reason_names.get(code, code)

    @property
    def required_keys(self) -> tuple[str, ...]:
        return tuple(rule.key for rule in self.fields if rule.required)


def _read(directory: Path, name: str) -> dict:
    path = directory / name
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError as err:
        raise SettingsError([f"[rules] {name}: file not found in {directory}"]) from err
    except tomllib.TOMLDecodeError as err:
        raise SettingsError([f"[rules] {name}: not valid TOML ({err})"]) from err


def load_rules(directory: Path | None = None) -> Rules:
    """Read and validate every rules file; raise SettingsError listing each problem."""
    directory = directory or project_dir("rules")
    form = _read(directory, "fields.toml")
    recipients = _read(directory, "recipients.toml")
    urgency = _read(directory, "urgency.toml")
    referral = _read(directory, "referral.toml")
    machine = _read(directory, "machine.toml")
    problems: list[str] = []
    alerts = _alert_rules(directory, problems)

    sections = tuple(
        SectionRule(key, spec["title"], tuple(spec.get("aliases", ())))
        for key, spec in form.get("sections", {}).items()
    )
    section_keys = {s.key for s in sections}
    fields = []
    for index, spec in enumerate(form.get("field", [])):
        try:
            rule = FieldRule(
                key=spec["key"],
                section=spec["section"],
                label=spec["label"],
                aliases=tuple(spec.get("aliases", ())),
                required=bool(spec.get("required", False)),
                validator=spec.get("validator", "text"),
                short=spec.get("short", ""),
            )
        except KeyError as err:
            problems.append(f"[rules] fields.toml field {index + 1}: missing {err.args[0]}")
            continue
        if rule.validator not in VALIDATORS:
            problems.append(f"[rules] fields.toml {rule.key}: unknown validator {rule.validator!r}")
        if rule.section not in section_keys:
            problems.append(f"[rules] fields.toml {rule.key}: unknown section {rule.section!r}")
        if not isinstance(rule.short, str):
            problems.append(f"[rules] fields.toml {rule.key}: short must be text, "
                            f"not {rule.short!r}")
        fields.append(rule)
    required_recipients = tuple(a.lower() for a in recipients.get("required", []))
    recipient_names = _names(recipients, "names", "recipients.toml",
                             set(required_recipients), "a required address", problems,
                             lower_keys=True)
    review_reason_names = _names(referral, "review_reasons", "referral.toml",
                                 {r.value for r in ReviewReason}, "a review reason", problems)
    form_name = form.get("form_short", Rules.form_name)
    if not isinstance(form_name, str) or not form_name.strip():
        problems.append(f"[rules] fields.toml form_short: must be text, not {form_name!r}")

    headers = []
    for spec in machine.get("header", []):
        try:
            headers.append(
                HeaderRule(
                    spec["name"].lower(),
                    re.compile(spec["pattern"], re.IGNORECASE | re.DOTALL),
                    spec["reason"],
                )
            )
        except (KeyError, re.error) as err:
            problems.append(f"[rules] machine.toml header {spec.get('name')!r}: {err}")
    senders = []
    for pattern in machine.get("senders", {}).get("patterns", []):
        try:
            senders.append(re.compile(pattern, re.IGNORECASE))
        except re.error as err:
            problems.append(f"[rules] machine.toml sender {pattern!r}: {err}")
    _check_file_kinds(referral, problems)
    ages = form.get("ages", {})
    adult_age = ages.get("adult_age", Rules.adult_age)  # the defaults: Rules' own
    max_age_years = ages.get("max_age_years", Rules.max_age_years)
    for name, value in (("adult_age", adult_age), ("max_age_years", max_age_years)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            problems.append(f"[rules] fields.toml [ages] {name}: a whole number of years "
                            f"above 0, not {value!r}")
    if problems:
        raise SettingsError(problems)

    return Rules(
        fields=tuple(fields),
        sections=sections,
        placeholders=frozenset(p.strip().lower() for p in form.get("placeholders", [""])),
        required_recipients=required_recipients,
        urgency_phrases=tuple(p.lower() for p in urgency.get("phrases", [])),
        urgency_fields=tuple(urgency.get("fields", [])),
        urgency_in_subject=bool(urgency.get("email_subject", True)),
        urgency_in_body=bool(urgency.get("email_body", True)),
        referral_subject_phrases=tuple(p.lower() for p in referral.get("subject_phrases", [])),
        referral_body_phrases=tuple(p.lower() for p in referral.get("body_phrases", [])),
        not_referral_subject_phrases=tuple(
            p.lower() for p in referral.get("not_referral_subject_phrases", [])
        ),
        secure_link_phrases=tuple(p.lower() for p in referral.get("secure_link_phrases", [])),
        form_types=dict(referral.get("form_types", {})),
        review_types=dict(referral.get("review_types", {})),
        content_types=dict(referral.get("content_types", {})),
        min_labels_found=int(referral.get("min_labels_found", 4)),
        min_image_bytes=int(referral.get("min_image_bytes", 20000)),
        machine_headers=tuple(headers),
        machine_senders=tuple(senders),
        alerts=alerts,
        adult_age=adult_age,
        max_age_years=max_age_years,
        form_name=form_name,
        recipient_names=recipient_names,
        review_reason_names=review_reason_names,
    )


# What extract/ reads (pdf and docx itself, the rest through LibreOffice: office.KINDS).
READ_KINDS = frozenset({"pdf", "docx", "doc", "odt", "rtf"})


def _check_file_kinds(referral: dict[str, Any], problems: list[str]) -> None:
    """[review_types] say why a file goes to a person; [form_types] and [content_types]
    name a kind extract/ reads, or such a reason: an intake can hold no other word."""
    reasons = {reason.value for reason in ReviewReason}
    for table, allowed in (("form_types", READ_KINDS), ("review_types", reasons),
                           ("content_types", READ_KINDS | reasons)):
        for key, kind in referral.get(table, {}).items():
            if kind not in allowed:
                problems.append(f"[rules] referral.toml [{table}] {key!r}: {kind!r} is not "
                                f"one of {', '.join(sorted(allowed))}")


def _names(spec: dict[str, Any], table: str, filename: str, known: set[str], what: str,
           problems: list[str], *, lower_keys: bool = False) -> dict[str, str]:
    """A table of short words by key ([names], [review_reasons]): every key must be one
    the rules know, every word text."""
    names: Any = spec.get(table, {})
    if not isinstance(names, dict):
        problems.append(f"[rules] {filename} {table}: must be a table of key = \"words\"")
        return {}
    out = {}
    for key, words in names.items():
        wanted = key.lower() if lower_keys else key
        if wanted not in known:
            problems.append(f"[rules] {filename} [{table}] {key!r}: not {what} "
                            f"(known: {', '.join(sorted(known))})")
        elif not isinstance(words, str) or not words.strip():
            problems.append(f"[rules] {filename} [{table}] {key!r}: must be text, "
                            f"not {words!r}")
        else:
            out[wanted] = words.strip()
    return out


def load_alert_rules(directory: Path | None = None) -> AlertRules:
    """rules/alerts.toml alone (the shipped defaults when the file is not there)."""
    problems: list[str] = []
    alerts = _alert_rules(directory or project_dir("rules"), problems)
    if problems:
        raise SettingsError(problems)
    return alerts


def _alert_rules(directory: Path, problems: list[str]) -> AlertRules:
    """alerts.toml: [triggers] (trigger -> alert | hold | none) and [manual_review_burst].
    A rules folder without the file, or a trigger left out, keeps the shipped defaults."""
    if not (directory / "alerts.toml").exists():
        return AlertRules()
    spec = _read(directory, "alerts.toml")
    actions = dict(DEFAULT_ACTIONS)
    triggers: Any = spec.get("triggers", {})
    if not isinstance(triggers, dict):
        problems.append("[rules] alerts.toml triggers: must be a table of trigger = action")
        triggers = {}
    known, choices = ", ".join(Trigger), ", ".join(AlertAction)
    for name, value in triggers.items():
        if name not in {t.value for t in Trigger}:
            problems.append(f"[rules] alerts.toml triggers: unknown trigger {name!r} "
                            f"(known: {known})")
            continue
        trigger = Trigger(name)
        if value not in {a.value for a in AlertAction}:
            problems.append(f"[rules] alerts.toml triggers.{name}: unknown action {value!r} "
                            f"(use {choices})")
        elif value == AlertAction.HOLD and trigger not in HOLDABLE:
            problems.append(f"[rules] alerts.toml triggers.{name}: only "
                            f"{', '.join(sorted(HOLDABLE))} can be held for a burst")
        elif value == AlertAction.NONE and trigger in NEVER_NONE:
            problems.append(f"[rules] alerts.toml triggers.{name}: \"none\" is not allowed: "
                            "a message the service failed on must reach the MASH (use alert "
                            "or hold)")
        else:
            actions[trigger] = AlertAction(value)
    burst_spec = spec.get("manual_review_burst", {})
    try:
        burst = BurstRule(int(burst_spec.get("threshold", 5)),
                          float(burst_spec.get("minutes", 10)))
    except (AttributeError, TypeError, ValueError) as err:
        problems.append(f"[rules] alerts.toml manual_review_burst: {err}")
        return AlertRules(actions)
    if burst.threshold < 1 or burst.minutes <= 0:
        problems.append("[rules] alerts.toml manual_review_burst: threshold must be 1 or more "
                        "and minutes more than 0")
    return AlertRules(actions, burst)
