"""The worker end to end over OAuth2: the real `intake` command and Worker signing in
to Dovecot and aiosmtpd with tokens from tests/support/oauth_servers.py's IdentityServer."""

from __future__ import annotations

import pytest
from support.forms import SAMPLE_VALUES, make_form
from support.harness import intake
from support.identity_provider import leaked
from support.mail import referral_email

from intake.config.settings import load_settings
from intake.mail.oauth2 import token_provider_for

pytest_plugins = ("support.oauth_servers",)
pytestmark = pytest.mark.servers


def _write(tmp_path, oauth_app, smtp):
    # Imported late: a module imported before pytest registers it as a plugin
    # (pytest_plugins above) cannot have its asserts rewritten.
    from support.oauth_servers import write_oauth_settings

    return write_oauth_settings(tmp_path, oauth_app, smtp)


def _referral(number: int) -> bytes:
    return referral_email([make_form("docx", SAMPLE_VALUES)],
                          message_id=f"<oauth-{number}@school.example.org>")


def test_run_once_reads_and_acknowledges_over_oauth2(oauth_app, identity, oauth_smtp, tmp_path):
    oauth_app.account.append(_referral(1))
    config = _write(tmp_path, oauth_app, oauth_smtp)
    done = intake(config, "--verbose", "run", "--once")
    assert done.returncode == 0, done.stderr
    acks = [m for m in oauth_smtp.received if m.rcpt_tos == ("jo.teacher@school.example.org",)]
    assert len(acks) == 1
    assert {m.auth_user for m in oauth_smtp.received} == {oauth_app.account.user}
    [stored] = oauth_app.account.messages()
    assert "$PreventIntake" in stored.flags and "\\Seen" not in stored.flags
    assert not leaked(done.stderr + done.stdout, identity, oauth_app.app)


def test_worker_goes_on_after_its_token_is_revoked(oauth_app, identity, oauth_smtp, tmp_path):
    from intake.runtime.worker import Worker

    settings = load_settings(_write(tmp_path, oauth_app, oauth_smtp))
    tokens = token_provider_for(settings)
    oauth_app.account.append(_referral(1))
    assert Worker(settings, once=True, token_provider=tokens).run() == 0
    identity.revoke(oauth_app.app)  # e.g. the hour is up on the server's clock
    oauth_app.account.append(_referral(2))
    assert Worker(settings, once=True, token_provider=tokens).run() == 0
    assert identity.token_posts(oauth_app.app) == 2
    referrer = ("jo.teacher@school.example.org",)
    assert len([m for m in oauth_smtp.received if m.rcpt_tos == referrer]) == 2


def test_run_with_a_wrong_secret_exits_1_with_one_line(oauth_app, identity, oauth_smtp, tmp_path):
    oauth_app.account.append(_referral(1))
    config = _write(tmp_path, oauth_app, oauth_smtp)
    done = intake(config, "run", "--once", env={oauth_app.secret_env: "a-wrong-secret"})
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if "ERROR" in line or "intake:" in line]
    assert len(errors) == 1 and "the client secret is wrong or expired" in errors[0]
    assert "a-wrong-secret" not in done.stderr
    assert oauth_smtp.received == []
