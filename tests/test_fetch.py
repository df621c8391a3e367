"""intake.mail.fetch against a real Dovecot (see conftest.py), and the maildir source."""

from __future__ import annotations

import logging
import ssl
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from intake.config.settings_types import MailboxSettings
from intake.domain.errors import LoginError, MailboxError, SettingsError
from intake.mail import fetch
from intake.mail.fetch import ImapMailbox


def message(n: int, body: bytes = b"Please find the referral form attached.\r\n") -> bytes:
    return (
        b"From: Referrer <referrer@school.example>\r\n"
        b"To: prevent@example.org\r\n"
        b"Subject: Prevent referral " + str(n).encode() + b"\r\n"
        b"Message-ID: <ref-" + str(n).encode() + b"@school.example>\r\n"
        b"Date: Mon, 05 Jan 2026 09:30:00 +0000\r\n"
        b"\r\n" + body
    )


def connected(settings: MailboxSettings) -> ImapMailbox:
    box = ImapMailbox(settings)
    box.connect()
    return box


@pytest.fixture
def imap(dovecot):
    box = connected(dovecot.settings())
    yield box
    box.close()


def test_fetch_returns_the_appended_bytes_and_internaldate(dovecot, imap):
    when = datetime(2026, 1, 5, 9, 30, 12, tzinfo=timezone(timedelta(hours=1)))
    uids = [dovecot.append(message(1), when=when), dovecot.append(message(2), when=when)]

    validity = imap.uidvalidity("INBOX")
    got = list(imap.fetch("INBOX", imap.uids_after("INBOX", 0)))

    assert [m.uid for m in got] == uids
    assert [m.data for m in got] == [message(1), message(2)]
    assert all(m.uidvalidity == validity == dovecot.uidvalidity() for m in got)
    assert got[0].received_at == when and got[0].received_at.utcoffset() is not None
    assert got[0].size == len(message(1)) and not got[0].too_large
    assert got[0].folder == "INBOX"


def test_uids_after_gives_only_newer_uids_ascending(dovecot, imap):
    uids = dovecot.append_many([message(n) for n in range(5)])

    assert imap.uids_after("INBOX", 0) == uids
    assert imap.uids_after("INBOX", uids[2]) == uids[3:]
    # "N:*" matches the highest UID even when N is above it: must not come back.
    assert imap.uids_after("INBOX", uids[-1]) == []
    assert imap.uids_after("INBOX", uids[-1] + 100) == []


def test_uids_after_sees_mail_that_came_while_the_folder_was_open(dovecot, imap):
    assert imap.uids_after("INBOX", 0) == []
    for n in range(5):
        uid = dovecot.append(message(n))
        assert imap.uids_after("INBOX", 0)[-1:] == [uid]


def spy_fetches(box: ImapMailbox) -> list[tuple[list[int], list[str]]]:
    """Record each FETCH the mailbox sends: (UIDs, items)."""
    calls: list[tuple[list[int], list[str]]] = []
    real = box.client.fetch

    def fetch(uids, items, *args, **kwargs):
        calls.append((list(uids), list(items)))
        return real(uids, items, *args, **kwargs)

    box.client.fetch = fetch  # type: ignore[method-assign]
    return calls


def test_fetch_goes_in_batches_and_skips_uids_that_are_gone(dovecot):
    uids = dovecot.append_many([message(n) for n in range(7)])
    box = connected(dovecot.settings(batch_size=3))
    try:
        calls = spy_fetches(box)
        got = list(box.fetch("INBOX", [*uids, uids[-1] + 50]))
    finally:
        box.close()
    assert [m.uid for m in got] == uids
    sizes = [c for c in calls if c[1] == ["RFC822.SIZE", "INTERNALDATE"]]
    assert [len(u) for u, _ in sizes] == [3, 3, 2]
    assert all(items in (["BODY.PEEK[]"], ["RFC822.SIZE", "INTERNALDATE"]) for _, items in calls)


def test_more_folders_are_read_alike(dovecot):
    uid = dovecot.append(message(1), folder="Junk Email")
    box = connected(dovecot.settings(more_folders=("Junk Email",)))
    try:
        assert box.folders() == ["INBOX", "Junk Email"]
        got = list(box.fetch("Junk Email", box.uids_after("Junk Email", 0)))
        dates = box.received_dates("Junk Email", [uid, uid + 1])
    finally:
        box.close()
    assert [(m.folder, m.uid, m.data) for m in got] == [("Junk Email", uid, message(1))]
    assert dates == {uid: got[0].received_at}


def test_fetch_and_mark_never_set_seen_and_add_the_keyword(dovecot, imap):
    uids = dovecot.append_many([message(1), message(2)])
    list(imap.fetch("INBOX", uids))
    assert all("\\Seen" not in m.flags for m in dovecot.messages())

    imap.mark_processed("INBOX", uids[:1])

    flags = {m.uid: m.flags for m in dovecot.messages()}
    assert "$PreventIntake" in flags[uids[0]]
    assert "$PreventIntake" not in flags[uids[1]]
    assert not any("\\Seen" in f for f in flags.values())


