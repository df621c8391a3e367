"""What the mailbox (fetch.py) and the sender (send.py) share to connect to a server:
the TLS context, and the source of OAuth2 access tokens they may be given (oauth2.py)."""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Protocol


class TokenProvider(Protocol):
    """Where the mailbox and the sender get an access token (oauth2.py's, or a test's)."""

    def token(self) -> str: ...  # a token valid for a few minutes at least

    def invalidate(self) -> None: ...  # the server refused it: the next token() is new


def tls_context(ca_file: Path | str | None, verify: bool = True) -> ssl.SSLContext:
    """System CAs plus ca_file; certificates and host names always checked
    unless the settings explicitly turned verification off for this host."""
    context = ssl.create_default_context()
    if ca_file:
        context.load_verify_locations(cafile=str(ca_file))
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context
