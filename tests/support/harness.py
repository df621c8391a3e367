"""Run the real `intake` command against the test servers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from support.settings import settings_text

ROOT = Path(__file__).resolve().parents[2]


def write_settings(directory: Path, mailbox, smtp, *, extra: str = "",
                   mailbox_extra: str = "", smtp_extra: str = "") -> Path:
    """A settings file for the worker: `mailbox` is a DovecotAccount, `smtp` an SmtpServer;
    the rest is the demo's (store, triage, digest), [parser] one worker, then `extra`."""
    secret = directory / "imap-password"
    secret.write_text(mailbox.password, encoding="utf-8")
    mailbox_section = f"""
host = "127.0.0.1"
port = {mailbox.port}
security = "none"
username = "{mailbox.user}"
address = "prevent@lewisham.gov.uk"
password_file = "{secret}"
folder = "INBOX"
poll_seconds = 1
{mailbox_extra}"""
    smtp_section = f"""
host = "127.0.0.1"
port = {smtp.port}
security = "none"
from = "Lewisham Prevent <prevent@lewisham.gov.uk>"
shadow_folder = "outgoing"
{smtp_extra}"""
    text = settings_text(mailbox=mailbox_section, smtp=smtp_section,
                         parser={"timeout_seconds": 10, "workers": 1}) + f"\n{extra}"
    path = directory / "settings.toml"
    path.write_text(text, encoding="utf-8")
    return path


def intake(config: Path, *args: str, env: dict[str, str] | None = None,
           timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run `intake --config CONFIG ARGS...` as its own process."""
    environment = {**os.environ, **(env or {})}
    environment["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-m", "intake", "--config", str(config), *args],
        capture_output=True, text=True, timeout=timeout, env=environment, cwd=config.parent,
    )
