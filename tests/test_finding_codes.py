"""Findings are stored as codes and said in today's words (templates/_findings.j2, the labels
of rules/fields.toml) whenever a reply, a reminder, the web page or `intake show` is made;
the i15 migration reads the sentences stored before back to codes."""

from __future__ import annotations

import json
import shutil
import sqlite3
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path

from support import RULES
from support import stored as found
from support.forms import SAMPLE_VALUES
from support.mail import referral_email

from intake.config.paths import project_dir
from intake.config.preflight import template_problems
from intake.config.settings_types import Settings
from intake.domain.models import Extraction, RawMessage
from intake.jobs.reminders import queue_due_reminders
from intake.mail.compose import Composer
from intake.mail.parse import parse
from intake.ops.triage import render_show
from intake.runtime.pipeline import Pipeline, content_hash
from intake.store.database import Store
from intake.store.finding_codes import coded_findings
from intake.store.schema import MIGRATIONS, statements
from intake.web import queries

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
WRONG = {**SAMPLE_VALUES, "subject_surname": "", "subject_dob": "31/02/2010",
         "individual_aware": "Maybe", "referrer_phone": "", "referrer_email": "nobody"}
# What check.MESSAGES told the referrer about WRONG, word for word, before codes.
TOLD = ["- Not given: Surname",
        "- Not a valid date: Date of Birth (DD/MM/YYYY)",
        "- Please answer Yes or No: Is the individual aware of this referral? (Yes/No)",
        "- Not given: Contact Telephone Number",
        "- Not a valid email address: Email Address"]


def record_referral(store: Store, settings: Settings, fields: dict[str, str],
                    message: bytes) -> str:
    """One referral through decide and record (no servers); its reference."""
    pipeline = Pipeline(settings, store, RULES, None,  # type: ignore[arg-type]
                        Composer(settings, settings.templates_dir))
    raw = RawMessage("INBOX", 1, 1, NOW, message, len(message))
    email = parse(message)
    recorded = pipeline.record_one(raw, email, Extraction("docx", fields, carries_form=True),
                                   content_hash(raw, email), NOW, first_delivery=None)
    assert recorded.reference
    return recorded.reference


def texts(store: Store, kind: str) -> list[str]:
    """The plain-text part of each queued message of `kind`, in order."""
    rows = store.query("SELECT raw FROM outbox WHERE kind = ? ORDER BY id", (kind,))
    return [message_from_bytes(bytes(row["raw"]), policy=policy.default)
            .get_body(("plain",)).get_content() for row in rows]


def bullets(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("- ")]


def test_a_referral_s_findings_are_kept_as_codes_and_told_as_before(store, settings):
    reference = record_referral(store, settings, WRONG, referral_email(cc=[]))

    stored = found(store, reference).findings
    assert all("message" not in finding for finding in stored)
    assert [(f["code"], f["field"], f["values"]) for f in stored] == [
        ("required", "subject_surname", {}), ("not-a-date", "subject_dob", {}),
        ("yes-no", "individual_aware", {}), ("required", "referrer_phone", {}),
        ("email", "referrer_email", {}), ("recipients", "mashagency@lewisham.gov.uk", {})]
    [ack] = texts(store, "ack")
    assert bullets(ack) == [*TOLD, "- mashagency@lewisham.gov.uk"]


def changed_wording(tmp_path: Path, settings: Settings) -> Settings:
    """The council's own copies of rules/ and templates/, with new wording and a new label."""
    rules, templates = tmp_path / "our-rules", tmp_path / "our-templates"
    shutil.copytree(project_dir("rules"), rules)
    shutil.copytree(project_dir("templates"), templates)
    fields = rules / "fields.toml"
    fields.write_text(fields.read_text().replace('label = "Surname"',
                                                 'label = "Surname of the individual"'))
    wording = templates / "_findings.j2"
    text = wording.read_text()
    assert "Not given: {{ label }}" in text
    wording.write_text(text.replace("Not given: {{ label }}", "Please tell us the {{ label }}"))
    return replace(settings, rules_dir=rules, templates_dir=templates)


def test_a_reminder_after_the_wording_changed_says_the_new_wording(store, settings, tmp_path):
    reference = record_referral(store, settings, WRONG, referral_email())
    [ack] = texts(store, "ack")
    assert "- Not given: Surname" in bullets(ack)

    later = changed_wording(tmp_path, settings)
    composer = Composer(later, later.templates_dir)
    assert queue_due_reminders(store, composer, later, NOW + timedelta(days=1)) == [reference]

    [reminder] = texts(store, "reminder")
    assert bullets(reminder) == ["- Please tell us the Surname of the individual",
                                 *TOLD[1:3],
                                 "- Please tell us the Contact Telephone Number",
                                 TOLD[4]]
    intake = found(store, reference)
    assert queries.findings(later, intake)[0] == "Please tell us the Surname of the individual"
    shown = render_show(store, later, reference) or ""
    assert "  subject_surname: Please tell us the Surname of the individual" in shown


