"""check-config reaching the real servers: one line per check, exit 0 or 1.

Password sign-in against the shared Dovecot and aiosmtpd (conftest.py);
OAuth2 against the oauth2 Dovecot, the XOAUTH2 aiosmtpd and the local
identity provider (oauth_servers.py). The command runs as its own process.
"""

from __future__ import annotations

import io
from dataclasses import replace

import pytest
from support.harness import intake, write_settings
from support.servers import free_port

from intake.config.settings import load_settings
from intake.domain.errors import MailboxError, SendError
from intake.ops.probe import check_servers, explain

pytest_plugins = ("support.oauth_servers",)
pytestmark = pytest.mark.servers


LOCAL_CHECKS = ("rules:", "templates:", "store:")  # check-config's own, before the servers


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip() and
            not line.startswith(LOCAL_CHECKS)]


# -- password sign-in ----------------------------------------------------------------


def test_good_settings_give_two_ok_lines_and_exit_0(tmp_path, dovecot, smtp_server):
    dovecot.append(b"Subject: one\r\n\r\nx\r\n")
    done = intake(write_settings(tmp_path, dovecot, smtp_server), "check-config")
    assert done.returncode == 0, done.stderr
    mailbox, smtp, forms = lines(done.stdout)
    assert mailbox.startswith("mailbox: ok — 127.0.0.1:") and "INBOX (1 message)" in mailbox
    assert smtp.startswith(f"smtp: ok — 127.0.0.1:{smtp_server.port} none")
    assert forms.startswith("forms: ok — .doc, .odt and .rtf read with LibreOffice")
    assert dovecot.password not in done.stdout + done.stderr


def test_wrong_imap_password_is_one_line_without_the_password(tmp_path, dovecot, smtp_server):
    config = write_settings(tmp_path, dovecot, smtp_server)
    old = dovecot.password
    dovecot.set_password("a-new-password-123")
    done = intake(config, "check-config")
    assert done.returncode == 1
    assert len(lines(done.stderr)) == 1, done.stderr
    [line] = lines(done.stderr)
    assert line.startswith("mailbox: ") and "sign-in refused" in line
    assert old not in done.stdout + done.stderr
    assert "a-new-password-123" not in done.stdout + done.stderr
    assert lines(done.stdout)[0].startswith("smtp: ok")


def test_unreachable_mailbox_port_exits_1(tmp_path, dovecot, smtp_server):
    config = write_settings(tmp_path, dovecot, smtp_server)
    config.write_text(config.read_text().replace(f"port = {dovecot.port}", f"port = {free_port()}"))
    done = intake(config, "check-config")
    assert done.returncode == 1
    [line] = lines(done.stderr)
    assert line.startswith("mailbox: cannot connect to 127.0.0.1:")


def test_smtp_server_down_exits_1(tmp_path, dovecot, smtp_server):
    config = write_settings(tmp_path, dovecot, smtp_server)
    smtp_server.stop()
    done = intake(config, "check-config")
    assert done.returncode == 1
    [line] = lines(done.stderr)
    assert line.startswith(f"smtp: 127.0.0.1:{smtp_server.port}: ")
    assert lines(done.stdout)[0].startswith("mailbox: ok")


def test_smtp_password_sign_in_is_checked_and_nothing_sent(tmp_path, dovecot, smtp_server):
    smtp_server.start(auth=("prevent@example.org", "smtp-pass-456"))
    settings = load_settings(write_settings(tmp_path, dovecot, smtp_server))
    secret = tmp_path / "smtp-password"
    secret.write_text("smtp-pass-456")
    good = replace(settings, smtp=replace(settings.smtp, username="prevent@example.org",
                                          password=replace(settings.mailbox.password,
                                                           file=secret)))
    out, err = io.StringIO(), io.StringIO()
    assert check_servers(good, out=out, err=err) == 0, err.getvalue()
    assert "signed in as prevent@example.org" in out.getvalue()
    secret.write_text("wrong-pass-789")
    out, err = io.StringIO(), io.StringIO()
    assert check_servers(good, out=out, err=err) == 1
    [line] = lines(err.getvalue())
    assert line.startswith("smtp: ") and "535" in line
    assert "smtp-pass-456" not in out.getvalue() + err.getvalue()
    assert "wrong-pass-789" not in out.getvalue() + err.getvalue()
    assert smtp_server.received == []


