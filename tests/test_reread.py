"""`intake reread` end to end (real Dovecot, real aiosmtpd, the real command).

The worker first reads with rules that cannot read a .doc form (manual review,
"unsupported"), as an older install did; then the rules are today's and
`intake reread` reads the stored message again: the verdict changes, the change
is audited, and the referrer gets one updated acknowledgement, never a second.
"""

from __future__ import annotations

import json
import shutil
from email import message_from_bytes, policy

import pytest
from support.forms import SAMPLE_VALUES, make_form
from support.harness import ROOT, intake, write_settings
from support.mail import referral_email
from support.office import convert

pytestmark = pytest.mark.servers


@pytest.fixture(scope="module")
def doc_form(tmp_path_factory) -> bytes:
    folder = tmp_path_factory.mktemp("doc")
    source = folder / "Prevent referral.docx"
    source.write_bytes(make_form("docx", SAMPLE_VALUES)[2])
    [doc] = convert([source], "doc", folder / "out")
    return doc.read_bytes()


def old_rules(tmp_path):
    """Today's rules, except that .doc files are not read (sent to manual review)."""
    rules = tmp_path / "old-rules"
    shutil.copytree(ROOT / "rules", rules)
    referral = rules / "referral.toml"
    text = referral.read_text(encoding="utf-8")
    text = text.replace('".doc" = "doc"\n', "").replace('[review_types]\n',
                                                         '[review_types]\n".doc" = "unsupported"\n')
    text = text.replace('"application/msword" = "doc"', '"application/msword" = "unsupported"')
    referral.write_text(text, encoding="utf-8")
    return rules


def configs(tmp_path, dovecot, smtp_server):
    rules = old_rules(tmp_path)
    config = write_settings(tmp_path, dovecot, smtp_server)
    today = config.read_text(encoding="utf-8")
    config.write_text(today + f'\n[rules]\npath = "{rules}"\n', encoding="utf-8")
    return config, today


def exported(config) -> dict[str, dict]:
    done = intake(config, "export", "--format", "jsonl")
    assert done.returncode == 0, done.stderr
    return {row["reference"]: row for row in map(json.loads, done.stdout.splitlines())}


def replies(smtp_server, word: str) -> list:
    messages = [message_from_bytes(m.content, policy=policy.default) for m in smtp_server.received]
    return [m for m in messages if f"Prevent referral {word}" in str(m["Subject"])]


def test_reread_turns_an_unread_doc_into_a_complete_referral_and_tells_the_referrer_once(
        tmp_path, dovecot, smtp_server, doc_form):
    config, today = configs(tmp_path, dovecot, smtp_server)
    dovecot.append(referral_email([("Prevent referral.doc", "application/msword", doc_form)]))
    assert intake(config, "run", "--once").returncode == 0
    [(reference, row)] = exported(config).items()
    assert (row["status"], row["review_reason"]) == ("manual_review", "unsupported")
    assert len(replies(smtp_server, "received")) == 1

    config.write_text(today, encoding="utf-8")  # today's rules: .doc is read
    dry = intake(config, "reread", reference, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert f"{reference} would change: manual_review (unsupported) -> complete" in dry.stdout
    assert exported(config)[reference]["status"] == "manual_review"  # nothing written

    done = intake(config, "reread", reference)
    assert done.returncode == 0, done.stderr
    assert f"{reference} changed: manual_review (unsupported) -> complete" in done.stdout
    assert "queued ack" in done.stdout
    assert "O'Connor" not in done.stdout + done.stderr  # field names, never answers
    row = exported(config)[reference]
    assert (row["status"], row["source"], row["review_reason"]) == ("complete", "doc", None)
    assert row["fields"]["subject_surname"] == "O'Connor"

    assert intake(config, "run", "--once").returncode == 0
    [updated] = replies(smtp_server, "updated")
    assert str(updated["To"]) == "jo.teacher@school.example.org"
    assert reference in str(updated["Subject"])
    assert "not complete" not in updated.get_body(("plain",)).get_content()

    again = intake(config, "reread", "--status", "complete")
    assert f"{reference} unchanged: complete" in again.stdout
    assert intake(config, "run", "--once").returncode == 0
    assert len(replies(smtp_server, "updated")) == 1
    shown = intake(config, "show", reference)
    assert "reread" in shown.stdout


def test_reread_by_status_never_answers_machine_mail(tmp_path, dovecot, smtp_server, doc_form):
    config, today = configs(tmp_path, dovecot, smtp_server)
    dovecot.append(referral_email([("Prevent referral.doc", "application/msword", doc_form)],
                                  headers={"Auto-Submitted": "auto-generated"},
                                  message_id="<machine-1@school.example.org>"))
    dovecot.append(referral_email([("Prevent referral.doc", "application/msword", doc_form)],
                                  message_id="<person-1@school.example.org>",
                                  sender="Sam Head <sam.head@school.example.org>"))
    assert intake(config, "run", "--once").returncode == 0
    assert {row["status"] for row in exported(config).values()} == {"manual_review"}
    config.write_text(today, encoding="utf-8")
    done = intake(config, "reread", "--status", "manual_review", "--since", "2020-01-01")
    assert done.returncode == 0, done.stderr
    assert "2 intakes reread, 2 changed" in done.stdout
    assert intake(config, "run", "--once").returncode == 0
    assert [str(m["To"]) for m in replies(smtp_server, "updated")] == [
        "sam.head@school.example.org"]


def test_reread_of_an_unknown_reference_exits_2(tmp_path, dovecot, smtp_server):
    config = write_settings(tmp_path, dovecot, smtp_server)
    assert intake(config, "run", "--once").returncode == 0
    done = intake(config, "reread", "PRV-2026-99999")
    assert done.returncode == 2
    assert "PRV-2026-99999 skipped: no such intake" in done.stdout
    assert intake(config, "reread").returncode == 2  # neither references nor --status
