"""Signing in to the web page: OpenID Connect code flow with PKCE, roles, the session."""

from __future__ import annotations

import time
import urllib.parse

import requests
from support.web_kit import (
    MANAGER_USER,
    MASH_USER,
    NOBODY_USER,
    Web,
    authorize_url,
    callback_path,
    csrf_token,
    make_web,
    sign_in,
)

EVERY_URL = ["/", "/queue", "/intakes/PRV-2026-00001",
             "/intakes/PRV-2026-00001/messages/1/files/0", "/overview"]


def test_sign_in_uses_the_code_flow_with_pkce_and_lands_on_the_queue(web: Web) -> None:
    location = authorize_url(web.client)
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)
    assert query["response_type"] == ["code"]
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"][0]
    assert query["state"][0] and query["nonce"][0]

    answer = sign_in(web, MASH_USER)

    assert answer.status_code == 302 and answer.headers["Location"] == "/"
    assert web.oidc.token_forms[-1]["code_verifier"]  # the verifier went with the code
    home = web.client.get("/")
    assert home.headers["Location"] == "/queue"
    page = web.client.get("/queue")
    assert page.status_code == 200
    assert "Signed in as Amara Mensah" in page.text


def test_the_session_cookie_is_httponly_samesite_lax_and_not_secure_on_loopback(
        web: Web) -> None:
    answer = sign_in(web, MASH_USER)
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # http://127.0.0.1 only; behind TLS it is Secure


def test_behind_an_https_proxy_the_cookie_is_secure(tmp_path, oidc, monkeypatch) -> None:
    made = make_web(tmp_path, oidc, monkeypatch, public_url="https://prevent.example.org")
    try:
        assert made.app.config["SESSION_COOKIE_SECURE"] is True
        location = authorize_url(made.client)
        redirect = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)["redirect_uri"]
        assert redirect == ["https://prevent.example.org/auth/callback"]
    finally:
        made.store.close()


def test_a_manager_lands_on_the_overview_and_may_not_open_the_queue(web: Web) -> None:
    sign_in(web, MANAGER_USER)
    assert web.client.get("/").headers["Location"] == "/overview"
    assert web.client.get("/overview").status_code == 200
    assert web.client.get("/queue").status_code == 403
    assert web.client.get("/intakes/PRV-2026-00001").status_code == 403


def test_a_person_without_either_role_gets_403_no_access_on_every_url(web: Web) -> None:
    sign_in(web, NOBODY_USER)
    for url in EVERY_URL:
        answer = web.client.get(url)
        assert answer.status_code == 403, url
        assert "You do not have access to this" in answer.text
        assert "PRV-" not in answer.text.split("<main", 1)[1]
    page = web.client.get("/queue").text
    assert 'href="/queue"' not in page and 'href="/overview"' not in page


def test_not_signed_in_every_page_sends_you_to_sign_in(web: Web) -> None:
    for url in EVERY_URL:
        answer = web.client.get(url)
        assert answer.status_code == 302 and answer.headers["Location"] == "/sign-in", url


def _refused(web: Web, answer) -> None:
    assert answer.status_code == 403
    assert "Sign-in failed" in answer.text
    assert web.client.get("/queue").status_code == 302  # still not signed in


def test_an_id_token_for_another_audience_is_refused(web: Web) -> None:
    web.client_registration.tamper = {"aud": "00000000-0000-0000-0000-000000000000"}
    _refused(web, sign_in(web, MASH_USER))


def test_an_expired_id_token_is_refused(web: Web) -> None:
    now = int(time.time())
    web.client_registration.tamper = {"iat": now - 7200, "nbf": now - 7200, "exp": now - 3600}
    _refused(web, sign_in(web, MASH_USER))


def test_an_id_token_from_another_issuer_is_refused(web: Web) -> None:
    web.client_registration.tamper = {"iss": "https://login.microsoftonline.com/other/v2.0"}
    _refused(web, sign_in(web, MASH_USER))


def test_an_id_token_with_another_nonce_is_refused(web: Web) -> None:
    web.client_registration.tamper = {"nonce": "not-the-one-we-sent"}
    _refused(web, sign_in(web, MASH_USER))


def test_a_replayed_state_is_refused(web: Web) -> None:
    at_provider = requests.get(authorize_url(web.client) + "&login_hint=" + MASH_USER,
                               allow_redirects=False, timeout=10)
    callback = callback_path(at_provider.headers["Location"])
    assert web.client.get(callback).status_code == 302  # signed in once
    web.client.post("/sign-out", data={"csrf_token": csrf_token(web.client.get("/queue").text)})

    _refused(web, web.client.get(callback))  # the same state and code again


def test_a_state_from_another_browser_is_refused(web: Web) -> None:
    at_provider = requests.get(authorize_url(web.client) + "&login_hint=" + MASH_USER,
                               allow_redirects=False, timeout=10)
    other = web.fresh_client()  # never started a sign-in: no state in its session
    answer = other.get(callback_path(at_provider.headers["Location"]))
    assert answer.status_code == 403 and "Sign-in failed" in answer.text


def test_roles_can_come_from_group_claims(tmp_path, oidc, monkeypatch) -> None:
    group = "6f2f1e4c-0d7e-4a57-9b8e-1c1b2a3d4e5f"
    oidc.add_person("g.member@lewisham.gov.uk", "Gale Member", groups=(group,))
    made = make_web(tmp_path, oidc, monkeypatch, oidc_roles_claim="groups",
                    oidc_mash_role=group, oidc_manager_role="none")
    try:
        sign_in(made, "g.member@lewisham.gov.uk")
        assert made.client.get("/queue").status_code == 200
        assert made.client.get("/overview").status_code == 403
    finally:
        made.store.close()


def test_after_the_idle_timeout_you_are_signed_out(web: Web) -> None:
    sign_in(web, MASH_USER)
    assert web.client.get("/queue").status_code == 200
    with web.client.session_transaction() as session:
        session["seen"] = time.time() - 31 * 60
    answer = web.client.get("/queue")
    assert answer.status_code == 302 and answer.headers["Location"] == "/sign-in"
    assert "signed out because you had not done anything" in web.client.get("/sign-in").text


def test_a_post_without_the_csrf_token_is_refused(web: Web) -> None:
    sign_in(web, MASH_USER)
    for url, data in (("/sign-out", {}), ("/intakes/PRV-2026-00001/close", {"reason": "x"}),
                      ("/intakes/PRV-2026-00001/notes", {"note": "x"})):
        assert web.client.post(url, data=data).status_code == 400, url
        assert web.client.post(url, data={**data, "csrf_token": "forged"}).status_code == 400
    assert web.client.get("/queue").status_code == 200  # the sign-out did not happen


def test_every_page_carries_the_security_headers(web: Web) -> None:
    sign_in(web, MASH_USER)
    for url in ("/queue", "/sign-in", "/overview", "/nowhere"):
        headers = web.client.get(url).headers
        csp = headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["Referrer-Policy"] == "no-referrer"
        assert headers["Cache-Control"] == "no-store"


def test_the_pages_have_no_inline_script(web: Web) -> None:
    sign_in(web, MASH_USER)
    page = web.client.get("/queue").text
    assert "<script>" not in page and " on" + "click=" not in page
    assert '<script type="module" src="/static/init.js"></script>' in page
