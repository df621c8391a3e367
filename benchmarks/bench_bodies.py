"""What a hostile body costs the main process: a 20 MB plain-text message, parsed,
hashed and searched for every phrase of rules/ (urgency, referral, secure link).

Prints CPU seconds for each stage, and for the old way (each phrase searched
separately over the whole body) beside the new one (one pattern, first 256 KB).
Target: the whole message under 2 s of CPU in the main process.
"""

from __future__ import annotations

import time
from email.message import EmailMessage

from intake.domain.classify import matching_phrases, phrase_pattern
from intake.domain.models import RawMessage
from intake.domain.rules import load_rules
from intake.mail.parse import parse
from intake.mail.parse_apart import parse_apart
from intake.runtime.pipeline import content_hash


def cpu(label: str, work) -> object:
    start = time.process_time()
    result = work()
    print(f"{label:<48} {time.process_time() - start:7.2f} s CPU")
    return result


def main() -> None:
    rules = load_rules()
    message = EmailMessage()
    message["From"] = "a@example.org"
    message["Subject"] = "Minutes"
    message.set_content("The quick brown fox jumps over the lazy dog.\n" * 450_000)
    data = bytes(message)
    print(f"message: {len(data) / 2**20:.1f} MB")
    phrases = [*rules.urgency_phrases, *rules.referral_body_phrases, *rules.secure_link_phrases]
    email = cpu("parse (in this process)", lambda: parse(data))
    cpu("parse apart (child process; this side only)",
        lambda: parse_apart(data, max_attachment_bytes=25 * 2**20, timeout=60, memory_mb=1024))
    raw = RawMessage("INBOX", 1, 1, time.gmtime(), data, len(data))  # type: ignore[arg-type]
    cpu("content hash", lambda: content_hash(raw, email))
    body = email.body_text  # type: ignore[attr-defined]
    cpu("old: each phrase over the whole body",
        lambda: [p for p in phrases if phrase_pattern(p).search(body)])
    cpu("new: one pattern over the first 256 KB", lambda: matching_phrases([body], phrases))


if __name__ == "__main__":
    main()