# -- OAuth2 ----------------------------------------------------------------------------


def test_oauth2_good_settings_give_three_ok_lines(tmp_path, oauth_app, oauth_smtp, identity):
    from support.oauth_servers import write_oauth_settings

    done = intake(write_oauth_settings(tmp_path, oauth_app, oauth_smtp), "check-config")
    assert done.returncode == 0, done.stderr
    token, mailbox, smtp, _forms = lines(done.stdout)
    assert token.startswith(f"oauth2: ok — token for app {oauth_app.app.client_id} from http")
    assert f"oauth2 as {oauth_app.account.user}, INBOX (0 messages)" in mailbox
    assert smtp.startswith("smtp: ok — ") and f"oauth2 as {oauth_app.account.user}" in smtp
    shown = done.stdout + done.stderr
    assert oauth_app.app.secret not in shown
    assert identity.issued(oauth_app.app)
    assert not [t for t in identity.issued(oauth_app.app) if t in shown]
    assert oauth_smtp.received == []


def test_oauth2_wrong_secret_is_one_line_and_exit_1(tmp_path, oauth_app, oauth_smtp):
    from support.oauth_servers import write_oauth_settings

    config = write_oauth_settings(tmp_path, oauth_app, oauth_smtp)
    done = intake(config, "check-config", env={oauth_app.secret_env: "a-wrong-secret"})
    assert done.returncode == 1
    assert lines(done.stdout) == []
    [line] = lines(done.stderr)
    assert line.startswith("oauth2: token refused: the client secret is wrong or expired "
                           "(AADSTS7000215: Invalid client secret provided.")
    assert "a-wrong-secret" not in line and oauth_app.app.secret not in line


def test_smtp_535_5_7_3_says_smtp_auth_is_off(tmp_path, oauth_app, oauth_smtp):
    from support.oauth_servers import write_oauth_settings

    settings = load_settings(write_oauth_settings(tmp_path, oauth_app, oauth_smtp))
    # The app may sign in as its own mailbox only: another gets Exchange's 535 5.7.3.
    other = replace(settings, smtp=replace(settings.smtp, username="someone@example.org"))
    out, err = io.StringIO(), io.StringIO()
    assert check_servers(other, out=out, err=err) == 1
    [line] = lines(err.getvalue())
    assert line.startswith("smtp: ") and "SmtpClientAuthenticationDisabled $false" in line
    assert "SMTP.SendAsApp" in line and "someone@example.org" in line


def test_outbox_mode_without_a_host_skips_smtp(tmp_path, oauth_app, oauth_smtp):
    from support.oauth_servers import write_oauth_settings

    settings = load_settings(write_oauth_settings(tmp_path, oauth_app, oauth_smtp))
    offline = replace(settings, smtp=replace(settings.smtp, mode="outbox", host=""))
    out = io.StringIO()
    assert check_servers(offline, out=out, err=io.StringIO()) == 0
    assert lines(out.getvalue())[-1].startswith("smtp: skipped — mode outbox")


# -- Microsoft 365's answers, as a sentence -----------------------------------------------


@pytest.fixture
def settings(tmp_path, oauth_app, oauth_smtp):
    from support.oauth_servers import write_oauth_settings

    return load_settings(write_oauth_settings(tmp_path, oauth_app, oauth_smtp))


def test_not_connected_means_no_fullaccess(settings):
    cause = Exception("select failed: User is authenticated but not connected.")
    error = MailboxError("outlook.office365.com:993: cannot open folder INBOX")
    error.__cause__ = cause
    text = explain(error, settings)
    assert text.startswith("outlook.office365.com:993: cannot open folder INBOX: ")
    assert "no FullAccess" in text and "Add-MailboxPermission" in text
    assert settings.mailbox.address in text


def test_tenant_wide_smtp_auth_off_is_named(settings):
    error = SendError("smtp.office365.com:587 refused the login (535)")
    error.__cause__ = Exception("535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication"
                                " is disabled for the Tenant.")
    assert "turned off for the organisation" in explain(error, settings)


def test_refused_oauth_sign_in_points_at_the_permissions(settings):
    error = MailboxError(f"127.0.0.1:1: OAuth2 sign-in refused for {settings.mailbox.address}")
    text = explain(error, settings)
    assert "IMAP.AccessAsApp" in text and "New-ServicePrincipal" in text
