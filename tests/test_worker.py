"""The worker end to end: real Dovecot, real aiosmtpd, the real `intake` command.

Each test APPENDs mail, runs `intake run --once` (or `run`) as its own
process, and checks what a MASH worker and a referrer would see: the
export, the acknowledgements the SMTP server received, the mailbox flags.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from email import message_from_bytes, policy

import pytest
from support.forms import SAMPLE_VALUES, make_form
from support.harness import ROOT, intake, write_settings
from support.mail import raw_email, referral_email

pytestmark = pytest.mark.servers


def complete_referral(number: int, layout: str = "docx") -> bytes:
    return referral_email([make_form(layout, SAMPLE_VALUES)],
                          message_id=f"<referral-{number}@school.example.org>")


def incomplete_referral(number: int) -> bytes:
    values = {**SAMPLE_VALUES, "subject_surname": "", "referrer_email": ""}
    return referral_email([make_form("pdf-form", values)],
                          message_id=f"<incomplete-{number}@school.example.org>",
                          to=["prevent@lewisham.gov.uk"], cc=["mashagency@lewisham.gov.uk"])


def exported(config) -> list[dict]:
    done = intake(config, "export", "--format", "jsonl")
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def acknowledgements(smtp_server) -> list:
    messages = [message_from_bytes(m.content, policy=policy.default) for m in smtp_server.received]
    return [m for m in messages if "received" in str(m["Subject"])]


@pytest.fixture
def config(tmp_path, dovecot, smtp_server):
    return write_settings(tmp_path, dovecot, smtp_server)


def test_appended_referrals_become_intakes_acknowledged_once(config, dovecot, smtp_server):
    dovecot.append(complete_referral(1))
    dovecot.append(incomplete_referral(2))
    done = intake(config, "run", "--once")
    assert done.returncode == 0, done.stderr

    intakes = {row["message_id"]: row for row in exported(config)}
    assert intakes["<referral-1@school.example.org>"]["status"] == "complete"
    incomplete = intakes["<incomplete-2@school.example.org>"]
    assert incomplete["status"] == "incomplete"
    assert set(incomplete["missing"]) == {"subject_surname", "referrer_email"}
    assert incomplete["cc_missing"] == ["preventreferrals@met.pnn.police.uk"]
    acks = acknowledgements(smtp_server)
    assert len(acks) == 2
    for mail in smtp_server.received:
        if b"Prevent referral received" in mail.content:
            assert mail.rcpt_tos == ("jo.teacher@school.example.org",)
    # Log lines name UIDs and references, never the individual.
    assert "O'Connor" not in done.stderr and "Zoë" not in done.stderr
    assert all(row["reference"] in done.stderr for row in intakes.values())


def test_second_run_records_nothing_new(config, dovecot, smtp_server):
    dovecot.append(complete_referral(1))
    assert intake(config, "run", "--once").returncode == 0
    sent = len(smtp_server.received)
    again = intake(config, "run", "--once")
    assert again.returncode == 0, again.stderr
    assert len(exported(config)) == 1
    assert len(smtp_server.received) == sent


def test_mail_is_marked_but_never_seen(config, dovecot):
    dovecot.append(complete_referral(1))
    assert intake(config, "run", "--once").returncode == 0
    (stored,) = dovecot.messages()
    assert "$PreventIntake" in stored.flags
    assert "\\Seen" not in stored.flags


def test_shadow_mode_changes_nothing_on_the_mail_server(tmp_path, dovecot, smtp_server):
    """`[smtp] mode = "shadow"`: intakes recorded and replies written to a folder, while
    the mailbox is left as it was: no keyword, no move, even \\Recent untouched."""
    config = write_settings(tmp_path, dovecot, smtp_server, smtp_extra='mode = "shadow"',
                            mailbox_extra='processed_folder = "Processed"')
    dovecot.create_folder("Processed")
    dovecot.append(complete_referral(1))
    dovecot.append(incomplete_referral(2))
    before = dovecot.messages()

    done = intake(config, "run", "--once")
    assert done.returncode == 0, done.stderr
    assert {row["status"] for row in exported(config)} == {"complete", "incomplete"}
    assert len(list((tmp_path / "outgoing").glob("*.eml"))) >= 2
    assert smtp_server.received == []
    assert dovecot.messages() == before and dovecot.messages("Processed") == []
    with dovecot.session() as client:
        assert client.folder_status("INBOX", [b"RECENT"])[b"RECENT"] == 2


def test_a_referral_filed_as_junk_and_its_later_correction_in_the_inbox_are_one_intake(
        tmp_path, dovecot, smtp_server):
    """The folders are read together in order of arrival: the referral the spam filter
    put in Junk comes first, so the correction sent after it (in INBOX) finds it."""
    config = write_settings(tmp_path, dovecot, smtp_server,
                            mailbox_extra='more_folders = ["Junk Email"]')
    original_id = "<filed-as-junk@school.example.org>"
    values = {**SAMPLE_VALUES, "referrer_phone": ""}
    dovecot.append(referral_email([make_form("docx", values)], message_id=original_id),
                   folder="Junk Email", when=datetime(2026, 11, 20, 9, 0, tzinfo=UTC))
    dovecot.append(referral_email(
        [make_form("docx", SAMPLE_VALUES)], subject="RE: Prevent referral",
        message_id="<the-correction@school.example.org>",
        headers={"In-Reply-To": original_id, "References": original_id}),
        when=datetime(2026, 11, 20, 11, 0, tzinfo=UTC))

    done = intake(config, "run", "--once")
    assert done.returncode == 0, done.stderr
    (only,) = exported(config)
    assert only["message_id"] == original_id and only["status"] == "complete"
    assert "correction complete" in done.stderr


def test_same_message_id_twice_is_one_intake_one_reply(config, dovecot, smtp_server):
    referral = complete_referral(1)
    dovecot.append(referral)
    # The second delivery carries its own trace header, as a second path would add.
    dovecot.append(b"Received: from relay2.example.net; Mon, 2 Mar 2026 09:31:00 +0000\r\n"
                   + referral)
    assert intake(config, "run", "--once").returncode == 0
    assert len(exported(config)) == 1
    assert len(acknowledgements(smtp_server)) == 1


def test_a_reused_message_id_on_a_different_form_is_not_discarded(config, dovecot):
    dovecot.append(complete_referral(1))
    other = {**SAMPLE_VALUES, "subject_forenames": "Adam", "subject_surname": "Smith"}
    dovecot.append(referral_email([make_form("docx", other)],
                                  message_id="<referral-1@school.example.org>"))
    assert intake(config, "run", "--once").returncode == 0
    assert len(exported(config)) == 2


def test_uidvalidity_change_records_nothing_again(config, dovecot, smtp_server):
    dovecot.append(complete_referral(1))
    dovecot.append(incomplete_referral(2))
    assert intake(config, "run", "--once").returncode == 0
    sent = len(smtp_server.received)
    dovecot.bump_uidvalidity()
    done = intake(config, "run", "--once")
    assert done.returncode == 0, done.stderr
    assert "UIDVALIDITY changed" in done.stderr
    assert len(exported(config)) == 2
    assert len(smtp_server.received) == sent


@pytest.mark.parametrize("step", ["fetched:1", "recorded:1", "recorded:3", "marked:1"])
def test_killed_mid_batch_then_restarted_loses_nothing(config, dovecot, smtp_server, step):
    for number in range(5):
        dovecot.append(complete_referral(number) if number % 2 else incomplete_referral(number))
    killed = intake(config, "run", "--once", env={"INTAKE_CRASH_AT": step})
    assert killed.returncode == -signal.SIGKILL
    done = intake(config, "run", "--once")
    assert done.returncode == 0, done.stderr
    assert len(exported(config)) == 5
    acks = acknowledgements(smtp_server)
    assert sorted(str(m["To"]) for m in acks) == ["jo.teacher@school.example.org"] * 5
    assert len({m["Message-ID"] for m in acks}) == 5
    assert all("$PreventIntake" in m.flags for m in dovecot.messages())


@pytest.mark.parametrize("step", ["recorded:3", "marked:2"])
def test_two_folders_read_by_arrival_lose_nothing_when_killed(tmp_path, dovecot, smtp_server,
                                                              step):
    """Batches that mix INBOX and Junk: killed between record and mark, or after a
    mark, the next run takes every message once, and every one is marked."""
    config = write_settings(tmp_path, dovecot, smtp_server,
                            mailbox_extra='more_folders = ["Junk Email"]\nbatch_size = 2')
    for number in range(5):  # 5: the hourly reply limit per address
        dovecot.append(complete_referral(number), folder="Junk Email" if number % 2 else "INBOX",
                       when=datetime(2026, 11, 20, 9, number, tzinfo=UTC))
    killed = intake(config, "run", "--once", env={"INTAKE_CRASH_AT": step})
    assert killed.returncode == -signal.SIGKILL
    done = intake(config, "run", "--once")
    assert done.returncode == 0, done.stderr
    assert sorted(row["message_id"] for row in exported(config)) == \
        sorted(f"<referral-{n}@school.example.org>" for n in range(5))
    assert len({m["Message-ID"] for m in acknowledgements(smtp_server)}) == 5
    for folder in ("INBOX", "Junk Email"):
        assert all("$PreventIntake" in m.flags for m in dovecot.messages(folder))


def test_broken_mail_gets_an_outcome_and_the_next_referral_goes_through(config, dovecot):
    broken = [
        raw_email("MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=nope\r\n",
                  "--wrong\r\nContent-Type: application/pdf\r\n\r\nnot really\r\n"),
        raw_email("MIME-Version: 1.0\r\nContent-Type: application/pdf; name=form.pdf\r\n"
                  "Content-Transfer-Encoding: base64\r\n", "%%%% not base64 !!!!"),
        raw_email(head="From: =?x-unknown?B?SGVsbG8=?= <a@b.example>\r\nSubject: \xe9\xff\r\n"),
        b"\r\n",
    ]
    for message in broken:
        dovecot.append(message)
    dovecot.append(complete_referral(9))
    done = intake(config, "run", "--once")
    assert done.returncode == 0, done.stderr
    rows = exported(config)
    assert "<referral-9@school.example.org>" in {row["message_id"] for row in rows}
    # The base64 "form" is a referral that could not be read: a person looks at it.
    assert any(row["status"] == "manual_review" for row in rows)
    assert all("$PreventIntake" in m.flags for m in dovecot.messages())


def test_worker_reconnects_after_dovecot_restart_and_stops_on_sigterm(config, dovecot,
                                                                       smtp_server):
    dovecot.append(complete_referral(1))
    worker = subprocess.Popen(
        [sys.executable, "-m", "intake", "--config", str(config), "run"],
        cwd=config.parent, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        _wait_for(lambda: len(acknowledgements(smtp_server)) == 1)
        dovecot.restart()
        dovecot.append(complete_referral(2))
        _wait_for(lambda: len(acknowledgements(smtp_server)) == 2)
    finally:
        worker.send_signal(signal.SIGTERM)
        _, stderr = worker.communicate(timeout=30)
    assert worker.returncode == 0, stderr
    assert "reconnecting" in stderr
    assert len(exported(config)) == 2


def test_second_worker_on_the_same_store_exits_1(config, dovecot):
    worker = subprocess.Popen(
        [sys.executable, "-m", "intake", "--config", str(config), "run"],
        cwd=config.parent, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        _wait_for(lambda: (config.parent / "intake.sqlite3.heartbeat").exists())
        second = intake(config, "run", "--once")
        assert second.returncode == 1
        assert second.stderr.strip().splitlines() == [
            f"intake: another worker is already running on {config.parent / 'intake.sqlite3'}"
        ]
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.communicate(timeout=30)


def test_unreachable_mailbox_exits_1_with_one_line(tmp_path, dovecot, smtp_server):
    config = write_settings(tmp_path, dovecot, smtp_server)
    text = config.read_text().replace(f"port = {dovecot.port}", "port = 1")
    config.write_text(text)
    done = intake(config, "run", "--once")
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert "127.0.0.1:1" in line


def _wait_for(condition, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError("timed out waiting")


def test_processed_folder_takes_referrals_and_leaves_questions_for_people(tmp_path, dovecot,
                                                                           smtp_server):
    config = write_settings(tmp_path, dovecot, smtp_server,
                            mailbox_extra='processed_folder = "Processed"')
    dovecot.append(complete_referral(1))
    dovecot.append(raw_email("Message-ID: <question@school.example.org>\r\n",
                             "When is the next WRAP training?"))
    done = intake(config, "run", "--once")
    assert done.returncode == 0, done.stderr
    (moved,) = dovecot.messages("Processed")
    assert b"<referral-1@school.example.org>" in moved.data
    (question,) = dovecot.messages("INBOX")
    assert b"WRAP training" in question.data
    assert "$PreventIntake" in question.flags and "\\Seen" not in question.flags
