"""Settings: the contract's keys, one clear line per bad key, exit 2."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from intake.cli import main
from intake.config.settings import is_loopback, load_settings
from intake.domain.errors import SettingsError

GOOD = """
[mailbox]
host = "imap.example.org"
port = 993
security = "tls"
username = "prevent@lewisham.gov.uk"
password_env = "INTAKE_IMAP_PASSWORD"
folder = "INBOX"

[smtp]
host = "smtp.example.org"
port = 587
security = "starttls"
from = "Lewisham Prevent <prevent@lewisham.gov.uk>"

[store]
path = "var/intake.sqlite3"

[triage]
alert_to = ["mashagency@lewisham.gov.uk"]

[digest]
to = ["prevent.manager@lewisham.gov.uk"]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "settings.toml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems_of(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(SettingsError) as caught:
        load_settings(write(tmp_path, text))
    return caught.value.problems


def test_contract_example_loads_with_defaults(tmp_path):
    settings = load_settings(write(tmp_path, GOOD))
    assert settings.mailbox.kind == "imap"
    assert settings.mailbox.address == "prevent@lewisham.gov.uk"  # defaults to username
    assert settings.mailbox.poll_seconds == 60
    assert settings.mailbox.processed_folder is None
    assert settings.smtp.mode == "send"
    assert settings.store_path == (tmp_path / "var/intake.sqlite3").resolve()
    assert settings.reminders.first_after_hours == 24 and settings.reminders.max == 3
    assert settings.digest.at == "08:00" and settings.digest.timezone == "Europe/London"
    assert settings.max_replies_per_address_per_hour == 5


def test_shipped_settings_file_is_valid():
    settings = load_settings(Path(__file__).resolve().parent.parent / "settings.toml")
    assert settings.mailbox.kind == "maildir"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("port = 993", "port = 99999"), "[mailbox] port: not a port number: 99999"),
        (('security = "tls"', 'security = "ssl"'), "[mailbox] security: must be one of"),
        (('folder = "INBOX"', ""), "[mailbox] folder: missing"),
        (('password_env = "INTAKE_IMAP_PASSWORD"', ""), "[mailbox] password_env: missing"),
        (('from = "Lewisham Prevent <prevent@lewisham.gov.uk>"', 'from = "nobody"'),
         "[smtp] from: not an email address"),
        (('to = ["prevent.manager@lewisham.gov.uk"]', "to = []"),
         "[digest] to: must name at least one address"),
        (('alert_to = ["mashagency@lewisham.gov.uk"]', 'alert_to = "mash"'),
         "[triage] alert_to: must be list"),
    ],
)
def test_each_bad_key_is_one_line_naming_section_and_key(tmp_path, change, expected):
    old, new = change
    problems = problems_of(tmp_path, GOOD.replace(old, new))
    assert len(problems) == 1
    assert problems[0].startswith(expected)


def test_every_bad_key_is_reported_at_once(tmp_path):
    text = GOOD.replace("port = 993", 'port = "x"').replace('at = "08:00"', "")
    text = text.replace('to = ["prevent.manager@lewisham.gov.uk"]',
                        'to = ["prevent.manager@lewisham.gov.uk"]\nat = "25:00"\n'
                        'timezone = "Mars/Olympus"')
    problems = problems_of(tmp_path, text)
    assert any(p.startswith("[mailbox] port:") for p in problems)
    assert "[digest] at: must be HH:MM" in problems
    assert any(p.startswith("[digest] timezone: unknown timezone") for p in problems)


def test_plain_text_refused_unless_loopback(tmp_path):
    text = GOOD.replace('security = "tls"', 'security = "none"')
    assert problems_of(tmp_path, text) == [
        "[mailbox] security: plain text is allowed only to a loopback host, "
        "not 'imap.example.org'"
    ]
    loopback = text.replace('host = "imap.example.org"', 'host = "127.0.0.1"')
    assert load_settings(write(tmp_path, loopback)).mailbox.security == "none"


def test_both_password_sources_is_an_error(tmp_path):
    text = GOOD.replace('password_env = "INTAKE_IMAP_PASSWORD"',
                        'password_env = "X"\npassword_file = "secret.txt"')
    assert problems_of(tmp_path, text) == [
        "[mailbox] password_env: give password_env or password_file, not both"
    ]


