"""Hostile and broken mail through the real worker: each gets its outcome, none crashes it.

The corpus (corpus.py) is appended to a real mailbox with a valid referral
behind it; one `intake run --once` must take it all, give each message the
outcome a MASH worker expects (manual review with its reason, ignored, or
a clean intake), send no reply a header could be injected into, write
nothing outside the store, and still process the referral at the back.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from corpus import EVIL_NAMES, Item, corpus
from reliability_kit import exported, parsed, store_rows
from support.forms import SAMPLE_VALUES, make_form
from support.harness import intake
from support.mail import referral_email

BEHIND = "<valid-behind-the-corpus@school.example.org>"
KNOWN_FILES = {"settings.toml", "imap-password", "intake.sqlite3", "intake.sqlite3-wal",
               "intake.sqlite3-shm", "intake.sqlite3.lock", "intake.sqlite3.heartbeat"}


def outcome(message: dict, intakes: dict[int, dict]) -> str:
    """What a MASH worker sees for one recorded message, in the corpus's terms."""
    if message["outcome"] != "intake":
        return message["outcome"]
    row = intakes[message["intake_id"]]
    if row["status"] == "manual_review":
        return f"review:{row['review_reason']}"
    return row["status"]


def matches(expect: str, got: str) -> bool:
    if expect == "intake":
        return got in ("complete", "incomplete") or got.startswith("review:")
    if expect == "review:*":
        return got.startswith("review:") and got != "review:error"
    return got == expect


def run_corpus(config: Path, dovecot, items: list[Item]) -> tuple[list[tuple], str]:
    valid = referral_email([make_form("pdf-form", SAMPLE_VALUES)], message_id=BEHIND)
    uids = dovecot.append_many([item.data for item in items] + [valid])
    done = intake(config, "run", "--once", timeout=600)
    assert done.returncode == 0, done.stderr[-5000:]
    messages = {row["uid"]: dict(row) for row in store_rows(
        config, "SELECT uid, outcome, reason, intake_id FROM messages")}
    intakes = {row["id"]: dict(row) for row in store_rows(
        config, "SELECT id, status, review_reason FROM intakes")}
    # Every message is recorded and marked: none crashed the worker or was skipped.
    assert set(messages) == set(uids)
    assert all("$PreventIntake" in m.flags for m in dovecot.messages())
    table = [(item.name, item.expect, outcome(messages[uid], intakes))
             for item, uid in zip(items, uids, strict=False)]
    behind = outcome(messages[uids[-1]], intakes)
    assert behind == "complete", behind
    assert BEHIND in {row["message_id"] for row in exported(config)}
    return table, done.stderr


def check_table(table: list[tuple]) -> None:
    wrong = [f"{name}: expected {expect}, got {got}" for name, expect, got in table
             if not matches(expect, got)]
    assert not wrong, "\n".join(wrong)


def check_replies_uninjected(smtp_server) -> None:
    """Every message we sent has one recipient and none of the attacker's headers."""
    assert smtp_server.received
    for mail in smtp_server.received:
        assert len(mail.rcpt_tos) == 1
        assert not any("evil.example" in address for address in mail.rcpt_tos)
        head = mail.content.split(b"\r\n\r\n", 1)[0]
        assert b"evil.example" not in head, head
        message = parsed(mail.content)
        assert message["Bcc"] is None
        assert all("\r" not in value and "\n" not in value for value in message.values())


def check_nothing_written_outside(tmp_path: Path) -> None:
    for directory, _dirs, files in os.walk(tmp_path):
        for name in files:
            path = Path(directory, name)
            assert "escape" not in name, path
            if Path(directory) == tmp_path:
                assert name in KNOWN_FILES or name.startswith("worker-"), path
    for name in EVIL_NAMES[:3]:
        for base in (Path("/"), Path("/tmp"), tmp_path, tmp_path.parent, Path.cwd()):
            assert not (base / Path(name.replace("\\", "/")).name).exists()


def test_hostile_corpus_each_gets_its_outcome_and_the_referral_behind_goes_through(
        config, dovecot, smtp_server, tmp_path, figures):
    items = corpus(heavy=True)
    table, stderr = run_corpus(config, dovecot, items)
    check_table(table)
    assert "Traceback" not in stderr
    check_replies_uninjected(smtp_server)
    check_nothing_written_outside(tmp_path)
    assert len(items) >= 40
    figures.update({"kinds of hostile input": len(items), "crashes": 0,
                    "injected headers": 0, "files written outside the store": 0})


@pytest.mark.soak
def test_hostile_corpus_under_kills_gets_the_same_outcomes(config, dovecot, smtp_server,
                                                           tmp_path, figures):
    """The corpus again, the worker SIGKILLed after every third message it records:
    each message still gets its outcome, once."""
    items = corpus(heavy=True)
    valid = referral_email([make_form("pdf-form", SAMPLE_VALUES)], message_id=BEHIND)
    dovecot.append_many([item.data for item in items] + [valid])
    kills = 0
    while (done := intake(config, "run", "--once", timeout=600,
                          env={"INTAKE_CRASH_AT": "recorded:3"})).returncode == -9:
        kills += 1
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    check_outcomes_by_order(config, dovecot, [*items, Item("valid-behind", valid, "complete")])
    check_replies_uninjected(smtp_server)
    figures.update({"kinds of hostile input": len(items), "kills survived": kills})
    assert kills >= len(items) // 3 - 1


def check_outcomes_by_order(config: Path, dovecot, items: list[Item]) -> None:
    uids = [m.uid for m in dovecot.messages()]
    messages = {row["uid"]: dict(row) for row in store_rows(
        config, "SELECT uid, outcome, intake_id FROM messages")}
    intakes = {row["id"]: dict(row) for row in store_rows(
        config, "SELECT id, status, review_reason FROM intakes")}
    check_table([(item.name, item.expect, outcome(messages[uid], intakes))
                 for item, uid in zip(items, uids, strict=False)])
    assert len(exported(config)) == len({m["intake_id"] for m in messages.values()} - {None})
