"""The test servers themselves do what other tests rely on."""

from __future__ import annotations

import smtplib
import ssl

import pytest
from imapclient import IMAPClient

MSG = b"From: a@example.org\r\nTo: b@example.org\r\nSubject: t\r\nMessage-ID: <t@x>\r\n\r\nhi\r\n"


def trusting(cert) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cert))


def test_each_test_gets_its_own_empty_mailbox(dovecot):
    other = dovecot.fresh_user()
    dovecot.append(MSG)
    assert other.messages() == [] and other.user != dovecot.user
    assert [m.data for m in dovecot.messages()] == [MSG]


def test_set_password_refuses_the_old_one_at_once(dovecot):
    old = dovecot.password
    dovecot.set_password("changed-" + old)
    client = IMAPClient(dovecot.host, dovecot.port, ssl=False, timeout=5)
    try:
        with pytest.raises(IMAPClient.Error):
            client.login(dovecot.user, old)
    finally:
        client.logout()
    with dovecot.session() as client:
        assert client.select_folder("INBOX")[b"EXISTS"] == 0


def test_bump_uidvalidity_keeps_the_messages(dovecot):
    dovecot.append(MSG, folder="Junk Email")
    before = dovecot.uidvalidity("Junk Email")
    assert dovecot.bump_uidvalidity("Junk Email") != before
    assert [m.data for m in dovecot.messages("Junk Email")] == [MSG]


def test_imaps_listener_uses_the_throwaway_certificate(dovecot):
    client = IMAPClient(dovecot.host, dovecot.tls_port, ssl_context=trusting(dovecot.cert))
    presented = client._imap.sock.getpeercert(binary_form=True)
    assert ssl.DER_cert_to_PEM_cert(presented).strip() == dovecot.cert.read_text().strip()
    assert b"Logged in" in client.login(dovecot.user, dovecot.password)
    client.logout()
    # The system trust store refuses it: only a client given the CA file gets in.
    with pytest.raises(ssl.SSLCertVerificationError):
        IMAPClient(dovecot.host, dovecot.tls_port, ssl_context=ssl.create_default_context())


def test_smtp_records_the_envelope_and_bytes(smtp_server):
    with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=5) as smtp:
        smtp.sendmail("a@example.org", ["b@example.org", "c@example.org"], MSG)
    [got] = smtp_server.received
    assert got.mail_from == "a@example.org"
    assert got.rcpt_tos == ("b@example.org", "c@example.org")
    assert got.content == MSG and not got.tls and got.auth_user is None


def test_smtp_refuses_a_recipient_with_550(smtp_server):
    smtp_server.refuse("Gone@Example.org")
    with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=5) as smtp:
        refused = smtp.sendmail("a@example.org", ["b@example.org", "gone@example.org"], MSG)
    assert refused["gone@example.org"][0] == 550
    assert smtp_server.received[0].rcpt_tos == ("b@example.org",)


def test_smtp_drops_the_connection_after_the_data(smtp_server):
    smtp_server.drop_connection_in_data()
    with pytest.raises(smtplib.SMTPServerDisconnected):
        with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=5) as smtp:
            smtp.sendmail("a@example.org", ["b@example.org"], MSG)
    assert smtp_server.received == []
    with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=5) as smtp:  # once only
        smtp.sendmail("a@example.org", ["b@example.org"], MSG)
    assert len(smtp_server.received) == 1


def test_smtp_down_refuses_connections(smtp_server):
    smtp_server.stop()
    with pytest.raises(OSError):
        smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=5)


def test_smtp_starttls_and_auth(smtp_server):
    smtp_server.start(auth=("prevent@example.org", "pw"), starttls=True, require_starttls=True)
    settings = smtp_server.settings()
    assert settings.security == "starttls" and settings.username == "prevent@example.org"
    with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=5) as smtp:
        smtp.starttls(context=trusting(smtp_server.cert))
        with pytest.raises(smtplib.SMTPAuthenticationError):
            smtp.login("prevent@example.org", "wrong")
        smtp.login("prevent@example.org", settings.password.reveal())
        smtp.sendmail("prevent@example.org", ["b@example.org"], MSG)
    [got] = smtp_server.received
    assert got.tls and got.auth_user == "prevent@example.org"
    attempts = smtp_server.handler.login_attempts  # smtplib tries PLAIN, then LOGIN
    assert attempts[-1] == ("prevent@example.org", True)
    assert attempts[:-1] and not any(ok for _, ok in attempts[:-1])


def test_smtp_implicit_tls(smtp_server):
    smtp_server.start(implicit_tls=True)
    context = trusting(smtp_server.cert)
    with smtplib.SMTP_SSL(smtp_server.host, smtp_server.port, context=context, timeout=5) as s:
        s.sendmail("a@example.org", ["b@example.org"], MSG)
    assert smtp_server.received[0].tls
    # The system trust store refuses the throwaway cert. (smtplib's own default
    # context verifies nothing: a sender must always pass one.)
    with pytest.raises(ssl.SSLCertVerificationError):
        smtplib.SMTP_SSL(
            smtp_server.host, smtp_server.port, context=ssl.create_default_context(), timeout=5
        )
