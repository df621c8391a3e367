"""parse(): what the rest of the pipeline sees of a message, and that nothing breaks it."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.mail import raw_email, referral_email

from intake.domain.htmltext import html_to_text
from intake.domain.models import ParsedEmail, RawMessage
from intake.mail.parse import MAX_HEADER_BYTES, MAX_PARTS, clean_filename, parse
from intake.runtime.pipeline import content_hash

PDF = b"%PDF-1.4 form"
DOCX_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def test_a_referral_gives_its_sender_recipients_subject_and_form():
    email = parse(referral_email([("Referral.pdf", "application/pdf", PDF)]))
    assert email.sender == "jo.teacher@school.example.org"
    assert email.to == ("preventreferrals@met.pnn.police.uk",)
    assert email.cc == ("mashagency@lewisham.gov.uk", "prevent@lewisham.gov.uk")
    assert email.subject == "Prevent referral"
    assert email.message_id == "<referral-1@school.example.org>"
    assert email.content_type == "multipart/mixed"
    assert email.body_text == "Please find attached a Prevent referral form."
    [form] = email.attachments
    assert (form.filename, form.content_type, form.data, form.size) == (
        "Referral.pdf", "application/pdf", PDF, len(PDF))
    assert (form.inline, form.too_large, form.depth) == (False, False, 0)
    assert ("subject", "Prevent referral") in email.headers


@pytest.mark.parametrize(
    ("head", "field", "expected"),
    [
        ("From: Jo <Jo.Teacher@School.Example.ORG>\r\n", "sender", "jo.teacher@school.example.org"),
        ("From: garbage\r\n", "sender", None),
        ("From:\r\n", "sender", None),
        ("Subject: no sender\r\n", "sender", None),
        ("From: <>\r\n", "sender", None),
        ("From: \"Smith, Jo\" <jo@x.org>\r\n", "sender", "jo@x.org"),
        ("To: a@x.org\r\nTo: B <b@x.org>, a@x.org\r\n", "to", ("a@x.org", "b@x.org")),
        ("Cc: undisclosed-recipients:;\r\n", "cc", ()),
        ("Reply-To: One <one@x.org>\r\n", "reply_to", ("one@x.org",)),
        ("Return-Path: <>\r\n", "return_path", ""),
        ("Return-Path: < >\r\n", "return_path", ""),
        ("Return-Path: <Bounce@Mail.Example>\r\n", "return_path", "bounce@mail.example"),
        ("Subject: x\r\n", "return_path", None),
        ("Message-ID:\r\n <abc@x.org>\r\n", "message_id", "<abc@x.org>"),
        ("Message-ID: <abc@x.org> (comment)\r\n", "message_id", "<abc@x.org>"),
        # Only a well-formed <...> Message-ID is kept (issue 14: a formula reached the CSV).
        ("Message-ID: no-brackets@x.org\r\n", "message_id", None),
        ("Subject: x\r\n", "message_id", None),
        ("In-Reply-To: <a@x>\r\n", "in_reply_to", ("<a@x>",)),
        ("References: <a@x>\r\n <b@x>\r\n\t<c@x>\r\n", "references", ("<a@x>", "<b@x>", "<c@x>")),
        ("Subject: =?utf-8?q?R=C3=A9f=C3=A9rral?= form\r\n", "subject", "Référral form"),
        ("Subject: Prevent\r\n referral\r\n", "subject", "Prevent referral"),
        ("Subject: =?x-unknown?q?abc?=\r\n", "subject", "abc"),
    ],
)
def test_header_fields(head, field, expected):
    assert getattr(parse(raw_email(head=head, body="x")), field) == expected


@pytest.mark.parametrize(
    "head",
    [
        "Subject: =?utf-8?q?hello=0D=0ABcc=3A_x=40evil=2Eorg?=\r\n",
        "Subject: =?utf-8?b?aGVsbG8NCkJjYzogeEBldmlsLm9yZw==?=\r\n",
        "X-Thing: a\r\n\tb\r\n c\r\n",
        "Subject: a\x00b\x0bc\r\n",
    ],
)
def test_no_cr_or_lf_or_controls_survive_in_header_values(head):
    email = parse(raw_email(head=head))
    for _, value in email.headers:
        assert "\r" not in value and "\n" not in value and "\x00" not in value
    assert "\n" not in email.subject and "\r" not in email.subject


@pytest.mark.parametrize(
    ("raw_subject", "expected"),
    [
        ("Réf".encode(), "Réf"),  # raw UTF-8
        ("Réf".encode("cp1252"), "Réf"),  # raw Windows-1252
    ],
)
def test_raw_8bit_headers_are_decoded(raw_subject, expected):
    data = b"From: a@x.org\r\nSubject: " + raw_subject + b"\r\n\r\nbody"
    assert parse(data).subject == expected


@pytest.mark.parametrize(
    ("disposition", "expected"),
    [
        ('attachment; filename="=?utf-8?B?UmVmw6lycmFsLnBkZg==?="', "Reférral.pdf"),
        ("attachment; filename*=utf-8''R%C3%A9f%20form.pdf", "Réf form.pdf"),
        ("attachment; filename*0*=utf-8''R%C3%A9f; filename*1=erral.pdf", "Réferral.pdf"),
        ('attachment; filename="../../etc/passwd"', "passwd"),
        ('attachment; filename="C:\\\\Users\\\\jo\\\\form.pdf"', "form.pdf"),
        ("attachment", "attachment.pdf"),
    ],
)
def test_attachment_file_names_are_decoded_and_cleaned(disposition, expected):
    data = raw_email(
        "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n",
        "--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n"
        f"--b\r\nContent-Type: application/pdf\r\nContent-Disposition: {disposition}\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\nJVBERg==\r\n--b--\r\n",
    )
    [attachment] = parse(data).attachments
    assert attachment.filename == expected
    assert attachment.data == b"%PDF"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("a\x00b\x1f.pdf", "ab.pdf"),
        ("form\u202efdp.exe", "formfdp.exe"),  # right-to-left override dropped
        ("report..pdf", "report.pdf"),
        ("...", "attachment.pdf"),
        ("  .hidden.pdf ", "hidden.pdf"),
        ("x" * 300 + ".pdf", "x" * 196 + ".pdf"),
        (None, "attachment.pdf"),
    ],
)
def test_clean_filename(name, expected):
    cleaned = clean_filename(name, "application/pdf")
    assert cleaned == expected
    assert len(cleaned) <= 200 and "/" not in cleaned and ".." not in cleaned


@pytest.mark.parametrize(
    ("charset", "body", "expected"),
    [
        ("iso-8859-1", "café".encode("latin-1"), "café"),
        ("utf-8", "café".encode(), "café"),
        ("us-ascii", "café".encode(), "café"),  # mislabelled UTF-8
        ("x-klingon", "café".encode(), "café"),  # unknown charset: UTF-8 tried
        ("x-klingon", "café".encode("latin-1"), "café"),  # ...then Latin-1
        ("rot13", b"plain", "plain"),  # not a text encoding
    ],
)
def test_text_bodies_are_decoded_with_fallbacks(charset, body, expected):
    data = raw_email(f"Content-Type: text/plain; charset={charset}\r\n"
                     "Content-Transfer-Encoding: 8bit\r\n", body)
    assert parse(data).body_text == expected


def test_an_html_only_body_is_turned_to_text():
    html = ("<html><head><style>p{}</style><title>T</title></head><body><p>Dear MASH,</p>"
            "<p>Concern &amp; risk<br>today</p><script>alert(1)</script><!-- c --></body></html>")
    email = parse(raw_email("Content-Type: text/html; charset=utf-8\r\n", html))
    assert email.body_text == "Dear MASH,\n\nConcern & risk\ntoday"


def test_plain_text_wins_over_its_html_alternative():
    email = parse(referral_email(body="plain words", html="<p>html words</p>"))
    assert email.body_text == "plain words"


def test_a_blank_plain_part_gives_way_to_the_html():
    """Outlook may send an empty text/plain beside the real HTML body: the phrase
    checks must read the HTML. The message's content hash stays what it was before
    this fallback (a blank body), so a rescan still knows mail recorded then."""
    both = referral_email(body="", html="<p>Please find a Prevent referral</p>")
    email = parse(both)
    assert email.body_text == "Please find a Prevent referral" and email.blank_plain_part
    blank_only = referral_email(body="")
    raw = RawMessage(folder="INBOX", uidvalidity=1, uid=1, received_at=datetime.now(UTC),
                     data=both, size=len(both))
    assert content_hash(raw, email) == content_hash(raw, parse(blank_only))
    assert content_hash(raw, email) != content_hash(raw, parse(referral_email(body="x")))


@pytest.mark.parametrize(
    "html", ["<" * 100_000, "<!--" * 50_000, "<script>" * 50_000, "<a " * 50_000 + ">"]
)
def test_html_to_text_is_linear_on_hostile_markup(html):
    start = time.perf_counter()
    html_to_text(html)
    assert time.perf_counter() - start < 1


def test_an_attachment_over_the_cap_is_marked_and_its_data_dropped():
    email = parse(referral_email([("big.pdf", "application/pdf", b"x" * 1000)]),
                  max_attachment_bytes=999)
    [attachment] = email.attachments
    assert (attachment.too_large, attachment.data, attachment.size) == (True, b"", 1000)


def test_inline_images_are_marked_inline_and_inline_pdfs_are_not():
    email = parse(referral_email([("form.pdf", "application/pdf", PDF)],
                                 inline_images=[("logo.png", "image/png", b"\x89PNG")]))
    inline = {a.filename: a.inline for a in email.attachments}
    assert inline == {"logo.png": True, "form.pdf": False}


def test_a_forwarded_message_s_attachments_are_one_level_deeper():
    inner = referral_email([("inner.docx", DOCX_TYPE, b"PK")], message_id="<inner@x.org>")
    email = parse(referral_email([("outer.pdf", "application/pdf", PDF)], forwarded=[inner]))
    depths = {(a.filename, a.content_type, a.depth) for a in email.attachments}
    assert depths == {("outer.pdf", "application/pdf", 0),
                      ("forwarded-message.eml", "message/rfc822", 0),
                      ("inner.docx", DOCX_TYPE, 1)}
    forwarded = next(a for a in email.attachments if a.content_type == "message/rfc822")
    assert b"Message-ID: <inner@x.org>" in forwarded.data
    assert email.body_text == "Please find attached a Prevent referral form."


# --- malformed mail: a ParsedEmail with defects, never an exception, always fast --------------


def _nested(levels: int) -> bytes:
    opening = "".join(f"Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\n"
                      for i in range(levels))
    closing = "".join(f"\r\n--b{i}--" for i in reversed(range(levels)))
    return raw_email(opening + "Content-Type: text/plain\r\n", "deep" + closing)


def _many_parts(count: int) -> bytes:
    parts = "".join("--b\r\nContent-Type: application/octet-stream; name=x.bin\r\n\r\nAA\r\n"
                    for _ in range(count))
    return raw_email("Content-Type: multipart/mixed; boundary=b\r\n", parts + "--b--\r\n")


MALFORMED = {
    "zero bytes": b"",
    "only whitespace": b"\r\n\r\n",
    "no header/body separator": b"From a@x.org\r\nnot a header line\r\nbody",
    "broken boundary": raw_email("Content-Type: multipart/mixed; boundary=nope\r\n",
                                 "--other\r\nContent-Type: text/plain\r\n\r\nhi\r\n"),
    "unterminated multipart": raw_email("Content-Type: multipart/mixed; boundary=b\r\n",
                                        "--b\r\nContent-Type: application/pdf\r\n\r\n%PDF"),
    "bad base64": raw_email("Content-Type: application/pdf\r\n"
                            "Content-Transfer-Encoding: base64\r\n", "!!!not*base64==="),
    "bad quoted-printable": raw_email("Content-Transfer-Encoding: quoted-printable\r\n",
                                      "=ZZ=\r\n=0"),
    "unknown transfer encoding": raw_email("Content-Transfer-Encoding: x-weird\r\n", "hi"),
    "8-bit headers": b"From: J\xf6 <j@x.org>\r\nSubject: \xff\xfe\x80\r\nX-\xe9: \xe9\r\n\r\nhi",
    "unknown charset": raw_email("Content-Type: text/plain; charset=x-unknown\r\n",
                                 b"\xff\xfe"),
    "garbage content type": raw_email("Content-Type: ;;;/;;\r\n", "hi"),
    "NUL bytes": b"From: a@x.org\x00\r\nSubject: \x00\r\n\r\n\x00\x00",
    "bare LF line ends": b"From: a@x.org\nSubject: lf\n\nbody\n",
    "100-deep nesting": _nested(100),
    "1000-deep nesting": _nested(1000),
    "5 MB subject of words": b"Subject: " + b"ab " * (5 * 2**20 // 3) + b"\r\n\r\nx",
    "5 MB folded subject": b"Subject: " + b"ab\r\n " * (2**20) + b"\r\n\r\nx",
    "5 MB To of garbage": b"To: " + b"<(\"@:" * (2**20) + b"\r\n\r\nx",
    "many Cc headers": b"".join(b"Cc: " + b"a@b.c, " * 5000 + b"\r\n" for _ in range(50)),
    "5000 parts": _many_parts(5000),
    "long content type parameters": raw_email(
        "Content-Type: text/plain; " + "; ".join(["a=b"] * 20000) + "\r\n", "hi"),
    "message/rfc822 of garbage": raw_email("Content-Type: message/rfc822\r\n", b"\xff\x00:"),
    "delivery-status of garbage": raw_email("Content-Type: message/delivery-status\r\n", "::"),
}


@pytest.mark.parametrize("data", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_mail_parses_quickly_without_raising(data):
    start = time.perf_counter()
    email = parse(data)
    assert time.perf_counter() - start < 3
    assert_within_bounds(email)


def assert_within_bounds(email: ParsedEmail) -> None:
    """What parse promises of any input: headers on one line and within the cap, no more
    parts than it walks, a sender (when any) that is one lower-case address."""
    assert isinstance(email, ParsedEmail)
    for _, value in email.headers:
        assert "\r" not in value and "\n" not in value
        assert len(value) <= MAX_HEADER_BYTES
    assert "\r" not in email.subject and "\n" not in email.subject
    assert len(email.subject) <= MAX_HEADER_BYTES
    assert len(email.attachments) <= MAX_PARTS
    assert email.sender is None or (email.sender.count("@") >= 1
                                    and email.sender == email.sender.lower())


@pytest.mark.parametrize(
    ("name", "defect"),
    [
        ("zero bytes", "empty-message"),
        ("broken boundary", "StartBoundaryNotFoundDefect"),
        ("100-deep nesting", "too-deep"),
        ("1000-deep nesting", "unparseable-mime"),
        ("5 MB subject of words", "header-cut: subject"),
        ("5000 parts", "too-many-parts"),
        ("unknown charset", "unknown-charset"),
    ],
)
def test_malformed_mail_records_what_was_wrong(name, defect):
    assert any(d.startswith(defect) for d in parse(MALFORMED[name]).defects)


def test_a_huge_subject_is_cut_to_the_header_cap():
    assert len(parse(MALFORMED["5 MB subject of words"], max_header_bytes=1000).subject) <= 1000


_header_line = st.tuples(
    st.sampled_from(["From", "To", "Cc", "Subject", "Content-Type", "Message-ID", "Return-Path",
                     "Content-Disposition", "Content-Transfer-Encoding", "X-Other"]),
    st.binary(max_size=80),
)


@settings(max_examples=150, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_fuzz_parse_never_raises_on_random_bytes(data):
    email = parse(data)
    assert_within_bounds(email)
    assert parse(data) == email  # the same bytes always read the same


@settings(max_examples=150, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_header_line, max_size=12), st.binary(max_size=500))
def test_fuzz_parse_never_raises_on_random_headers(headers, body):
    data = b"".join(name.encode() + b": " + value + b"\r\n" for name, value in headers)
    email = parse(data + b"\r\n" + body)
    assert all("\n" not in value and "\r" not in value for _, value in email.headers)
    assert email.sender is None or email.sender == email.sender.lower()
