"""intake.mail.fetch_maildir: the maildir mailbox (the demo's, no servers)."""

from __future__ import annotations

import mailbox
import os
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from intake.config.settings_types import MailboxSettings
from intake.domain.errors import MailboxError
from intake.mail.fetch import open_mailbox
from intake.mail.fetch_maildir import MaildirMailbox


def message(n: int) -> bytes:
    return (
        b"From: Referrer <referrer@school.example>\r\n"
        b"Subject: Prevent referral " + str(n).encode() + b"\r\n"
        b"Message-ID: <ref-" + str(n).encode() + b"@school.example>\r\n"
        b"\r\nPlease find the referral form attached.\r\n"
    )


def make_maildir(root: Path, messages: list[bytes], folder: str | None = None) -> list[Path]:
    box = mailbox.Maildir(root, create=True)
    target = box.add_folder(folder) if folder else box
    paths = []
    for n, data in enumerate(messages):
        key = target.add(data)
        path = Path(target._path) / target._lookup(key)
        os.utime(path, (1767605400 + n, 1767605400 + n))  # 2026-01-05 09:30 UTC + n s
        paths.append(path)
    return paths


def test_maildir_round_trip(tmp_path):
    root = tmp_path / "Maildir"
    make_maildir(root, [message(1), message(2)])
    settings = MailboxSettings(kind="maildir", path=root, processed_folder="Processed")
    box = open_mailbox(settings)
    assert isinstance(box, MaildirMailbox)
    box.connect()

    validity = box.uidvalidity("INBOX")
    uids = box.uids_after("INBOX", 0)
    got = list(box.fetch("INBOX", uids))
    assert uids == [1, 2]
    assert [m.data for m in got] == [message(1), message(2)]
    assert got[0].received_at == datetime(2026, 1, 5, 9, 30, tzinfo=UTC)
    assert {m.uidvalidity for m in got} == {validity}

    assert box.received_dates("INBOX", [2, 1, 99]) == {
        1: datetime(2026, 1, 5, 9, 30, tzinfo=UTC), 2: datetime(2026, 1, 5, 9, 30, 1, tzinfo=UTC)}

    make_maildir(root, [message(3)])
    assert box.uids_after("INBOX", 2) == [3]

    box.mark_processed("INBOX", [1, 2])
    # Same UIDVALIDITY, same UIDs for what stayed, moved mail kept whole.
    again = MaildirMailbox(settings)
    assert again.uidvalidity("INBOX") == validity
    assert again.uids_after("INBOX", 0) == [3]
    moved = mailbox.Maildir(root).get_folder("Processed")
    assert sorted(moved.get_bytes(k) for k in moved.keys()) == [message(1), message(2)]
    assert all("S" not in m.get_flags() for m in moved)


def test_maildir_without_processed_folder_keeps_the_message(tmp_path):
    root = tmp_path / "Maildir"
    make_maildir(root, [message(1)])
    box = MaildirMailbox(MailboxSettings(kind="maildir", path=root, max_message_bytes=100))
    box.connect()
    [got] = box.fetch("INBOX", box.uids_after("INBOX", 0))
    assert got.too_large and got.data == message(1).split(b"\r\n\r\n")[0] + b"\r\n"
    box.mark_processed("INBOX", [got.uid])
    assert box.processed("INBOX") == [got.uid]
    assert box.uids_after("INBOX", 0) == [got.uid]


def test_maildir_that_is_not_there_is_a_mailbox_error(tmp_path):
    with pytest.raises(MailboxError):
        MaildirMailbox(MailboxSettings(kind="maildir", path=tmp_path / "nowhere")).connect()


def test_maildir_wait_returns_when_mail_arrives(tmp_path):
    root = tmp_path / "Maildir"
    make_maildir(root, [])
    box = MaildirMailbox(MailboxSettings(kind="maildir", path=root, poll_seconds=0.05))
    timer = threading.Timer(0.2, make_maildir, args=(root, [message(1)]))
    started = time.monotonic()
    timer.start()
    box.wait_for_mail(timeout=5)
    timer.join()
    assert time.monotonic() - started < 2
