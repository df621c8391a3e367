"""Bounded work in the main process, whatever arrives: a body is searched only so far,
a batch holds a byte budget, the main process stays under 300 MB, a note's bytes are
capped, and a low disk is said in the log and by check-config."""

from __future__ import annotations

import mailbox
import os
import sqlite3
import subprocess
import sys
from collections import namedtuple
from email.message import EmailMessage

import pytest
from support.forms import SAMPLE_VALUES, make_form
from support.harness import ROOT
from support.mail import referral_email

from intake.cli import main
from intake.domain.classify import MAX_SEARCHED, matching_phrases
from intake.ops.demo import DEMO_SETTINGS
from intake.store.record import NOTE_RAW_CAP

SETTINGS = DEMO_SETTINGS + "\n[parser]\nworkers = 1\n"
PEAK_RSS_LIMIT_MB = 300


def test_only_the_first_256_kb_of_a_body_is_searched_with_one_pattern():
    filler = "word " * (MAX_SEARCHED // 5)
    phrases = ["knife", "planned attack", "sent you a secure email"]
    assert matching_phrases(["early knife " + filler], phrases) == ["knife"]
    assert matching_phrases([filler + " knife"], phrases) == []
    # Phrases inside longer ones, and several in one text, are all found in one pass.
    assert matching_phrases(["a planned attack with a knife; he sent you a secure email"],
                            phrases) == phrases


def big_message(number: int, megabytes: int = 28) -> bytes:
    """A 20 MB plain-text body and an 8 MB attachment (not a form): 28 MB on the wire."""
    message = EmailMessage()
    message["From"] = f"Sender {number} <sender{number}@example.org>"
    message["To"] = "prevent@lewisham.gov.uk"
    message["Subject"] = f"Minutes of meeting {number}"
    message["Message-ID"] = f"<big-{number}@example.org>"
    body_mb = megabytes - 8
    message.set_content(("The quick brown fox jumps over the lazy dog. " * 23_000 + "\n")
                        * body_mb)
    message.add_attachment(os.urandom(6 * 2**20), maintype="application", subtype="zip",
                           filename="archive.zip")
    return bytes(message)


def test_the_main_process_stays_under_300_mb_whatever_arrives(tmp_path):
    """GIVEN six 28 MB messages waiting WHEN `run --once` takes them THEN the worker's
    own peak resident memory stays under 300 MB, and each is recorded."""
    config = tmp_path / "settings.toml"
    config.write_text(SETTINGS, encoding="utf-8")
    box = mailbox.Maildir(tmp_path / "mailbox", create=True)
    for number in range(6):
        box.add(mailbox.MaildirMessage(big_message(number)))
    # The process's own high-water mark (VmHWM, what getrusage's ru_maxrss reports for a
    # process that did not start by forking a larger one: pytest, which built the mail,
    # is larger, and Linux carries ru_maxrss over the exec).
    code = ("import sys\n"
            "from intake.cli import main\n"
            "code = main(sys.argv[1:])\n"
            "peak = [line.split()[1] for line in open('/proc/self/status')"
            " if line.startswith('VmHWM:')][0]\n"
            "print('peak-rss-kb', peak, file=sys.stderr)\n"
            "sys.exit(code)\n")
    done = subprocess.run([sys.executable, "-c", code, "--config", str(config), "run",
                           "--once"], capture_output=True, text=True, timeout=600,
                          cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr[-2000:]
    peak_mb = int(done.stderr.split("peak-rss-kb")[1].split()[0]) / 1024
    assert peak_mb < PEAK_RSS_LIMIT_MB, f"peak RSS {peak_mb:.0f} MB"
    db = sqlite3.connect(tmp_path / "intake.sqlite3")
    try:
        assert db.execute("SELECT COUNT(*) FROM messages").fetchone()[0] == 6
    finally:
        db.close()


def test_a_note_keeps_at_most_a_megabyte_of_its_message(tmp_path, capsys):
    config = tmp_path / "settings.toml"
    config.write_text(SETTINGS, encoding="utf-8")
    box = mailbox.Maildir(tmp_path / "mailbox", create=True)
    box.add(mailbox.MaildirMessage(referral_email(
        [make_form("docx", SAMPLE_VALUES)], message_id="<original@school.example.org>")))
    assert main(["--config", str(config), "run", "--once"]) == 0
    box.add(mailbox.MaildirMessage(referral_email(
        [("minutes.zip", "application/zip", os.urandom(3 * 2**20))],
        sender="someone.else@police.example.org", subject="RE: Prevent referral",
        message_id="<big-note@police.example.org>",
        headers={"In-Reply-To": "<original@school.example.org>"})))
    assert main(["--config", str(config), "run", "--once"]) == 0
    assert " note " in capsys.readouterr().err
    db = sqlite3.connect(tmp_path / "intake.sqlite3")
    try:
        (kept,) = db.execute("SELECT length(raw) FROM messages WHERE message_id = ?",
                             ("<big-note@police.example.org>",)).fetchone()
        (whole,) = db.execute("SELECT length(raw) FROM messages WHERE message_id = ?",
                              ("<original@school.example.org>",)).fetchone()
    finally:
        db.close()
    assert kept == NOTE_RAW_CAP and whole > 0


@pytest.fixture
def low_disk(monkeypatch):
    import intake.runtime.diskspace as diskspace

    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(diskspace.shutil, "disk_usage",
                        lambda path: usage(10 * 2**30, 10 * 2**30 - 80 * 2**20, 80 * 2**20))


def test_a_low_disk_is_said_in_the_log_and_by_check_config(tmp_path, capsys, low_disk):
    config = tmp_path / "settings.toml"
    config.write_text(SETTINGS, encoding="utf-8")
    mailbox.Maildir(tmp_path / "mailbox", create=True)
    assert main(["--config", str(config), "run", "--once"]) == 0
    log = capsys.readouterr().err
    assert "WARNING store " in log and "only 80 MB free on its disk" in log
    main(["--config", str(config), "check-config"])
    assert "warning: store " in capsys.readouterr().err


def test_the_content_hash_of_a_body_is_the_same_hashed_a_chunk_at_a_time(monkeypatch):
    """A rescan must know the messages recorded before: the chunked hash is exactly the
    hash of " ".join(text.split())."""
    import hashlib
    import random

    import intake.runtime.pipeline as pipeline

    monkeypatch.setattr(pipeline, "_HASH_CHUNK", 7)
    pieces = ["a", "bb", " ", "  ", "\n", "\t", "é", "xyz", "\u3000"]
    generator = random.Random(14)
    for _ in range(5000):
        text = "".join(generator.choice(pieces) for _ in range(generator.randint(0, 40)))
        whole, chunked = hashlib.sha256(), hashlib.sha256()
        whole.update(" ".join(text.split()).encode("utf-8", "replace"))
        pipeline._hash_words(chunked, text)
        assert whole.hexdigest() == chunked.hexdigest(), repr(text)


def test_a_batch_holds_a_byte_budget_not_a_count():
    from intake.config.settings_types import MailboxSettings
    from intake.mail.batching import batches

    settings = MailboxSettings(batch_size=50, batch_bytes=30 * 2**20,
                               max_message_bytes=40 * 2**20)
    order = [("INBOX", uid) for uid in range(1, 8)]
    sizes = {("INBOX", 1): 28 * 2**20, ("INBOX", 2): 28 * 2**20, ("INBOX", 3): 2**20,
             ("INBOX", 4): 2**20, ("INBOX", 5): 50 * 2**20,  # over the cap: header only
             ("INBOX", 6): 29 * 2**20, ("INBOX", 7): 10}
    assert [[uid for _, uid in batch] for batch in batches(order, sizes, settings)] == [
        [1], [2, 3, 4], [5, 6, 7]]
