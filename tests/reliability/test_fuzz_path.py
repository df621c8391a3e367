"""Hypothesis: arbitrary header and MIME bytes through parse -> classify -> check.

tests/test_parse.py fuzzes the parser alone; this drives the whole pure path
the worker runs before recording, and checks what must hold for any input:
nothing raises, a reply goes to one clean address or to none (never ours),
and a verdict is one of the three statuses.
"""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import RULES

from intake.domain.check import check
from intake.domain.classify import is_own_mail, machine_mail_reason, reply_address, says_referral
from intake.domain.models import Extraction
from intake.mail.parse import parse

OWN = ("prevent@lewisham.gov.uk",)
NAMES = ("From", "To", "Cc", "Reply-To", "Return-Path", "Subject", "Message-ID", "In-Reply-To",
         "References", "Content-Type", "Content-Transfer-Encoding", "Content-Disposition",
         "Auto-Submitted", "Precedence", "List-Id", "X-Auto-Response-Suppress", "MIME-Version")
TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=80)
PIECES = st.sampled_from([
    "prevent@lewisham.gov.uk", "jo@school.example.org", "<>", "=?utf-8?q?a=0D=0Ab?=",
    "=?x-bad?B?////?=", "multipart/mixed; boundary=b", 'boundary=""', "base64",
    "quoted-printable", "Prevent referral", "a, b, c@d", "\"x@y\" <z@w>", "auto-replied",
    "attachment; filename*=utf-8''..%2F..%2Fx.pdf", "\r\n\tfolded", "(comment", ";;;"])
VALUES = st.lists(st.one_of(PIECES, TEXT), max_size=4).map(" ".join)
HEADERS = st.lists(st.tuples(st.sampled_from(NAMES), VALUES), max_size=12)
BODY = st.one_of(
    st.binary(max_size=400),
    st.lists(st.one_of(st.just("--b"), st.just("--b--"), st.just("Content-Type: text/plain"),
                       st.just("Content-Type: application/pdf; name=f.pdf"), TEXT),
             max_size=12).map("\r\n".join).map(str.encode),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow],
          database=None)
@given(HEADERS, BODY)
def test_any_message_through_parse_classify_check(headers, body):
    head = "".join(f"{name}: {value}\r\n" for name, value in headers)
    raw = head.encode("utf-8", "surrogateescape") + b"\r\n" + body
    email = parse(raw)
    machine_mail_reason(email, RULES)
    says_referral(email, RULES)
    is_own_mail(email, OWN)
    address = reply_address(email, OWN)
    if address is not None:
        assert address.count("@") == 1 and address not in OWN
        assert not any(c in address for c in "\r\n\t ,;<>")
    received = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    for extraction in (Extraction(source="none"),
                       Extraction(source="none", carries_form=True, review_reason="damaged")):
        verdict = check({}, extraction, email, received, RULES, mailbox_address=OWN[0],
                        extra_recipients=[])
        assert verdict.status in ("complete", "incomplete", "manual_review")
        assert verdict.status != "complete"  # no form, or an unreadable one, is never complete
