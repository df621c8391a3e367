"""Knowing when it is not working: `intake health`, one message to the MASH when the
service cannot read the mailbox or send for a sustained time and one when it recovers,
and the digest's line. Real Dovecot and aiosmtpd; INTAKE_NOW moves the clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy

import pytest
from support.forms import SAMPLE_VALUES, make_form
from support.harness import intake, write_settings
from support.mail import referral_email

pytestmark = pytest.mark.servers

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
HEALTH = "[health]\nfailing_after_minutes = 15\nalert_after_minutes = 30\n"


def at(minutes: int) -> dict[str, str]:
    return {"INTAKE_NOW": (T0 + timedelta(minutes=minutes)).isoformat()}


def service_mail(smtp_server) -> list[tuple[str, tuple[str, ...], str]]:
    out = []
    for mail in smtp_server.received:
        message = message_from_bytes(mail.content, policy=policy.default)
        if str(message["Subject"]).startswith("Prevent intake service"):
            body = message.get_body(("plain",)).get_content()
            out.append((str(message["Subject"]), tuple(mail.rcpt_tos), body))
    return out


def test_mailbox_down_is_unhealthy_then_the_mash_is_told_once_and_again_on_recovery(
        tmp_path, dovecot, smtp_server):
    config = write_settings(tmp_path, dovecot, smtp_server, extra=HEALTH)
    assert intake(config, "run", "--once", env=at(0)).returncode == 0
    healthy = intake(config, "health", env=at(0))
    assert healthy.returncode == 0 and healthy.stdout.startswith("healthy: last mailbox round")

    right = dovecot.password
    dovecot.set_password("Changed-By-Someone-1")
    assert intake(config, "run", "--once", env=at(1)).returncode == 1
    early = intake(config, "health", env=at(10))  # failing, but not yet for long
    assert early.returncode == 0 and "mailbox: cannot read the mailbox since" in early.stdout
    late = intake(config, "health", env=at(20))
    assert late.returncode == 1
    assert late.stderr.startswith("intake: unhealthy: mailbox: cannot read the mailbox since "
                                  "2026-11-23 10:01 GMT (19 min)")
    assert service_mail(smtp_server) == []

    for minute in (35, 40):  # told once, at the first failure past 30 minutes
        assert intake(config, "run", "--once", env=at(minute)).returncode == 1
    [(subject, to, body)] = service_mail(smtp_server)
    assert subject == "Prevent intake service cannot read the mailbox"
    assert to == ("mashagency@lewisham.gov.uk",)
    assert "since 2026-11-23 10:01 GMT (34 min)" in body

    dovecot.set_password(right)
    dovecot.append(referral_email([make_form("docx", SAMPLE_VALUES)]))
    back = intake(config, "run", "--once", env=at(50))
    assert back.returncode == 0, back.stderr
    assert "mailbox: working again after 49 min" in back.stderr
    subjects = [mail[0] for mail in service_mail(smtp_server)]
    assert subjects == ["Prevent intake service cannot read the mailbox",
                        "Prevent intake service reads the mailbox again"]
    assert intake(config, "health", env=at(51)).returncode == 0

    digest = intake(config, "digest", "--date", "2026-11-23", "--dry-run", env=at(60))
    assert ("The service cannot read the mailbox: 2026-11-23 10:01 GMT to "
            "2026-11-23 10:50 GMT (49 min)") in digest.stdout


def test_smtp_down_is_said_in_the_log_and_health_and_told_when_it_can_send(
        tmp_path, dovecot, smtp_server):
    config = write_settings(tmp_path, dovecot, smtp_server, extra=HEALTH)
    smtp_server.stop()
    dovecot.append(referral_email([make_form("docx", SAMPLE_VALUES)]))
    first = intake(config, "run", "--once", env=at(0))
    assert first.returncode == 0, first.stderr  # drained; replies wait in the outbox
    # SMTP connects on the first send: the outbox says so of the acknowledgement it kept.
    (kept,) = [line for line in first.stderr.splitlines() if " not sent: " in line]
    assert (f"WARNING PRV-2026-00001 outbox 1 ack not sent: {smtp_server.host}:"
            f"{smtp_server.port}: ") in kept and kept.endswith("; the outbox waits"), kept
    still = intake(config, "run", "--once", env=at(31))
    assert still.returncode == 0
    assert ("smtp: cannot send email since 2026-11-23 10:00 GMT; the MASH alert addresses "
            "are told") in still.stderr
    unhealthy = intake(config, "health", env=at(32))
    assert unhealthy.returncode == 1
    assert "smtp: cannot send email since 2026-11-23 10:00 GMT (32 min)" in unhealthy.stderr

    smtp_server.start()
    back = intake(config, "run", "--once", env=at(40))
    assert back.returncode == 0, back.stderr
    assert "smtp: working again after 40 min" in back.stderr
    subjects = [mail[0] for mail in service_mail(smtp_server)]
    assert subjects == ["Prevent intake service cannot send email",
                        "Prevent intake service sends email again"]
    assert intake(config, "health", env=at(41)).returncode == 0
