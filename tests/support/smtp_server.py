"""A real SMTP server for tests: aiosmtpd on 127.0.0.1, keeping what it receives.

Faults a test can switch on: the server down (stop), a recipient refused
with 550 or put off with 450, the connection dropped after the message data is sent (before the
server's answer), AUTH required, STARTTLS or implicit TLS with the throwaway
certificate made for Dovecot.
"""

from __future__ import annotations

import secrets
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from intake.config.settings_types import Secret, SmtpSettings

HOST = "127.0.0.1"


@dataclass(frozen=True)
class ReceivedMail:
    """One accepted message: the envelope and the bytes as sent."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    content: bytes
    auth_user: str | None = None
    tls: bool = False


@dataclass
class RecordingHandler:
    """aiosmtpd handler: records accepted mail and injects the faults asked for."""

    received: list[ReceivedMail] = field(default_factory=list)
    refused: set[str] = field(default_factory=set)  # lower-case addresses: 550 at RCPT
    put_off: set[str] = field(default_factory=set)  # lower-case addresses: 450 at RCPT
    drops_left: int = 0  # close the connection instead of answering the next N DATA
    credentials: tuple[str, str] | None = None
    login_attempts: list[tuple[str, bool]] = field(default_factory=list)  # (login, success)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list
    ) -> str:
        if address.lower() in self.refused:
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        if address.lower() in self.put_off:
            return f"450 4.2.1 <{address}>: Mailbox busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.drops_left > 0:
            self.drops_left -= 1
            assert server.transport is not None
            server.transport.abort()  # the client never hears whether it was taken
            return "421 4.3.0 connection dropped"
        content = envelope.original_content or envelope.content or b""
        if isinstance(content, str):
            content = content.encode("utf-8", "surrogateescape")
        login = session.auth_data.decode() if isinstance(session.auth_data, bytes) else None
        self.received.append(
            ReceivedMail(
                mail_from=envelope.mail_from or "",
                rcpt_tos=tuple(envelope.rcpt_tos),
                content=content,
                auth_user=login,
                tls=session.ssl is not None or _on_tls(server),
            )
        )
        return "250 2.0.0 OK queued"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        if isinstance(data, LoginPassword) and self.credentials is not None:
            login, password = data.login.decode(), data.password.decode()
            ok = (login, password) == self.credentials
            self.login_attempts.append((login, ok))
            if ok:
                return AuthResult(success=True, auth_data=data.login)
        # handled=False: aiosmtpd answers 535 itself.
        return AuthResult(success=False, handled=False)


class SmtpServer:
    """aiosmtpd Controller on a fixed free port; restartable with other options."""

    def __init__(self, port: int, cert: Path, key: Path) -> None:
        self.host = HOST
        self.port = port
        self.cert = cert
        self.key = key
        self.handler = RecordingHandler()
        self.security = "none"  # what a client must use: none | starttls | tls
        self._controller: Controller | None = None
        self._secret_dir = cert.parent / "smtp-secrets"

    @property
    def received(self) -> list[ReceivedMail]:
        return self.handler.received

    @property
    def running(self) -> bool:
        return self._controller is not None

    def start(
        self,
        *,
        auth: tuple[str, str] | None = None,
        auth_required: bool = False,
        starttls: bool = False,
        require_starttls: bool = False,
        implicit_tls: bool = False,
    ) -> None:
        """(Re)start with these options; received mail is kept across restarts."""
        self.stop()
        self.handler.credentials = auth
        kwargs: dict[str, Any] = {"auth_require_tls": False}
        if auth is not None:
            kwargs["authenticator"] = self.handler.authenticate
            kwargs["auth_required"] = auth_required
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        if implicit_tls:
            kwargs["ssl_context"] = context
            self.security = "tls"
        elif starttls or require_starttls:
            kwargs["tls_context"] = context
            kwargs["require_starttls"] = require_starttls
            self.security = "starttls"
        else:
            self.security = "none"
        controller = Controller(self.handler, hostname=self.host, port=self.port, **kwargs)
        controller.start()
        self._controller = controller

    def stop(self) -> None:
        """Take the server down: connections are then refused."""
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    def refuse(self, address: str) -> None:
        """Answer 550 to RCPT TO this address."""
        self.handler.refused.add(address.lower())

    def put_off(self, address: str, *, until_further_notice: bool = True) -> None:
        """Answer 450 (try later) to RCPT TO this address, or stop doing so."""
        if until_further_notice:
            self.handler.put_off.add(address.lower())
        else:
            self.handler.put_off.discard(address.lower())

    def drop_connection_in_data(self, times: int = 1) -> None:
        """Close the connection after the next `times` messages' data, unanswered."""
        self.handler.drops_left = times

    def settings(self, **overrides: object) -> SmtpSettings:
        """SmtpSettings reaching this server as it runs now (AUTH if it asks for it)."""
        values: dict[str, object] = {
            "host": self.host,
            "port": self.port,
            "security": self.security,
            "ca_file": self.cert if self.security != "none" else None,
            "sender": "Lewisham Prevent <prevent@example.org>",
            "timeout": 5.0,
        }
        if self.handler.credentials is not None:
            login, password = self.handler.credentials
            self._secret_dir.mkdir(exist_ok=True)
            secret = self._secret_dir / secrets.token_hex(6)
            secret.write_text(password, encoding="utf-8")
            values.update(username=login, password=Secret(file=secret))
        values.update(overrides)
        return SmtpSettings(**values)  # type: ignore[arg-type]


def _on_tls(server: SMTP) -> bool:
    """Implicit TLS leaves session.ssl unset: ask the transport."""
    transport = server.transport
    return transport is not None and transport.get_extra_info("ssl_object") is not None
