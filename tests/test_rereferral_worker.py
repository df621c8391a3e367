"""Issue 17 end to end: real Dovecot, real aiosmtpd, the real `intake` command.

A second referral about the same individual, from another agency, is linked to the
first, raised in the queue and alerted to the MASH, never mentioned to its referrer;
the screening clock counts working hours, alerts the MASH once when it runs out,
stops on `intake triaged`, and the digest counts what was late.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from email import message_from_bytes, policy

import pytest
from support.forms import SAMPLE_VALUES, make_form
from support.harness import intake, write_settings
from support.mail import referral_email

pytestmark = pytest.mark.servers

CALM = "Has been repeating slogans from an extremist channel in class and seems isolated."
FIRST = {**SAMPLE_VALUES, "concerns": CALM, "other_information": ""}
# The same girl, written differently, referred by her GP practice five months later.
SECOND = {**FIRST, "subject_forenames": "Zoe", "subject_surname": "OConnor",
          "subject_dob": "7.3.2011", "referrer_name": "Dr Sam Patel",
          "referrer_role": "GP, Lee Health Centre", "referrer_email": "s.patel@gp.example.org"}
# Someone else who shares her surname, with another date of birth.
NAMESAKE = {**FIRST, "subject_forenames": "Ciara", "subject_dob": "01/01/2009"}


def mails(smtp_server) -> list:
    return [(m.rcpt_tos, message_from_bytes(m.content, policy=policy.default))
            for m in smtp_server.received]


def text_of(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def readable(message) -> str:
    """What a reader sees: the headers and every decoded text part (not MIME boundaries)."""
    parts = [f"{name}: {value}" for name, value in message.items()]
    parts += [part.get_content() for part in message.walk()
              if part.get_content_maintype() == "text"]
    return "\n".join(parts)


def exported(config, env) -> dict[str, dict]:
    done = intake(config, "export", "--format", "jsonl", env=env)
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    return {row["message_id"]: row for row in rows}


@pytest.fixture
def config(tmp_path, dovecot, smtp_server):
    return write_settings(tmp_path, dovecot, smtp_server)


def test_a_second_referral_about_the_same_person_is_linked_raised_and_kept_from_the_referrer(
        config, dovecot, smtp_server):
    dovecot.append(referral_email([make_form("docx", FIRST)], message_id="<first@school>"),
                   when=datetime(2026, 6, 10, 10, 0, tzinfo=UTC))
    dovecot.append(referral_email([make_form("pdf-form", NAMESAKE)],
                                  message_id="<namesake@school>"),
                   when=datetime(2026, 9, 1, 10, 0, tzinfo=UTC))
    dovecot.append(referral_email([make_form("pdf-form", SECOND)],
                                  sender="Dr Sam Patel <s.patel@gp.example.org>",
                                  message_id="<second@gp>"),
                   when=datetime(2026, 11, 10, 10, 0, tzinfo=UTC))
    env = {"INTAKE_NOW": "2026-11-10T10:30:00+00:00"}
    done = intake(config, "run", "--once", env=env)
    assert done.returncode == 0, done.stderr

    rows = exported(config, env)
    first, namesake, second = rows["<first@school>"], rows["<namesake@school>"], rows["<second@gp>"]
    assert second["earlier_referrals"] == [first["reference"]]
    assert first["earlier_referrals"] == [] and namesake["earlier_referrals"] == []
    assert second["priority"] == "normal"  # raised in the queue, its priority unchanged

    # The MASH is alerted at once, with references only.
    alerts = [(to, m) for to, m in mails(smtp_server)
              if m["X-Prevent-Intake"] == second["reference"] and "referred before" in m["Subject"]]
    assert len(alerts) == 1
    to, alert = alerts[0]
    assert to == ("mashagency@lewisham.gov.uk",)
    assert f"Referred before: {first['reference']} (same individual)" in text_of(alert)
    for personal in ("Zo", "Connor", "2011", "Patel", "slogans"):
        assert personal not in readable(alert)

    # The referrer hears nothing of it: not the earlier reference, not that there was one.
    acks = [m for to, m in mails(smtp_server) if to == ("s.patel@gp.example.org",)]
    assert len(acks) == 1
    for part in acks[0].walk():
        if part.get_content_maintype() == "text":
            body = part.get_content()
            assert first["reference"] not in body and "before" not in body.lower()

    # Triage: the second referral comes first, seen before once; the namesake is not linked.
    table = intake(config, "triage", "--status", "complete", env=env).stdout.splitlines()
    refs = [line.split()[0] for line in table if line.startswith("PRV-")]
    assert refs[0] == second["reference"]
    second_line = next(line for line in table if line.startswith(second["reference"]))
    assert "referred before" in second_line
    header = table[0]
    assert second_line[header.index("Seen before"):].split()[0] == "1"

    # Show: the link, its strength, the earlier one's date, status and who referred.
    shown = intake(config, "show", second["reference"], env=env).stdout
    link_line = next(line for line in shown.splitlines() if first["reference"] in line
                     and line.strip().startswith("earlier"))
    assert "same" in link_line and "2026-06-10" in link_line
    assert "complete" in link_line and "Prendergast School" in link_line
    earlier_shown = intake(config, "show", first["reference"], env=env).stdout
    for trail, other in ((earlier_shown, second), (shown, first)):  # both audit trails
        assert any(" linked " in line and f'other="{other["reference"]}"' in line
                   and 'strength="same"' in line for line in trail.splitlines())

    digest = intake(config, "digest", "--date", "2026-11-10", "--dry-run", env=env).stdout
    assert "Referred before: 1" in digest.splitlines()

    text = intake(config, "export", "--format", "csv", env=env).stdout.lstrip("\ufeff")
    by_message = {row["message_id"]: row for row in csv.DictReader(io.StringIO(text))}
    assert by_message["<second@gp>"]["earlier_referrals"] == first["reference"]
    assert by_message["<first@school>"]["earlier_referrals"] == ""


def test_a_purged_intake_is_no_longer_matched_and_its_links_keep_only_references(
        config, dovecot, smtp_server):
    dovecot.append(referral_email([make_form("docx", FIRST)], message_id="<first@school>"),
                   when=datetime(2026, 1, 10, 10, 0, tzinfo=UTC))
    dovecot.append(referral_email([make_form("pdf-form", SECOND)], message_id="<second@gp>",
                                  sender="Dr Sam Patel <s.patel@gp.example.org>"),
                   when=datetime(2026, 2, 10, 10, 0, tzinfo=UTC))
    env = {"INTAKE_NOW": "2026-02-10T10:30:00+00:00"}
    assert intake(config, "run", "--once", env=env).returncode == 0
    rows = exported(config, env)
    first = rows["<first@school>"]["reference"]
    assert intake(config, "close", first, "--reason", "NFA", env=env).returncode == 0
    later = {"INTAKE_NOW": "2026-06-10T10:30:00+00:00"}
    purged = intake(config, "purge", "--older-than", "30", env=later)
    assert purged.returncode == 0, purged.stderr

    shown = intake(config, "show", rows["<second@gp>"]["reference"], env=later).stdout
    assert f"earlier  {first}  (details erased by purge)" in shown
    # A third referral about her is not matched with the purged one.
    dovecot.append(referral_email([make_form("docx", FIRST)], message_id="<third@school>"),
                   when=datetime(2026, 6, 10, 10, 0, tzinfo=UTC))
    assert intake(config, "run", "--once", env=later).returncode == 0
    third = exported(config, later)["<third@school>"]
    assert third["earlier_referrals"] == [rows["<second@gp>"]["reference"]]


def test_the_screening_clock_alerts_once_when_overdue_and_stops_when_triaged(
        config, dovecot, smtp_server):
    # Friday 22 May 2026, 16:30 in London, before the Spring bank holiday Monday.
    dovecot.append(referral_email([make_form("docx", FIRST)], message_id="<friday@school>"),
                   when=datetime(2026, 5, 22, 15, 30, tzinfo=UTC))
    friday = {"INTAKE_NOW": "2026-05-22T15:45:00+00:00"}
    assert intake(config, "run", "--once", env=friday).returncode == 0
    (row,) = exported(config, friday).values()
    reference = row["reference"]
    assert row["screening_due"] == "2026-05-28T15:30:00+00:00"  # Thursday 16:30 BST
    assert row["screened_at"] is None
    table = intake(config, "triage", "--status", "complete", env=friday).stdout
    assert "due in 23h" in table  # 15 minutes of Friday gone, Monday not counted

    thursday = {"INTAKE_NOW": "2026-05-28T16:00:00+00:00"}  # 17:00 BST: 30 minutes over
    done = intake(config, "run", "--once", env=thursday)
    assert done.returncode == 0, done.stderr
    assert f"{reference} screening overdue" in done.stderr
    assert intake(config, "run", "--once", env=thursday).returncode == 0  # once only
    overdue = [m for to, m in mails(smtp_server) if "screening overdue" in str(m["Subject"])]
    assert len(overdue) == 1
    assert overdue[0]["To"] == "mashagency@lewisham.gov.uk"
    assert "Zo" not in readable(overdue[0]) and "Connor" not in readable(overdue[0])
    assert "overdue 30m" in intake(config, "triage", "--status", "complete",
                                   env=thursday).stdout

    later = {"INTAKE_NOW": "2026-05-29T08:15:00+00:00"}
    done = intake(config, "triaged", reference, "--by", "A. Duty", "--outcome", "to CSC",
                  env=later)
    assert done.returncode == 0, done.stderr
    again = intake(config, "triaged", reference, "--by", "A. Duty", env=later)
    assert again.returncode == 2 and "already screened" in again.stderr
    unknown = intake(config, "triaged", "PRV-2099-00001", "--by", "A. Duty", env=later)
    assert unknown.returncode == 2 and "no intake PRV-2099-00001" in unknown.stderr
    (row,) = exported(config, later).values()
    assert row["screened_at"] == "2026-05-29T08:15:00+00:00"
    shown = intake(config, "show", reference, env=later).stdout
    assert "met       2026-05-29 09:15 BST (late; triaged by A. Duty)" in shown
    digest = intake(config, "digest", "--date", "2026-05-28", "--dry-run", env=later).stdout
    assert "Screened late: 1" in digest.splitlines()
    assert f"{reference}: due 16:30, screened 2026-05-29 09:15" in digest
    # once triaged, no more reminders of it
    assert intake(config, "run", "--once", env=later).returncode == 0
    assert len([m for to, m in mails(smtp_server)
                if "screening overdue" in str(m["Subject"])]) == 1


def test_closing_stops_the_clock(config, dovecot, smtp_server):
    dovecot.append(referral_email([make_form("docx", FIRST)], message_id="<closed@school>"),
                   when=datetime(2026, 6, 15, 9, 0, tzinfo=UTC))
    monday = {"INTAKE_NOW": "2026-06-15T09:30:00+00:00"}
    assert intake(config, "run", "--once", env=monday).returncode == 0
    (row,) = exported(config, monday).values()
    assert intake(config, "close", row["reference"], "--reason", "duplicate",
                  env=monday).returncode == 0
    much_later = {"INTAKE_NOW": "2026-07-15T09:30:00+00:00"}
    assert intake(config, "run", "--once", env=much_later).returncode == 0
    assert not [m for to, m in mails(smtp_server) if "screening overdue" in str(m["Subject"])]
    (row,) = exported(config, much_later).values()
    assert row["screened_at"] == "2026-06-15T09:30:00+00:00"
