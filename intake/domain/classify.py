"""classify: what kind of message a ParsedEmail is. Pure functions over rules/ data.

- machine_mail_reason: auto-replies, lists, bounces, null senders (never answered)
- is_own_mail: our own mail coming back
- says_referral: the subject or body says it is a referral
- behind_secure_link: the body says the content waits behind a secure link
- references_in: intake references such as PRV-2026-00042 in a text
- bounced_message_ids: the Message-IDs a bounce reports on
- reply_address: the one address an automatic reply may go to
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses
from functools import lru_cache

import tldextract

from .models import ParsedEmail
from .records import LOOP_HEADER, REFERENCE_PATTERN
from .rules import Rules

REFERENCE = re.compile(rf"(?<![A-Za-z0-9]){REFERENCE_PATTERN}(?![0-9])", re.IGNORECASE)
REPORT_TYPE = "multipart/report"
RETURNED_TYPES = frozenset(
    {"message/rfc822", "text/rfc822-headers", "message/global", "message/global-headers"}
)
# RFC 5321/2142 role names that send bounces; rules/machine.toml lists the rest.
BOUNCE_SENDERS = frozenset({"mailer-daemon", "postmaster"})
_ADDRESS = re.compile(r"[^@\s<>(),;:\"\[\]\\]+@[^@\s<>(),;:\"\[\]\\]+")
_MESSAGE_ID = re.compile(r"<[^<>\s]+>")
_ADDRESS_CAP = 32 * 1024
_FAILED_ACTIONS = frozenset({"failed"})


# --- phrase matching (shared with check) -----------------------------------------


MAX_SEARCHED = 256 * 1024  # characters of each text searched: a referral says it early


@lru_cache(maxsize=512)
def phrase_pattern(phrase: str) -> re.Pattern[str]:
    """A phrase as whole words, any case, any run of whitespace between its words."""
    return re.compile(r"(?<!\w)" + _phrase_regex(phrase) + r"(?!\w)", re.IGNORECASE)


def _phrase_regex(phrase: str) -> str:
    return r"\s+".join(re.escape(word) for word in phrase.split())


@lru_cache(maxsize=64)
def _all_phrases(phrases: tuple[str, ...]) -> tuple[re.Pattern[str], dict[str, str]]:
    """One pattern for every phrase (each a named group, tried at every word start, so
    phrases inside longer ones are found too); and each group's phrase."""
    names = {f"p{i}": phrase for i, phrase in enumerate(phrases)}
    groups = "|".join(f"(?P<{name}>{_phrase_regex(phrase)}(?!\\w))"
                      for name, phrase in names.items())
    return re.compile(rf"(?<!\w)(?=(?:{groups}))", re.IGNORECASE), names


def matching_phrases(texts: Iterable[str], phrases: Iterable[str]) -> list[str]:
    """The phrases (in rule order) found as whole words in any of the texts: one pass of
    one compiled pattern over the first MAX_SEARCHED characters of each."""
    wanted = tuple(p for p in dict.fromkeys(phrases) if p.strip())
    if not wanted:
        return []
    pattern, names = _all_phrases(wanted)
    found: set[str] = set()
    for text in texts:
        if not text:
            continue
        for match in pattern.finditer(text[:MAX_SEARCHED]):
            found.update(names[name] for name, value in match.groupdict().items()
                         if value is not None)
            if len(found) == len(wanted):
                break
    return [phrase for phrase in wanted if phrase in found]


# --- machine mail ------------------------------------------------------------------


def machine_mail_reason(email: ParsedEmail, rules: Rules) -> str | None:
    """Why this message must never get an automatic reply, or None when it may."""
    for rule in rules.machine_headers:
        if any(rule.pattern.fullmatch(value) for value in email.header_values(rule.name)):
            return rule.reason
    if email.content_type == REPORT_TYPE:
        return "report"
    if not email.sender:
        return "no-sender"
    local = email.sender.rsplit("@", 1)[0]
    if any(pattern.fullmatch(local) for pattern in rules.machine_senders):
        return "machine-sender"
    if email.return_path == "":
        return "null-return-path"
    return None


def is_own_mail(
    email: ParsedEmail, own_addresses: Iterable[str], loop_header: str = LOOP_HEADER
) -> bool:
    """Our own mail coming back: it carries our loop marker, or comes from one of our addresses."""
    if email.header_values(loop_header):
        return True
    own = {address.strip().lower() for address in own_addresses}
    return email.sender is not None and email.sender in own


def says_referral(email: ParsedEmail, rules: Rules) -> bool:
    """The subject or body says this is a referral (phrases from rules/, whole words),
    and the subject does not say it is about training, an event or a newsletter."""
    if matching_phrases([email.subject], rules.not_referral_subject_phrases):
        return False
    return bool(
        matching_phrases([email.subject], rules.referral_subject_phrases)
        or matching_phrases([email.body_text], rules.referral_body_phrases)
    )


