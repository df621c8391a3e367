"""classify: machine mail, our own mail, referral wording, references, bounces, reply address."""

from __future__ import annotations

import pytest
from support import RULES
from support.mail import bounce_email, raw_email, referral_email

from intake.domain.classify import (
    behind_secure_link,
    bounced_message_ids,
    is_own_mail,
    machine_mail_reason,
    references_in,
    reply_address,
    says_referral,
)
from intake.mail.parse import parse

ACK = referral_email(sender="Lewisham Prevent <prevent@lewisham.gov.uk>",
                     message_id="<ack-1@lewisham.gov.uk>")


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"Auto-Submitted": "auto-replied"}, "auto-submitted"),
        ({"Auto-Submitted": "auto-generated"}, "auto-submitted"),
        ({"auto-submitted": "Auto-Replied (vacation)"}, "auto-submitted"),
        ({"Auto-Submitted": "no"}, None),
        ({"Auto-Submitted": "No"}, None),
        ({"Auto-Submitted": ["no", "auto-replied"]}, "auto-submitted"),  # every occurrence counts
        ({"X-Autoreply": "yes"}, "auto-reply"),
        ({"X-Autorespond": "Out of office"}, "auto-reply"),
        ({"X-Auto-Response-Suppress": "All"}, "auto-response-suppress"),
        ({"X-Auto-Response-Suppress": "DR, OOF"}, "auto-response-suppress"),
        ({"X-Auto-Response-Suppress": "AutoReply"}, "auto-response-suppress"),
        ({"X-Auto-Response-Suppress": "DR"}, None),
        ({"Precedence": "bulk"}, "precedence"),
        ({"Precedence": "Junk"}, "precedence"),
        ({"Precedence": "list"}, "precedence"),
        ({"Precedence": "auto_reply"}, "precedence"),
        ({"Precedence": "first-class"}, None),
        ({"List-Id": "Safeguarding news <news.lists.example.org>"}, "list"),
        ({"List-Unsubscribe": "<mailto:leave@lists.example.org>"}, "list"),
        ({"X-Loop": "helpdesk@example.org"}, "loop"),
        ({"Return-Path": "<>"}, "null-return-path"),
        ({"Return-Path": "<jo.teacher@school.example.org>"}, None),
        ({}, None),
    ],
)
def test_machine_mail_by_header(headers, reason):
    assert machine_mail_reason(parse(referral_email(headers=headers)), RULES) == reason


@pytest.mark.parametrize(
    ("sender", "reason"),
    [
        ("MAILER-DAEMON@mx.example.net", "machine-sender"),
        ("postmaster@school.example.org", "machine-sender"),
        ("owner-safeguarding@lists.example.org", "machine-sender"),
        ("safeguarding-request@lists.example.org", "machine-sender"),
        ("no-reply@training.example.org", "machine-sender"),
        ("NoReply@training.example.org", "machine-sender"),
        ("do-not-reply@council.example.org", "machine-sender"),
        ("donotreply@council.example.org", "machine-sender"),
        (None, "no-sender"),
        ("not an address", "no-sender"),
        ("jo.teacher@school.example.org", None),
        ("replyto.person@school.example.org", None),  # "reply" inside a name is fine
    ],
)
def test_machine_mail_by_sender(sender, reason):
    assert machine_mail_reason(parse(referral_email(sender=sender)), RULES) == reason


@pytest.mark.parametrize("report_type", ["delivery-status", "disposition-notification"])
def test_bounces_and_read_receipts_are_machine_mail(report_type):
    email = parse(bounce_email(ACK, report_type=report_type, sender="mta@mx.example.net"))
    assert machine_mail_reason(email, RULES) == "report"


@pytest.mark.parametrize(
    ("headers", "sender", "own"),
    [
        ({"X-Prevent-Intake": "PRV-2026-00042"}, "jo@school.example.org", True),
        ({}, "Prevent@Lewisham.gov.uk", True),
        ({}, "jo@school.example.org", False),
    ],
)
def test_is_own_mail(headers, sender, own):
    email = parse(referral_email(headers=headers, sender=sender))
    assert is_own_mail(email, ["prevent@lewisham.gov.uk"]) is own


@pytest.mark.parametrize(
    ("subject", "body", "expected"),
    [
        ("Prevent referral - Year 9 pupil", "", True),
        ("PREVENT REFERRAL", "", True),
        ("prevent   referral", "", True),
        ("FW: Prevent National Referral", "", True),
        ("Referral form attached", "", True),
        ("Question", "I attach a Prevent referral for your attention.", True),
        ("Prevent training booking", "Can I book a place on the Prevent course?", False),
        ("Newsletter", "Our preventreferral portal is live", False),
        ("Prevent referrals policy", "", False),  # whole words: "referrals" is not "referral"
        ("Booking: Prevent referral training", "", False),
        ("Prevent referral: invitation to the Channel panel", "", False),
        ("Training question", "Should I make a Prevent referral for this pupil?", False),
    ],
)
def test_says_referral(subject, body, expected):
    assert says_referral(parse(referral_email(subject=subject, body=body)), RULES) is expected


