"""A generated corpus of hostile and broken mail, each item with the outcome it must get.

    corpus(heavy=False) -> [Item(name, data, expect)]

`expect` is what a MASH worker would see: "ignored" (recorded, no intake,
no reply), "intake" (an intake, any status), "complete", or
"review:REASON" (manual review with that reason; "review:*" any reason).
Heavy items (a 40 MB message, 5,000 pages, a 20,000 x 20,000 image) come
with `heavy`; they take seconds, so `make test` runs them too.
"""

from __future__ import annotations

import base64
import zlib
from collections.abc import Callable
from dataclasses import dataclass

from support import forms_pdf
from support.forms import (
    DOCX,
    PDF,
    SAMPLE_VALUES,
    make_docx_bomb,
    make_encrypted_pdf,
    make_form,
    make_html_pdf,
    make_loop_pdf,
    make_many_pages_pdf,
    make_photo,
    make_scan_pdf,
    make_truncated_pdf,
)
from support.mail import raw_email, referral_email

FROM = "From: Jo Teacher <jo.teacher@school.example.org>\r\n"
TO = ("To: preventreferrals@met.pnn.police.uk\r\n"
      "Cc: mashagency@lewisham.gov.uk, prevent@lewisham.gov.uk\r\n")
# Names that try to leave the store, or to hurt a terminal or a file system.
EVIL_NAMES = ("../../../../tmp/intake-escape.docx", "..\\..\\..\\intake-escape.docx",
              "/etc/intake-escape.docx", "sub/dir/intake-escape.docx",
              "\x07\x1b[31mintake\x00escape\r\n.docx", "x" * 300 + ".docx")


@dataclass(frozen=True)
class Item:
    name: str
    data: bytes
    expect: str


def _docx() -> tuple[str, str, bytes]:
    return make_form("docx", SAMPLE_VALUES)


def _with(attachment: tuple[str, str, bytes], number: int, **kw: object) -> bytes:
    return referral_email([attachment], message_id=f"<corpus-{number}@school.example.org>",
                          **kw)  # type: ignore[arg-type]


def _mime(number: int, headers: str, body: bytes | str, subject: str = "Prevent referral") -> bytes:
    head = f"{FROM}{TO}Subject: {subject}\r\nMessage-ID: <corpus-{number}@school.example.org>\r\n"
    return raw_email(headers, body, head=head)


def nested(depth: int, number: int, leaf: bytes) -> bytes:
    body = leaf
    for level in range(depth):
        boundary = f"b{level}"
        body = (f"Content-Type: multipart/mixed; boundary={boundary}\r\n\r\n--{boundary}\r\n"
                .encode() + body + f"\r\n--{boundary}--\r\n".encode())
    head = (f"{FROM}{TO}Subject: Prevent referral\r\nMIME-Version: 1.0\r\n"
            f"Message-ID: <corpus-{number}@school.example.org>\r\n")
    return head.encode() + body


def _part(filename: str, ctype: str, data: bytes) -> bytes:
    encoded = base64.encodebytes(data)
    return (f"Content-Type: {ctype}; name=\"{filename}\"\r\nContent-Transfer-Encoding: base64\r\n"
            f"Content-Disposition: attachment; filename=\"{filename}\"\r\n\r\n").encode() + encoded


def huge_image_pdf(side: int = 20000) -> bytes:
    """One page drawing a side x side 1-bit image (50 MB decoded, 50 KB stored)."""
    pixels = zlib.compress(bytes(side * side // 8), 9)
    content = b"q 500 0 0 500 50 50 cm /Im1 Do Q"
    return forms_pdf.raw_pdf([
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /XObject << /Im1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content),
        b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray "
        b"/BitsPerComponent 1 /Filter /FlateDecode /Length %d >>\nstream\n%s\nendstream"
        % (side, side, len(pixels), pixels),
    ])


def huge_png(side: int = 20000) -> bytes:
    """A PNG that claims side x side pixels: a decompression bomb for an image reader."""
    import struct

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    row = b"\0" + bytes(side // 8)
    pixels = zlib.compress(row * side, 9)
    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels)
            + chunk(b"IEND", b""))