def behind_secure_link(email: ParsedEmail, rules: Rules) -> bool:
    """The body says the real message waits behind a secure link (Egress, Purview...)."""
    return bool(matching_phrases([email.body_text], rules.secure_link_phrases))


def references_in(text: str) -> list[str]:
    """Intake references (PRV-yyyy-nnnnn) in a text, upper case, first seen first."""
    return list(dict.fromkeys(found.upper() for found in REFERENCE.findall(text or "")))


# --- bounces -----------------------------------------------------------------------


def bounced_message_ids(email: ParsedEmail) -> list[str]:
    """The Message-IDs of the message a bounce reports on; [] when it is not a failure report.

    Looks in the returned message (message/rfc822) or its headers
    (text/rfc822-headers), then In-Reply-To and References, then "Message-ID:"
    lines quoted in a plain-text bounce. Read receipts and delay or success
    notices are not bounces. Meant for machine mail: an ordinary message that
    merely forwards another is not a bounce either.
    """
    is_report = email.content_type == REPORT_TYPE
    local = (email.sender or "").rsplit("@", 1)[0]
    returns_message = any(a.content_type in RETURNED_TYPES for a in email.attachments)
    # A vacation reply also comes from <> (RFC 5230): a null Return-Path alone is no bounce.
    if any(v.strip().lower() != "no" for v in email.header_values("auto-submitted")) and not (
        is_report or local in BOUNCE_SENDERS
    ):
        return []
    if not (is_report or local in BOUNCE_SENDERS or not email.sender
            or (email.return_path == "" and returns_message)):
        return []
    if is_report and not _reports_failure(email):
        return []
    ids: list[str] = []
    for attachment in email.attachments:
        if attachment.content_type in RETURNED_TYPES and attachment.data:
            ids.extend(_returned_ids(attachment.data))
    ids.extend(email.in_reply_to)
    ids.extend(email.references)
    if not ids:
        quoted = re.findall(r"(?im)^[ \t>]*message-id:[ \t]*(<[^<>\s]+>)", email.body_text)
        ids.extend(quoted)
    return list(dict.fromkeys(ids))


def _reports_failure(email: ParsedEmail) -> bool:
    """A multipart/report that says delivery failed (not a read receipt, delay or success)."""
    content_type = " ".join(email.header_values("content-type")).lower()
    match = re.search(r"report-type\s*=\s*\"?([a-z0-9.-]+)", content_type)
    if match and match.group(1) != "delivery-status":
        return False
    statuses = [a for a in email.attachments if a.content_type == "message/delivery-status"]
    if not statuses:
        return True  # a non-standard bounce: assume the worst
    actions = re.findall(rb"(?im)^action:[ \t]*([a-z-]+)", b"\n".join(a.data for a in statuses))
    if not actions:
        return True
    return any(action.decode().lower() in _FAILED_ACTIONS for action in actions)


def _returned_ids(data: bytes) -> list[str]:
    try:
        headers = BytesHeaderParser(policy=compat32).parsebytes(data[: 256 * 1024])
        values = headers.get_all("message-id") or []
    except Exception:  # a returned message too broken to read: no id from it
        return []
    return [found for value in values for found in _MESSAGE_ID.findall(str(value))][:1]


# --- where a reply may go ------------------------------------------------------------


# The public-suffix list bundled with tldextract, never fetched at run time.
_DOMAINS = tldextract.TLDExtract(cache_dir=None, suffix_list_urls=(), fallback_to_snapshot=True)


def organisation(address: str) -> str:
    """The registrable domain of an address (`school.example.org` for
    `jo@mail.school.example.org`), lower case; the whole host when it has none."""
    host = address.rpartition("@")[2].strip().lower().rstrip(".")
    return _DOMAINS(host).top_domain_under_public_suffix or host


def reply_address(email: ParsedEmail, own: Iterable[str] = ()) -> str | None:
    """Reply-To when it names exactly one address in the From's organisation (registrable
    domain), else From; None when neither is safe. An address in `own` (the service's
    own) is never one to answer: replying there would only write to our own mailbox."""
    ours = {address.lower() for address in own}
    if len(email.reply_to) == 1 and _single_address(email.reply_to[0]) \
            and email.reply_to[0] not in ours and email.sender \
            and organisation(email.reply_to[0]) == organisation(email.sender):
        return email.reply_to[0]
    from_values = email.header_values("from")
    if len(from_values) != 1 or _address_count(from_values[0]) != 1:
        return None  # several From headers or addresses: a crafted fan-out
    if email.sender and _single_address(email.sender) and email.sender not in ours:
        return email.sender
    return None


def _address_count(value: str) -> int:
    try:
        found = [address for _, address in getaddresses([value[:_ADDRESS_CAP]])]
    except Exception:  # getaddresses recurses on some garbage
        found = _ADDRESS.findall(value)
    return len({address.lower() for address in found if "@" in address})


def _single_address(address: str) -> bool:
    return bool(_ADDRESS.fullmatch(address)) and address.count("@") == 1
