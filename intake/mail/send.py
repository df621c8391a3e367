"""Hand finished messages to the SMTP server, or to a folder in shadow mode.

A Sender knows nothing of the outbox: it takes raw bytes and an envelope and
either hands the message over, returning the recipients the server refused
while it took the others (Refused, empty when all were taken), or raises
SendError (permanent=True when the server refused the message or every
recipient for good). ServerDown, a SendError, says the server could not be
used at all: the caller stops its round and retries later.
Log lines name no password and no message content.
"""

from __future__ import annotations

import logging
import os
import re
import smtplib
import socket
import ssl
import tempfile
from collections.abc import Callable
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import parseaddr
from pathlib import Path
from typing import Protocol

from ..config.paths import make_private_dir
from ..config.settings import is_loopback
from ..config.settings_types import Settings, SmtpSettings
from ..domain.errors import SendError, SettingsError
from .connect import TokenProvider, tls_context

log = logging.getLogger("intake.send")

_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._@+=-]+")


# A refused recipient: address -> (SMTP code, the server's text).
Refused = dict[str, tuple[int, str]]


class Sender(Protocol):
    def send(self, raw: bytes, mail_from: str, recipients: list[str]) -> Refused | None: ...
    def close(self) -> None: ...


class ServerDown(SendError):
    """The server could not be reached, dropped us, or refused our login or sender."""

    def __init__(self, message: str):
        super().__init__(message, permanent=False)


def open_sender(settings: Settings, token_provider: TokenProvider | None = None) -> Sender:
    """The sender the settings ask for; SMTP connects on the first send, not here."""
    smtp = settings.smtp
    if smtp.mode == "send":
        return SmtpSender(smtp, token_provider)
    if smtp.mode in ("shadow", "outbox"):
        if smtp.shadow_folder is None:
            raise SettingsError(["[smtp] shadow_folder: needed when mode is shadow or outbox"])
        return FolderSender(smtp.shadow_folder)
    raise SettingsError([f"[smtp] mode: {smtp.mode!r} is not send, shadow or outbox"])


# -- SMTP -------------------------------------------------------------------


class SmtpSender:
    """One SMTP connection, opened on demand and reused until close() or a drop."""

    def __init__(self, settings: SmtpSettings, token_provider: TokenProvider | None = None):
        if settings.security not in ("tls", "starttls", "none"):
            raise SettingsError([f"[smtp] security: {settings.security!r} is not tls, "
                                 "starttls or none"])
        if settings.security == "none" and not is_loopback(settings.host):
            raise SettingsError(["[smtp] security: \"none\" is allowed only to a loopback host"])
        if settings.auth == "oauth2" and token_provider is None:
            raise SettingsError(["[smtp] auth: oauth2 needs [oauth2] settings"])
        self.settings = settings
        self.token_provider = token_provider
        self._conn: smtplib.SMTP | None = None

    def _context(self) -> ssl.SSLContext:
        return tls_context(self.settings.ca_file, self.settings.tls_verify)

    def connect(self) -> None:
        """Open and sign in (if not already); raises ServerDown."""
        if self._conn is not None:
            return
        s = self.settings
        where = f"{s.host}:{s.port}"
        conn: smtplib.SMTP | None = None
        try:
            if s.security == "tls":
                conn = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout, context=self._context())
            else:
                conn = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
            conn.ehlo()
            if s.security == "starttls":
                if not conn.has_extn("starttls"):
                    raise ServerDown(f"{where} does not offer STARTTLS")
                conn.starttls(context=self._context())
                conn.ehlo()
            self._login(conn)
        except ServerDown:
            _quietly_close(conn)
            raise
        except smtplib.SMTPAuthenticationError as err:
            _quietly_close(conn)
            raise ServerDown(f"{where} refused the login ({err.smtp_code})") from err
        except (smtplib.SMTPException, OSError) as err:
            _quietly_close(conn)
            raise ServerDown(f"{where}: {_describe(err)}") from err
        self._conn = conn

    def _login(self, conn: smtplib.SMTP) -> None:
        s = self.settings
        if s.auth == "oauth2":
            assert self.token_provider is not None
            user = s.username or _address(s.sender)
            for attempt in (1, 2):
                sasl = f"user={user}\x01auth=Bearer {self.token_provider.token()}\x01\x01"
                try:
                    conn.auth("XOAUTH2", _xoauth2(sasl), initial_response_ok=True)
                    return
                except smtplib.SMTPAuthenticationError:
                    self.token_provider.invalidate()  # an expired token: fetch a new one once
                    if attempt == 2:
                        raise
        elif s.username:
            conn.login(s.username, s.password.reveal() if s.password else "")

    def send(self, raw: bytes, mail_from: str, recipients: list[str]) -> Refused:
        # A reused connection may have been closed by the server while idle: when it
        # fails before the message data went out, reconnect and try once more.
        for attempt in (1, 2):
            reused = self._conn is not None
            self.connect()
            assert self._conn is not None
            try:
                return self._transaction(self._conn, raw, mail_from, recipients)
            except _Dropped as dropped:
                self._drop()
                if dropped.before_data and reused and attempt == 1:
                    log.debug("smtp: connection lost before the data (%s); reconnecting", dropped)
                    continue
                raise ServerDown(str(dropped)) from dropped.__cause__
        raise AssertionError("unreachable")

    def _transaction(self, conn: smtplib.SMTP, raw: bytes, mail_from: str,
                     recipients: list[str]) -> Refused:
        before_data = True
        try:
            code, reply = conn.mail(mail_from)
            if code == 421:
                raise _Dropped(f"server closing: {code} {_text(reply)}", True)
            if code >= 400:
                _reset(conn)
                raise ServerDown(f"sender refused: {code} {_text(reply)}")
            refused: Refused = {}
            for rcpt in recipients:
                code, reply = conn.rcpt(rcpt)
                if code == 421:
                    raise _Dropped(f"server closing: {code} {_text(reply)}", True)
                if code >= 400:
                    refused[rcpt] = (code, _text(reply))
            if len(refused) == len(recipients):  # nobody to send to
                _reset(conn)
                raise refusal(refused)
            before_data = False
            code, reply = conn.data(raw)
            if code == 421:
                raise _Dropped(f"server closing: {code} {_text(reply)}", False)
            if code >= 400:
                _reset(conn)
                raise SendError(f"message refused: {code} {_text(reply)}", permanent=code >= 500)
            return refused
        except (smtplib.SMTPServerDisconnected, OSError) as err:
            raise _Dropped(f"connection lost: {_describe(err)}", before_data) from err
        except smtplib.SMTPResponseException as err:  # e.g. a 4xx/5xx raised by data()
            if err.smtp_code == 421:
                raise _Dropped(f"server closing: {err.smtp_code}", before_data) from err
            _reset(conn)
            raise SendError(f"refused: {err.smtp_code} {_text(err.smtp_error)}",
                            permanent=err.smtp_code >= 500) from err

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        _quietly_close(conn, polite=False)

    def close(self) -> None:
        conn, self._conn = self._conn, None
        _quietly_close(conn)


