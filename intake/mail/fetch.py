"""fetch: read messages from the shared mailbox, never setting \\Seen.

One protocol, `Mailbox`, with two sources: `ImapMailbox` (the real shared
mailbox, through imapclient) and `MaildirMailbox` (a local maildir, for the
demo; in intake.mail.fetch_maildir). The worker knows a message by (folder,
UIDVALIDITY, UID) before downloading it, and marks it only after recording
it (style.md item 5). Log lines name the folder and UID, nothing from the mail.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any, Protocol

from imapclient import IMAPClient
from imapclient import exceptions as imap_errors

from ..config.settings import is_loopback
from ..config.settings_types import MailboxSettings
from ..domain.errors import LoginError, MailboxError, SettingsError
from ..domain.models import RawMessage
from .connect import TokenProvider, tls_context

log = logging.getLogger("intake.fetch")

KEYWORD = "$PreventIntake"
IMAP_TIMEOUT = 60.0  # seconds for connect and for each read


class Mailbox(Protocol):
    def connect(self) -> None: ...  # raises LoginError / MailboxError
    def close(self) -> None: ...
    def folders(self) -> list[str]: ...  # folder, then more_folders
    def uidvalidity(self, folder: str) -> int: ...
    def uids_after(self, folder: str, last_uid: int) -> list[int]: ...  # ascending
    def fetch(self, folder: str, uids: Sequence[int]) -> Iterator[RawMessage]: ...
    def received_dates(self, folder: str, uids: Sequence[int]) -> dict[int, datetime]: ...
    def sizes(self, folder: str, uids: Sequence[int]) -> dict[int, int]: ...  # bytes
    def mark_processed(self, folder: str, uids: Sequence[int], move: bool = True) -> None: ...
    def wait_for_mail(self, timeout: float) -> None: ...


def open_mailbox(settings: MailboxSettings, token_provider: TokenProvider | None = None,
                 *, readonly: bool = False) -> Mailbox:
    """The mailbox source the settings name (not yet connected). `readonly`: folders
    are opened with EXAMINE, so not even \\Recent changes (shadow mode)."""
    if settings.kind == "maildir":
        from .fetch_maildir import MaildirMailbox

        return MaildirMailbox(settings)
    if settings.kind == "imap":
        return ImapMailbox(settings, token_provider, readonly=readonly)
    raise SettingsError([f"[mailbox] kind: {settings.kind!r} is not imap or maildir"])


@contextmanager
def _wrapped(what: str) -> Iterator[None]:
    """Library and socket errors become MailboxError, saying what we were doing."""
    try:
        yield
    except (imap_errors.IMAPClientError, OSError) as err:  # imaplib errors, ssl, socket
        raise MailboxError(f"{what}: {_describe(err)}") from err


def _describe(err: BaseException) -> str:
    """A short account of a failure; never the server's raw response, which may quote mail."""
    if isinstance(err, imap_errors.ProtocolError):
        return "the server's response could not be understood"
    text = (str(err) or type(err).__name__).splitlines()[0]
    return text[:160]


