"""Real mail servers for tests: a Dovecot IMAP server and an aiosmtpd SMTP server.

Dovecot runs once per test session from a config in a temp dir (see
/work/shared/test-servers.md for why each setting is there); every test gets
a fresh user, so an empty mailbox, without a restart. aiosmtpd runs per test
and keeps what it receives. Both listen on free ports on 127.0.0.1 only.

Install the programs with tests/setup-servers.sh (the Makefile runs it).
"""

from __future__ import annotations

import itertools
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from imapclient import IMAPClient

from intake.settings_types import MailboxSettings, Secret

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
    passwd_file: Path,
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
  args = scheme=PLAIN username_format=%u {passwd_file}
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


@dataclass(frozen=True)
class StoredMessage:
    """A message as Dovecot holds it, for assertions."""

    uid: int
    flags: frozenset[str]  # system flags and keywords, e.g. {"\\Seen", "$PreventIntake"}
    internaldate: datetime
    size: int
    data: bytes


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
        self.passwd_file = self.root / "passwd"
        self.passwd_file.touch()
        self.passwd_file.chmod(0o644)
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
            self.root, self.port, self.tls_port, self.cert, self.key, self.passwd_file,
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
                stdout=subprocess.DEVNULL, stderr=err,
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
        """SIGTERM to the master (its pid is also in run/master.pid) and wait."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        # Children (imap, auth) follow the master; wait until the ports are closed.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and _listening(self.host, self.port):
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
        self._write_passwd()
        return user, password

    def set_password(self, user: str, password: str) -> None:
        """Change a password; returns once Dovecot takes the new one. Dovecot
        looks at the file at most once a second, so this can take a second."""
        self._passwords[user] = password
        self._write_passwd()
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

    def _write_passwd(self) -> None:
        lines = "".join(f"{user}:{{PLAIN}}{pw}\n" for user, pw in self._passwords.items())
        tmp = self.passwd_file.with_suffix(".tmp")
        tmp.write_text(lines, encoding="utf-8")
        tmp.chmod(0o644)
        # Dovecot re-reads the file when its mtime changes (whole seconds):
        # give each version a later mtime than the last.
        self._passwd_stamp = max(int(time.time()), self._passwd_stamp + 1)
        os.utime(tmp, (self._passwd_stamp, self._passwd_stamp))
        tmp.replace(self.passwd_file)

    def password(self, user: str) -> str:
        return self._passwords[user]

    def maildir(self, user: str, folder: str = "INBOX") -> Path:
        """The maildir++ directory of a user's folder (separator "/" maps to ".")."""
        base = self.root / "mail" / user
        return base if folder.upper() == "INBOX" else base / ("." + folder.replace("/", "."))


