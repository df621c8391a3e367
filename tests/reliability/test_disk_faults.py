"""The store's disk fills up or turns read-only: the worker stops taking mail and says so.

The store lives on a small tmpfs mounted for the test (as root, chmod stops
nothing; a real full or read-only filesystem is the honest fault). Mail the
worker could not record must not be marked processed on the server; once
the disk is back, the next run takes it, once.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from reliability_kit import Worker, replies_to
from support.forms import SAMPLE_VALUES, make_form
from support.harness import intake, write_settings
from support.mail import referral_email

DOCX = make_form("docx", SAMPLE_VALUES)


def referral(number: int) -> bytes:
    return referral_email([DOCX], sender=f"teacher{number}@school.example.org",
                          message_id=f"<disk-{number}@school.example.org>")


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Path]:
    """A 3 MB tmpfs for the store, unmounted afterwards."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here (needs root): {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.fixture
def disk_config(tmp_path: Path, disk: Path, dovecot, smtp_server) -> Path:
    config = write_settings(tmp_path, dovecot, smtp_server)
    text = config.read_text().replace('path = "intake.sqlite3"', 'path = "disk/intake.sqlite3"')
    config.write_text(text)
    return config


def fill(disk: Path, leave: int) -> Path:
    """Fill the filesystem but `leave` bytes; returns the filler to delete later."""
    filler = disk / "filler"
    handle = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            os.write(handle, b"\0" * 4096)
    except OSError as err:
        assert err.errno == errno.ENOSPC
    finally:
        os.close(handle)
    if leave:
        os.truncate(filler, filler.stat().st_size - leave)
    return filler


def recorded_uids(disk: Path) -> set[int]:
    conn = sqlite3.connect(f"file:{disk / 'intake.sqlite3'}?mode=ro", uri=True)
    try:
        return {row[0] for row in conn.execute("SELECT uid FROM messages")}
    finally:
        conn.close()


def marked_uids(dovecot) -> set[int]:
    return {m.uid for m in dovecot.messages() if "$PreventIntake" in m.flags}


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("intake: ")]


@pytest.mark.parametrize(("leave", "said"), [
    # SQLite cannot even grow its shared memory: its "disk I/O error", named for what it is.
    (0, "disk I/O error (no space left on the disk)"),
    (400 * 1024, "database or disk is full"),  # a write mid-batch: SQLite's own words
], ids=["full-at-start", "full-mid-batch"])
def test_disk_full_stops_the_worker_marks_nothing_unrecorded(disk_config, disk, dovecot,
                                                              smtp_server, leave, said):
    dovecot.append_many([referral(n) for n in range(2)])
    assert intake(disk_config, "run", "--once").returncode == 0
    filler = fill(disk, leave)
    dovecot.append_many([referral(n) for n in range(2, 8)])

    worker = Worker(disk_config)  # `run`, not --once: it must stop by itself
    code = worker.wait(timeout=120)
    assert code == 1, worker.log
    (line,) = error_lines(worker.log)
    assert line == f"intake: store {disk / 'intake.sqlite3'}: {said}", worker.log
    assert "Traceback" not in worker.log
    marked = marked_uids(dovecot)
    filler.unlink()  # (even reading the store needs a little room for its -shm file)
    assert marked <= recorded_uids(disk)
    assert marked != {m.uid for m in dovecot.messages()}

    done = intake(disk_config, "run", "--once")
    assert done.returncode == 0, done.stderr
    assert marked_uids(dovecot) == recorded_uids(disk) == {m.uid for m in dovecot.messages()}
    assert sorted(replies_to(smtp_server).values()) == [1] * 8


def test_read_only_store_exits_1_with_one_line_and_marks_nothing(disk_config, disk, dovecot,
                                                                 smtp_server):
    dovecot.append(referral(1))
    assert intake(disk_config, "run", "--once").returncode == 0
    subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
    dovecot.append(referral(2))
    done = intake(disk_config, "run", "--once")
    assert done.returncode == 1
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("intake: store") and "read-only" in line.lower()
    assert marked_uids(dovecot) == {1}

    subprocess.run(["mount", "-o", "remount,rw", str(disk)], check=True)
    done = intake(disk_config, "run", "--once")
    assert done.returncode == 0, done.stderr
    assert marked_uids(dovecot) == {1, 2}
    assert sorted(replies_to(smtp_server).values()) == [1, 1]
