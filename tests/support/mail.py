"""Build test emails as bytes, the way a mailbox would hand them over.

    referral_email(attachments=[("form.pdf", "application/pdf", pdf_bytes)],
                   sender="teacher@school.sch.uk", cc=[...],
                   headers={"Auto-Submitted": "auto-replied"})

Defaults make a well-addressed referral (To and Cc carry every required
recipient) with no attachment. `headers` values may be a list to repeat a
header. Everything is built with the standard library, so each message is a
valid MIME message unless a test breaks it on purpose (see `raw_email`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import format_datetime

REQUIRED_TO = ("preventreferrals@met.pnn.police.uk",)
REQUIRED_CC = ("mashagency@lewisham.gov.uk", "prevent@lewisham.gov.uk")
SENDER = "Jo Teacher <jo.teacher@school.example.org>"
SENT_AT = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)

AttachmentSpec = tuple[str, str, bytes]  # (filename, content type, data)


def referral_email(
    attachments: Iterable[AttachmentSpec] = (),
    *,
    sender: str | None = SENDER,
    to: Iterable[str] = REQUIRED_TO,
    cc: Iterable[str] = REQUIRED_CC,
    subject: str = "Prevent referral",
    body: str = "Please find attached a Prevent referral form.",
    html: str | None = None,
    headers: Mapping[str, str | list[str]] | None = None,
    message_id: str | None = "<referral-1@school.example.org>",
    reply_to: str | None = None,
    date: datetime = SENT_AT,
    inline_images: Iterable[AttachmentSpec] = (),
    forwarded: Iterable[bytes] = (),
) -> bytes:
    """A referral as raw bytes; `forwarded` messages are attached as message/rfc822."""
    message = EmailMessage()
    if sender is not None:
        message["From"] = sender
    to, cc = list(to), list(cc)
    if to:
        message["To"] = ", ".join(to)
    if cc:
        message["Cc"] = ", ".join(cc)
    if reply_to is not None:
        message["Reply-To"] = reply_to
    message["Subject"] = subject
    message["Date"] = format_datetime(date)
    if message_id is not None:
        message["Message-ID"] = message_id
    for name, value in (headers or {}).items():
        for one in value if isinstance(value, list) else [value]:
            message[name] = one
    message.set_content(body)
    if html is not None:
        message.add_alternative(html, subtype="html")
    for filename, ctype, data in inline_images:
        maintype, subtype = ctype.split("/", 1)
        message.add_attachment(data, maintype, subtype, filename=filename, disposition="inline",
                               cid=f"<{filename}@inline>")
    for filename, ctype, data in attachments:
        maintype, subtype = ctype.split("/", 1)
        message.add_attachment(data, maintype, subtype, filename=filename)
    for inner in forwarded:
        message.add_attachment(message_from_bytes(inner, policy=policy.default))
    return bytes(message)


def raw_email(headers: str = "", body: str | bytes = "", *, head: str | None = None) -> bytes:
    """A hand-written message: `head` replaces the default From/To/Subject lines."""
    if head is None:
        head = (
            "From: jo.teacher@school.example.org\r\n"
            "To: prevent@lewisham.gov.uk\r\n"
            "Subject: test\r\n"
        )
    payload = body.encode("utf-8") if isinstance(body, str) else body
    return (head + headers).encode("utf-8", "surrogateescape") + b"\r\n" + payload


def bounce_email(
    original: bytes,
    *,
    report_type: str = "delivery-status",
    action: str = "failed",
    headers_only: bool = False,
    sender: str = "MAILER-DAEMON@mx.example.net",
) -> bytes:
    """A multipart/report about `original`: a DSN (default) or a read receipt."""
    boundary = "report-boundary"
    if report_type == "delivery-status":
        status = (
            "Content-Type: message/delivery-status\r\n\r\n"
            "Reporting-MTA: dns; mx.example.net\r\n\r\n"
            "Final-Recipient: rfc822; gone@school.example.org\r\n"
            f"Action: {action}\r\nStatus: 5.1.1\r\n"
        )
    else:
        status = (
            "Content-Type: message/disposition-notification\r\n\r\n"
            "Final-Recipient: rfc822; jo.teacher@school.example.org\r\n"
            "Disposition: manual-action/MDN-sent-manually; displayed\r\n"
        )
    returned = "text/rfc822-headers" if headers_only else "message/rfc822"
    original_text = original.decode("utf-8", "replace")
    if headers_only:
        original_text = original_text.split("\r\n\r\n", 1)[0].split("\n\n", 1)[0] + "\r\n"
    return (
        f"From: {sender}\r\nTo: prevent@lewisham.gov.uk\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "Message-ID: <bounce-1@mx.example.net>\r\nMIME-Version: 1.0\r\n"
        f"Content-Type: multipart/report; report-type={report_type}; boundary={boundary}\r\n\r\n"
        f"--{boundary}\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        f"--{boundary}\r\n{status}"
        f"--{boundary}\r\nContent-Type: {returned}\r\n\r\n{original_text}\r\n"
        f"--{boundary}--\r\n"
    ).encode()
