"""The mailbox misbehaves under a running worker; it reconnects, loses nothing, says so.

Each test runs the real `intake run` (or `run --once`) against the real
Dovecot, breaks the server the way it breaks in production (restart, a
dropped IDLE, a changed password, a rebuilt index, a missing folder), and
checks the export, the acknowledgements and the log an operator would read.
"""

from __future__ import annotations

from backlog import backlog, verify
from reliability_kit import Worker, exported, replies_to
from support.forms import SAMPLE_VALUES, make_form
from support.harness import intake, write_settings
from support.mail import referral_email

DOCX = make_form("docx", SAMPLE_VALUES)


def referral(number: int) -> bytes:
    return referral_email([DOCX], sender=f"teacher{number}@school.example.org",
                          message_id=f"<imap-{number}@school.example.org>")


def test_server_restarted_mid_batch_loses_nothing(config, dovecot, smtp_server, figures):
    """GIVEN a backlog of 45 and a worker taking it in batches of 4
    WHEN Dovecot restarts after the first messages are recorded
    THEN the worker reconnects, re-marks what it recorded, and every message comes out once."""
    messages, expected = backlog(45)
    dovecot.append_many(messages)
    worker = Worker(config)
    try:
        worker.wait_log("INBOX uid=")
        dovecot.restart()
        taken_at_restart = worker.log.count("INBOX uid=")
        worker.wait_log("signed in as", count=2)
        wait = len(expected)
        worker.wait_log("INBOX uid=", count=wait, timeout=180)
        worker.wait_log("outbox", timeout=120)
    finally:
        code = worker.stop()
    assert code == 0, worker.log[-3000:]
    # The restart came mid-batch: not everything was recorded before it.
    assert taken_at_restart < len(expected)
    assert "reconnecting" in worker.log
    done = intake(config, "run", "--once")  # sends whatever was still waiting
    assert done.returncode == 0, done.stderr
    counts = verify(config, smtp_server, dovecot, expected)
    figures.update(restarted_after=taken_at_restart, duplicates=counts["duplicate messages"])
    assert counts["duplicate messages"] == 0


def test_connection_dropped_during_idle_then_new_mail_is_taken(config, dovecot, smtp_server):
    """GIVEN a worker idling on an empty inbox
    WHEN the server goes away for a few seconds and comes back, and mail arrives
    THEN the worker retries with backoff, reconnects and takes the new mail."""
    dovecot.append(referral(1))
    worker = Worker(config)
    try:
        wait_ack(smtp_server, 1)
        dovecot.stop()
        worker.wait_log("reconnecting (attempt 2)")
        dovecot.start()
        dovecot.append(referral(2))
        wait_ack(smtp_server, 2)
    finally:
        code = worker.stop()
    assert code == 0, worker.log
    # The first failure is the one the test made: the connection lost while idling.
    (first,) = [line for line in worker.log.splitlines() if "reconnecting (attempt 1)" in line]
    assert "IDLE on INBOX failed" in first, worker.log
    assert [row["message_id"] for row in exported(config)] == [
        "<imap-1@school.example.org>", "<imap-2@school.example.org>"]
    assert sorted(replies_to(smtp_server).values()) == [1, 1]


def test_login_refused_for_a_while_run_keeps_trying_with_backoff(config, dovecot, smtp_server):
    """GIVEN the mailbox's password changed on the server (settings hold the old one)
    WHEN `intake run` starts, and later the password is put back
    THEN it says sign-in was refused, retries with growing delays, then takes the mail."""
    right = dovecot.password
    dovecot.append(referral(1))
    dovecot.set_password("changed-by-someone")
    worker = Worker(config)
    try:
        worker.wait_log("sign-in refused", count=3)
        assert not smtp_server.received
        dovecot.set_password(right)
        wait_ack(smtp_server, 1)
    finally:
        code = worker.stop()
    assert code == 0, worker.log
    assert right not in worker.log and "changed-by-someone" not in worker.log
    assert len(exported(config)) == 1


def test_login_refused_run_once_exits_1_with_one_line(config, dovecot):
    right = dovecot.password
    dovecot.append(referral(1))
    dovecot.set_password("changed-by-someone")
    done = intake(config, "run", "--once")
    assert done.returncode == 1
    (error,) = [line for line in done.stderr.splitlines() if " ERROR " in line]
    assert "sign-in refused" in error
    assert right not in done.stderr and "changed-by-someone" not in done.stderr
    assert "$PreventIntake" not in dovecot.messages()[0].flags


def test_uidvalidity_changed_under_a_running_worker(config, dovecot, smtp_server):
    """GIVEN a running worker that has taken two referrals
    WHEN the server rebuilds the folder's index (new UIDVALIDITY, new UIDs) and mail arrives
    THEN the worker rescans, records the two again as duplicates only, takes the new one."""
    dovecot.append_many([referral(1), referral(2)])
    worker = Worker(config)
    try:
        wait_ack(smtp_server, 2)
        dovecot.bump_uidvalidity()
        dovecot.append(referral(3))
        wait_ack(smtp_server, 3)
        worker.wait_log("UIDVALIDITY changed")
    finally:
        code = worker.stop()
    assert code == 0, worker.log
    assert len(exported(config)) == 3
    assert sorted(replies_to(smtp_server).values()) == [1, 1, 1]
    assert all("$PreventIntake" in m.flags for m in dovecot.messages())


def test_missing_processed_folder_is_created_and_mail_moved(tmp_path, dovecot, smtp_server):
    config = write_settings(tmp_path, dovecot, smtp_server,
                            mailbox_extra='processed_folder = "Processed"')
    assert "Processed" not in dovecot.folders()
    dovecot.append_many([referral(1), referral(2)])
    done = intake(config, "run", "--once", env={"INTAKE_CRASH_AT": "recorded:2"})
    assert done.returncode == -9  # killed with one message recorded but not yet moved
    done = intake(config, "run", "--once")
    assert done.returncode == 0, done.stderr
    assert "created folder Processed" in done.stderr
    assert dovecot.messages("INBOX") == []
    moved = dovecot.messages("Processed")
    assert len(moved) == 2 and all("\\Seen" not in m.flags for m in moved)
    assert len(exported(config)) == 2
    assert sorted(replies_to(smtp_server).values()) == [1, 1]


def wait_ack(smtp_server, count: int) -> None:
    from reliability_kit import wait_for

    wait_for(lambda: len(replies_to(smtp_server)) >= count, what=f"{count} acknowledgements")