def test_a_key_gone_from_the_rules_is_said_with_the_label_it_was_found_with(
        store, settings, tmp_path):
    reference = record_referral(store, settings, WRONG, referral_email())
    later = changed_wording(tmp_path, settings)
    fields = later.rules_dir / "fields.toml"
    fields.write_text(fields.read_text().replace('key = "referrer_phone"', 'key = "phone"'))
    intake = found(store, reference)
    said = queries.findings(later, intake)
    assert said[0] == "Please tell us the Surname of the individual"  # the rules were read
    assert said[3] == "Please tell us the Contact Telephone Number"


OLD_FINDINGS = [
    {"rule": "required", "field": "subject_surname", "label": "Surname",
     "message": "Not given: Surname"},
    {"rule": "date-of-birth", "field": "subject_dob", "label": "Date of Birth (DD/MM/YYYY)",
     "message": "Date is more than 120 years ago: Date of Birth (DD/MM/YYYY)"},
    {"rule": "recipients", "field": "mashagency@lewisham.gov.uk",
     "label": "mashagency@lewisham.gov.uk",
     "message": "Not addressed to or copied in: mashagency@lewisham.gov.uk"},
    {"rule": "yes-no", "field": "individual_aware", "label": "Aware?",
     "message": "Tell us whether they know."},  # no sentence of the old wording: kept
]


def store_before_codes(path: Path) -> None:
    """A store at the migration before i15-finding-codes, with one intake written by then."""
    old = sqlite3.connect(path)
    names = [name for name, _ in MIGRATIONS]
    before = names[:names.index("i15-finding-codes")]
    old.execute("CREATE TABLE migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    for name, sql in MIGRATIONS[:len(before)]:
        for statement in statements(sql):
            old.execute(statement)
        old.execute("INSERT INTO migrations VALUES (?, '2026-11-01T00:00:00+00:00')", (name,))
    old.execute(
        "INSERT INTO intakes (reference, message_id, sender, reply_to, received_at, "
        "last_message_at, status, missing, invalid, cc_missing, findings, created_at, "
        "updated_at) VALUES ('PRV-2026-00001', '<r@school.example.org>', "
        "'jo@school.example.org', 'jo@school.example.org', ?, ?, 'incomplete', "
        "'[\"subject_surname\"]', '[\"subject_dob\", \"individual_aware\"]', "
        "'[\"mashagency@lewisham.gov.uk\"]', ?, ?, ?)",
        (NOW.isoformat(), NOW.isoformat(), json.dumps(OLD_FINDINGS), NOW.isoformat(),
         NOW.isoformat()))
    old.commit()
    old.close()


def test_the_migration_reads_old_sentences_back_to_codes_and_keeps_one_it_cannot(
        tmp_path, settings):
    path = tmp_path / "old.sqlite3"
    store_before_codes(path)

    store = Store(path)
    intake = found(store, "PRV-2026-00001")
    assert list(intake.findings) == [
        {"rule": "required", "field": "subject_surname", "label": "Surname",
         "code": "required", "values": {}},
        {"rule": "date-of-birth", "field": "subject_dob", "label": "Date of Birth (DD/MM/YYYY)",
         "code": "too-old", "values": {"years": 120}},
        {"rule": "recipients", "field": "mashagency@lewisham.gov.uk",
         "label": "mashagency@lewisham.gov.uk", "code": "recipients", "values": {}},
        OLD_FINDINGS[3],
    ]
    # What the referrer is told is what the sentences said; the unmapped one as it was.
    ack = Composer(settings).acknowledgement(intake)
    assert bullets(ack.get_body(("plain",)).get_content()) == [
        "- Not given: Surname",
        "- Date is more than 120 years ago: Date of Birth (DD/MM/YYYY)",
        "- Aware?: Tell us whether they know.",
        "- mashagency@lewisham.gov.uk"]
    assert queries.findings(settings, intake)[3] == "Tell us whether they know."
    store.close()
    again = Store(path)  # applied once: opening again changes nothing
    assert found(again, "PRV-2026-00001").findings == intake.findings
    again.close()


def test_the_migration_leaves_what_it_cannot_read_as_it_is():
    for column in ("not json", '{"message": "x"}', '["a sentence"]', "", None):
        assert coded_findings(column) == column
    coded = json.dumps([{"rule": "required", "field": "x", "label": "X", "code": "required",
                         "values": {}, "message": "Not given: X"}])
    assert coded_findings(coded) == coded  # already a code: not read again


def test_own_templates_copied_before_findings_were_templates_say_the_shipped_wording(
        store, settings, tmp_path):
    folder = tmp_path / "our-templates"
    shutil.copytree(project_dir("templates"), folder)
    (folder / "_findings.j2").unlink()
    own = replace(settings, templates_dir=folder)
    assert template_problems(own) == []
    record_referral(store, own, WRONG, referral_email())
    [ack] = texts(store, "ack")
    assert bullets(ack) == TOLD
