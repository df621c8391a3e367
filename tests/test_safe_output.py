"""Safe output: what a sender writes never acts on a terminal or a spreadsheet, and no
personal data or secret leaks through a log, a library's warning or a file's mode."""

from __future__ import annotations

import csv
import io
import json
import logging
import mailbox
import os
import socket
import stat
import subprocess
import sys
import threading
from base64 import b64decode
from pathlib import Path

import pytest
from support.forms import SAMPLE_VALUES, make_form
from support.harness import ROOT
from support.mail import referral_email
from support.settings import settings_text

from intake.cli import main
from intake.config.logsetup import SafeRecords
from intake.domain.safe_text import clean, csv_safe, visible
from intake.mail.parse import parse

HIDDEN_LINK = "\x1b]8;;https://evil.example/\x07click here\x1b]8;;\x07"
SCREEN_CLEAR = "\x1b[2J\x1b[H"
CLIPBOARD = "\x1b]52;c;cm0gLXJmIH4=\x07"
C1_CSI = "\x9b31m"
BIDI = "\u202egnp.exe"
HOSTILE = (HIDDEN_LINK, SCREEN_CLEAR, CLIPBOARD, C1_CSI, BIDI)
ACTIVE = ("\x1b", "\x07", "\x9b", "\u202e", "\u2066")


@pytest.mark.parametrize(("text", "multiline", "expected"), [
    (HIDDEN_LINK, True, "]8;;https://evil.example/click here]8;;"),
    (SCREEN_CLEAR + "ok", True, "[2J[Hok"),
    ("line one\r\nline two\r\tthree", True, "line one\nline two\n\tthree"),
    ("a\nb\tc", False, "a b c"),
    (C1_CSI + BIDI + "\u2066x\u2069", True, "31mgnp.exex"),
    ("Zoë Łukasz Renée", True, "Zoë Łukasz Renée"),
])
def test_clean_drops_controls_and_bidi_keeping_line_breaks_in_long_answers(
        text, multiline, expected):
    assert clean(text, multiline=multiline) == expected


def test_visible_and_csv_safe():
    assert visible("a\x1b[2Jb\u202ec\nd") == "a\\x1b[2Jb<U+202E>c\nd"
    assert visible("a\nb\tc", keep_newlines=False) == "a\\x0ab\\x09c"
    for start in ("=", "+", "-", "@", "\t", "\r"):
        assert csv_safe(f"{start}HYPERLINK(\"x\")") == f"'{start}HYPERLINK(\"x\")"
    assert csv_safe("PRV-2026-00001") == "PRV-2026-00001"


def test_only_a_well_formed_message_id_is_kept():
    def message_id(value: str) -> str | None:
        return parse(referral_email(message_id=value)).message_id

    assert message_id("<a.b@school.example.org>") == "<a.b@school.example.org>"
    assert message_id('=HYPERLINK("https://evil.example/","Open")') is None
    assert message_id("<\x1b[2J@x>") is None
    assert message_id("no brackets@example.org") is None


def test_headers_lose_c1_and_bidi_controls():
    email = parse(referral_email(subject=f"Prevent referral {C1_CSI}{BIDI}",
                                 sender="Jo \u202eTeacher <jo@school.example.org>"))
    assert "\x9b" not in email.subject and "\u202e" not in email.subject
    assert all("\u202e" not in value for _, value in email.headers)


class Service:
    def __init__(self, directory: Path):
        self.config = directory / "settings.toml"
        self.config.write_text(settings_text(parser={"workers": 1}), encoding="utf-8")
        self.box = mailbox.Maildir(directory / "mailbox", create=True)
        self.directory = directory

    def cli(self, capsys, *args: str) -> tuple[str, str]:
        assert main(["--config", str(self.config), *args]) == 0
        captured = capsys.readouterr()
        return captured.out, captured.err


