"""Replies go only to the original sender: crafted From, Reply-To or Return-Path get
at most one reply, to one address, or none; never to us, never to a crowd."""

from __future__ import annotations

import pytest
from reliability_kit import exported, replies_to
from support.forms import SAMPLE_VALUES, make_form
from support.harness import intake
from support.mail import referral_email

DOCX = make_form("docx", SAMPLE_VALUES)
OWN = "prevent@lewisham.gov.uk"
CROWD = ", ".join(f"staff{i}@school.example.org" for i in range(40))

# name -> (headers to put on a referral with a form, the addresses a reply may go to:
# "{sender}" is the referral's own From, different for each case so that the hourly
# reply limit holds nothing back). An empty set: no reply at all.
CASES: dict[str, tuple[dict[str, str], set[str]]] = {
    "from-many-addresses": ({"From": CROWD}, set()),
    "two-from-headers": ({"From": "{sender}", "From ": "ann@school.example.org"}, set()),
    "reply-to-many-addresses": ({"Reply-To": CROWD}, {"{sender}"}),
    "reply-to-group-syntax": ({"Reply-To": f"all staff: {CROWD};"}, {"{sender}"}),
    "reply-to-our-own-address": ({"Reply-To": OWN}, {"{sender}"}),
    # Reply-To outside the From's organisation (registrable domain): a third party.
    "reply-to-another-organisation": ({"Reply-To": "victim@elsewhere.example.net"},
                                      {"{sender}"}),
    "reply-to-the-same-organisation": ({"Reply-To": "office@mail.school{n}.example.org"},
                                       {"office@mail.school{n}.example.org"}),
    "reply-to-a-list": ({"Reply-To": "staff-list@lists.example.org",
                         "List-Id": "<staff.lists.example.org>"}, set()),
    "return-path-many": ({"Return-Path": "<a@x.example>, <b@y.example>, <c@z.example>"},
                         {"{sender}"}),
    "from-our-own-address": ({"From": f"Lewisham Prevent <{OWN}>"}, set()),
    "display-name-holds-another-address": ({"From": '"boss@evil.example" <{sender}>'},
                                           {"{sender}"}),
    # The encoded CR LF splits the value into two addresses: From is answered instead.
    "reply-to-with-crlf-encoded": (
        {"Reply-To": "=?utf-8?q?x=0D=0ACc:_all@evil.example?= <jo.r@school.example.org>"},
        {"{sender}", "jo.r@school.example.org"}),
}


def sender(number: int) -> str:
    return f"jo{number}@school{number}.example.org"


def crafted(name: str, number: int) -> bytes:
    headers, _ = CASES[name]
    raw = referral_email([DOCX], sender=sender(number),
                         message_id=f"<fanout-{number}@school.example.org>")
    head, body = raw.split(b"\n\n", 1)
    lines = [line for line in head.split(b"\n")
             if not ("From" in headers and line.startswith(b"From:"))]
    lines += [f"{key.strip()}: {value.replace('{sender}', sender(number))}"
              .replace("{n}", str(number)).encode()
              for key, value in headers.items()]
    return b"\n".join(lines) + b"\n\n" + body


def test_reply_address_is_never_our_own():
    from intake.domain.classify import reply_address
    from intake.mail.parse import parse

    email = parse(crafted("reply-to-our-own-address", 1))
    # Reply-To names another organisation than From (ours): From is answered, never us.
    assert reply_address(email) == sender(1)
    assert reply_address(email, own=(OWN,)) == sender(1)  # where the reply goes
    assert reply_address(parse(crafted("from-our-own-address", 2)), own=(OWN,)) is None


@pytest.mark.parametrize("names", [list(CASES)], ids=["all-cases"])
def test_crafted_senders_get_at_most_one_reply_to_one_address(config, dovecot, smtp_server,
                                                              names, figures):
    dovecot.append_many([crafted(name, i) for i, name in enumerate(names)])
    done = intake(config, "run", "--once")
    assert done.returncode == 0, done.stderr
    replies = replies_to(smtp_server)
    wrong = []
    for i, name in enumerate(names):
        _, allowed = CASES[name]
        message_id = f"<fanout-{i}@school.example.org>"
        sent = [m for m in smtp_server.received
                if f"In-Reply-To: {message_id}".encode() in m.content
                and "mashagency@lewisham.gov.uk" not in m.rcpt_tos]
        assert replies.get(message_id, 0) == len(sent)
        allowed = {address.replace("{sender}", sender(i)).replace("{n}", str(i))
                   for address in allowed}
        if not (sent == [] if not allowed else len(sent) == 1 and sent[0].rcpt_tos[0] in allowed
                and len(sent[0].rcpt_tos) == 1):
            wrong.append(f"{name}: replied to {[m.rcpt_tos for m in sent]}, allowed {allowed}")
    assert not wrong, "\n".join(wrong)
    for mail in smtp_server.received:
        assert len(mail.rcpt_tos) == 1 and "evil.example" not in mail.rcpt_tos[0]
        assert OWN not in mail.rcpt_tos
    # None of them is lost: each with a form is an intake (unless it is our own mail).
    assert len(exported(config)) >= len(names) - 1
    figures.update({"crafted senders": len(names), "replies to more than one": 0})
