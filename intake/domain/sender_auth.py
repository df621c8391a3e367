"""Who sent it: the receiving server's verdict, from RFC 8601 Authentication-Results.

Anyone can write an Authentication-Results header into a message, so only
those whose authserv-id is in `[mailbox] trusted_authserv_ids` count, and of
each trusted id only the topmost (the receiving server writes its own above
every header the message came with). Exchange Online writes its header with
no authserv-id at all (`spf=pass (sender IP is ...) ...; dmarc=pass
action=none header.from=...;compauth=pass reason=100`): the name
`exchange-online` means that topmost header, when it has no authserv-id.

The verdict is one word:
- `fail`: a trusted header says dmarc=fail (or, from Exchange Online, compauth=fail);
- `pass`: a trusted header says dmarc=pass (or Exchange Online's compauth=pass);
- `none`: no trusted header, or none that says either.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from .models import ParsedEmail

PASS, FAIL, NONE = "pass", "fail", "none"
EXCHANGE_ONLINE = "exchange-online"
HEADER = "authentication-results"
_RESULT = re.compile(r"^\s*([a-z0-9_-]+)\s*=\s*([a-z0-9_-]+)", re.IGNORECASE)
_MAX_VALUE = 8 * 1024  # a real verdict is a few hundred characters


def _strip_comments(value: str) -> str:
    """Drop RFC 5322 comments, nested or not: "(sender IP is ...)"."""
    out, depth, escaped = [], 0, False
    for char in value[:_MAX_VALUE]:
        if escaped:
            escaped = False
            if depth == 0:
                out.append(char)
            continue
        if char == "\\":
            escaped = True
            if depth == 0:
                out.append(char)
        elif char == "(":
            depth += 1
        elif char == ")" and depth:
            depth -= 1
        elif depth == 0:
            out.append(char)
    return "".join(out)


def parse_header(value: str) -> tuple[str | None, dict[str, str]]:
    """(authserv-id or None when the header has none, {method: result}), lower case.

    The first result of each method counts. `authserv-id` may be followed by a
    version number (`mx.example.org 1; ...`)."""
    parts = _strip_comments(value).split(";")
    head = parts[0].strip()
    results: dict[str, str] = {}
    if "=" in head:  # no authserv-id: the first part is already a result (Exchange Online)
        authserv_id = None
        body = parts
    else:
        authserv_id = head.split()[0].lower() if head.split() else ""
        body = parts[1:]
    for part in body:
        match = _RESULT.match(part)
        if match:
            results.setdefault(match.group(1).lower(), match.group(2).lower())
    return authserv_id, results


def trusted_results(email: ParsedEmail, trusted: Iterable[str]) -> list[dict[str, str]]:
    """The results of the headers that count: for each trusted id, its topmost header;
    for `exchange-online`, the topmost header of all when it has no authserv-id."""
    wanted = {t.strip().lower() for t in trusted if t.strip()}
    found: dict[str, dict[str, str]] = {}
    for index, value in enumerate(email.header_values(HEADER)):
        authserv_id, results = parse_header(value)
        if authserv_id is None:
            if index == 0 and EXCHANGE_ONLINE in wanted:
                found.setdefault(EXCHANGE_ONLINE, {**results, "_exchange": "1"})
        elif authserv_id in wanted and authserv_id != EXCHANGE_ONLINE:
            found.setdefault(authserv_id, results)
    return list(found.values())


def sender_auth(email: ParsedEmail, trusted: Iterable[str]) -> str:
    """`pass`, `fail` or `none` for this message (see the module's docstring)."""
    verdicts = []
    for results in trusted_results(email, trusted):
        checks = [results.get("dmarc")]
        if results.get("_exchange"):
            checks.append(results.get("compauth"))
        verdicts += [result for result in checks if result]
    if FAIL in verdicts:
        return FAIL
    if PASS in verdicts:
        return PASS
    return NONE
