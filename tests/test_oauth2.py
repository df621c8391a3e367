"""OAuth2 client credentials for IMAP and SMTP, against a local identity provider.

The providers get tokens from tests/support/oauth_servers.py's IdentityServer; Dovecot
(oauth2 passdb) and aiosmtpd (XOAUTH2) accept only tokens it issued and has not
revoked. msal is tested through its `http_client` hook: a client sending its
https requests (OpenID discovery and the token POST) to the same local server.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import pytest
from support.harness import intake
from support.identity_provider import leaked

from intake.config.settings import load_settings
from intake.domain.errors import LoginError
from intake.mail.fetch import ImapMailbox
from intake.mail.oauth2 import (
    ClientCredentialsTokenProvider,
    MsalTokenProvider,
    TokenError,
    TokenServiceError,
    describe_error,
    token_provider_for,
)
from intake.mail.send import open_sender

pytest_plugins = ("support.oauth_servers",)
pytestmark = pytest.mark.servers

MESSAGE = b"From: a@school.example\r\nTo: prevent@example.org\r\nSubject: hello\r\n\r\nHi\r\n"


def _write(tmp_path, oauth_app, smtp):
    # Imported late: a module imported before pytest registers it as a plugin
    # (pytest_plugins above) cannot have its asserts rewritten.
    from support.oauth_servers import write_oauth_settings

    return write_oauth_settings(tmp_path, oauth_app, smtp)


def provider(oauth_app, **kwargs) -> ClientCredentialsTokenProvider:
    return ClientCredentialsTokenProvider.from_settings(oauth_app.settings(**kwargs))


# -- the providers -------------------------------------------------------------------


def test_token_is_cached_until_invalidated(oauth_app, identity):
    tokens = provider(oauth_app)
    first = tokens.token()
    assert tokens.token() == first
    assert identity.token_posts(oauth_app.app) == 1
    tokens.invalidate()
    assert tokens.token() != first
    assert identity.token_posts(oauth_app.app) == 2


def test_token_is_renewed_five_minutes_before_it_expires(oauth_app, identity):
    now = [1000.0]
    settings = oauth_app.settings()
    tokens = ClientCredentialsTokenProvider(
        settings.token_url, settings.client_id, settings.client_secret.reveal, settings.scope,
        clock=lambda: now[0])
    first = tokens.token()
    now[0] += 3600 - 301
    assert tokens.token() == first
    now[0] += 2
    assert tokens.token() != first
    assert identity.token_posts(oauth_app.app) == 2


def test_wrong_secret_is_one_line_naming_the_cause_not_the_secret(oauth_app, monkeypatch):
    monkeypatch.setenv(oauth_app.secret_env, "wrong-secret-value")
    with pytest.raises(TokenError) as raised:
        provider(oauth_app).token()
    text = str(raised.value)
    assert "the client secret is wrong or expired" in text
    assert "AADSTS7000215" in text
    assert "\n" not in text and "Trace ID" not in text
    assert "wrong-secret-value" not in text and oauth_app.app.secret not in text


def test_unreachable_token_endpoint_is_worth_retrying(oauth_app):
    settings = replace(oauth_app.settings(), token_url="http://127.0.0.1:9/token")
    with pytest.raises(TokenServiceError, match="cannot reach"):
        ClientCredentialsTokenProvider.from_settings(settings).token()


def test_service_trouble_is_not_a_refusal(oauth_app, identity):
    identity.down = True
    try:
        with pytest.raises(TokenServiceError, match="HTTP 503"):
            provider(oauth_app).token()
    finally:
        identity.down = False


def test_repr_shows_no_secret_or_token(oauth_app, msal_http):
    tokens = provider(oauth_app)
    token = tokens.token()
    msal_tokens = MsalTokenProvider(oauth_app.settings(token_url=False), http_client=msal_http)
    msal_token = msal_tokens.token()
    for shown in (repr(tokens), repr(msal_tokens), repr(oauth_app.settings())):
        assert token not in shown and msal_token not in shown
        assert oauth_app.app.secret not in shown


def test_describe_error_keeps_the_first_line_and_explains_known_codes():
    line = describe_error("invalid_client", "AADSTS7000222: The provided client secret keys "
                          "for app 'x' are expired.\r\nTrace ID: 1\r\nCorrelation ID: 2")
    assert line.startswith("the client secret has expired")
    assert "AADSTS7000222" in line and "Trace ID" not in line
    assert describe_error("invalid_request", None) == "invalid_request"
    assert "hunter2!" not in describe_error("x", "AADSTS1: echoed hunter2!", "hunter2!")


def test_provider_is_chosen_from_settings(tmp_path, oauth_app):
    def settings(mailbox_auth: str, token_url: str | None):
        oauth = "" if token_url is None else f'token_url = "{token_url}"'
        path = tmp_path / "s.toml"
        path.write_text(f"""