class ImapMailbox:
    """The shared mailbox over IMAP. Not thread-safe: one worker, one connection."""

    def __init__(
        self, settings: MailboxSettings, token_provider: TokenProvider | None = None,
        *, readonly: bool = False,
    ) -> None:
        self.settings = settings
        self.token_provider = token_provider
        self.readonly = readonly
        self._client: IMAPClient | None = None
        self._selected: str | None = None
        self._uidvalidity = 0
        self._permanent_flags: tuple[bytes, ...] = ()
        self._known_folders: set[str] = set()
        self._idling = False  # IDLE sent and its DONE not yet answered

    # -- connection ----------------------------------------------------------

    @property
    def where(self) -> str:
        return f"{self.settings.host}:{self.settings.port}"

    def connect(self) -> None:
        s = self.settings
        if s.security not in ("tls", "starttls", "none"):
            raise SettingsError(
                [f"[mailbox] security: {s.security!r} is not tls, starttls or none"]
            )
        if s.security == "none" and not is_loopback(s.host):
            raise SettingsError(
                [f'[mailbox] security: "none" is allowed only to a loopback host, not {s.host}']
            )
        self.close()
        context = tls_context(s.ca_file, s.tls_verify) if s.security != "none" else None
        with _wrapped(f"cannot connect to {self.where}"):
            client = IMAPClient(
                s.host, s.port, ssl=s.security == "tls", ssl_context=context, timeout=IMAP_TIMEOUT
            )
        try:
            with _wrapped(f"{self.where}: STARTTLS failed"):
                if s.security == "starttls":
                    client.starttls(context)
            self._login(client)
            client.normalise_times = False  # INTERNALDATE with the server's offset
        except BaseException:
            _quietly(client.shutdown)
            raise
        self._client = client
        self._selected = None
        self._idling = False
        log.info("mailbox %s: signed in as %s", self.where, s.username)

    def _login(self, client: IMAPClient) -> None:
        s = self.settings
        if s.auth == "oauth2":
            if self.token_provider is None:
                raise SettingsError(["[mailbox] auth: oauth2 needs [oauth2] settings"])
            user = s.address or s.username
            for attempt in (1, 2):  # a refused token may be stale: a new one, once
                try:
                    with _wrapped(f"{self.where}: sign-in failed"):
                        client.oauth2_login(user, self.token_provider.token())
                    return
                except MailboxError as err:
                    if not isinstance(err.__cause__, imap_errors.LoginError):
                        raise
                    if attempt == 2:
                        raise LoginError(
                            f"{self.where}: OAuth2 sign-in refused for {user}"
                        ) from err
                    self.token_provider.invalidate()
                    log.info("mailbox %s: token refused, asking for a new one", self.where)
        try:
            password = s.password.reveal()
            client.login(s.username, password)
        except imap_errors.LoginError as err:
            # The server's words ("[AUTHENTICATIONFAILED] ...") never hold the password.
            raise LoginError(
                f"{self.where}: sign-in refused for {s.username}: {_describe(err)}"
            ) from err
        except (imap_errors.IMAPClientError, OSError) as err:
            raise MailboxError(f"{self.where}: sign-in failed: {_describe(err)}") from err

    def close(self) -> None:
        """Sign out. A connection left inside IDLE (a stop that came between IDLE and
        its DONE) is only shut: the server would read LOGOUT as a bad DONE and never
        answer it, and logout would wait out the read timeout (IMAP_TIMEOUT)."""
        client, self._client = self._client, None
        self._selected = None
        idling, self._idling = self._idling, False
        if client is not None:
            _quietly(client.shutdown if idling else client.logout)

    @property
    def client(self) -> IMAPClient:
        if self._client is None:
            raise MailboxError(f"{self.where}: not connected")
        return self._client

    # -- reading -------------------------------------------------------------

    def folders(self) -> list[str]:
        return [self.settings.folder, *self.settings.more_folders]

    def _select(self, folder: str) -> None:
        if self._selected == folder:
            return
        with _wrapped(f"{self.where}: cannot open folder {folder}"):
            info = self.client.select_folder(folder, readonly=self.readonly)
        self._selected = folder
        self._uidvalidity = int(info[b"UIDVALIDITY"])
        self._permanent_flags = tuple(info.get(b"PERMANENTFLAGS", ()))

    def uidvalidity(self, folder: str) -> int:
        self._selected = None  # select again: the value may have changed since
        self._select(folder)
        return self._uidvalidity

    def uids_after(self, folder: str, last_uid: int) -> list[int]:
        already = self._selected == folder
        self._select(folder)
        with _wrapped(f"{self.where}: search in {folder} failed"):
            if already:  # SEARCH alone may not see mail that came since: NOOP first
                self.client.noop()
            # "N:*" also matches the highest UID when it is below N: filter.
            found = self.client.search(["UID", f"{last_uid + 1}:*"])
        return sorted(uid for uid in found if uid > last_uid)

    def fetch(self, folder: str, uids: Sequence[int]) -> Iterator[RawMessage]:
        """Messages in UID order; those over max_message_bytes as header only
        (too_large=True). BODY.PEEK never sets \\Seen. UIDs gone meanwhile
        (expunged by a person) are skipped."""
        uids = sorted(uids)
        size = max(1, self.settings.batch_size)
        for start in range(0, len(uids), size):
            yield from self._fetch_batch(folder, uids[start : start + size])

    def received_dates(self, folder: str, uids: Sequence[int]) -> dict[int, datetime]:
        """INTERNALDATE of each UID still there (no bodies: cheap for a backlog)."""
        return {uid: _aware(value)
                for uid, value in self._fetch_item(folder, uids, "INTERNALDATE").items()}

    def sizes(self, folder: str, uids: Sequence[int]) -> dict[int, int]:
        """RFC822.SIZE of each UID still there: what fetching it would cost."""
        return {uid: int(value)
                for uid, value in self._fetch_item(folder, uids, "RFC822.SIZE").items()}

    def _fetch_item(self, folder: str, uids: Sequence[int], item: str) -> dict[int, Any]:
        """One FETCH data item (no bodies) of each UID still there, 1,000 UIDs a command."""
        self._select(folder)
        values: dict[int, Any] = {}
        uids = sorted(uids)
        key = item.encode()
        with _wrapped(f"{self.where}: fetch from {folder} failed"):
            for start in range(0, len(uids), 1000):
                found = self.client.fetch(uids[start:start + 1000], [item])
                values.update({uid: data[key] for uid, data in found.items() if key in data})
        return values

    def _fetch_batch(self, folder: str, batch: list[int]) -> Iterator[RawMessage]:
        self._select(folder)
        validity = self._uidvalidity
        cap = self.settings.max_message_bytes
        with _wrapped(f"{self.where}: fetch from {folder} failed"):
            meta = self.client.fetch(batch, ["RFC822.SIZE", "INTERNALDATE"])
            small = [uid for uid in batch if uid in meta and meta[uid][b"RFC822.SIZE"] <= cap]
            large = [uid for uid in batch if uid in meta and uid not in small]
            bodies = self.client.fetch(small, ["BODY.PEEK[]"]) if small else {}
            headers = self.client.fetch(large, ["BODY.PEEK[HEADER]"]) if large else {}
        for uid in batch:
            if uid not in meta:
                log.warning("uid %s in %s: gone before it could be fetched", uid, folder)
                continue
            too_large = uid in headers
            item = headers[uid] if too_large else bodies.get(uid)
            key = b"BODY[HEADER]" if too_large else b"BODY[]"
            if item is None or key not in item:
                log.warning("uid %s in %s: gone before its content was fetched", uid, folder)
                continue
            if too_large:
                log.info("uid %s in %s: over %s bytes, header only", uid, folder, cap)
            yield RawMessage(
                folder=folder,
                uidvalidity=validity,
                uid=uid,
                received_at=_aware(meta[uid][b"INTERNALDATE"]),
                data=bytes(item[key]),
                size=int(meta[uid][b"RFC822.SIZE"]),
                too_large=too_large,
            )

    # -- marking -------------------------------------------------------------

    def mark_processed(self, folder: str, uids: Sequence[int], move: bool = True) -> None:
        """Add $PreventIntake where the server keeps it, then (with `move`) move to
        processed_folder when one is set. Never touches \\Seen."""
        if not uids:
            return
        uids = sorted(uids)
        self._select(folder)
        if rb"\*" in self._permanent_flags or KEYWORD.encode() in self._permanent_flags:
            with _wrapped(f"{self.where}: cannot set {KEYWORD} in {folder}"):
                self.client.add_flags(uids, [KEYWORD], silent=True)
        target = self.settings.processed_folder
        if not move or not target or target == folder:
            return
        self._ensure_folder(target)
        with _wrapped(f"{self.where}: cannot move from {folder} to {target}"):
            if self.client.has_capability("MOVE"):
                self.client.move(uids, target)
            else:
                self.client.copy(uids, target)
                self.client.delete_messages(uids, silent=True)
                if self.client.has_capability("UIDPLUS"):
                    self.client.uid_expunge(uids)  # ours only, never others' \Deleted
                else:
                    log.warning(
                        "%s: copied to %s, left marked deleted (no UIDPLUS)", folder, target
                    )
        log.info("uids %s in %s: moved to %s", _span(uids), folder, target)

    def _ensure_folder(self, name: str) -> None:
        if name in self._known_folders:
            return
        with _wrapped(f"{self.where}: cannot create folder {name}"):
            if not self.client.folder_exists(name):
                try:
                    self.client.create_folder(name)
                    log.info("mailbox %s: created folder %s", self.where, name)
                except imap_errors.IMAPClientError:
                    if not self.client.folder_exists(name):  # else: created meanwhile
                        raise
        self._known_folders.add(name)

    # -- waiting -------------------------------------------------------------

    def wait_for_mail(self, timeout: float) -> None:
        """IDLE on the main folder until new mail or the timeout; where the
        server has no IDLE, sleep poll_seconds (at most the timeout)."""
        if not self.client.has_capability("IDLE"):
            time.sleep(max(0.0, min(timeout, self.settings.poll_seconds)))
            return
        self._select(self.settings.folder)
        deadline = time.monotonic() + timeout
        what = f"{self.where}: IDLE on {self.settings.folder} failed"
        early_empty = 0  # idle_check returns [] at once, again and again, at EOF
        with _wrapped(what):
            self._idling = True
            self.client.idle()
            try:
                while (left := deadline - time.monotonic()) > 0:
                    responses = self.client.idle_check(timeout=left)
                    if any(_is_new_mail(r) for r in responses):
                        return
                    if any(r and r[0] == b"BYE" for r in responses):
                        raise MailboxError(f"{what}: the server closed the connection")
                    quick = not responses and deadline - time.monotonic() > 0.01
                    early_empty = early_empty + 1 if quick else 0
                    if early_empty >= 3:
                        raise MailboxError(f"{what}: the connection was closed")
            finally:
                self._idle_done()

    def _idle_done(self) -> None:
        """DONE, and its answer read: the connection takes commands again. Any failure
        leaves it marked as inside IDLE (close() then only shuts it)."""
        try:
            self.client.idle_done()
        except (TimeoutError, imap_errors.IMAPClientError, OSError):
            return
        self._idling = False


def _is_new_mail(response: tuple) -> bool:
    return len(response) >= 2 and response[1] in (b"EXISTS", b"RECENT") and response[0] != 0


def _aware(value: datetime) -> datetime:
    # normalise_times=False gives the server's offset; a bare time is taken as UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _span(uids: Sequence[int]) -> str:
    return str(uids[0]) if len(uids) == 1 else f"{uids[0]}..{uids[-1]} ({len(uids)})"


def _quietly(action: Callable[[], object]) -> None:
    try:
        action()
    except (TimeoutError, imap_errors.IMAPClientError, OSError):
        pass