def test_show_triage_export_and_the_log_carry_no_terminal_control(tmp_path, capsys):
    """GIVEN a referral whose answers and headers carry a hidden link, a screen clear, a
    clipboard write, a C1 control and a bidi override, and whose Message-ID is a formula
    WHEN it is taken, shown, triaged and exported THEN none of them reaches the output,
    long answers keep their lines, and no CSV cell starts a formula."""
    service = Service(tmp_path)
    concerns = f"First line {HIDDEN_LINK}\nSecond line {SCREEN_CLEAR}{CLIPBOARD}\n{C1_CSI}{BIDI}"
    values = {**SAMPLE_VALUES, "concerns": concerns, "referrer_phone": f"020 {BIDI}",
              "subject_surname": f"O'Connor{SCREEN_CLEAR}"}
    service.box.add(mailbox.MaildirMessage(referral_email(
        [make_form("pdf-form", values)], subject=f"Prevent referral {HIDDEN_LINK}{C1_CSI}",
        message_id='=HYPERLINK("https://evil.example/","Open")')))
    _, log = service.cli(capsys, "run", "--once")
    (reference,) = {word for word in log.split() if word.startswith("PRV-")}
    show, _ = service.cli(capsys, "show", reference)
    triage, _ = service.cli(capsys, "triage")
    jsonl, _ = service.cli(capsys, "export", "--format", "jsonl")
    exported_csv, _ = service.cli(capsys, "close", reference, "--reason", "=1+1")
    exported_csv, _ = service.cli(capsys, "export", "--format", "csv")
    for output in (log, show, triage, jsonl, exported_csv):
        assert not any(char in output for char in ACTIVE), output
    (row,) = [json.loads(line) for line in jsonl.splitlines()]
    assert row["message_id"] is None
    assert row["fields"]["concerns"].splitlines() == [
        "First line ]8;;https://evil.example/click here]8;;", "Second line [2J[H]52;c;cm0gLXJmIH4=",
        "31mgnp.exe"]
    assert "  concerns" in show and "Second line [2J[H" in show
    rows = list(csv.reader(io.StringIO(exported_csv.lstrip("\ufeff"))))
    cells = [cell for line in rows for cell in line]
    assert "'=1+1" in cells
    assert not any(cell.startswith(("=", "+", "-", "@", "\t", "\r")) for cell in cells)


