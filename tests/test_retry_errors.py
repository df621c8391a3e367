"""An intake recorded as `error` is taken again at the next start: the reply and the
alert it owes are queued then, and its audit trail says so. Real Dovecot and aiosmtpd."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from email import message_from_bytes, policy

import pytest
from support.forms import SAMPLE_VALUES, make_form
from support.harness import ROOT, intake, write_settings
from support.mail import referral_email

pytestmark = pytest.mark.servers

# Renders for check-config's sample (January) but fails on a November referral: the
# kind of fault only real data finds.
FAULT = '{% if "November" in received %}{{ this_name_is_not_defined }}{% endif %}\n'


def subjects(smtp_server) -> list[str]:
    """What was sent about intakes (not the digest)."""
    every = [str(message_from_bytes(m.content, policy=policy.default)["Subject"])
             for m in smtp_server.received]
    # The referral is from November: once retried, its screening clock (issue 17) is long
    # past and the MASH gets its one overdue reminder, which is not what this is about.
    return [subject for subject in every if subject.startswith("[PRV-")
            and not subject.endswith("screening overdue")]


def test_an_error_intake_is_retried_at_the_next_start_and_gets_its_reply_and_alert(
        tmp_path, dovecot, smtp_server):
    templates = tmp_path / "our-templates"
    shutil.copytree(ROOT / "templates", templates)
    ack = templates / "acknowledgement.txt.j2"
    ack.write_text(FAULT + ack.read_text())
    broken = write_settings(tmp_path, dovecot, smtp_server,
                            extra=f'[rules]\ntemplates = "{templates}"\n')
    dovecot.append(referral_email([make_form("docx", SAMPLE_VALUES)],
                                  message_id="<urgent-1@school.example.org>"),
                   when=datetime(2026, 11, 20, 9, 0, tzinfo=UTC))
    first = intake(broken, "run", "--once")
    assert first.returncode == 0, first.stderr
    assert "could not process; recorded for manual review" in first.stderr
    assert subjects(smtp_server) == ["[PRV-2026-00001] Prevent referral: manual review needed"]

    fixed = write_settings(tmp_path, dovecot, smtp_server)  # the shipped templates again
    second = intake(fixed, "run", "--once")
    assert second.returncode == 0, second.stderr
    assert "PRV-2026-00001 retried: intake complete queued ack,alert" in second.stderr
    assert subjects(smtp_server)[1:] == ["[PRV-2026-00001] Prevent referral received",
                                         "[PRV-2026-00001] Prevent referral: URGENT"]
    (row,) = [json.loads(line) for line in intake(fixed, "export", "--format", "jsonl")
              .stdout.splitlines()]
    assert (row["status"], row["priority"], row["review_reason"]) == ("complete", "urgent", None)
    shown = intake(fixed, "show", "PRV-2026-00001").stdout
    assert "error" in shown and "retried" in shown

    third = intake(fixed, "run", "--once")  # retried once, not at every start
    assert third.returncode == 0, third.stderr
    assert "retried" not in third.stderr and len(subjects(smtp_server)) == 3


def test_an_error_intake_gets_its_screening_deadline_at_once_like_any_new_referral(
        tmp_path, dovecot, smtp_server):
    templates = tmp_path / "our-templates"
    shutil.copytree(ROOT / "templates", templates)
    ack = templates / "acknowledgement.txt.j2"
    ack.write_text(FAULT + ack.read_text())
    broken = write_settings(tmp_path, dovecot, smtp_server,
                            extra=f'[rules]\ntemplates = "{templates}"\n')
    # Friday 20 November 2026, 09:00 GMT: normal priority, 24 working hours of 09:00-17:00.
    dovecot.append(referral_email([make_form("docx", SAMPLE_VALUES)]),
                   when=datetime(2026, 11, 20, 9, 0, tzinfo=UTC))
    first = intake(broken, "run", "--once")
    assert first.returncode == 0, first.stderr
    assert "could not process; recorded for manual review" in first.stderr
    assert "screening deadline could not be set" not in first.stderr
    (row,) = [json.loads(line) for line in intake(broken, "export", "--format", "jsonl")
              .stdout.splitlines()]
    assert (row["status"], row["review_reason"]) == ("manual_review", "error")
    assert row["screening_due"] == "2026-11-24T17:00:00+00:00"
    shown = intake(broken, "show", "PRV-2026-00001").stdout
    assert "screening-due" in shown


def test_an_error_that_fails_again_stays_for_manual_review_and_says_so(
        tmp_path, dovecot, smtp_server):
    templates = tmp_path / "our-templates"
    shutil.copytree(ROOT / "templates", templates)
    ack = templates / "acknowledgement.txt.j2"
    ack.write_text(FAULT + ack.read_text())
    broken = write_settings(tmp_path, dovecot, smtp_server,
                            extra=f'[rules]\ntemplates = "{templates}"\n')
    dovecot.append(referral_email([make_form("docx", SAMPLE_VALUES)]),
                   when=datetime(2026, 11, 20, 9, 0, tzinfo=UTC))
    assert intake(broken, "run", "--once").returncode == 0
    again = intake(broken, "run", "--once")
    assert again.returncode == 0, again.stderr
    assert "PRV-2026-00001 retried: failed again (UndefinedError); still for manual review" \
        in again.stderr
    (row,) = [json.loads(line) for line in intake(broken, "export", "--format", "jsonl")
              .stdout.splitlines()]
    assert (row["status"], row["review_reason"]) == ("manual_review", "error")
    assert "retry-failed" in intake(broken, "show", "PRV-2026-00001").stdout