class DovecotAccount:
    """One user on the session's Dovecot: what a test needs to reach and inspect it."""

    def __init__(self, server: DovecotServer, user: str) -> None:
        self.server = server
        self.user = user
        self.host = server.host
        self.port = server.port
        self.tls_port = server.tls_port
        self.cert = server.cert

    @property
    def password(self) -> str:
        return self.server.password(self.user)

    # -- server control (shared by every account on this server) --------------

    def stop(self) -> None:
        self.server.stop()

    def start(self) -> None:
        self.server.start()

    def restart(self) -> None:
        self.server.restart()

    def fresh_user(self) -> DovecotAccount:
        """Another, empty, mailbox on the same server."""
        user, _ = self.server.add_user()
        return DovecotAccount(self.server, user)

    def set_password(self, new: str) -> None:
        """Change the password on the server; a client holding the old one is refused."""
        self.server.set_password(self.user, new)

    # -- settings for the code under test -------------------------------------

    def settings(self, security: str = "none", **overrides: object) -> MailboxSettings:
        """MailboxSettings reaching this account; the password goes in a file
        holding the password as it is now (set_password later makes it wrong)."""
        secret = self.server.root / "secrets" / f"{self.user}.{secrets.token_hex(4)}"
        secret.parent.mkdir(exist_ok=True)
        secret.write_text(self.password, encoding="utf-8")
        port = self.tls_port if security == "tls" else self.port
        values: dict[str, object] = {
            "kind": "imap", "host": self.host, "port": port, "security": security,
            "ca_file": self.cert if security != "none" else None,
            "username": self.user, "address": self.user,
            "password": Secret(file=secret), "poll_seconds": 0.5,
        }  # fmt: skip
        values.update(overrides)
        return MailboxSettings(**values)  # type: ignore[arg-type]

    def client(self) -> IMAPClient:
        """A logged-in plain-text client (the caller logs out)."""
        client = IMAPClient(self.host, self.port, ssl=False, timeout=10)
        client.normalise_times = False
        client.login(self.user, self.password)
        return client

    # -- mailbox helpers -----------------------------------------------------

    def append(
        self,
        msg: bytes,
        folder: str = "INBOX",
        flags: tuple[str, ...] = (),
        when: datetime | None = None,
    ) -> int:
        """APPEND a message (creating the folder if needed); returns its UID."""
        return self.append_many([msg], folder, flags, when)[0]

    def append_many(
        self,
        msgs: list[bytes],
        folder: str = "INBOX",
        flags: tuple[str, ...] = (),
        when: datetime | None = None,
    ) -> list[int]:
        client = self.client()
        try:
            if not client.folder_exists(folder):
                client.create_folder(folder)
            uids = []
            for msg in msgs:
                response = client.append(folder, msg, flags=flags, msg_time=when)
                uids.append(_appenduid(response))
            return uids
        finally:
            client.logout()

    def create_folder(self, folder: str) -> None:
        client = self.client()
        try:
            if not client.folder_exists(folder):
                client.create_folder(folder)
        finally:
            client.logout()

    def folders(self) -> list[str]:
        client = self.client()
        try:
            return sorted(name for _flags, _sep, name in client.list_folders())
        finally:
            client.logout()

    def uidvalidity(self, folder: str = "INBOX") -> int:
        client = self.client()
        try:
            return client.folder_status(folder, [b"UIDVALIDITY"])[b"UIDVALIDITY"]
        finally:
            client.logout()

    def messages(self, folder: str = "INBOX") -> list[StoredMessage]:
        """Every message in the folder, by UID, read without changing flags."""
        client = self.client()
        try:
            client.select_folder(folder, readonly=True)
            uids = client.search("ALL")
            if not uids:
                return []
            data = client.fetch(uids, ["FLAGS", "INTERNALDATE", "RFC822.SIZE", "BODY.PEEK[]"])
            return [
                StoredMessage(
                    uid=uid,
                    flags=frozenset(_text(flag) for flag in item[b"FLAGS"]),
                    internaldate=item[b"INTERNALDATE"],
                    size=item[b"RFC822.SIZE"],
                    data=item[b"BODY[]"],
                )
                for uid, item in sorted(data.items())
            ]
        finally:
            client.logout()

    def set_flags(self, uids: list[int], flags: tuple[str, ...], folder: str = "INBOX") -> None:
        client = self.client()
        try:
            client.select_folder(folder)
            client.add_flags(uids, flags, silent=True)
        finally:
            client.logout()

    def bump_uidvalidity(self, folder: str = "INBOX") -> int:
        """Give the folder a new UIDVALIDITY, keeping its messages (which get
        new UIDs), as a server rebuilding its index would; returns the new value.

        Removes the folder's dovecot-uidlist and index files: Dovecot then
        rebuilds them with a fresh UIDVALIDITY (it keeps a counter in the mail
        root, so the new value always differs). Sessions holding the folder
        selected are disconnected by Dovecot, as with a real server."""
        old = self.uidvalidity(folder)
        directory = self.server.maildir(self.user, folder)
        for path in directory.iterdir():
            if path.name == "dovecot-uidlist" or path.name.startswith("dovecot.index"):
                path.unlink()
        new = self.uidvalidity(folder)
        if new == old:
            raise AssertionError(f"UIDVALIDITY of {folder} did not change")
        return new


def _appenduid(response: bytes) -> int:
    # b"[APPENDUID 1700000000 5] Append completed."
    text = response.decode("ascii", "replace")
    if "APPENDUID" not in text:
        raise AssertionError(f"no APPENDUID in {text!r}")
    return int(text.split("APPENDUID", 1)[1].split("]", 1)[0].split()[1])


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


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


def client_tls_context(cert: Path) -> ssl.SSLContext:
    """A client context trusting the throwaway certificate."""
    return ssl.create_default_context(cafile=str(cert))
