"""[web] settings, `intake web` refusing to start without its secrets, check-config's line."""

from __future__ import annotations

import dataclasses

import pytest
from support.oidc_provider import OidcServer
from test_settings import GOOD, load_settings, problems_of, write

from intake.cli import main
from intake.config.settings_types import Secret
from intake.web.probe import check_web

WEB = """
[web]
oidc_tenant_id = "3f1e2d4c-5b6a-4789-9abc-def012345678"
oidc_client_id = "1b2c3d4e-0000-4000-8000-000000000001"
oidc_client_secret_env = "INTAKE_WEB_CLIENT_SECRET"
session_secret_env = "INTAKE_WEB_SESSION_SECRET"
"""


def test_the_worker_runs_without_a_web_section(tmp_path) -> None:
    assert load_settings(write(tmp_path, GOOD)).web is None


def test_web_defaults_listen_on_loopback_with_entra_id_discovery(tmp_path) -> None:
    web = load_settings(write(tmp_path, GOOD + WEB)).web
    assert web is not None
    assert (web.host, web.port, web.idle_timeout_minutes) == ("127.0.0.1", 8080, 30)
    assert web.oidc_discovery_url == ("https://login.microsoftonline.com/3f1e2d4c-5b6a-4789-"
                                      "9abc-def012345678/v2.0/.well-known/openid-configuration")
    assert (web.oidc_roles_claim, web.oidc_mash_role, web.oidc_manager_role) == (
        "roles", "mash", "manager")
    assert web.oidc_client_secret == Secret(env="INTAKE_WEB_CLIENT_SECRET")


@pytest.mark.parametrize(("change", "expected"), [
    ('port = 0', "[web] port: not a port number: 0"),
    ('public_url = "http://prevent.lewisham.gov.uk"',
     "[web] public_url: must be https://, or http:// only to a loopback host"),
    ('oidc_discovery_url = "http://idp.example.org/x"',
     "[web] oidc_discovery_url: must be https://, or http:// only to a loopback host"),
    ('oidc_roles_claim = "wids"', "[web] oidc_roles_claim: must be one of roles, groups"),
    ('idle_timeout_minutes = 0', "[web] idle_timeout_minutes: must be more than 0"),
])
def test_each_bad_web_key_is_one_line(tmp_path, change: str, expected: str) -> None:
    problems = problems_of(tmp_path, GOOD + WEB + change + "\n")
    assert [p for p in problems if p.startswith(expected)] == [p for p in problems
                                                                if p.startswith("[web]")]
    assert any(p.startswith(expected) for p in problems)


def test_an_unknown_web_key_is_an_error(tmp_path) -> None:
    problems = problems_of(tmp_path, GOOD + WEB + 'idle_timeout = 10\n')
    assert problems == ["[web] idle_timeout: unknown key (did you mean idle_timeout_minutes?)"]


def test_missing_web_keys_are_named(tmp_path) -> None:
    problems = problems_of(tmp_path, GOOD + "[web]\n")
    assert "[web] oidc_tenant_id: missing" in problems
    assert "[web] oidc_client_id: missing" in problems
    assert "[web] oidc_client_secret_env: missing" in problems
    assert "[web] session_secret_env: missing" in problems


def test_intake_web_without_its_secrets_exits_2_naming_the_variable(
        tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.delenv("INTAKE_WEB_CLIENT_SECRET", raising=False)
    monkeypatch.delenv("INTAKE_WEB_SESSION_SECRET", raising=False)
    assert main(["--config", str(write(tmp_path, GOOD + WEB)), "web"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "[web] oidc_client_secret_env: environment variable INTAKE_WEB_CLIENT_SECRET is not set",
        "[web] session_secret_env: environment variable INTAKE_WEB_SESSION_SECRET is not set"]


def test_intake_web_refuses_a_short_session_secret(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("INTAKE_WEB_CLIENT_SECRET", "x")
    monkeypatch.setenv("INTAKE_WEB_SESSION_SECRET", "short")
    assert main(["--config", str(write(tmp_path, GOOD + WEB)), "web"]) == 2
    assert "at least 32 characters" in capsys.readouterr().err


def test_check_config_reaches_the_discovery_document(tmp_path, oidc: OidcServer,
                                                     monkeypatch) -> None:
    client = oidc.register_client("http://127.0.0.1:8080/auth/callback")
    web = load_settings(write(tmp_path, GOOD + WEB)).web
    assert web is not None
    monkeypatch.setenv("INTAKE_WEB_CLIENT_SECRET", client.secret)
    monkeypatch.setenv("INTAKE_WEB_SESSION_SECRET", "s" * 40)

    good = dataclasses.replace(web, oidc_discovery_url=oidc.discovery_url(client))
    name, line, ok = check_web(good)
    assert ok and line.startswith(f"identity provider {oidc.issuer(client.tenant_id)} answers")

    wrong = dataclasses.replace(web, oidc_discovery_url=f"{oidc.base_url}/oidc/x/nothing")
    assert check_web(wrong)[2] is False and "HTTP 404" in check_web(wrong)[1]
    closed = dataclasses.replace(web, oidc_discovery_url="http://127.0.0.1:9/.well-known/x")
    assert check_web(closed)[2] is False and "not reached" in check_web(closed)[1]
    monkeypatch.delenv("INTAKE_WEB_SESSION_SECRET")
    assert check_web(good) == ("web", "environment variable INTAKE_WEB_SESSION_SECRET is "
                                      "not set", False)