def test_a_message_people_have_read_stays_read(dovecot, imap):
    uid = dovecot.append(message(1), flags=("\\Seen",))
    list(imap.fetch("INBOX", [uid]))
    imap.mark_processed("INBOX", [uid])
    assert dovecot.messages()[0].flags >= {"\\Seen", "$PreventIntake"}


def test_mark_processed_moves_into_processed_folder_creating_it(dovecot):
    uids = dovecot.append_many([message(1), message(2), message(3)])
    assert "Processed" not in dovecot.folders()
    box = connected(dovecot.settings(processed_folder="Processed"))
    try:
        list(box.fetch("INBOX", uids))
        box.mark_processed("INBOX", uids[:2])
        box.mark_processed("INBOX", uids[2:])  # folder known now: no second CREATE
    finally:
        box.close()

    assert "Processed" in dovecot.folders()
    assert dovecot.messages("INBOX") == []
    moved = dovecot.messages("Processed")
    assert [m.data for m in moved] == [message(1), message(2), message(3)]
    assert all("$PreventIntake" in m.flags and "\\Seen" not in m.flags for m in moved)


def test_mark_processed_into_an_existing_folder(dovecot):
    dovecot.create_folder("Done/Prevent")
    uid = dovecot.append(message(1))
    box = connected(dovecot.settings(processed_folder="Done/Prevent"))
    try:
        box.mark_processed("INBOX", [uid])
    finally:
        box.close()
    assert [m.data for m in dovecot.messages("Done/Prevent")] == [message(1)]


def test_oversized_message_comes_back_as_header_only(dovecot):
    big = message(1, body=b"x" * 5000 + b"\r\n")
    small_uid = dovecot.append(message(2))
    big_uid = dovecot.append(big)
    box = connected(dovecot.settings(max_message_bytes=1000))
    try:
        calls = spy_fetches(box)
        got = {m.uid: m for m in box.fetch("INBOX", [small_uid, big_uid])}
    finally:
        box.close()

    assert not got[small_uid].too_large and got[small_uid].data == message(2)
    large = got[big_uid]
    assert large.too_large and large.size == len(big)
    header = big.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
    assert large.data == header
    assert ([big_uid], ["BODY.PEEK[HEADER]"]) in calls  # the body never downloaded
    assert ([small_uid], ["BODY.PEEK[]"]) in calls
    assert all("\\Seen" not in m.flags for m in dovecot.messages())


def test_without_move_it_copies_and_expunges_only_its_own(dovecot):
    """GIVEN a server without MOVE (hidden here) and a message a person deleted
    WHEN one message is marked processed
    THEN it is copied and expunged by UID, and the person's message stays."""
    ours, theirs = dovecot.append_many([message(1), message(2)])
    dovecot.set_flags([theirs], ("\\Deleted",))
    box = connected(dovecot.settings(processed_folder="Processed"))
    try:
        real = box.client.has_capability
        box.client.has_capability = lambda cap: cap != "MOVE" and real(cap)  # type: ignore
        box.mark_processed("INBOX", [ours])
    finally:
        box.close()
    assert [m.data for m in dovecot.messages("Processed")] == [message(1)]
    assert [(m.uid, "\\Deleted" in m.flags) for m in dovecot.messages("INBOX")] == [(theirs, True)]


def test_uidvalidity_change_is_seen(dovecot, imap):
    dovecot.append(message(1))
    before = imap.uidvalidity("INBOX")
    imap.close()
    after = dovecot.bump_uidvalidity("INBOX")
    imap.connect()
    assert imap.uidvalidity("INBOX") == after != before
    assert [m.data for m in imap.fetch("INBOX", imap.uids_after("INBOX", 0))] == [message(1)]


# -- security and sign-in ------------------------------------------------------


def presented_certificate(box: ImapMailbox) -> str:
    """The certificate the server showed on this connection, which must be TLS (PEM)."""
    sock = box.client._imap.sock
    assert isinstance(sock, ssl.SSLSocket), "the connection is not encrypted"
    return ssl.DER_cert_to_PEM_cert(sock.getpeercert(binary_form=True)).strip()


def test_tls_with_the_ca_file_verifies(dovecot):
    uid = dovecot.append(message(1))
    box = connected(dovecot.settings(security="tls"))
    try:
        assert presented_certificate(box) == dovecot.cert.read_text().strip()
        assert [m.uid for m in box.fetch("INBOX", box.uids_after("INBOX", 0))] == [uid]
    finally:
        box.close()


def test_starttls_with_the_ca_file_verifies(dovecot):
    uid = dovecot.append(message(1))
    box = connected(dovecot.settings(security="starttls"))
    try:
        assert presented_certificate(box) == dovecot.cert.read_text().strip()
        assert [m.uid for m in box.fetch("INBOX", box.uids_after("INBOX", 0))] == [uid]
    finally:
        box.close()


@pytest.mark.parametrize(("security", "step"), [("tls", "cannot connect to {where}"),
                                               ("starttls", "{where}: STARTTLS failed")])
