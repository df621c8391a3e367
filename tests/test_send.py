"""The senders against a real aiosmtpd: TLS, sign-in, faults, and shadow mode."""

from __future__ import annotations

import base64
import smtplib
import socket
from dataclasses import replace
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from support.servers import free_port
from support.smtp_server import RecordingHandler, SmtpServer

from intake.config.settings_types import (
    DigestSettings,
    MailboxSettings,
    Secret,
    Settings,
    SmtpSettings,
)
from intake.domain.errors import SendError, SettingsError
from intake.mail.send import FolderSender, ServerDown, SmtpSender, eml_name, open_sender

pytestmark = pytest.mark.servers

FROM = "prevent@example.org"
TO = "jo.teacher@school.example.org"


def raw_message(message_id: str = "<m1@example.org>", body: str = "Hello") -> bytes:
    return (f"From: {FROM}\r\nTo: {TO}\r\nSubject: test\r\nMessage-ID: {message_id}\r\n"
            f"\r\n{body}\r\n").encode()


def settings_for(smtp: SmtpSettings, tmp_path: Path) -> Settings:
    return Settings(path=tmp_path / "settings.toml", mailbox=MailboxSettings(), smtp=smtp,
                    store_path=tmp_path / "s.sqlite3", alert_to=("mash@example.org",),
                    digest=DigestSettings())


def test_delivers_envelope_and_bytes_unchanged(smtp_server: SmtpServer):
    sender = SmtpSender(smtp_server.settings())
    try:
        sender.send(raw_message(), FROM, [TO])
        sender.send(raw_message("<m2@example.org>"), FROM, [TO, "other@example.org"])
    finally:
        sender.close()
    first, second = smtp_server.received
    assert first.mail_from == FROM and first.rcpt_tos == (TO,)
    assert first.content.replace(b"\r\n", b"\n") == raw_message().replace(b"\r\n", b"\n")
    assert second.rcpt_tos == (TO, "other@example.org")


def test_plain_text_is_refused_to_a_remote_host():
    with pytest.raises(SettingsError, match="loopback"):
        SmtpSender(SmtpSettings(host="smtp.example.org", port=25, security="none"))


def test_starttls_verifies_the_certificate_with_ca_file(smtp_server: SmtpServer):
    smtp_server.start(starttls=True, require_starttls=True)
    sender = SmtpSender(smtp_server.settings())
    sender.send(raw_message(), FROM, [TO])
    sender.close()
    assert smtp_server.received[0].tls

    untrusting = SmtpSender(smtp_server.settings(ca_file=None))
    with pytest.raises(ServerDown, match="CERTIFICATE_VERIFY_FAILED"):
        untrusting.send(raw_message("<m2@example.org>"), FROM, [TO])
    assert len(smtp_server.received) == 1


def test_implicit_tls(smtp_server: SmtpServer):
    smtp_server.start(implicit_tls=True)
    sender = SmtpSender(smtp_server.settings())
    sender.send(raw_message(), FROM, [TO])
    sender.close()
    assert smtp_server.received[0].tls


def test_signs_in_and_a_refused_login_names_no_password(smtp_server: SmtpServer):
    smtp_server.start(auth=("prevent@example.org", "s3cret-Pa55"), auth_required=True)
    sender = SmtpSender(smtp_server.settings())
    sender.send(raw_message(), FROM, [TO])
    sender.close()
    assert smtp_server.received[0].auth_user == "prevent@example.org"

    wrong = smtp_server.settings()
    assert wrong.password is not None and wrong.password.file is not None
    wrong.password.file.write_text("not-the-password", encoding="utf-8")
    with pytest.raises(ServerDown) as caught:
        SmtpSender(wrong).send(raw_message("<m2@example.org>"), FROM, [TO])
    assert "refused the login" in str(caught.value)
    assert "not-the-password" not in str(caught.value)
    assert len(smtp_server.received) == 1


class _OAuthHandler(RecordingHandler):
    """Accepts XOAUTH2 with the tokens in `valid` only."""

    def __init__(self) -> None:
        super().__init__()
        self.valid: set[str] = set()
        self.tokens_seen: list[str] = []

    async def auth_XOAUTH2(self, server, args):  # noqa: N802 - aiosmtpd's naming
        initial = args[1] if len(args) > 1 else await server.challenge_auth("")
        text = base64.b64decode(initial).decode() if isinstance(initial, str) else \
            initial.decode()
        token = text.split("auth=Bearer ", 1)[1].split("\x01", 1)[0]
        self.tokens_seen.append(token)
        if token in self.valid:
            return AuthResult(success=True, auth_data=b"oauth")
        return AuthResult(success=False, handled=False)


class _Tokens:
    def __init__(self) -> None:
        self.issued = ["expired-token", "fresh-token"]
        self.invalidated = 0

    def token(self) -> str:
        return self.issued[0]

    def invalidate(self) -> None:
        self.invalidated += 1
        self.issued.pop(0)


