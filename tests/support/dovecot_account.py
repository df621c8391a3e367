"""One user on the test Dovecot: how a test reaches, fills and inspects a mailbox.

Every helper opens its own IMAP session (a login costs milliseconds), so
they keep working across server restarts and never share state with the
code under test.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

from intake.config.settings_types import MailboxSettings, Secret
from support.servers import DovecotServer


@dataclass(frozen=True)
class StoredMessage:
    """A message as Dovecot holds it, for assertions."""

    uid: int
    flags: frozenset[str]  # system flags and keywords, e.g. {"\\Seen", "$PreventIntake"}
    internaldate: datetime
    size: int
    data: bytes


class DovecotAccount:
    """host, port, tls_port, cert, user, password, and helpers on this mailbox."""

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
        """MailboxSettings reaching this account ("none": plain port; "tls": the
        IMAPS port; "starttls": plain port, then TLS; both trusting `cert`).
        The password goes in a file holding it as it is now, so a later
        set_password makes these settings wrong, as a changed password would."""
        secret = self.server.root / "secrets" / f"{self.user}.{secrets.token_hex(4)}"
        secret.parent.mkdir(exist_ok=True)
        secret.write_text(self.password, encoding="utf-8")
        values: dict[str, object] = {
            "kind": "imap",
            "host": self.host,
            "port": self.tls_port if security == "tls" else self.port,
            "security": security,
            "ca_file": self.cert if security != "none" else None,
            "username": self.user,
            "address": self.user,
            "password": Secret(file=secret),
            "poll_seconds": 0.5,
        }
        values.update(overrides)
        return MailboxSettings(**values)  # type: ignore[arg-type]

    @contextmanager
    def session(self) -> Iterator[IMAPClient]:
        """A logged-in plain-text client, logged out afterwards."""
        client = IMAPClient(self.host, self.port, ssl=False, timeout=10)
        client.normalise_times = False  # INTERNALDATE with its offset
        try:
            client.login(self.user, self.password)
            yield client
        finally:
            client.logout()

    # -- mailbox helpers -----------------------------------------------------

    def append(
        self,
        msg: bytes,
        folder: str = "INBOX",
        flags: tuple[str, ...] = (),
        when: datetime | None = None,
    ) -> int:
        """APPEND a message (creating the folder if needed); returns its UID.
        `when` sets INTERNALDATE (give it a timezone)."""
        return self.append_many([msg], folder, flags, when)[0]

    def append_many(
        self,
        msgs: list[bytes],
        folder: str = "INBOX",
        flags: tuple[str, ...] = (),
        when: datetime | None = None,
    ) -> list[int]:
        with self.session() as client:
            if not client.folder_exists(folder):
                client.create_folder(folder)
            return [_appenduid(client.append(folder, m, flags=flags, msg_time=when)) for m in msgs]

    def create_folder(self, folder: str) -> None:
        with self.session() as client:
            if not client.folder_exists(folder):
                client.create_folder(folder)

    def folders(self) -> list[str]:
        with self.session() as client:
            return sorted(name for _flags, _sep, name in client.list_folders())

    def uidvalidity(self, folder: str = "INBOX") -> int:
        with self.session() as client:
            return client.folder_status(folder, [b"UIDVALIDITY"])[b"UIDVALIDITY"]

    def messages(self, folder: str = "INBOX") -> list[StoredMessage]:
        """Every message in the folder, by UID, read without changing flags."""
        with self.session() as client:
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

    def set_flags(self, uids: list[int], flags: tuple[str, ...], folder: str = "INBOX") -> None:
        """Add flags as a person's mail client would (e.g. \\Seen, \\Deleted)."""
        with self.session() as client:
            client.select_folder(folder)
            client.add_flags(uids, flags, silent=True)

    def bump_uidvalidity(self, folder: str = "INBOX") -> int:
        """Give the folder a new UIDVALIDITY, keeping its messages (which get
        new UIDs), as a server rebuilding its index would; returns the new value.

        Removes the folder's dovecot-uidlist and index files: Dovecot rebuilds
        them with a fresh UIDVALIDITY (from a counter in the mail root, so it
        always differs). Dovecot disconnects sessions holding the folder open,
        as a real server would: close them first."""
        old = self.uidvalidity(folder)
        directory = self.server.maildir(self.user, folder)
        for path in directory.iterdir():
            if path.name == "dovecot-uidlist" or path.name.startswith("dovecot.index"):
                path.unlink()
        new = self._rebuilt_uidvalidity(folder)
        if new == old:
            raise AssertionError(f"UIDVALIDITY of {folder} did not change")
        return new

    def _rebuilt_uidvalidity(self, folder: str, tries: int = 10) -> int:
        """The folder's UIDVALIDITY once Dovecot has rebuilt its index. While a session
        that holds the folder open (a worker in IDLE) is rebuilding it too, STATUS may
        answer NO "Mailbox was deleted under us" for a moment: ask again."""
        for _ in range(tries - 1):
            try:
                return self.uidvalidity(folder)
            except IMAPClientError as err:
                if "deleted under us" not in str(err):
                    raise
            time.sleep(0.2)
        return self.uidvalidity(folder)


def _appenduid(response: bytes) -> int:
    # b"[APPENDUID 1700000000 5] Append completed."
    text = response.decode("ascii", "replace")
    if "APPENDUID" not in text:
        raise AssertionError(f"no APPENDUID in {text!r}")
    return int(text.split("APPENDUID", 1)[1].split("]", 1)[0].split()[1])


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value