def test_throwaway_certificate_is_refused_without_the_ca_file(dovecot, security, step):
    box = ImapMailbox(dovecot.settings(security=security, ca_file=None))
    with pytest.raises(MailboxError, match="CERTIFICATE_VERIFY_FAILED") as caught:
        box.connect()
    assert str(caught.value).startswith(step.format(where=box.where) + ": ")  # which step


def test_plain_text_to_a_remote_host_is_refused_before_connecting():
    settings = MailboxSettings(host="imap.example.org", port=143, security="none")
    with pytest.raises(SettingsError) as caught:
        ImapMailbox(settings).connect()
    assert caught.value.problems == [
        '[mailbox] security: "none" is allowed only to a loopback host, not imap.example.org'
    ]


def test_wrong_password_is_a_login_error_without_the_password(dovecot, caplog):
    caplog.set_level(logging.DEBUG)
    settings = dovecot.settings()  # holds the password as it is now
    old = dovecot.password
    dovecot.set_password("the-new-one-" + old)

    with pytest.raises(LoginError) as caught:
        ImapMailbox(settings).connect()

    text = str(caught.value) + repr(caught.value) + str(caught.value.__cause__)
    assert dovecot.user in str(caught.value)
    assert old not in text and dovecot.password not in text
    assert old not in caplog.text


def test_server_down_is_a_mailbox_error_not_a_login_error(dovecot):
    dovecot.stop()
    with pytest.raises(MailboxError) as caught:
        ImapMailbox(dovecot.settings()).connect()
    assert not isinstance(caught.value, LoginError)


def test_after_a_server_restart_a_new_connect_works(dovecot, imap):
    uid = dovecot.append(message(1))
    assert imap.uids_after("INBOX", 0) == [uid]
    dovecot.restart()

    with pytest.raises(MailboxError):  # the old connection is gone
        imap.uids_after("INBOX", 0)
    imap.connect()
    assert [m.data for m in imap.fetch("INBOX", imap.uids_after("INBOX", 0))] == [message(1)]


# -- IDLE ----------------------------------------------------------------------


def test_idle_returns_soon_after_an_append_from_another_connection(dovecot):
    # poll_seconds above the timeout: only IDLE can return before it.
    box = connected(dovecot.settings(poll_seconds=60))
    timer = threading.Timer(0.3, dovecot.append, args=(message(1),))
    started = time.monotonic()
    timer.start()
    try:
        box.wait_for_mail(timeout=10)
        elapsed = time.monotonic() - started
        assert 0.3 <= elapsed < 5, elapsed
        assert len(box.uids_after("INBOX", 0)) == 1  # the connection works after IDLE
    finally:
        timer.join()
        box.close()


@pytest.mark.parametrize("security", ["none", "tls"])
def test_idle_raises_soon_when_the_server_goes_away(dovecot, security):
    box = connected(dovecot.settings(security=security))
    timer = threading.Timer(0.3, dovecot.stop)
    started = time.monotonic()
    timer.start()
    try:
        with pytest.raises(MailboxError):
            box.wait_for_mail(timeout=10)
        assert time.monotonic() - started < 5
    finally:
        timer.join()
        box.close()


def test_idle_without_mail_returns_at_the_timeout(imap):
    started = time.monotonic()
    imap.wait_for_mail(timeout=0.5)
    assert 0.45 <= time.monotonic() - started < 3


class Stopped(Exception):
    """What the worker's SIGTERM handler raises wherever the worker is waiting."""


def stop_while_waiting(client) -> None:
    def waiting(timeout=None):
        raise Stopped()
    client.idle_check = waiting


def stop_on_entering_idle(client) -> None:
    idle = client.idle

    def entered():
        idle()  # IDLE sent and "+ idling" read: the server is waiting for DONE
        raise Stopped()
    client.idle = entered


def stop_before_done(client) -> None:
    stop_while_waiting(client)

    def done():  # the signal came as idle_done was about to send DONE
        raise Stopped()
    client.idle_done = done


@pytest.mark.parametrize("arm, logs_out", [
    (stop_while_waiting, True), (stop_on_entering_idle, False), (stop_before_done, False),
], ids=["waiting", "entering-idle", "before-done"])
def test_a_stop_inside_idle_leaves_close_nothing_to_wait_for(dovecot, monkeypatch, arm,
                                                             logs_out):
    """GIVEN a worker stopped (SIGTERM) while its connection is in IDLE
    WHEN it closes the mailbox
    THEN it signs out at once when DONE was answered, and only shuts the connection
    when the server still waits for DONE (it would take LOGOUT for a bad DONE and never
    answer it: close waited the whole read timeout, and the worker outlived its stop)."""
    monkeypatch.setattr(fetch, "IMAP_TIMEOUT", 8.0)
    box = connected(dovecot.settings())
    client = box.client
    arm(client)
    logout, calls = client.logout, []

    def logging_out():
        calls.append("logout")
        return logout()
    client.logout = logging_out
    with pytest.raises(Stopped):
        box.wait_for_mail(timeout=10)
    started = time.monotonic()
    box.close()
    assert time.monotonic() - started < 4
    assert calls == (["logout"] if logs_out else [])
