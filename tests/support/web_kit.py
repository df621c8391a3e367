"""Fixtures for the web page's tests: the local OpenID Connect provider, the app, sign-in.

tests/web/conftest.py makes the fixtures available to the tests there.
- `oidc`: the session's OidcServer (oidc_provider.py), with a MASH worker, a
  manager and a person with no role for this service.
- `web` (per test): a `Web` holding settings with [web] pointing at `oidc`, the
  Flask app, its test client and the store.
`sign_in(web, username)` walks the authorization code flow as a browser would.
"""

from __future__ import annotations

import dataclasses
import secrets
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from intake.config.settings_types import Secret, Settings, WebSettings
from intake.domain.clock import iso, utcnow
from intake.store.database import Store
from intake.web.app import create_app
from support.oidc_provider import OidcClient, OidcServer
from support.settings import make_settings

MASH_USER = "amara.mash@lewisham.gov.uk"
MANAGER_USER = "pat.manager@lewisham.gov.uk"
NOBODY_USER = "lee.other@lewisham.gov.uk"
LOCAL_CALLBACK = "http://localhost/auth/callback"  # the Flask test client's own host


@pytest.fixture(scope="session")
def oidc() -> Iterator[OidcServer]:
    server = OidcServer()
    server.start()
    server.add_person(MASH_USER, "Amara Mensah", roles=("Prevent.MASH",))
    server.add_person(MANAGER_USER, "Pat Okonjo", roles=("Prevent.Manager",))
    server.add_person(NOBODY_USER, "Lee Other", roles=("Finance.Reader",))
    try:
        yield server
    finally:
        server.stop()


def web_settings(settings: Settings, oidc: OidcServer, client: OidcClient, **extra) -> Settings:
    values = dict(
        oidc_tenant_id=client.tenant_id, oidc_client_id=client.client_id,
        oidc_client_secret=Secret(env="INTAKE_TEST_OIDC_SECRET"),
        oidc_discovery_url=oidc.discovery_url(client),
        oidc_mash_role="Prevent.MASH", oidc_manager_role="Prevent.Manager",
        session_secret=Secret(env="INTAKE_TEST_SESSION_SECRET"))
    web = WebSettings(**(values | extra))
    return dataclasses.replace(settings, web=web)


@dataclass
class Web:
    settings: Settings
    oidc: OidcServer
    client_registration: OidcClient
    app: Flask
    client: FlaskClient
    store: Store

    def fresh_client(self) -> FlaskClient:
        return self.app.test_client()


def make_web(tmp_path: Path, oidc: OidcServer, monkeypatch: pytest.MonkeyPatch,
             **extra) -> Web:
    registration = oidc.register_client(LOCAL_CALLBACK)
    monkeypatch.setenv("INTAKE_TEST_OIDC_SECRET", registration.secret)
    monkeypatch.setenv("INTAKE_TEST_SESSION_SECRET", secrets.token_urlsafe(32))
    settings = web_settings(make_settings(tmp_path), oidc, registration, **extra)
    store = Store(settings.store_path)
    app = create_app(settings)
    return Web(settings, oidc, registration, app, app.test_client(), store)


@pytest.fixture
def web(tmp_path: Path, oidc: OidcServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Web]:
    made = make_web(tmp_path, oidc, monkeypatch)
    yield made
    made.store.close()


def authorize_url(client: FlaskClient) -> str:
    answer = client.get("/auth/login")
    assert answer.status_code == 302, answer.status_code
    return answer.headers["Location"]


def callback_path(location: str) -> str:
    parts = urllib.parse.urlsplit(location)
    return f"{parts.path}?{parts.query}"


def sign_in(web: Web, username: str, client: FlaskClient | None = None):
    """Sign in as `username` at the local provider; the app's answer to the callback."""
    client = client or web.client
    at_provider = requests.get(authorize_url(client) + "&login_hint="
                               + urllib.parse.quote(username), allow_redirects=False, timeout=10)
    assert at_provider.status_code == 302, at_provider.text
    return client.get(callback_path(at_provider.headers["Location"]))


def csrf_token(page: str) -> str:
    marker = 'name="csrf_token" value="'
    start = page.index(marker) + len(marker)
    return page[start:page.index('"', start)]


def days_ago(n: int, hour: int = 9) -> str:
    """An ISO time n days before now, at the given UTC hour."""
    return iso((utcnow() - timedelta(days=n)).replace(hour=hour, minute=0, second=0,
                                                       microsecond=0))
