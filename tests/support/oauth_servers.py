"""OAuth2-only mail servers for tests, and their fixtures.

- A Dovecot with the oauth2 passdb (see /work/shared/test-servers.md), reusing
  servers.py's DovecotServer through its extra_passdb hook; it asks the
  IdentityServer (identity_provider.py) whose each token is.
- An aiosmtpd whose handler offers XOAUTH2 only, checking the same tokens and
  refusing others as Exchange Online does (535 5.7.3).

Fixtures (load with `pytest_plugins = ("support.oauth_servers",)`): `identity`
(session), `oauth_dovecot_server` (session), `oauth_app` (per test: a fresh
app registration and a mailbox only it may open), `oauth_smtp` and
`msal_http` (per test).
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult

from intake.config.settings_types import OAuth2Settings, Secret, SmtpSettings
from support.dovecot_account import DovecotAccount
from support.identity_provider import App, IdentityServer, LoopbackHttpClient
from support.servers import HOST, DovecotServer, free_port
from support.settings import settings_text
from support.smtp_server import ReceivedMail, RecordingHandler

# -- Dovecot with the oauth2 passdb ------------------------------------------------


def oauth_passdb(root: Path, introspection_url: str) -> str:
    """The passdb block (and its args file) making Dovecot ask `introspection_url`."""
    args = root / "dovecot-oauth2.conf.ext"
    args.write_text(
        "introspection_mode = post\n"
        f"introspection_url = {introspection_url}\n"
        "username_attribute = username\n"
        "active_attribute = active\n"
        "active_value = true\n"
        "force_introspection = yes\n",
        encoding="utf-8",
    )
    args.chmod(0o644)
    return f"passdb {{\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n  args = {args}\n}}"


# -- aiosmtpd offering XOAUTH2 ------------------------------------------------------


class OAuthSmtpHandler(RecordingHandler):
    """Records mail like RecordingHandler; signs in with XOAUTH2 tokens from `identity`.
    A refused token gets Exchange Online's answer, 535 5.7.3."""

    def __init__(self, identity: IdentityServer) -> None:
        super().__init__()
        self.identity = identity
        self.oauth_attempts: list[tuple[str, bool]] = []  # (user, accepted)

    async def auth_XOAUTH2(self, server: SMTP, args: list[str]) -> AuthResult:
        if len(args) > 1:
            response = args[1]
        else:
            answer = await server.challenge_auth("")
            response = answer.decode() if isinstance(answer, bytes) else str(answer)
        try:
            text = base64.b64decode(response).decode()
            fields = dict(part.split("=", 1) for part in text.split("\x01") if "=" in part)
            user, token = fields["user"], fields["auth"].removeprefix("Bearer ")
        except (ValueError, KeyError):
            return AuthResult(success=False, handled=False,
                              message="501 5.5.2 Cannot decode response")
        accepted = self.identity.check(token) == user
        self.oauth_attempts.append((user, accepted))
        if accepted:
            return AuthResult(success=True, auth_data=user.encode())
        return AuthResult(success=False, handled=False,
                          message="535 5.7.3 Authentication unsuccessful")


class OAuthSmtpServer:
    """aiosmtpd on loopback offering XOAUTH2 alone (tests check each mail's auth_user)."""

    def __init__(self, identity: IdentityServer) -> None:
        self.host, self.port = HOST, free_port()
        self.handler = OAuthSmtpHandler(identity)
        self._controller: Controller | None = None

    @property
    def received(self) -> list[ReceivedMail]:
        return self.handler.received

    def start(self) -> None:
        self._controller = Controller(
            self.handler, hostname=self.host, port=self.port, auth_require_tls=False,
            auth_exclude_mechanism=["LOGIN", "PLAIN"],
        )  # fmt: skip
        self._controller.start()

    def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    def settings(self, **overrides: object) -> SmtpSettings:
        values: dict[str, object] = {
            "host": self.host, "port": self.port, "security": "none", "auth": "oauth2",
            "sender": "Lewisham Prevent <prevent@example.org>", "timeout": 5.0,
        }  # fmt: skip
        values.update(overrides)
        return SmtpSettings(**values)  # type: ignore[arg-type]


