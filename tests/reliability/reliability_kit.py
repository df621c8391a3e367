"""What the reliability tests share: running the worker, reading what it did.

Everything is read the way an operator would: `intake export`, the mail
the SMTP server received, the flags on the mailbox, and the store opened
read-only for what only it knows (the outbox, the audit trail).
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import getaddresses
from pathlib import Path
from typing import Any

from support.harness import ROOT, intake

FIGURES: dict[str, dict[str, object]] = {}
STORE = "intake.sqlite3"


def exported(config: Path) -> list[dict[str, Any]]:
    done = intake(config, "export", "--format", "jsonl")
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines()]


def store_rows(config: Path, sql: str, params: Iterable[Any] = ()) -> list[sqlite3.Row]:
    """Rows from the store, opened read-only (the worker may be stopped or killed)."""
    conn = sqlite3.connect(f"file:{config.parent / STORE}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(sql, tuple(params)).fetchall()
    finally:
        conn.close()


def integrity(config: Path) -> str:
    conn = sqlite3.connect(config.parent / STORE)
    try:
        return ";".join(row[0] for row in conn.execute("PRAGMA integrity_check"))
    finally:
        conn.close()


def parsed(raw: bytes) -> EmailMessage:
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


@dataclass
class Outgoing:
    """What the SMTP server took, by Message-ID, and how many copies of each."""

    messages: dict[str, list[Any]] = field(default_factory=dict)  # id -> [ReceivedMail]

    @classmethod
    def of(cls, smtp_server: Any) -> Outgoing:
        out = cls()
        for mail in smtp_server.received:
            message_id = str(parsed(mail.content)["Message-ID"] or "").strip()
            out.messages.setdefault(message_id, []).append(mail)
        return out

    def duplicates(self, message_ids: Iterable[str] | None = None) -> int:
        wanted = self.messages if message_ids is None else set(message_ids)
        return sum(len(copies) - 1 for mid, copies in self.messages.items() if mid in wanted)

    def copies(self, message_id: str) -> int:
        return len(self.messages.get(message_id, []))


INTERNAL = frozenset({"mashagency@lewisham.gov.uk", "prevent.manager@lewisham.gov.uk"})


def replies_to(smtp_server: Any) -> Counter[str]:
    """In-Reply-To of each reply to a referrer received -> copies (the referral it answers).
    Alerts to the MASH and the digest are not replies."""
    found: Counter[str] = Counter()
    for mail in smtp_server.received:
        message = parsed(mail.content)
        if INTERNAL & set(mail.rcpt_tos):
            continue
        if message["X-Prevent-Intake"] and message["In-Reply-To"]:
            found[str(message["In-Reply-To"]).strip()] += 1
    return found


def header_addresses(message: EmailMessage, *names: str) -> list[str]:
    values = [str(v) for name in names for v in message.get_all(name, [])]
    return [address.lower() for _, address in getaddresses(values) if address]


def later(hours: int = 2) -> dict[str, str]:
    """Environment for a run `hours` from now: failed sends back off a minute or more."""
    return {"INTAKE_NOW": (datetime.now(UTC) + timedelta(hours=hours)).isoformat()}


def wait_for(condition: Callable[[], bool], timeout: float = 90.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting{': ' + what if what else ''}")


LOG_SHOWN = 60_000  # characters of a hung worker's log that Worker.stop prints


class Worker:
    """`intake run` (or `run --once`) as a background process, its log in a file."""

    def __init__(self, config: Path, *args: str, env: dict[str, str] | None = None) -> None:
        self.config = config
        self.log_path = config.parent / f"worker-{time.monotonic_ns()}.log"
        environment = {**os.environ, **(env or {}), "PYTHONPATH": str(ROOT)}
        self._log = self.log_path.open("w", encoding="utf-8")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "intake", "--config", str(config), "run", *args],
            cwd=config.parent, env=environment, stdout=subprocess.DEVNULL, stderr=self._log,
        )

    @property
    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def wait_log(self, text: str, timeout: float = 90.0, count: int = 1) -> None:
        wait_for(lambda: self.log.count(text) >= count, timeout, f"{text!r} x{count} in log")

    def kill(self) -> bool:
        """SIGKILL now; True when it was still running (a kill it had to survive)."""
        if self.process.poll() is not None:
            self._log.close()
            return False
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self._log.close()
        return True

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM, as an operator would; the exit code. A worker still running after
        `timeout` is asked for its threads' stacks (SIGUSR1: faulthandler writes them to
        its log), killed 2 s later, and its log printed, so the test's output shows
        where it hung; then TimeoutExpired is raised."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.send_signal(signal.SIGUSR1)
            time.sleep(2)
            self.kill()
            print(f"--- worker pid {self.process.pid} did not stop within {timeout:g} s of "
                  f"SIGTERM; its log (stderr) with its threads' stacks at the end "
                  f"(last {LOG_SHOWN} characters):\n{self.log[-LOG_SHOWN:]}\n"
                  f"--- end of worker pid {self.process.pid}'s log", flush=True)
            raise
        finally:
            self.kill()  # nothing to kill when it stopped; the log is closed

    def wait(self, timeout: float = 180.0) -> int:
        code = self.process.wait(timeout=timeout)
        self._log.close()
        return code
