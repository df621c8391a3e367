"""OpenID Connect on the local identity provider (identity_provider.py), as Entra ID does it.

`OidcServer` is the IdentityServer (its client-credentials and introspection
endpoints keep working) plus, under /oidc/{tenant}/: the discovery document,
the signing keys (JWKS), an authorize endpoint that signs a registered person
in (straight away with `login_hint`, else through a small sign-in form, as a
browser would), and a token endpoint that takes the code with its PKCE
verifier and returns an ID token signed RS256. Tests can make the next ID
token wrong (`tamper`: another audience, an expiry in the past...).
"""

from __future__ import annotations

import base64
import hashlib
import html
import secrets
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from support.identity_provider import IdentityServer, _Handler


@dataclass
class Person:
    username: str  # preferred_username, e.g. a.worker@lewisham.gov.uk
    name: str
    roles: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()
    oid: str = field(default_factory=lambda: str(uuid.uuid4()))


@dataclass
class OidcClient:
    """One web app registration: its secret and where it may be sent back to."""

    tenant_id: str
    client_id: str
    secret: str
    redirect_uris: tuple[str, ...]
    tamper: dict[str, Any] = field(default_factory=dict)  # claims the next ID token gets


@dataclass
class Grant:
    client: OidcClient
    person: Person
    redirect_uri: str
    challenge: str
    nonce: str | None
    used: bool = False


class OidcServer(IdentityServer):
    def __init__(self) -> None:
        super().__init__()
        self.people: dict[str, Person] = {}
        self.clients: dict[str, OidcClient] = {}
        self.grants: dict[str, Grant] = {}
        self.token_forms: list[dict[str, str]] = []  # what each token request sent
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = secrets.token_hex(8)
        self.oidc_lock = threading.Lock()

    def handler_base(self) -> type[BaseHTTPRequestHandler]:
        return _OidcHandler

    # -- what tests do ---------------------------------------------------------

    def register_client(self, redirect_uri: str) -> OidcClient:
        client = OidcClient(str(uuid.uuid4()), str(uuid.uuid4()),
                            "web~" + secrets.token_urlsafe(24), (redirect_uri,))
        with self.oidc_lock:
            self.clients[client.client_id] = client
        return client

    def add_person(self, username: str, name: str, roles: tuple[str, ...] = (),
                   groups: tuple[str, ...] = ()) -> Person:
        person = Person(username, name, roles, groups)
        with self.oidc_lock:
            self.people[username] = person
        return person

    def discovery_url(self, client: OidcClient) -> str:
        return f"{self.base_url}/oidc/{client.tenant_id}/v2.0/.well-known/openid-configuration"

    def issuer(self, tenant: str) -> str:
        return f"{self.base_url}/oidc/{tenant}/v2.0"

    # -- the endpoints -----------------------------------------------------------

    def configuration(self, tenant: str) -> dict[str, Any]:
        base = f"{self.base_url}/oidc/{tenant}"
        return {
            "issuer": self.issuer(tenant),
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "jwks_uri": f"{base}/discovery/v2.0/keys",
            "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
            "response_types_supported": ["code"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
        }

    def jwks(self) -> dict[str, Any]:
        import json

        key = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.key.public_key()))
        return {"keys": [key | {"kid": self.kid, "use": "sig", "alg": "RS256"}]}

    def authorize(self, params: dict[str, str], username: str | None) -> tuple[int, str, str]:
        """(status, Location or page, content type): a redirect back with a code, an
        error page for a bad request, or the sign-in form when nobody is named."""
        client = self.clients.get(params.get("client_id", ""))
        redirect_uri = params.get("redirect_uri", "")
        if client is None or redirect_uri not in client.redirect_uris:
            return 400, "<p>AADSTS50011: the redirect URI does not match.</p>", "text/html"
        if params.get("response_type") != "code" or params.get("code_challenge_method") != "S256":
            return 400, "<p>AADSTS9002325: PKCE (S256) is required.</p>", "text/html"
        person = self.people.get(username or params.get("login_hint", ""))
        if person is None:
            return 200, _sign_in_page(params), "text/html; charset=utf-8"
        code = secrets.token_urlsafe(24)
        with self.oidc_lock:
            self.grants[code] = Grant(client, person, redirect_uri,
                                      params.get("code_challenge", ""), params.get("nonce"))
        query = urllib.parse.urlencode({"code": code, "state": params.get("state", "")})
        return 302, f"{redirect_uri}?{query}", "text/html"

    def exchange(self, form: dict[str, str], basic: tuple[str, str] | None) -> tuple[int, dict]:
        self.token_forms.append(dict(form))
        client_id, secret = basic or (form.get("client_id", ""), form.get("client_secret", ""))
        client = self.clients.get(client_id)
        if client is None or secret != client.secret:
            return 401, {"error": "invalid_client",
                         "error_description": "AADSTS7000215: Invalid client secret provided."}
        with self.oidc_lock:
            grant = self.grants.get(form.get("code", ""))
            if grant is None or grant.used or grant.client is not client:
                return 400, {"error": "invalid_grant",
                             "error_description": "AADSTS54005: OAuth2 Authorization code "
                                                  "was already redeemed."}
            grant.used = True
        verifier = form.get("code_verifier", "")
        digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
        if digest.rstrip(b"=").decode() != grant.challenge or form.get(
                "redirect_uri") != grant.redirect_uri:
            return 400, {"error": "invalid_grant",
                         "error_description": "AADSTS501481: The Code_Verifier does not match."}
        now = int(time.time())
        person = grant.person
        claims: dict[str, Any] = {
            "iss": self.issuer(client.tenant_id), "aud": client.client_id, "iat": now,
            "nbf": now, "exp": now + 3600, "sub": person.oid, "oid": person.oid,
            "tid": client.tenant_id, "name": person.name,
            "preferred_username": person.username, "ver": "2.0",
        }
        if grant.nonce:
            claims["nonce"] = grant.nonce
        if person.roles:
            claims["roles"] = list(person.roles)
        if person.groups:
            claims["groups"] = list(person.groups)
        claims.update(client.tamper)
        client.tamper = {}
        id_token = jwt.encode(claims, self.key, algorithm="RS256", headers={"kid": self.kid})
        return 200, {"token_type": "Bearer", "scope": "openid profile email",
                     "expires_in": 3600, "access_token": secrets.token_urlsafe(32),
                     "id_token": id_token}


