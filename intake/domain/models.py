"""The small records passed between pipeline stages.

fetch -> RawMessage -> parse -> ParsedEmail -> extract -> Extraction
      -> check -> Verdict -> decide -> Decision -> record (store) -> act (send)

Every stage takes and returns these; none of them does I/O of its own
except fetch (the mailbox), record (the store) and act (SMTP).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from .records import AgeBand, Priority, ReviewReason, Status


@dataclass(frozen=True)
class RawMessage:
    """One message as the mailbox holds it."""

    folder: str
    uidvalidity: int
    uid: int
    received_at: datetime  # INTERNALDATE, timezone-aware
    data: bytes  # the whole message, or only its header when too_large
    size: int  # RFC822.SIZE as the server reports it
    too_large: bool = False  # body not downloaded: over the message size cap


@dataclass(frozen=True)
class Attachment:
    """A file carried by a message (or by a message forwarded inside it)."""

    filename: str  # decoded, stripped of paths and control characters
    content_type: str  # lower case, e.g. "application/pdf"
    data: bytes  # empty when too_large
    size: int
    inline: bool = False  # Content-Disposition inline (logos, signatures)
    too_large: bool = False  # over the attachment size cap; data dropped
    depth: int = 0  # 0 on the message itself, 1 inside a forwarded message, ...


@dataclass(frozen=True)
class ParsedEmail:
    """What the rest of the pipeline needs from a message's MIME structure."""

    message_id: str | None  # as written, with angle brackets, unfolded
    subject: str
    sender: str | None  # From address, lower case; None when absent or unparseable
    reply_to: tuple[str, ...]  # addresses, lower case
    return_path: str | None  # None when there is no header; "" for <>
    to: tuple[str, ...]
    cc: tuple[str, ...]
    in_reply_to: tuple[str, ...]  # message ids with brackets
    references: tuple[str, ...]
    headers: tuple[tuple[str, str], ...]  # every header: (lower-case name, value)
    content_type: str  # top-level, lower case
    body_text: str  # the readable text body (plain, or HTML turned to text)
    attachments: tuple[Attachment, ...]
    defects: tuple[str, ...] = ()  # what was wrong with the MIME, for the audit
    blank_plain_part: bool = False  # text/plain parts said nothing; body_text is the HTML's

    def header_values(self, name: str) -> list[str]:
        name = name.lower()
        return [value for key, value in self.headers if key == name]


@dataclass(frozen=True)
class Extraction:
    """The answers read from the referral form attached to one message."""

    source: str  # pdf-form | pdf-text | docx | none | unsupported...
    fields: dict[str, str] = field(default_factory=dict)  # canonical key -> value as written
    where: dict[str, str] = field(default_factory=dict)  # canonical key -> where it was found
    review_reason: ReviewReason | None = None  # set when a form was carried but could not be read
    filename: str | None = None  # the attachment the answers came from
    carries_form: bool = False  # a PDF/Word/ODT/image attachment was there


@dataclass(frozen=True)
class Finding:
    """One thing wrong with a referral, as a code, not words: a message or page says it
    through templates/_findings.j2 when it is made (intake/mail/finding_words.py)."""

    rule: str  # kebab-case rule id, e.g. "required", "date-of-birth", "recipients"
    field: str  # canonical key, or the missing address for "recipients"
    label: str  # the question's wording when found: shown only for a key rules/ no longer has
    code: str  # what was found: required, form, not-a-date, future-date, too-old, email, ...
    values: dict[str, int] = field(default_factory=dict)  # what its wording needs: years


@dataclass(frozen=True)
class Verdict:
    """The result of checking one referral."""

    status: Status
    missing: tuple[str, ...] = ()
    invalid: tuple[str, ...] = ()
    cc_missing: tuple[str, ...] = ()
    findings: tuple[Finding, ...] = ()
    priority: Priority = Priority.NORMAL
    urgent_because: tuple[str, ...] = ()  # rule phrases that matched
    age_band: AgeBand | None = None
