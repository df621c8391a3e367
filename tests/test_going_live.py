"""Going live on the same store: nothing the shadow trial queued is ever sent.

End to end on the real Dovecot and aiosmtpd: a shadow trial takes a history
(one referrer sent many, so replies pile up behind the hourly limit, and a
second trial run is killed before it writes its replies), then the settings
switch to `mode = "send"` and the next run sends only what is new.
"""

from __future__ import annotations

import signal
import sqlite3
from email import message_from_bytes, policy

import pytest
from support.forms import SAMPLE_VALUES, make_form
from support.harness import intake, write_settings
from support.mail import referral_email

pytestmark = pytest.mark.servers


def referral(number: int, sender: str = "dsl@school.example.org") -> bytes:
    return referral_email([make_form("docx", SAMPLE_VALUES)], sender=sender,
                          message_id=f"<history-{number}@school.example.org>")


def subjects(smtp_server) -> list[str]:
    return [str(message_from_bytes(m.content, policy=policy.default)["Subject"])
            for m in smtp_server.received]


def test_a_shadow_trial_on_a_history_then_send_mode_sends_nothing_old(
        tmp_path, dovecot, smtp_server):
    shadow = write_settings(tmp_path, dovecot, smtp_server, smtp_extra='mode = "shadow"',
                            extra="[replies]\nmax_per_address_per_hour = 2\n")
    for number in range(1, 7):
        dovecot.append(referral(number))

    trial = intake(shadow, "run", "--once")
    assert trial.returncode == 0, trial.stderr
    # Nobody receives shadow mail, so the hourly limit holds nothing back: all six
    # acknowledgements are in the shadow folder for the team to read.
    assert len(list((tmp_path / "outgoing").glob("*.eml"))) >= 6
    assert "written to shadow folder" in trial.stderr
    assert not [line for line in trial.stderr.splitlines() if line.endswith(" sent")]

    # A second trial run is killed after recording its second referral, before it writes
    # that one's reply (each message's replies go as soon as it is recorded: the first's
    # is written already).
    dovecot.append(referral(7))
    dovecot.append(referral(8))
    killed = intake(shadow, "run", "--once", env={"INTAKE_CRASH_AT": "recorded:2"})
    assert killed.returncode == -signal.SIGKILL
    with sqlite3.connect(tmp_path / "intake.sqlite3") as db:
        waiting = db.execute("SELECT kind FROM outbox WHERE status = 'pending'").fetchall()
    assert waiting.count(("ack",)) == 1, "the killed trial left its reply queued"
    assert smtp_server.received == []

    # Going live: the same store, mode = "send"; one new referral arrives.
    live = write_settings(tmp_path, dovecot, smtp_server,
                          extra="[replies]\nmax_per_address_per_hour = 2\n")
    dovecot.append(referral(9, sender="new.referrer@college.example.org"))
    done = intake(live, "run", "--once")
    assert done.returncode == 0, done.stderr
    assert (f"going live: {len(waiting)} message(s) queued in shadow mode dropped, never sent"
            in done.stderr)

    sent = subjects(smtp_server)
    assert sent and all(subject.startswith("[PRV-2026-00009] ") for subject in sent), sent
    assert "[PRV-2026-00009] Prevent referral received" in sent
    recipients = [tuple(m.rcpt_tos) for m in smtp_server.received]
    assert ("new.referrer@college.example.org",) in recipients
    shown = intake(live, "show", "PRV-2026-00008")  # the one whose reply was left queued
    assert shown.returncode == 0, shown.stderr
    assert "dropped" in shown.stdout and "queued-in-shadow-mode" in shown.stdout

    trial_reply = intake(live, "show", "PRV-2026-00001").stdout
    assert "ack  written to shadow folder" in trial_reply and "ack  sent" not in trial_reply

    again = intake(live, "run", "--once")  # and never later either
    assert again.returncode == 0, again.stderr
    assert subjects(smtp_server) == sent
