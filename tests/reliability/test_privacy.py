"""Nothing personal leaves the store: not in logs, outgoing mail, or files beside it.

The whole demo, then a fault loop on the real servers (kills at every step,
SMTP down then back, a refused sign-in), and every log line, every message
sent or written to the outbox folder and every file outside the store is
scanned for the individuals' names, dates of birth, addresses and concerns
(taken from the store itself). Passwords never appear in logs or in
`check-config` output.
"""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest
from backlog import backlog
from privacy import Needles, decoded, files_outside_store, scan
from reliability_kit import later
from support.forms import SAMPLE_VALUES
from support.harness import ROOT, intake, write_settings

SAMPLES = ROOT / "intake" / "samples"
SMTP_USER, SMTP_PASSWORD = "prevent-smtp", "smtp-Secret-4471"


def test_demo_leaks_nothing_outside_the_store(tmp_path, figures):
    if not any(SAMPLES.glob("*.eml")):
        pytest.skip("intake/samples/ has no .eml samples yet: the demo has nothing to read")
    demo = tmp_path / "demo"
    done = subprocess.run([sys.executable, "-m", "intake", "demo", "--dir", str(demo)],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr[-3000:]
    needles = Needles.from_store(demo / "intake.sqlite3")
    assert needles, "the demo read no form answers: nothing to look for"
    outgoing = sorted((demo / "outgoing").glob("*.eml"))
    assert outgoing
    texts = [("demo log (stderr)", done.stderr), ("demo output (stdout)", done.stdout),
             *files_outside_store(demo, skip=[demo / "mailbox" / "cur",
                                              demo / "mailbox" / "new"])]
    assert scan(needles, texts) == {}
    figures.update({"demo files and streams scanned": len(texts),
                    "outgoing messages": len(outgoing), "personal data found": 0})


def test_the_scan_finds_personal_data_however_it_is_encoded():
    """The scanner itself: a leak in a quoted-printable body or a log line is found."""
    from email.message import EmailMessage

    needles = Needles()
    needles.add(SAMPLE_VALUES)
    message = EmailMessage()
    message["Subject"] = "Referral"
    message.set_content("About Zoë, born 07/03/2011: " + SAMPLE_VALUES["concerns"][200:260],
                        cte="quoted-printable")
    hits = needles.found_in(decoded(bytes(message)))
    assert "07/03/2011" in hits and "Zoë" in hits and len(hits) >= 3
    assert needles.found_in("INFO uid=4 PRV-2026-00001 O'Connor") == ["O'Connor"]
    assert needles.found_in("INFO uid=4 PRV-2026-00001 intake complete queued ack") == []


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_fault_loop_leaks_nothing_and_no_password(tmp_path, dovecot, smtp_server, figures):
    smtp_server.start(auth=(SMTP_USER, SMTP_PASSWORD), auth_required=True)
    config = write_settings(tmp_path, dovecot, smtp_server, mailbox_extra="batch_size = 3",
                            smtp_extra=f'username = "{SMTP_USER}"\n'
                                       'password_env = "INTAKE_SMTP_PASSWORD"')
    env = {"INTAKE_SMTP_PASSWORD": SMTP_PASSWORD}
    messages, _ = backlog(18)
    dovecot.append_many(messages)
    logs: list[tuple[str, str]] = []

    def run(label: str, *args: str, extra: dict[str, str] | None = None) -> int:
        done = intake(config, *args, env={**env, **(extra or {})}, timeout=300)
        logs.append((f"{label} stderr", done.stderr))
        logs.append((f"{label} stdout", done.stdout))
        return done.returncode

    for spec in ("fetched:1", "recorded:2", "marked:1", "recorded:4", "sent:2"):
        assert run(spec, "run", "--once", extra={"INTAKE_CRASH_AT": spec}) in (
            0, -signal.SIGKILL)
    smtp_server.stop()
    assert run("smtp down", "run", "--once") == 0
    smtp_server.start(auth=(SMTP_USER, SMTP_PASSWORD), auth_required=True)
    assert run("smtp back", "run", "--once", extra=later()) == 0
    assert run("check-config", "check-config") == 0
    right = dovecot.password
    dovecot.set_password("Wrong-Imap-9931")
    assert run("refused sign-in", "run", "--once") == 1
    assert run("check-config refused", "check-config") != 0
    dovecot.set_password(right)

    needles = Needles.from_store(config.parent / "intake.sqlite3")
    needles.add(SAMPLE_VALUES)
    assert needles
    sent = [(f"smtp {i}", decoded(m.content)) for i, m in enumerate(smtp_server.received)]
    assert sent and any(m.auth_user == SMTP_USER for m in smtp_server.received)
    texts = logs + sent + files_outside_store(config.parent)
    assert scan(needles, texts) == {}
    for secret in (right, SMTP_PASSWORD, "Wrong-Imap-9931"):
        assert not [where for where, text in logs if secret in text], secret
    figures.update({"log streams scanned": len(logs), "messages sent": len(sent),
                    "personal data found": 0, "passwords found": 0})