# -- fixtures ---------------------------------------------------------------------------


@dataclass
class OAuthApp:
    """What a test gets: an app registration, its mailbox on the oauth Dovecot."""

    identity: IdentityServer
    app: App
    account: DovecotAccount
    secret_env: str

    def settings(self, *, token_url: bool = True, **overrides: object) -> OAuth2Settings:
        values: dict[str, object] = {
            "tenant_id": self.app.tenant_id, "client_id": self.app.client_id,
            "client_secret": Secret(env=self.secret_env),
            "token_url": self.identity.token_url(self.app) if token_url else None,
        }  # fmt: skip
        values.update(overrides)
        return OAuth2Settings(**values)  # type: ignore[arg-type]

    def mailbox_settings(self, **overrides: object):
        return self.account.settings(auth="oauth2", **overrides)


@pytest.fixture(scope="session")
def identity() -> Iterator[IdentityServer]:
    server = IdentityServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def oauth_dovecot_server(
    tls_certificate: tuple[Path, Path], identity: IdentityServer
) -> Iterator[DovecotServer]:
    """A second Dovecot, its oauth2 passdb asking `identity` (password logins work too,
    for the tests' own helpers)."""
    try:
        server = DovecotServer(*tls_certificate)
    except RuntimeError as err:
        pytest.fail(f"{err} (tests/setup-servers.sh installs it)", pytrace=False)
    server.configure(extra_passdb=oauth_passdb(server.root, identity.introspection_url),
                     extra_mechanisms=("xoauth2", "oauthbearer"))
    try:
        server.start()
        yield server
    finally:
        server.cleanup()


@pytest.fixture
def oauth_app(
    identity: IdentityServer, oauth_dovecot_server: DovecotServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[OAuthApp]:
    user, _ = oauth_dovecot_server.add_user()
    app = identity.register(user)
    env = f"INTAKE_TEST_CLIENT_SECRET_{secrets.token_hex(3).upper()}"
    monkeypatch.setenv(env, app.secret)
    yield OAuthApp(identity, app, DovecotAccount(oauth_dovecot_server, user), env)
    oauth_dovecot_server.start()  # a test that stopped it leaves it running for the next


@pytest.fixture
def oauth_smtp(identity: IdentityServer) -> Iterator[OAuthSmtpServer]:
    server = OAuthSmtpServer(identity)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def msal_http(identity: IdentityServer) -> LoopbackHttpClient:
    """msal's http_client, answering from `identity` (discovery and token)."""
    return LoopbackHttpClient(identity.base_url)


def write_oauth_settings(directory: Path, oauth: OAuthApp, smtp: OAuthSmtpServer, *,
                         smtp_mode: str = "send") -> Path:
    """A settings file signing in to both servers with OAuth2 through `[oauth2] token_url`
    (a subprocess cannot be handed msal's http_client). The secret comes from the
    environment variable the `oauth_app` fixture set."""
    mailbox = f"""
host = "{oauth.account.host}"
port = {oauth.account.port}
security = "none"
auth = "oauth2"
username = "{oauth.account.user}"
folder = "INBOX"
poll_seconds = 1"""
    smtp_section = f"""
host = "{smtp.host}"
port = {smtp.port}
security = "none"
auth = "oauth2"
username = "{oauth.account.user}"
from = "Lewisham Prevent <prevent@lewisham.gov.uk>"
mode = "{smtp_mode}"
shadow_folder = "outgoing"
"""
    oauth2 = f"""
tenant_id = "{oauth.app.tenant_id}"
client_id = "{oauth.app.client_id}"
client_secret_env = "{oauth.secret_env}"
token_url = "{oauth.identity.token_url(oauth.app)}"
"""
    text = settings_text(mailbox=mailbox, smtp=smtp_section, oauth2=oauth2,
                         parser={"timeout_seconds": 10, "workers": 1})
    path = directory / "settings.toml"
    path.write_text(text, encoding="utf-8")
    return path