def _light() -> list[tuple[str, Callable[[int], bytes], str]]:
    docx = _docx()
    form_b64 = base64.encodebytes(docx[2]).decode()
    return [
        ("nested-multipart-100-deep-with-form", lambda n: nested(
            100, n, _part("referral.docx", DOCX, docx[2])), "review:damaged"),
        ("nested-multipart-100-deep-no-form", lambda n: nested(
            100, n, b"Content-Type: text/plain\r\n\r\nhello"), "review:damaged"),
        ("multipart-without-boundary", lambda n: _mime(
            n, "MIME-Version: 1.0\r\nContent-Type: multipart/mixed\r\n",
            "--x\r\nContent-Type: text/plain\r\n\r\nhi\r\n--x--\r\n"), "intake"),
        ("multipart-wrong-boundary-with-form", lambda n: _mime(
            n, "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=nope\r\n",
            b"--wrong\r\n" + _part("referral.docx", DOCX, docx[2]) + b"\r\n--wrong--\r\n"),
         "intake"),
        ("multipart-empty-boundary", lambda n: _mime(
            n, 'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=""\r\n',
            "--\r\n\r\nx\r\n----\r\n"), "intake"),
        ("broken-base64-form", lambda n: _mime(
            n, "MIME-Version: 1.0\r\nContent-Type: application/pdf; name=form.pdf\r\n"
            "Content-Disposition: attachment; filename=form.pdf\r\n"
            "Content-Transfer-Encoding: base64\r\n", "%%%% not base64 !!!!\r\n=====\r\n"),
         "review:damaged"),
        ("base64-form-with-noise-lines", lambda n: _mime(
            n, "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B\r\n",
            "--B\r\nContent-Type: text/plain\r\n\r\nForm attached.\r\n--B\r\n"
            f"Content-Type: {DOCX}; name=referral.docx\r\nContent-Transfer-Encoding: base64\r\n"
            "Content-Disposition: attachment; filename=referral.docx\r\n\r\n"
            + form_b64.replace("\n", " \n", 50) + "\r\n--B--\r\n"), "complete"),
        ("broken-quoted-printable", lambda n: _mime(
            n, "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
            "Content-Transfer-Encoding: quoted-printable\r\n", "=ZZ=\r\n=4=\r\n=E2=82\r\n"
            + "x" * 5000 + "=\r\n"), "intake"),
        ("unknown-charset-headers", lambda n: raw_email(
            head="From: =?x-unknown?B?SGVsbG8=?= <a@b.example>\r\nTo: prevent@lewisham.gov.uk\r\n"
            "Subject: =?x-klingon?Q?qapla=FF?=\r\n" + f"Message-ID: <corpus-{n}@b.example>\r\n"),
         "ignored"),
        ("raw-8bit-headers", lambda n: raw_email(
            head="From: J\xf6 T\xe9acher <jo@school.example.org>\r\nTo: prevent@lewisham.gov.uk\r\n"
            "Subject: R\xe9union \xff\xfe\r\n" + f"Message-ID: <corpus-{n}@b.example>\r\n"),
         "ignored"),
        ("unknown-charset-body", lambda n: _mime(
            n, "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=x-martian\r\n",
            b"\xff\xfe\x00Prevent referral \x80\x81"), "intake"),
        ("subject-5mb-of-words", lambda n: raw_email(
            head=f"{FROM}To: prevent@lewisham.gov.uk\r\nSubject: {'a ' * 2_500_000}\r\n"
            f"Message-ID: <corpus-{n}@school.example.org>\r\n"), "ignored"),
        ("subject-5mb-encoded-words", lambda n: raw_email(
            head=f"{FROM}To: prevent@lewisham.gov.uk\r\nSubject: "
            + "=?utf-8?q?a?= " * 400_000 + f"\r\nMessage-ID: <corpus-{n}@school.example.org>\r\n"),
         "ignored"),
        ("crlf-in-display-name", lambda n: _with(docx, n).replace(
            b"From: Jo Teacher", b"From: =?utf-8?q?Jo=0D=0ABcc:_victim@evil.example?="),
         "complete"),
        ("crlf-in-subject", lambda n: _with(docx, n).replace(
            b"Subject: Prevent referral", b"Subject: =?utf-8?q?Prevent_referral=0D=0A"
            b"Bcc:_victim@evil.example?="), "complete"),
        ("bare-cr-in-subject", lambda n: _with(docx, n).replace(
            b"Subject: Prevent referral", b"Subject: Prevent referral\rBcc: victim@evil.example"),
         "complete"),
        *[(f"attachment-name-{i}", lambda n, name=name: _evil_name(n, name, docx[2]),
           "complete") for i, name in enumerate(EVIL_NAMES)],
        ("pdf-that-is-html", lambda n: _with(make_html_pdf(), n), "review:damaged"),
        ("encrypted-pdf", lambda n: _with(make_encrypted_pdf(), n), "review:encrypted"),
        ("pdf-recursion-loop", lambda n: _with(make_loop_pdf(), n), "review:damaged"),
        ("truncated-pdf", lambda n: _with(make_truncated_pdf(), n), "review:damaged"),
        ("empty-pdf", lambda n: _with(("referral.pdf", PDF, b""), n), "review:damaged"),
        ("docx-that-is-pdf", lambda n: _with(
            ("referral.docx", DOCX, make_form("pdf-text", SAMPLE_VALUES)[2]), n), "complete"),
        ("scan-pdf", lambda n: _with(make_scan_pdf(), n), "review:scan"),
        ("photo-of-form", lambda n: _with(make_photo(), n), "review:scan"),
        ("docx-zip-bomb", lambda n: _with(make_docx_bomb(), n), "review:too-large"),
        ("200-attachments-and-the-form", lambda n: referral_email(
            [docx, *[(f"note-{i}.txt", "text/plain", b"note %d" % i) for i in range(199)]],
            message_id=f"<corpus-{n}@school.example.org>"), "complete"),
        ("winmail-dat-tnef", lambda n: _with(
            ("winmail.dat", "application/ms-tnef", b"\x78\x9f\x3e\x22" + bytes(200)), n),
         "review:unsupported"),
        ("outlook-msg", lambda n: _with(
            ("Prevent referral.msg", "application/vnd.ms-outlook",
             b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(500)), n), "review:unsupported"),
        ("smime-encrypted", lambda n: _with(
            ("smime.p7m", "application/pkcs7-mime", bytes(300)), n), "review:encrypted-email"),
        ("purview-rpmsg", lambda n: _with(
            ("message.rpmsg", "application/x-microsoft-rpmsg-message", bytes(300)), n),
         "review:encrypted-email"),
        # A .doc that LibreOffice cannot open (a readable one is read: test_office_forms).
        ("old-word-doc", lambda n: _with(
            ("referral.doc", "application/msword", b"\xd0\xcf\x11\xe0" + bytes(300)), n),
         "review:damaged"),
        ("forwarded-message-with-form", lambda n: referral_email(
            [], subject="Fwd: Prevent referral", message_id=f"<corpus-{n}@school.example.org>",
            forwarded=[referral_email([docx], message_id=f"<inner-{n}@x.example>")]),
         "complete"),
        ("forwarded-30-deep", lambda n: _forwarded_deep(n, 30), "review:damaged"),
        ("empty-message", lambda n: b"\r\n", "ignored"),
        ("headers-only-no-body", lambda n: (FROM + "Subject: hello\r\n").encode(), "ignored"),
        ("nul-bytes-in-headers", lambda n: raw_email(
            head="From: jo\x00@school.example.org\r\nTo: prevent@lewisham.gov.uk\r\n"
            "Subject: hi\x00there\r\n"), "ignored"),
        ("5000-headers", lambda n: raw_email(
            "".join(f"X-Junk-{i}: {i}\r\n" for i in range(5000)), "hello"), "ignored"),
        ("html-only-with-script", lambda n: referral_email(
            [], subject="Newsletter", body="", message_id=f"<corpus-{n}@school.example.org>",
            html="<script>alert(1)</script><p>Dear all</p>" * 100), "ignored"),
        ("octet-stream-named-docx", lambda n: _with(
            ("referral.docx", "application/octet-stream", docx[2]), n), "complete"),
        ("giant-content-type-params", lambda n: _mime(
            n, "MIME-Version: 1.0\r\nContent-Type: text/plain; " + "a=b; " * 20000 + "\r\n",
            "hello"), "intake"),
        ("empty-sender-with-form", lambda n: _with(docx, n, sender="<>"), "complete"),
        # The form behind a secure link we cannot follow, under a subject that does
        # not say "referral": a person must look, it is not "not a referral".
        ("egress-link-only", lambda n: referral_email(
            [], subject="[Secure] Concern about a pupil", message_id=f"<corpus-{n}@x.example>",
            body="Jo Teacher has sent you a secure email. Read it at "
                 "https://switch.egress.com/ui/#/read/abc123"), "review:encrypted-email"),
        ("purview-link-only-html", lambda n: referral_email(
            [], subject="Concern", body="", message_id=f"<corpus-{n}@x.example>",
            html="<p>You've received an encrypted message from jo@school.example.org</p>"
                 "<p><a href='https://outlook.office365.com/Encryption/'>Read it</a></p>"),
         "review:encrypted-email"),
    ]


