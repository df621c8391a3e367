"""A local stand-in for Microsoft Entra ID's client-credentials endpoints.

`IdentityServer` is a stdlib HTTP server on 127.0.0.1: POST .../token issues
opaque tokens (or Entra ID's error answers: AADSTS7000215 for a wrong secret,
...), POST /introspect tells Dovecot whose a token is (RFC 7662), and GET
.../.well-known/openid-configuration and /common/discovery/instance answer
msal's discovery with the shape Microsoft's endpoints have.
`LoopbackHttpClient` is msal's `http_client` hook sending msal's https
requests there instead (msal refuses plain-http authorities).
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
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from support.servers import HOST

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
    certificate: bytes | None = None  # PEM: signs in with a client assertion instead


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

        class Handler(self.handler_base()):  # type: ignore[misc]
            identity = server

        self._http = ThreadingHTTPServer((HOST, 0), Handler)
        self._http.daemon_threads = True
        threading.Thread(target=self._http.serve_forever, daemon=True).start()

    def handler_base(self) -> type[BaseHTTPRequestHandler]:
        """The request handler class; oidc_provider.py adds the OpenID Connect endpoints."""
        return _Handler

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
        if app.certificate is not None:
            if not self._assertion_ok(app, form.get("client_assertion", "")):
                return 401, _aad("invalid_client", "AADSTS700027: Client assertion failed "
                                 "signature validation.", 700027)
        elif form.get("client_secret") != app.secret:
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

    def _assertion_ok(self, app: App, assertion: str) -> bool:
        """RS256 JWT signed by the app's key, x5t = the certificate's SHA-1, for us."""
        import jwt
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes

        cert = x509.load_pem_x509_certificate(app.certificate or b"")
        x5t = base64.urlsafe_b64encode(cert.fingerprint(hashes.SHA1())).rstrip(b"=").decode()
        try:
            # msal keeps base64's "=" padding in x5t; Entra ID takes either.
            if str(jwt.get_unverified_header(assertion).get("x5t", "")).rstrip("=") != x5t:
                return False
            claims = jwt.decode(assertion, cert.public_key(), algorithms=["RS256", "PS256"],
                                audience=f"{AUTHORITY}/{app.tenant_id}/oauth2/v2.0/token")
        except jwt.PyJWTError:
            return False
        return claims.get("iss") == app.client_id == claims.get("sub")

    def answer_introspection(self, form: dict[str, str]) -> dict[str, Any]:
        mailbox = self.check(form.get("token", ""))
        return {"active": True, "username": mailbox} if mailbox else {"active": False}


def leaked(text: str, identity: IdentityServer, app: App) -> list[str]:
    """Any token issued to the app, or its secret, found in text."""
    return [value for value in [app.secret, *identity.issued(app)] if value in text]


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