def test_library_text_and_python_warnings_never_reach_a_parser_process_log():
    """The parser processes set up logging as the main one: a pdfminer warning quoting a
    form and a Python warning keep only their source, and the record stays one line."""
    code = (
        "import logging, warnings\n"
        "from intake.extract.pool import _worker_main\n"
        "from intake.config.logsetup import configure\n"
        "configure(logging.WARNING)\n"
        "logging.getLogger('pdfminer.pdfinterp').warning('Cannot read Zoë O\\'Connor %s', 'x')\n"
        "warnings.warn('font of Łukasz Court')\n"
        "logging.getLogger('intake.extract').warning('uid=1 \\x1b[2J read %s', 'ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "Zoë" not in done.stderr and "Łukasz" not in done.stderr
    assert "pdfminer.pdfinterp: warning (text withheld" in done.stderr
    assert "py.warnings: warning (text withheld" in done.stderr
    assert "uid=1 \\x1b[2J read ok" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 3
    assert "configure(logging.WARNING)" in Path(ROOT, "intake/extract/pool.py").read_text()


def test_a_secret_a_record_quotes_is_masked():
    secrets = SafeRecords(["hunter2-very-secret"])
    record = logging.LogRecord("intake", logging.ERROR, __file__, 1,
                               "mailbox: %s", ("refused: bad password hunter2-very-secret",), None)
    secrets.filter(record)
    assert record.getMessage() == "mailbox: refused: bad password ********"


class EchoingSmtp:
    """An SMTP server that quotes the password back in its refusal. No real server does
    this on purpose (the review met one that did): a few lines of socket code stand in."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(5)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn, conn.makefile("rwb") as stream:
                stream.write(b"220 echo ESMTP\r\n")
                stream.flush()
                for line in stream:
                    word = line.split(b" ")[0].strip().upper()
                    if word in (b"EHLO", b"HELO"):
                        stream.write(b"250-echo\r\n250 AUTH PLAIN\r\n")
                    elif word == b"AUTH":
                        secret = b64decode(line.split()[-1]).split(b"\0")[-1]
                        stream.write(b"535 5.7.8 bad credentials: " + secret + b"\r\n")
                    elif word == b"QUIT":
                        stream.write(b"221 bye\r\n")
                        stream.flush()
                        break
                    else:
                        stream.write(b"250 ok\r\n")
                    stream.flush()

    def close(self) -> None:
        self.sock.close()


def test_a_password_the_smtp_server_echoes_never_reaches_runs_log(tmp_path):
    server = EchoingSmtp()
    try:
        settings = settings_text(smtp={
            "mode": "send", "host": "127.0.0.1", "port": server.port, "security": "none",
            "username": "prevent@lewisham.gov.uk", "password_env": "TEST_SMTP_PASSWORD",
        }, parser={"workers": 1})
        config = tmp_path / "settings.toml"
        config.write_text(settings, encoding="utf-8")
        box = mailbox.Maildir(tmp_path / "mailbox", create=True)
        box.add(mailbox.MaildirMessage(referral_email([make_form("docx", SAMPLE_VALUES)])))
        done = subprocess.run(
            [sys.executable, "-m", "intake", "--config", str(config), "-v", "run", "--once"],
            capture_output=True, text=True, timeout=120, cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(ROOT), "TEST_SMTP_PASSWORD": "Tr0ub4dor&3x"})
    finally:
        server.close()
    assert "refused the login (535)" in done.stderr, done.stderr
    assert "Tr0ub4dor&3x" not in done.stderr and "Tr0ub4dor" not in done.stdout


class EchoingImap(EchoingSmtp):
    """An IMAP server whose LOGIN refusal quotes the password back."""

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn, conn.makefile("rwb") as stream:
                stream.write(b"* OK [CAPABILITY IMAP4rev1] echo ready\r\n")
                stream.flush()
                for line in stream:
                    tag, _, rest = line.strip().partition(b" ")
                    command = rest.split(b" ")[0].upper()
                    if command == b"CAPABILITY":
                        stream.write(b"* CAPABILITY IMAP4rev1\r\n" + tag + b" OK done\r\n")
                    elif command == b"LOGIN":
                        stream.write(tag + b" NO [AUTHENTICATIONFAILED] wrong: " + rest[6:]
                                     + b"\r\n")
                    elif command == b"LOGOUT":
                        stream.write(b"* BYE\r\n" + tag + b" OK bye\r\n")
                        stream.flush()
                        break
                    else:
                        stream.write(tag + b" BAD what\r\n")
                    stream.flush()


def test_a_password_the_imap_server_echoes_never_reaches_runs_log(tmp_path):
    server = EchoingImap()
    secret = tmp_path / "imap-password"
    secret.write_text("Tr0ub4dor&3x", encoding="utf-8")
    config = tmp_path / "settings.toml"
    config.write_text(settings_text(mailbox=f"""
host = "127.0.0.1"
port = {server.port}
security = "none"
username = "prevent@lewisham.gov.uk"
password_file = "{secret}"
folder = "INBOX"
"""), encoding="utf-8")
    try:
        done = subprocess.run(
            [sys.executable, "-m", "intake", "--config", str(config), "run", "--once"],
            capture_output=True, text=True, timeout=120, cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(ROOT)})
    finally:
        server.close()
    assert done.returncode == 1
    assert "AUTHENTICATIONFAILED" in done.stderr and "********" in done.stderr, done.stderr
    assert "Tr0ub4dor" not in done.stderr + done.stdout


def test_store_and_outgoing_folders_are_private_and_export_output_is_0600(tmp_path, capsys):
    service = Service(tmp_path)
    service.config.write_text(settings_text(store={"path": "store/intake.sqlite3"},
                                            smtp={"shadow_folder": "var/outgoing"}))
    service.box.add(mailbox.MaildirMessage(referral_email([make_form("docx", SAMPLE_VALUES)])))
    old = os.umask(0o022)
    try:
        service.cli(capsys, "run", "--once")
        out = tmp_path / "export.csv"
        service.cli(capsys, "export", "--format", "csv", "--output", str(out))
    finally:
        os.umask(old)
    for folder in (tmp_path / "store", tmp_path / "var", tmp_path / "var" / "outgoing"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert out.read_text(encoding="utf-8-sig").startswith("reference,")