[mailbox]
host = "127.0.0.1"
port = 143
security = "none"
auth = "{mailbox_auth}"
folder = "INBOX"
username = "prevent@example.org"
password_env = "X"
[smtp]
host = "127.0.0.1"
port = 25
security = "none"
from = "prevent@example.org"
[oauth2]
tenant_id = "lewisham.gov.uk"
client_id = "{oauth_app.app.client_id}"
client_secret_env = "{oauth_app.secret_env}"
{oauth}
[store]
path = "x.sqlite3"
[triage]
alert_to = ["a@example.org"]
[digest]
to = ["b@example.org"]
""", encoding="utf-8")
        return load_settings(path)

    assert token_provider_for(settings("password", None)) is None
    assert isinstance(token_provider_for(settings("oauth2", "http://127.0.0.1:1/t")),
                      ClientCredentialsTokenProvider)
    assert isinstance(token_provider_for(settings("oauth2", None)), MsalTokenProvider)


def test_each_bad_oauth2_key_is_one_line_and_exit_2(tmp_path, oauth_app, oauth_smtp):

    config = _write(tmp_path, oauth_app, oauth_smtp)
    text = config.read_text()
    start = text.index("[oauth2]")
    oauth2 = text[start:text.find("\n[", start) + 1 or len(text)]  # to the next section
    config.write_text(text.replace(oauth2, """[oauth2]
tenant_id = "common"
client_id = "Secret ID pasted here"
client_certificate = "missing.pem"
client_certificate_thumbprint = "12:34"
authority = "http://login.microsoftonline.com/tenant"
scope = "https://outlook.office365.com/IMAP.AccessAsApp"