def refusal(refused: Refused) -> SendError:
    """The error for these refused recipients: permanent when every refusal was a 5xx."""
    detail = "; ".join(f"{code} {text}" for code, text in refused.values())
    return SendError(f"recipient refused: {detail}",
                     permanent=all(code >= 500 for code, _ in refused.values()), refused=refused)


def _xoauth2(sasl: str) -> Callable[..., str]:
    """smtplib's auth object: the SASL string first; an empty answer to an error challenge."""

    def answer(challenge: bytes | None = None) -> str:
        return "" if challenge else sasl

    return answer


class _Dropped(Exception):
    """The connection failed mid-transaction; before_data: nothing can have been delivered."""

    def __init__(self, message: str, before_data: bool):
        super().__init__(message)
        self.before_data = before_data


def _reset(conn: smtplib.SMTP) -> None:
    try:
        conn.rset()
    except (smtplib.SMTPException, OSError):
        pass


def _quietly_close(conn: smtplib.SMTP | None, *, polite: bool = True) -> None:
    if conn is None:
        return
    try:
        if polite:
            conn.quit()
    except (smtplib.SMTPException, OSError):
        pass
    finally:
        conn.close()


def _text(reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
    return " ".join(text.split())


def _describe(err: BaseException) -> str:
    if isinstance(err, socket.timeout):
        return "timed out"
    return _text(str(err)) or type(err).__name__


def _address(sender: str) -> str:
    return parseaddr(sender)[1]


# -- shadow mode --------------------------------------------------------------


class FolderSender:
    """Writes each message as a .eml file (temp file, then rename); sends nothing."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)

    def send(self, raw: bytes, mail_from: str, recipients: list[str]) -> Refused:
        try:
            make_private_dir(self.folder)
            path = self.folder / f"{eml_name(raw)}.eml"
            handle, temp = tempfile.mkstemp(dir=self.folder, prefix=".tmp-", suffix=".eml")
            try:
                with os.fdopen(handle, "wb") as out:
                    out.write(raw)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(temp, path)
            except BaseException:
                Path(temp).unlink(missing_ok=True)
                raise
        except OSError as err:
            raise ServerDown(f"shadow folder {self.folder}: {err.strerror}") from err
        return {}

    def close(self) -> None:
        pass


def eml_name(raw: bytes) -> str:
    """A file name from the message's Message-ID: the same message, the same file."""
    headers = BytesHeaderParser(policy=compat32).parsebytes(raw[:65536])
    message_id = str(headers.get("Message-ID") or "").strip().strip("<>")
    name = _UNSAFE_NAME.sub("_", message_id).strip("._")[:150]
    return name or "message"