def test_secret_is_read_from_environment_and_never_shown(tmp_path, monkeypatch):
    monkeypatch.setenv("INTAKE_IMAP_PASSWORD", "hunter2-very-secret")
    settings = load_settings(write(tmp_path, GOOD))
    assert settings.mailbox.password.reveal() == "hunter2-very-secret"
    assert "hunter2" not in repr(settings)


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("localhost", True), ("::1", True), ("127.4.5.6", True),
    ("10.0.0.1", False), ("imap.example.org", False), ("localhost.evil.org", False),
])
def test_loopback_hosts(host, loopback):
    assert is_loopback(host) is loopback


def test_cli_bad_settings_exit_2_one_line_each(tmp_path, capsys):
    path = write(tmp_path, GOOD.replace("port = 587", "port = 0").replace(
        'security = "starttls"', 'security = "nope"'))
    assert main(["--config", str(path), "export", "--format", "jsonl"]) == 2
    err_lines = capsys.readouterr().err.strip().splitlines()
    assert err_lines == [
        "[smtp] security: must be one of tls, starttls, none, not 'nope'",
        "[smtp] port: not a port number: 0",
    ]


def test_cli_missing_settings_file_exit_2(tmp_path, capsys):
    assert main(["--config", str(tmp_path / "nope.toml"), "run", "--once"]) == 2
    assert "file not found" in capsys.readouterr().err


def test_retry_and_schedule_defaults_are_what_the_code_used_to_fix(tmp_path):
    settings = load_settings(write(tmp_path, GOOD))
    assert (settings.smtp.retry_first_seconds, settings.smtp.retry_max_seconds) == (60, 3600)
    worker = settings.worker
    assert (worker.send_every_seconds, worker.reminders_every_seconds,
            worker.digest_every_seconds, worker.overdue_every_seconds) == (30, 300, 60, 60)
    assert (worker.reconnect_first_seconds, worker.reconnect_max_seconds) == (1, 300)


def test_retry_and_schedule_may_be_set(tmp_path):
    text = GOOD.replace('from = "Lewisham', 'retry_first_seconds = 5\nretry_max_seconds = 50\n'
                        'from = "Lewisham')
    text += "\n[worker]\nsend_every_seconds = 10\nreminders_every_seconds = 60.5\n" \
            "reconnect_max_seconds = 30\n"
    settings = load_settings(write(tmp_path, text))
    assert (settings.smtp.retry_first_seconds, settings.smtp.retry_max_seconds) == (5, 50)
    assert settings.worker.send_every_seconds == 10
    assert settings.worker.reminders_every_seconds == 60.5
    assert (settings.worker.digest_every_seconds, settings.worker.reconnect_max_seconds) == (60, 30)


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("[worker]\nsend_every_seconds = 0\n", "[worker] send_every_seconds: must be more than 0"),
        ('[worker]\ndigest_every_seconds = "1m"\n',
         "[worker] digest_every_seconds: must be float, not '1m'"),
        ("[worker]\nreconnect_first_seconds = 600\n",
         "[worker] reconnect_max_seconds: must be at least reconnect_first_seconds (600)"),
        ("[worker]\nsend_every_second = 10\n",
         "[worker] send_every_second: unknown key (did you mean send_every_seconds?)"),
    ],
)
def test_a_bad_schedule_key_is_one_line(tmp_path, extra, expected):
    assert problems_of(tmp_path, GOOD + "\n" + extra) == [expected]


def test_a_bad_retry_key_is_one_line(tmp_path):
    text = GOOD.replace('from = "Lewisham', 'retry_max_seconds = 30\nfrom = "Lewisham')
    assert problems_of(tmp_path, text) == [
        "[smtp] retry_max_seconds: must be at least retry_first_seconds (60)"]


def test_the_outbox_waits_as_smtp_retry_says():
    from datetime import timedelta

    from intake.config.settings_types import SmtpSettings
    from intake.mail.outbox import backoff

    smtp = SmtpSettings(retry_first_seconds=10, retry_max_seconds=45)
    assert [backoff(n, smtp) / timedelta(seconds=1) for n in (1, 2, 3, 4)] == [10, 20, 40, 45]
