"""Who sent it: RFC 8601 Authentication-Results, trusted servers only (table-style)."""

from __future__ import annotations

import pytest
from support.mail import referral_email

from intake.domain.sender_auth import parse_header, sender_auth
from intake.mail.parse import parse

EXO_PASS = ("spf=pass (sender IP is 192.0.2.10) smtp.mailfrom=school.example.org; dkim=pass "
            "(signature was verified) header.d=school.example.org;dmarc=pass action=none "
            "header.from=school.example.org;compauth=pass reason=100")
EXO_FAIL = EXO_PASS.replace("dmarc=pass", "dmarc=fail").replace("compauth=pass reason=100",
                                                                 "compauth=fail reason=000")
EXO_COMPAUTH_FAIL = EXO_PASS.replace("dmarc=pass", "dmarc=none").replace(
    "compauth=pass reason=100", "compauth=fail reason=001")
MX_PASS = "mx.lewisham.gov.uk; spf=pass smtp.mailfrom=school.example.org; dmarc=pass (p=none)"
MX_FAIL = "mx.lewisham.gov.uk 1; dmarc=fail header.from=school.example.org"


def verdict(headers: list[str], trusted: list[str]) -> str:
    raw = referral_email(headers={"Authentication-Results": headers} if headers else None)
    return sender_auth(parse(raw), trusted)


@pytest.mark.parametrize(("headers", "trusted", "expected"), [
    ([EXO_PASS], ["exchange-online"], "pass"),
    ([EXO_FAIL], ["exchange-online"], "fail"),
    ([EXO_COMPAUTH_FAIL], ["exchange-online"], "fail"),  # compauth=fail counts as a fail
    ([EXO_PASS], [], "none"),  # nothing trusted: nothing counts
    ([EXO_PASS], ["mx.lewisham.gov.uk"], "none"),
    ([], ["exchange-online"], "none"),
    # Exchange Online's header is the topmost: one the sender wrote below it is ignored.
    ([EXO_FAIL, EXO_PASS], ["exchange-online"], "fail"),
    ([MX_PASS, EXO_PASS], ["exchange-online"], "none"),  # the topmost has an authserv-id
    ([MX_PASS], ["mx.lewisham.gov.uk"], "pass"),
    ([MX_FAIL], ["MX.Lewisham.gov.uk"], "fail"),
    # Of each trusted id, its topmost header counts: a forged one below it does not.
    ([MX_FAIL, MX_PASS], ["mx.lewisham.gov.uk"], "fail"),
    (["mx.evil.example.net; dmarc=pass"], ["mx.lewisham.gov.uk"], "none"),
    ([MX_PASS, "mx.other.gov.uk; dmarc=fail"], ["mx.lewisham.gov.uk", "mx.other.gov.uk"],
     "fail"),
    (["mx.lewisham.gov.uk; dmarc=temperror"], ["mx.lewisham.gov.uk"], "none"),
    (["mx.lewisham.gov.uk; none"], ["mx.lewisham.gov.uk"], "none"),
])
def test_the_verdict_comes_only_from_trusted_servers(headers, trusted, expected):
    assert verdict(headers, trusted) == expected


def test_comments_and_versions_are_read_past():
    assert parse_header("mx.example.org 1 (the MX); dmarc=pass (p=reject dis=none) "
                        "header.from=a.example") == ("mx.example.org", {"dmarc": "pass"})
    assert parse_header("spf=fail (sender IP is 192.0.2.1; said no) smtp.mailfrom=x;"
                        "dmarc=fail action=quarantine")[1] == {"spf": "fail", "dmarc": "fail"}
    assert parse_header("") == ("", {})
    assert parse_header("(((((" * 5000) == ("", {})