def test_xoauth2_gets_a_new_token_once_when_refused():
    handler = _OAuthHandler()
    handler.valid = {"fresh-token"}
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port, auth_require_tls=False,
                            auth_exclude_mechanism=["LOGIN", "PLAIN"])
    controller.start()
    try:
        tokens = _Tokens()
        settings = SmtpSettings(host="127.0.0.1", port=port, security="none", auth="oauth2",
                                username="prevent@example.org", sender=FROM, timeout=5)
        sender = SmtpSender(settings, tokens)
        sender.send(raw_message(), FROM, [TO])
        sender.close()
        assert handler.tokens_seen == ["expired-token", "fresh-token"]
        assert tokens.invalidated == 1 and len(handler.received) == 1

        handler.valid = set()  # now every token is refused: one retry, then give up
        tokens.issued = ["a", "b", "c"]
        with pytest.raises(ServerDown, match="refused the login"):
            SmtpSender(settings, tokens).send(raw_message("<m2@x>"), FROM, [TO])
        assert handler.tokens_seen[2:] == ["a", "b"]
    finally:
        controller.stop()


def test_refused_recipient_is_permanent_and_nothing_is_sent(smtp_server: SmtpServer):
    smtp_server.refuse("gone@example.org")
    sender = SmtpSender(smtp_server.settings())
    with pytest.raises(SendError) as caught:
        sender.send(raw_message(), FROM, ["gone@example.org"])
    assert caught.value.permanent and "550" in str(caught.value)
    assert not isinstance(caught.value, ServerDown)
    sender.send(raw_message("<m2@example.org>"), FROM, [TO])  # the connection is still good
    sender.close()
    assert [m.rcpt_tos for m in smtp_server.received] == [(TO,)]


def test_some_recipients_refused_the_others_get_it(smtp_server: SmtpServer):
    smtp_server.refuse("gone@example.org")
    smtp_server.put_off("busy@example.org")
    refused = SmtpSender(smtp_server.settings()).send(
        raw_message(), FROM, [TO, "gone@example.org", "busy@example.org"])
    assert [m.rcpt_tos for m in smtp_server.received] == [(TO,)]
    assert {a: code for a, (code, _) in refused.items()} == \
        {"gone@example.org": 550, "busy@example.org": 450}


def test_server_down_is_transient(smtp_server: SmtpServer):
    smtp_server.stop()
    with pytest.raises(ServerDown) as caught:
        SmtpSender(smtp_server.settings()).send(raw_message(), FROM, [TO])
    assert not caught.value.permanent


def test_drop_during_data_is_not_retried_at_once(smtp_server: SmtpServer):
    smtp_server.drop_connection_in_data(1)
    sender = SmtpSender(smtp_server.settings())
    with pytest.raises(ServerDown):
        sender.send(raw_message(), FROM, [TO])
    sender.send(raw_message(), FROM, [TO])  # the caller's retry, on a new connection
    sender.close()
    assert len(smtp_server.received) == 1


def test_reconnects_when_the_server_closed_an_idle_connection(smtp_server: SmtpServer):
    sender = SmtpSender(smtp_server.settings())
    sender.send(raw_message(), FROM, [TO])
    smtp_server.stop()  # the server goes away and comes back: the old socket is dead
    smtp_server.start()
    sender.send(raw_message("<m2@example.org>"), FROM, [TO])
    sender.close()
    assert len(smtp_server.received) == 2


def test_shadow_mode_writes_eml_files_and_opens_no_connection(
    smtp_server: SmtpServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    def no_network(*args, **kwargs):
        raise AssertionError("shadow mode opened a connection")

    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(smtplib.SMTP, "connect", no_network)
    folder = tmp_path / "outgoing"
    for mode in ("shadow", "outbox"):
        settings = settings_for(smtp_server.settings(mode=mode, shadow_folder=folder), tmp_path)
        sender = open_sender(settings)
        assert isinstance(sender, FolderSender)
        sender.send(raw_message(f"<{mode}/1@example.org>"), FROM, [TO])
        sender.send(raw_message(f"<{mode}/1@example.org>"), FROM, [TO])  # a resend: same file
        sender.close()
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["outbox_1@example.org.eml", "shadow_1@example.org.eml"]
    assert (folder / names[0]).read_bytes() == raw_message("<outbox/1@example.org>")
    assert smtp_server.received == []


def test_eml_name_is_safe():
    assert eml_name(raw_message("<../../etc/passwd@x>")) == "etc_passwd@x"
    assert eml_name(b"Subject: none\r\n\r\n") == "message"


def test_open_sender_checks_its_settings(tmp_path: Path):
    base = SmtpSettings(host="127.0.0.1", port=25, security="none", sender=FROM)
    assert isinstance(open_sender(settings_for(base, tmp_path)), SmtpSender)
    with pytest.raises(SettingsError):
        open_sender(settings_for(replace(base, mode="shadow", shadow_folder=None), tmp_path))
    with pytest.raises(SettingsError):
        open_sender(settings_for(replace(base, auth="oauth2"), tmp_path))
    assert Secret().reveal() == ""
