"""A real Dovecot IMAP server for tests (the SMTP one is in smtp_server.py).

Dovecot runs once per test session from a config in a temp dir (see
/work/shared/test-servers.md for why each setting is there); every test gets
a fresh user (dovecot_account.DovecotAccount), so an empty mailbox, without a
restart. It listens on free ports on 127.0.0.1 only: plain text with STARTTLS,
and implicit TLS (IMAPS), both with a throwaway certificate.

Install the programs with tests/setup-servers.sh (the Makefile runs it).
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from imapclient import IMAPClient

HOST = "127.0.0.1"
DOMAIN = "example.org"


def free_port() -> int:
    """A port free on 127.0.0.1 right now (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A throwaway self-signed certificate for localhost and 127.0.0.1: (cert, key)."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    os.chmod(key, 0o600)
    os.chmod(cert, 0o644)
    return cert, key


def dovecot_config(
    root: Path,
    port: int,
    tls_port: int,
    cert: Path,
    key: Path,
    passwd_dir: Path,
    *,
    extra_passdb: str = "",
    extra_mechanisms: tuple[str, ...] = (),
    extra: str = "",
) -> str:
    """The whole Dovecot config. `extra_passdb` goes before the passwd-file
    passdb (e.g. an oauth2 passdb block), `extra_mechanisms` are added to
    auth_mechanisms (e.g. "xoauth2", "oauthbearer"), `extra` is appended."""
    mechanisms = " ".join(("plain", "login", *extra_mechanisms))
    return f"""\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
protocols = imap
listen = {HOST}
default_login_user = dovenull
default_internal_user = dovecot
default_internal_group = dovecot
first_valid_uid = 1
first_valid_gid = 1
mail_location = maildir:{root}/mail/%u
ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}
disable_plaintext_auth = no
auth_mechanisms = {mechanisms}
auth_failure_delay = 0
namespace inbox {{
  inbox = yes
  separator = /
}}
{extra_passdb}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {passwd_dir}/%u
}}
userdb {{
  driver = static
  args = uid=dovecot gid=dovecot home={root}/mail/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = {HOST}
    port = {port}
  }}
  inet_listener imaps {{
    address = {HOST}
    port = {tls_port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
  # No auth penalty: else each failed login from 127.0.0.1 waits 2-15 s.
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
{extra}
"""


class DovecotServer:
    """One Dovecot process for the session; users are added while it runs."""

    def __init__(self, cert: Path, key: Path, root: Path | None = None) -> None:
        binary = shutil.which("dovecot") or "/usr/sbin/dovecot"
        if not os.path.exists(binary):
            raise RuntimeError("dovecot is not installed: run tests/setup-servers.sh")
        self.binary = binary
        # Not pytest's tmp_path: its parents are 0700 and the login processes
        # (user dovenull) must traverse the path to reach their sockets.
        self.root = root or Path(tempfile.mkdtemp(prefix="intake-dovecot-"))
        self.root.chmod(0o755)
        self.host = HOST
        self.port = free_port()
        self.tls_port = free_port()
        self.cert, self.key = cert, key
        # One passwd file per user: Dovecot looks at a file it has read at most
        # once a second, so a new user in a shared file may be unknown for 1 s.
        self.passwd_dir = self.root / "passwd.d"
        self.passwd_dir.mkdir()
        self.passwd_dir.chmod(0o755)
        self.config_file = self.root / "dovecot.conf"
        self._passwords: dict[str, str] = {}
        self._passwd_stamp = 0
        self._numbers = itertools.count(1)
        self._proc: subprocess.Popen[bytes] | None = None
        mail = self.root / "mail"
        mail.mkdir(exist_ok=True)
        shutil.chown(mail, "dovecot", "dovecot")
        self.configure()

    # -- configuration and process -------------------------------------------

    def configure(self, **options: object) -> None:
        """(Re)write the config; options go to dovecot_config. Restart to apply."""
        text = dovecot_config(
            self.root, self.port, self.tls_port, self.cert, self.key, self.passwd_dir,
            **options,  # type: ignore[arg-type]
        )  # fmt: skip
        self.config_file.write_text(text, encoding="utf-8")

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 10.0) -> None:
        if self.running:
            return
        log = self.root / "dovecot.stderr"
        with log.open("ab") as err:
            # -F: stay in the foreground, so the master is our child to wait on.
            self._proc = subprocess.Popen(
                [self.binary, "-F", "-c", str(self.config_file)],
                stdout=subprocess.DEVNULL, stderr=err, preexec_fn=_die_with_parent,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"dovecot exited at start: {self.log_tail()}")
            if _greets(self.host, self.port) and _listening(self.host, self.tls_port):
                return
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"dovecot did not start in {timeout}s: {self.log_tail()}")

    def stop(self) -> None:
        """SIGTERM to the master (its pid is also in run/master.pid) and wait.

        The master leaves its imap processes serving their connections; a
        real server going down drops them, so its children are ended too (by
        the pids recorded before the signal)."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        children = _children(proc.pid)
        proc.send_signal(signal.SIGTERM)
        # Its children at once too: the master alone takes 1-6 s to wind them down.
        for pid, started in children:
            if _start_time(pid) == started:  # still that process, not a reused pid
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and (
            _listening(self.host, self.port)
            or any(_start_time(pid) == started for pid, started in children)
        ):
            time.sleep(0.02)

    def restart(self) -> None:
        self.stop()
        self.start()

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    def log_tail(self, lines: int = 20) -> str:
        text = ""
        for name in ("dovecot.stderr", "dovecot.log"):
            path = self.root / name
            if path.exists():
                text += path.read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    # -- users ---------------------------------------------------------------

    def add_user(self, user: str | None = None, password: str | None = None) -> tuple[str, str]:
        user = user or f"u{next(self._numbers)}-{secrets.token_hex(3)}@{DOMAIN}"
        password = password or secrets.token_urlsafe(12)
        self._passwords[user] = password
        self._write_passwd(user)
        return user, password

    def set_password(self, user: str, password: str) -> None:
        """Change a password; returns once Dovecot takes the new one. Dovecot
        looks at the file at most once a second, so this can take a second."""
        self._passwords[user] = password
        self._write_passwd(user)
        deadline = time.monotonic() + 5
        while self.running and not self._can_login(user, password):
            if time.monotonic() > deadline:
                raise RuntimeError(f"dovecot did not take the new password of {user}")
            time.sleep(0.1)

    def _can_login(self, user: str, password: str) -> bool:
        client = IMAPClient(self.host, self.port, ssl=False, timeout=5)
        try:
            client.login(user, password)
            return True
        except IMAPClient.Error:
            return False
        finally:
            client.logout()

    def _write_passwd(self, user: str) -> None:
        path = self.passwd_dir / user
        tmp = path.with_suffix(".tmp")
        tmp.write_text(f"{user}:{{PLAIN}}{self._passwords[user]}\n", encoding="utf-8")
        tmp.chmod(0o644)
        # Dovecot re-reads the file when its mtime (whole seconds) changes:
        # give each version a later mtime than the last.
        self._passwd_stamp = max(int(time.time()), self._passwd_stamp + 1)
        os.utime(tmp, (self._passwd_stamp, self._passwd_stamp))
        tmp.replace(path)

    def password(self, user: str) -> str:
        return self._passwords[user]

    def maildir(self, user: str, folder: str = "INBOX") -> Path:
        """The maildir++ directory of a user's folder (separator "/" maps to ".")."""
        base = self.root / "mail" / user
        return base if folder.upper() == "INBOX" else base / ("." + folder.replace("/", "."))


def _die_with_parent() -> None:
    """In the child: SIGTERM when pytest dies (killed), so no Dovecot outlives it."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _children(parent: int) -> list[tuple[int, str]]:
    """(pid, start time) of the live processes whose parent is `parent`."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            fields = _stat_fields(int(entry.name))
            if fields and fields[1] == str(parent) and fields[0] != "Z":
                found.append((int(entry.name), fields[19]))
    return found


def _stat_fields(pid: int) -> list[str]:
    # /proc/PID/stat after "(comm)": state, ppid, ..., starttime is the 20th.
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def _start_time(pid: int) -> str | None:
    """The start time of a live (not zombie) process, None when it is gone."""
    fields = _stat_fields(pid)
    return fields[19] if fields and fields[0] != "Z" else None


def _listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _greets(host: str, port: int) -> bool:
    """Dovecot answers with its IMAP greeting (not just an open port)."""
    try:
        with socket.create_connection((host, port), timeout=1) as sock:
            return sock.recv(64).startswith(b"* OK")
    except OSError:
        return False
