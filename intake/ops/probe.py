"""check-config's second half: reach both servers with valid settings, change nothing.

One line per check on `out` when it works ("mailbox: ok - ..."), one line on
`err` when it does not, saying what to do where the cause is known
(Microsoft 365's usual set-up gaps). The mailbox is opened and each folder
selected and counted; the SMTP server gets EHLO, TLS and AUTH as the worker
would do them (intake.mail.send's SmtpSender), then QUIT: nothing is sent.
Passwords, secrets and tokens never appear: the lines come from our own
messages and the servers' replies, and any secret echoed back is cut out.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from typing import TextIO

from ..config.settings_types import Settings
from ..domain.errors import OperationError, SettingsError
from ..mail.fetch import open_mailbox
from ..mail.oauth2 import TokenError, TokenProvider, token_provider_for
from ..mail.send import SmtpSender

MAILBOX_ACCESS = (
    "the app's service principal has no FullAccess on mailbox {mailbox}: in Exchange Online "
    "PowerShell run Add-MailboxPermission -Identity {mailbox} -User <service principal id> "
    "-AccessRights FullAccess"
)
SMTP_AUTH_OFF = (
    "SMTP AUTH is off for {mailbox} (Set-CASMailbox -Identity {mailbox} "
    "-SmtpClientAuthenticationDisabled $false), or the app lacks the SMTP.SendAsApp "
    "permission with admin consent, or its service principal lacks FullAccess on the mailbox"
)
SMTP_AUTH_OFF_TENANT = (
    "SMTP AUTH is turned off for the organisation or the mailbox: allow it for {mailbox} "
    "(Set-CASMailbox -Identity {mailbox} -SmtpClientAuthenticationDisabled $false)"
)
IMAP_TOKEN_REFUSED = (
    "the mailbox refused the app's token: check the IMAP.AccessAsApp permission has admin "
    "consent, New-ServicePrincipal was run with the Enterprise Application's object id, "
    "and the service principal has FullAccess on {mailbox}"
)


def check_servers(settings: Settings, out: TextIO = sys.stdout, err: TextIO | None = None) -> int:
    """Try the token service (with OAuth2), the mailbox and the SMTP server:
    0 when all answered and signed us in, 1 when one could not be reached or
    refused us."""
    err = err if err is not None else sys.stderr
    # Our lines say it all: INFO lines ("signed in as", imapclient's
    # "Connection closed") would repeat them on stderr. -v still shows all.
    root = logging.getLogger()
    level = root.level
    if level == logging.INFO:
        root.setLevel(logging.WARNING)
    try:
        return _check(settings, out, err)
    finally:
        root.setLevel(level)


def _check(settings: Settings, out: TextIO, err: TextIO) -> int:
    secrets = _secrets(settings)
    failed = False

    def report(name: str, line: str, ok: bool) -> None:
        nonlocal failed
        failed = failed or not ok
        status = ("" if line.startswith("skipped") else "ok — ") if ok else ""
        print(_scrub(f"{name}: {status}{line}", secrets), file=out if ok else err, flush=True)

    provider = token_provider_for(settings)
    if provider is not None:
        assert settings.oauth2 is not None
        try:
            provider.token()
        except OperationError as error:
            report("oauth2", _one_line(error).removeprefix("OAuth2 "), ok=False)
            return 1  # both servers need the token: one line says it all
        source = settings.oauth2.token_url or (
            f"{settings.oauth2.authority.rstrip('/')}/{settings.oauth2.tenant_id}")
        report("oauth2", f"token for app {settings.oauth2.client_id} from {source}", ok=True)

    report(*_check_mailbox(settings, provider))
    report(*_check_smtp(settings, provider))
    if settings.web is not None:
        from ..web.probe import check_web

        report(*check_web(settings.web))
    return 1 if failed else 0


def _check_mailbox(settings: Settings, provider: TokenProvider | None) -> tuple[str, str, bool]:
    s = settings.mailbox
    if s.kind == "maildir":
        where, how = f"maildir {s.path}", ""
    else:
        who = (s.address or s.username) if s.auth == "oauth2" else s.username
        where, how = f"{s.host}:{s.port} {s.security}", f", {s.auth} as {who}"
    box = open_mailbox(s, provider, readonly=True)  # a check changes nothing, not even \Recent
    try:
        box.connect()
        counts = []
        for folder in box.folders():
            box.uidvalidity(folder)  # SELECT: where Exchange says "not connected"
            counts.append(f"{folder} ({_messages(len(box.uids_after(folder, 0)))})")
    except OperationError as error:
        return "mailbox", _at(where, explain(error, settings)), False
    finally:
        box.close()
    return "mailbox", f"{where}{how}, {', '.join(counts)}", True


def _check_smtp(settings: Settings, provider: TokenProvider | None) -> tuple[str, str, bool]:
    s = settings.smtp
    if s.mode != "send" and not s.host:
        return "smtp", f"skipped — mode {s.mode}: mail is written to {s.shadow_folder}", True
    if s.auth == "oauth2":
        how = f"oauth2 as {s.username or _address(s.sender)}"
    else:
        how = f"signed in as {s.username}" if s.username else "no sign-in"
    where = f"{s.host}:{s.port} {s.security}"
    sender = SmtpSender(s, provider)
    try:
        sender.connect()
    except OperationError as error:
        return "smtp", _at(where, explain(error, settings)), False
    finally:
        sender.close()  # QUIT
    shadow = f" (mode {s.mode}: nothing is sent)" if s.mode != "send" else ""
    return "smtp", f"{where}, {how}{shadow}", True


def explain(error: BaseException, settings: Settings) -> str:
    """One line for a failure; Microsoft 365's known answers become what to do."""
    text = " | ".join(_texts(error))
    mailbox = settings.mailbox.address or settings.mailbox.username
    smtp_user = settings.smtp.username or _address(settings.smtp.sender)
    lowered = text.lower()
    if "authenticated but not connected" in lowered:
        return f"{_one_line(error)}: {MAILBOX_ACCESS.format(mailbox=mailbox)}"
    if "5.7.139" in text:
        return f"{_one_line(error)}: {SMTP_AUTH_OFF_TENANT.format(mailbox=smtp_user)}"
    if "535" in text and "5.7.3" in text:
        return f"{_one_line(error)}: {SMTP_AUTH_OFF.format(mailbox=smtp_user)}"
    if isinstance(error, TokenError):
        return _one_line(error)
    if "oauth2 sign-in refused" in lowered:
        return f"{_one_line(error)}: {IMAP_TOKEN_REFUSED.format(mailbox=mailbox)}"
    return _one_line(error)