"""))
    done = intake(config, "check-config")
    assert done.returncode == 2 and done.stdout == ""
    assert sorted(done.stderr.splitlines()) == [
        "[oauth2] authority: must be an https:// address with no path, "
        "e.g. https://login.microsoftonline.com",
        "[oauth2] client_certificate: no such file: " + str(tmp_path / "missing.pem"),
        "[oauth2] client_certificate_thumbprint: must be the certificate's SHA-1 thumbprint: "
        "40 hexadecimal digits",
        "[oauth2] client_id: must be the app's Application (client) ID, a GUID like "
        "1b2c3d4e-0000-...",
        "[oauth2] scope: must end in /.default (app-only sign-in)",
        "[oauth2] tenant_id: must be the Directory (tenant) ID (a GUID) or the tenant's domain "
        "name",
    ]


# -- msal through its http_client hook ----------------------------------------------------


def test_msal_discovers_the_tenant_then_uses_its_cache(oauth_app, identity, msal_http):
    tokens = MsalTokenProvider(oauth_app.settings(token_url=False), http_client=msal_http)
    first = tokens.token()
    assert tokens.token() == first
    tenant = oauth_app.app.tenant_id
    assert msal_http.urls == [
        f"https://login.microsoftonline.com/{tenant}/v2.0/.well-known/openid-configuration",
        f"https://login.microsoftonline.com/{tenant}/oauth2/v2.0/token",
    ]
    tokens.invalidate()
    assert tokens.token() != first
    assert identity.token_posts(oauth_app.app) == 2


def test_msal_renews_a_token_within_five_minutes_of_expiry(oauth_app, identity, msal_http):
    oauth_app.app.lifetime = 240  # already inside msal's 5-minute margin
    tokens = MsalTokenProvider(oauth_app.settings(token_url=False), http_client=msal_http)
    assert tokens.token() != tokens.token()
    assert identity.token_posts(oauth_app.app) == 2


def test_msal_wrong_secret_is_one_clear_line(oauth_app, msal_http, monkeypatch):
    monkeypatch.setenv(oauth_app.secret_env, "not-the-secret")
    with pytest.raises(TokenError) as raised:
        MsalTokenProvider(oauth_app.settings(token_url=False), http_client=msal_http).token()
    text = str(raised.value)
    assert "the client secret is wrong or expired" in text and "\n" not in text
    assert "not-the-secret" not in text


def test_msal_unknown_tenant_is_a_settings_problem(oauth_app, msal_http):
    settings = oauth_app.settings(token_url=False, tenant_id="no-such-tenant")
    with pytest.raises(TokenError, match="check authority and tenant_id"):
        MsalTokenProvider(settings, http_client=msal_http).token()


def test_msal_token_opens_the_mailbox(oauth_app, msal_http):
    tokens = MsalTokenProvider(oauth_app.settings(token_url=False), http_client=msal_http)
    oauth_app.account.append(MESSAGE)
    box = ImapMailbox(oauth_app.mailbox_settings(), tokens)
    box.connect()
    try:
        assert len(box.uids_after("INBOX", 0)) == 1
    finally:
        box.close()


# -- IMAP and SMTP over XOAUTH2 ------------------------------------------------------------


def test_mailbox_reads_and_marks_over_xoauth2(oauth_app):
    uid = oauth_app.account.append(MESSAGE)
    box = ImapMailbox(oauth_app.mailbox_settings(), provider(oauth_app))
    box.connect()
    try:
        [raw] = list(box.fetch("INBOX", box.uids_after("INBOX", 0)))
        assert raw.uid == uid and b"Subject: hello" in raw.data
        box.mark_processed("INBOX", [uid])
    finally:
        box.close()
    [stored] = oauth_app.account.messages()
    assert "$PreventIntake" in stored.flags and "\\Seen" not in stored.flags


def test_revoked_token_is_replaced_once_and_the_mailbox_opens(oauth_app, identity):
    tokens = provider(oauth_app)
    box = ImapMailbox(oauth_app.mailbox_settings(), tokens)
    box.connect()
    box.close()
    identity.revoke(oauth_app.app)  # the cached token is now refused
    box.connect()
    box.close()
    assert identity.token_posts(oauth_app.app) == 2


def test_a_token_for_another_mailbox_is_refused_after_one_retry(oauth_app, identity):
    other = oauth_app.account.fresh_user()
    box = ImapMailbox(other.settings(auth="oauth2"), provider(oauth_app))
    with pytest.raises(LoginError, match="OAuth2 sign-in refused"):
        box.connect()
    assert identity.token_posts(oauth_app.app) == 2  # one fresh token, never a loop


def test_smtp_sends_over_xoauth2_and_replaces_a_revoked_token(
    oauth_app, identity, oauth_smtp, tmp_path
):
    settings = load_settings(_write(tmp_path, oauth_app, oauth_smtp))
    tokens = token_provider_for(settings)
    sender = open_sender(settings, tokens)
    try:
        sender.send(MESSAGE, "prevent@lewisham.gov.uk", ["a@school.example"])
        sender.close()
        identity.revoke(oauth_app.app)
        sender.send(MESSAGE, "prevent@lewisham.gov.uk", ["a@school.example"])
    finally:
        sender.close()
    assert [m.auth_user for m in oauth_smtp.received] == [oauth_app.account.user] * 2
    assert [ok for _, ok in oauth_smtp.handler.oauth_attempts] == [True, False, True]
    assert identity.token_posts(oauth_app.app) == 2


def test_no_token_or_secret_in_debug_logs(oauth_app, identity, oauth_smtp, msal_http, caplog):
    caplog.set_level(logging.DEBUG)
    tokens = MsalTokenProvider(oauth_app.settings(token_url=False), http_client=msal_http)
    box = ImapMailbox(oauth_app.mailbox_settings(), tokens)
    box.connect()
    box.close()
    tokens.invalidate()
    tokens.token()
    assert caplog.records  # something was logged
    assert not leaked(caplog.text, identity, oauth_app.app)


def _certificate(directory) -> tuple[bytes, object, str]:
    """A throwaway RSA key and certificate: (certificate PEM, key file, SHA-1 thumbprint)."""
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "intake test app")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=2))
            .sign(key, hashes.SHA256()))
    key_file = directory / "app-key.pem"
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_file.chmod(0o600)
    return (cert.public_bytes(serialization.Encoding.PEM), key_file,
            cert.fingerprint(hashes.SHA1()).hex().upper())


def test_certificate_signs_in_through_msal(oauth_app, identity, msal_http, tmp_path):
    cert, key_file, thumbprint = _certificate(tmp_path)
    settings = oauth_app.settings(token_url=False, client_secret=None,
                                  client_certificate=key_file,
                                  client_certificate_thumbprint=thumbprint)
    oauth_app.app.certificate = cert
    tokens = MsalTokenProvider(settings, http_client=msal_http)
    box = ImapMailbox(oauth_app.mailbox_settings(), tokens)
    box.connect()
    box.close()
    assert "PRIVATE KEY" not in repr(tokens)
    # A certificate the app registration does not have is refused, in one line.
    other_cert, _, _ = _certificate(tmp_path / "..")
    oauth_app.app.certificate = other_cert
    with pytest.raises(TokenError, match="AADSTS700027"):
        MsalTokenProvider(settings, http_client=msal_http).token()


def test_unreadable_key_is_one_line_not_a_traceback(oauth_app, msal_http, tmp_path):
    key = tmp_path / "broken.pem"
    key.write_text("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    settings = oauth_app.settings(token_url=False, client_secret=None, client_certificate=key,
                                  client_certificate_thumbprint="AB" * 20)
    with pytest.raises(TokenError) as raised:
        MsalTokenProvider(settings, http_client=msal_http).token()
    assert "\n" not in str(raised.value) and "not a key" not in str(raised.value)
