"""A local identity provider and OAuth2-only mail servers for tests.

- `IdentityServer`: a stdlib HTTP server on 127.0.0.1 acting as Entra ID for
  the client-credentials flow: POST .../token issues opaque tokens, POST
  /introspect tells Dovecot whose they are (RFC 7662), GET
  .../.well-known/openid-configuration and /common/discovery/instance answer
  msal's discovery with the shape Microsoft's endpoints have.
- `LoopbackHttpClient`: msal's `http_client` hook; sends msal's https
  requests to the IdentityServer instead (msal refuses plain-http authorities).
- A Dovecot with the oauth2 passdb (see /work/shared/test-servers.md), reusing
  servers.py's DovecotServer with its extra_passdb hook; and an aiosmtpd whose
  handler offers XOAUTH2 only, checking the same tokens.

Fixtures (load with `pytest_plugins = ("oauth_servers",)`): `identity`
(session), `oauth_dovecot_server` (session), `oauth_app` (per test: a fresh
app registration and a mailbox only it may open), `oauth_smtp` (per test).
"""

from __future__ import annotations

import base64
import json
import secrets
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult
from dovecot_account import DovecotAccount
from servers import HOST, DovecotServer, free_port
from smtp_server import ReceivedMail, RecordingHandler

from intake.settings_types import OAuth2Settings, Secret, SmtpSettings

SCOPE = "https://outlook.office365.com/.default"
AUTHORITY = "https://login.microsoftonline.com"


@dataclass
class App:
    """One app registration: its secret and the mailbox it has FullAccess on."""

    tenant_id: str
    client_id: str
    secret: str
    mailbox: str
    lifetime: int = 3600  # expires_in of the tokens it gets


@dataclass
class Issued:
    app: App
    expires_at: float
    revoked: bool = False