def _texts(error: BaseException) -> Iterator[str]:
    """The messages of an exception and what caused it (our wrapper names
    the step, the library's error holds the server's words)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield str(current)
        for attr in ("smtp_error",):
            value = getattr(current, attr, None)
            if isinstance(value, bytes):
                yield f"{getattr(current, 'smtp_code', '')} {value.decode('utf-8', 'replace')}"
        current = current.__cause__ or current.__context__


def _at(where: str, text: str) -> str:
    """Name the server unless the message already does."""
    return text if where.split()[0] in text else f"{where}: {text}"


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())[:500] or type(error).__name__


def _messages(count: int) -> str:
    return "1 message" if count == 1 else f"{count} messages"


def _address(sender: str) -> str:
    from email.utils import parseaddr

    return parseaddr(sender)[1]


def _secrets(settings: Settings) -> list[str]:
    """The secret values the settings point at, to cut out of any line."""
    found = []
    holders = [settings.mailbox.password, settings.smtp.password]
    if settings.oauth2 is not None:
        holders.append(settings.oauth2.client_secret)
    if settings.web is not None:
        holders += [settings.web.oidc_client_secret, settings.web.session_secret]
    for holder in holders:
        if holder is None:
            continue
        try:
            value = holder.reveal()
        except SettingsError:
            continue
        if len(value) >= 4:
            found.append(value)
    return found


def _scrub(text: str, secrets: list[str]) -> str:
    for value in secrets:
        text = text.replace(value, "********")
    return text