def _sign_in_page(params: dict[str, str]) -> str:
    hidden = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
                     for k, v in params.items())
    return ("<!DOCTYPE html><html lang='en'><head><title>Sign in to your account</title></head>"
            "<body><main><h1>Sign in</h1><form method='post'>"
            f"{hidden}<label for='username'>Email, phone, or Skype</label>"
            "<input id='username' name='username' type='email'>"
            "<button type='submit'>Next</button></form></main></body></html>")


class _OidcHandler(_Handler):
    identity: OidcServer

    def _oidc_path(self) -> tuple[str, str] | None:
        """(tenant, the rest) for /oidc/{tenant}/rest, else None."""
        parts = urllib.parse.urlsplit(self.path).path.split("/", 3)
        if len(parts) == 4 and parts[1] == "oidc":
            return parts[2], "/" + parts[3]
        return None

    def _answer(self, status: int, body: str, content_type: str) -> None:
        self.send_response(status)
        if status == 302:
            self.send_header("Location", body)
            body = ""
        data = body.encode()
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        found = self._oidc_path()
        if found is None:
            return super().do_GET()
        tenant, rest = found
        query = {k: v[0] for k, v in
                 urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query).items()}
        if rest == "/v2.0/.well-known/openid-configuration":
            self._send(200, self.identity.configuration(tenant))
        elif rest == "/discovery/v2.0/keys":
            self._send(200, self.identity.jwks())
        elif rest == "/oauth2/v2.0/authorize":
            self._answer(*self.identity.authorize(query, None))
        else:
            self._send(404, {"error": "not_found"})

    def do_POST(self) -> None:
        found = self._oidc_path()
        if found is None:
            return super().do_POST()
        _, rest = found
        form = self._form()
        if rest == "/oauth2/v2.0/authorize":
            self._answer(*self.identity.authorize(form, form.pop("username", "")))
        elif rest == "/oauth2/v2.0/token":
            self._send(*self.identity.exchange(form, self._basic()))
        else:
            self._send(404, {"error": "not_found"})

    def _basic(self) -> tuple[str, str] | None:
        header = self.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return None
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        return urllib.parse.unquote_plus(user), urllib.parse.unquote_plus(password)