@pytest.mark.parametrize(
    ("body", "html", "expected"),
    [
        ("Jo Teacher has sent you a secure email. Read it at https://switch.egress.com/ui/x",
         None, True),
        ("", "<p>You&#39;ve received an encrypted message from jo@school.example.org</p>", True),
        ("Thanks all. -- This email is secured by Galaxkey. switch.egress.com", None, False),
        ("Please find attached a Prevent referral form.", None, False),
        ("Please keep this secure: the email is about a child.", None, False),
    ],
)
def test_behind_secure_link(body, html, expected):
    email = parse(referral_email(subject="Hello", body=body, html=html))
    assert behind_secure_link(email, RULES) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Re: [PRV-2026-00042] Prevent referral received", ["PRV-2026-00042"]),
        ("prv-2026-00042 and PRV-2025-99999, PRV-2026-00042", ["PRV-2026-00042", "PRV-2025-99999"]),
        ("PRV-2026-000421", []),
        ("XPRV-2026-00042", []),
        ("PRV-26-00042", []),
        ("PRV-２０２６-00042", []),  # full-width digits are not a reference
        ("", []),
    ],
)
def test_references_in(text, expected):
    assert references_in(text) == expected


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, ["<ack-1@lewisham.gov.uk>"]),
        ({"headers_only": True}, ["<ack-1@lewisham.gov.uk>"]),
        ({"action": "delayed"}, []),
        ({"action": "delivered"}, []),
        ({"report_type": "disposition-notification"}, []),  # a read receipt is not a bounce
    ],
)
def test_bounced_message_ids_from_a_report(kwargs, expected):
    assert bounced_message_ids(parse(bounce_email(ACK, **kwargs))) == expected


def test_bounced_message_ids_from_a_plain_text_bounce():
    body = ("This is the mail system.\r\nI'm sorry to have to inform you...\r\n\r\n"
            "--- Below this line is a copy of the message.\r\n\r\n"
            "Return-Path: <prevent@lewisham.gov.uk>\r\nMessage-ID: <ack-2@lewisham.gov.uk>\r\n")
    head = ("From: MAILER-DAEMON@mx.example.net\r\nTo: prevent@lewisham.gov.uk\r\n"
            "Return-Path: <>\r\nSubject: failure notice\r\n")
    email = parse(raw_email(head=head, body=body))
    assert bounced_message_ids(email) == ["<ack-2@lewisham.gov.uk>"]


def test_bounced_message_ids_from_in_reply_to():
    head = ("From: postmaster@school.example.org\r\nSubject: Undeliverable\r\n"
            "In-Reply-To: <ack-3@lewisham.gov.uk>\r\n")
    assert bounced_message_ids(parse(raw_email(head=head))) == ["<ack-3@lewisham.gov.uk>"]


def test_an_ordinary_forward_of_our_mail_is_not_a_bounce():
    email = parse(referral_email(forwarded=[ACK]))
    assert bounced_message_ids(email) == []


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        ("From: Jo <Jo@School.example.org>\r\n", "jo@school.example.org"),
        ("From: jo@school.example.org\r\nReply-To: Office <office@school.example.org>\r\n",
         "office@school.example.org"),
        ("From: jo@school.example.org\r\nReply-To: a@x.org, b@x.org\r\n", "jo@school.example.org"),
        ("From: jo@school.example.org\r\nReply-To: garbage\r\n", "jo@school.example.org"),
        ('From: "jo@school.example.org" <jo@school.example.org>\r\n', "jo@school.example.org"),
        ('From: "a@x.org, b@y.org" <jo@school.example.org>\r\n', "jo@school.example.org"),
        ("From: a@x.org, b@x.org\r\n", None),  # a crafted fan-out
        ("From: a@x.org\r\nFrom: b@x.org\r\n", None),
        ("From: garbage\r\n", None),
        ("Subject: no from\r\n", None),
    ],
)
def test_reply_address(head, expected):
    assert reply_address(parse(raw_email(head=head))) == expected


def test_reply_to_is_answered_only_within_the_from_organisation():
    from intake.domain.classify import organisation

    def answer(reply_to: str, sender: str = "Jo <jo@mail.school.example.org>") -> str | None:
        return reply_address(parse(referral_email(sender=sender, reply_to=reply_to)))

    assert answer("office@school.example.org") == "office@school.example.org"
    assert answer("victim@elsewhere.example.net") == "jo@mail.school.example.org"
    assert answer("x@school.example.org.evil.example") == "jo@mail.school.example.org"
    # A public suffix is not an organisation: two councils under gov.uk are two.
    assert answer("a@bromley.gov.uk", "b@lewisham.gov.uk") == "b@lewisham.gov.uk"
    assert answer("a@news.lewisham.gov.uk", "b@lewisham.gov.uk") == "a@news.lewisham.gov.uk"
    assert organisation("head@st-marys.lewisham.sch.uk") == "st-marys.lewisham.sch.uk"


def test_the_public_suffix_list_is_never_downloaded(monkeypatch):
    """The bundled snapshot only: no socket is opened, whatever the domain."""
    import socket

    import intake.domain.classify as classify

    def no_network(*args, **kwargs):
        raise AssertionError("tried to reach the network")

    monkeypatch.setattr(socket, "socket", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    fresh = classify.tldextract.TLDExtract(cache_dir=None, suffix_list_urls=(),
                                           fallback_to_snapshot=True)
    monkeypatch.setattr(classify, "_DOMAINS", fresh)
    assert classify.organisation("a@b.lewisham.gov.uk") == "lewisham.gov.uk"