@dataclass
class IdentityServer:
    """Entra ID's client-credentials and discovery endpoints, and introspection."""

    apps: dict[str, App] = field(default_factory=dict)
    tokens: dict[str, Issued] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)  # (method, path)
    down: bool = False  # answer 503 to token requests
    lock: threading.Lock = field(default_factory=threading.Lock)
    _http: ThreadingHTTPServer | None = None

    @property
    def base_url(self) -> str:
        assert self._http is not None
        return f"http://{HOST}:{self._http.server_address[1]}"

    def token_url(self, app: App) -> str:
        return f"{self.base_url}/{app.tenant_id}/oauth2/v2.0/token"

    @property
    def introspection_url(self) -> str:
        return f"{self.base_url}/introspect"

    def start(self) -> None:
        server = self

        class Handler(_Handler):
            identity = server

        self._http = ThreadingHTTPServer((HOST, 0), Handler)
        self._http.daemon_threads = True
        threading.Thread(target=self._http.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None

    # -- what tests do ---------------------------------------------------------

    def register(self, mailbox: str, lifetime: int = 3600) -> App:
        app = App(str(uuid.uuid4()), str(uuid.uuid4()), "s3cr~" + secrets.token_urlsafe(24),
                  mailbox, lifetime)
        with self.lock:
            self.apps[app.client_id] = app
        return app

    def issued(self, app: App) -> list[str]:
        """Tokens issued to this app, oldest first."""
        with self.lock:
            return [token for token, item in self.tokens.items() if item.app is app]

    def revoke(self, app: App) -> None:
        """Every token the app holds stops working (as after a consent change)."""
        with self.lock:
            for item in self.tokens.values():
                if item.app is app:
                    item.revoked = True

    def token_posts(self, app: App) -> int:
        with self.lock:
            return sum(1 for method, path in self.requests
                       if method == "POST" and path.startswith(f"/{app.tenant_id}/"))

    def check(self, token: str) -> str | None:
        """The mailbox a token is good for, or None."""
        with self.lock:
            item = self.tokens.get(token)
            if item is None or item.revoked or item.expires_at < time.time():
                return None
            return item.app.mailbox

    # -- the endpoints -----------------------------------------------------------

    def answer_token(self, form: dict[str, str]) -> tuple[int, dict[str, Any]]:
        if self.down:
            return 503, {"error": "temporarily_unavailable",
                         "error_description": "AADSTS90033: A transient error has occurred."}
        if form.get("grant_type") != "client_credentials":
            return 400, _aad("unsupported_grant_type", "AADSTS70003: The app requested an "
                             "unsupported grant type.", 70003)
        app = self.apps.get(form.get("client_id", ""))
        if app is None:
            return 400, _aad("unauthorized_client", "AADSTS700016: Application with identifier "
                             f"'{form.get('client_id')}' was not found in the directory.", 700016)
        if form.get("client_secret") != app.secret:
            return 401, _aad("invalid_client", "AADSTS7000215: Invalid client secret provided. "
                             "Ensure the secret being sent in the request is the client secret "
                             "value, not the client secret ID, for a secret added to app "
                             f"'{app.client_id}'.", 7000215)
        scope = form.get("scope", "")
        if not scope.endswith("/.default"):
            return 400, _aad("invalid_scope", f"AADSTS1002012: The provided value for scope "
                             f"{scope} is not valid. Client credential flows must have a scope "
                             "value with /.default suffixed to the resource identifier.", 1002012)
        token = "eyJ0eXAiOiJKV1Qi." + secrets.token_urlsafe(32)
        with self.lock:
            self.tokens[token] = Issued(app, time.time() + app.lifetime)
        return 200, {"token_type": "Bearer", "expires_in": app.lifetime,
                     "ext_expires_in": app.lifetime, "access_token": token}

    def answer_introspection(self, form: dict[str, str]) -> dict[str, Any]:
        mailbox = self.check(form.get("token", ""))
        return {"active": True, "username": mailbox} if mailbox else {"active": False}


def _aad(error: str, description: str, code: int) -> dict[str, Any]:
    """An error answer as Entra ID writes it: the first line, then trace lines."""
    return {
        "error": error,
        "error_description": f"{description}\r\nTrace ID: {uuid.uuid4()}\r\n"
                             f"Correlation ID: {uuid.uuid4()}\r\nTimestamp: 2026-01-05 09:30:00Z",
        "error_codes": [code], "timestamp": "2026-01-05 09:30:00Z",
        "trace_id": str(uuid.uuid4()), "correlation_id": str(uuid.uuid4()),
        "error_uri": f"{AUTHORITY}/error?code={code}",
    }  # fmt: skip


def openid_configuration(tenant: str) -> dict[str, Any]:
    """The shape of login.microsoftonline.com/{tenant}/v2.0/.well-known/openid-configuration
    (recorded; trimmed to what a client reads)."""
    base = f"{AUTHORITY}/{tenant}"
    return {
        "token_endpoint": f"{base}/oauth2/v2.0/token",
        "token_endpoint_auth_methods_supported": [
            "client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": f"{AUTHORITY}/{tenant}/discovery/v2.0/keys",
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": f"{AUTHORITY}/{tenant}/v2.0",
        "request_uri_parameter_supported": False,
        "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
        "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
        "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
        "http_logout_supported": True,
        "frontchannel_logout_supported": True,
        "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
        "claims_supported": ["sub", "iss", "aud", "exp", "iat", "tid", "ver"],
        "kerberos_endpoint": f"{base}/kerberos",
        "tenant_region_scope": "EU",
        "cloud_instance_name": "microsoftonline.com",
        "cloud_graph_host_name": "graph.windows.net",
        "msgraph_host": "graph.microsoft.com",
        "rbac_url": "https://pas.windows.net",
    }  # fmt: skip


class _Handler(BaseHTTPRequestHandler):
    identity: IdentityServer

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _form(self) -> dict[str, str]:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode("utf-8", "replace")
        return {k: v[0] for k, v in urllib.parse.parse_qs(body).items()}

    def _send(self, status: int, value: dict[str, Any]) -> None:
        body = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        path = urllib.parse.urlsplit(self.path).path
        with self.identity.lock:
            self.identity.requests.append(("POST", path))
        form = self._form()
        if path == "/introspect":
            self._send(200, self.identity.answer_introspection(form))
        elif path.endswith("/oauth2/v2.0/token"):
            self._send(*self.identity.answer_token(form))
        else:
            self._send(404, {"error": "not_found"})

    def do_GET(self) -> None:
        parts = urllib.parse.urlsplit(self.path)
        with self.identity.lock:
            self.identity.requests.append(("GET", parts.path))
        if parts.path.endswith("/v2.0/.well-known/openid-configuration"):
            tenant = parts.path.strip("/").split("/")[0]
            if any(app.tenant_id == tenant for app in self.identity.apps.values()):
                self._send(200, openid_configuration(tenant))
            else:
                self._send(400, _aad("invalid_tenant", f"AADSTS90002: Tenant '{tenant}' not "
                                     "found.", 90002))
        elif parts.path == "/common/discovery/instance":
            endpoint = urllib.parse.parse_qs(parts.query).get("authorization_endpoint", [""])[0]
            tenant = urllib.parse.urlsplit(endpoint).path.strip("/").split("/")[0]
            self._send(200, {
                "tenant_discovery_endpoint":
                    f"{AUTHORITY}/{tenant}/v2.0/.well-known/openid-configuration",
                "api-version": "1.1",
                "metadata": [{"preferred_network": "login.microsoftonline.com",
                              "preferred_cache": "login.windows.net",
                              "aliases": ["login.microsoftonline.com", "login.windows.net"]}],
            })  # fmt: skip
        else:
            self._send(404, {"error": "not_found"})


# -- msal's http_client --------------------------------------------------------


@dataclass
class LoopbackResponse:
    status_code: int
    text: str
    headers: dict[str, str]

    def raise_for_status(self) -> None:
        if self.status_code >= 400:
            raise OSError(f"HTTP {self.status_code}")


class LoopbackHttpClient:
    """msal's HttpClient (get/post/close) sending every request to one local
    server: https://login.microsoftonline.com/T/... goes to http://127.0.0.1:N/T/..."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.urls: list[str] = []  # as msal asked for them

    def _open(self, method: str, url: str, params: dict | None, data: Any,
              headers: dict | None) -> LoopbackResponse:
        self.urls.append(url)
        parts = urllib.parse.urlsplit(url)
        query = parts.query
        if params:
            query = "&".join(q for q in (query, urllib.parse.urlencode(params)) if q)
        target = self.base_url + parts.path + (f"?{query}" if query else "")
        body = urllib.parse.urlencode(data).encode() if isinstance(data, dict) else (
            data.encode() if isinstance(data, str) else data)
        request = urllib.request.Request(
            target, data=body, method=method,
            headers={k: v for k, v in (headers or {}).items() if v is not None})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return LoopbackResponse(response.status, response.read().decode(),
                                        dict(response.headers))
        except urllib.error.HTTPError as err:
            return LoopbackResponse(err.code, err.read().decode(), dict(err.headers))

    def get(self, url: str, params: dict | None = None, headers: dict | None = None,
            **kwargs: Any) -> LoopbackResponse:
        return self._open("GET", url, params, None, headers)

    def post(self, url: str, params: dict | None = None, data: Any = None,
             headers: dict | None = None, **kwargs: Any) -> LoopbackResponse:
        return self._open("POST", url, params, data, headers)

    def close(self) -> None:
        pass


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
            # "attempts": RecordingHandler's auth_attempts list, which aiosmtpd
            # would offer as a mechanism (its name starts with auth_).
            auth_exclude_mechanism=["LOGIN", "PLAIN", "attempts"],
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
    text = f"""
[mailbox]
host = "{oauth.account.host}"
port = {oauth.account.port}
security = "none"
auth = "oauth2"
username = "{oauth.account.user}"
folder = "INBOX"
poll_seconds = 1

[smtp]
host = "{smtp.host}"
port = {smtp.port}
security = "none"
auth = "oauth2"
username = "{oauth.account.user}"
from = "Lewisham Prevent <prevent@lewisham.gov.uk>"
mode = "{smtp_mode}"
shadow_folder = "outgoing"

[oauth2]
tenant_id = "{oauth.app.tenant_id}"
client_id = "{oauth.app.client_id}"
client_secret_env = "{oauth.secret_env}"
token_url = "{oauth.identity.token_url(oauth.app)}"

[store]
path = "intake.sqlite3"

[triage]
alert_to = ["mashagency@lewisham.gov.uk"]

[digest]
to = ["prevent.manager@lewisham.gov.uk"]

[parser]
timeout_seconds = 10
workers = 1
"""
    path = directory / "settings.toml"
    path.write_text(text, encoding="utf-8")
    return path