def _evil_name(number: int, name: str, data: bytes) -> bytes:
    """The form under a hostile name, RFC 2231-encoded so any byte can be in it."""
    from urllib.parse import quote

    encoded = base64.encodebytes(data).decode()
    return _mime(number, "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B\r\n",
                 "--B\r\nContent-Type: text/plain\r\n\r\nForm attached.\r\n--B\r\n"
                 f"Content-Type: {DOCX}\r\nContent-Transfer-Encoding: base64\r\n"
                 f"Content-Disposition: attachment; filename*=utf-8''{quote(name, safe='')}"
                 f"\r\n\r\n{encoded}\r\n--B--\r\n")


def _forwarded_deep(number: int, depth: int) -> bytes:
    inner = referral_email([_docx()], message_id=f"<deep-0-{number}@x.example>")
    for level in range(1, depth):
        inner = referral_email([], subject="Fwd: Prevent referral", forwarded=[inner],
                               message_id=f"<deep-{level}-{number}@x.example>")
    return referral_email([], subject="Fwd: Prevent referral", forwarded=[inner],
                          message_id=f"<corpus-{number}@school.example.org>")


def _heavy() -> list[tuple[str, Callable[[int], bytes], str]]:
    return [
        ("pdf-5000-pages", lambda n: _with(make_many_pages_pdf(5000), n),
         "review:not-recognised"),
        ("pdf-20000x20000-image", lambda n: _with(("referral.pdf", PDF, huge_image_pdf()), n),
         "review:scan"),
        ("png-20000x20000", lambda n: _with(("form.png", "image/png", huge_png()), n),
         "review:scan"),
        ("message-40mb", lambda n: _with(("appendix.pdf", PDF, bytes(40 * 2**20)), n),
         "review:too-large"),
    ]


def corpus(heavy: bool = False, first: int = 1) -> list[Item]:
    makers = _light() + (_heavy() if heavy else [])
    return [Item(name, make(first + i), expect)
            for i, (name, make, expect) in enumerate(makers)]
