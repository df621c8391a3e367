"""decide() as a table: one message, its answers, what the store knew -> what it is.

decide is pure: every row gives the store's facts as values (`Known`), checks
the message as the pipeline does (check_stage, also pure) and reads the
Decision. `status` is what the check says record writes: the new intake's
verdict for a referral, the merged one for a correction. Rules are the
shipped rules/; the edges are those of ../shared/referral-form.md.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime

import pytest
from support import RULES
from support.forms import SAMPLE_VALUES
from support.mail import bounce_email, raw_email, referral_email

from intake.domain.check_stage import check_message
from intake.domain.decide import Context, Decision, Delivery, Known, decide
from intake.domain.models import Extraction, RawMessage
from intake.domain.records import Intake, Kind, Priority, ReviewReason, Status
from intake.domain.sender_auth import FAIL, NONE, PASS
from intake.mail.parse import parse
from intake.runtime.pipeline import content_hash

MAILBOX = "prevent@lewisham.gov.uk"
OWN = (MAILBOX,)
RECEIVED = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
JO = "jo.teacher@school.example.org"  # the sender of every referral in tests/support/mail.py
OTHER = "duty.officer@met.pnn.police.uk"
SAME, CHANGED = "same bytes", "other bytes"  # a first delivery's content, by this one's

# -- answers ---------------------------------------------------------------------
FORM = Extraction("docx", dict(SAMPLE_VALUES), carries_form=True)
GAPS = replace(FORM, fields={**SAMPLE_VALUES, "subject_surname": "", "subject_dob": "31/02/2011"})
SCAN = Extraction("unsupported", review_reason="scan", carries_form=True)
DAMAGED = Extraction("none", review_reason="damaged", carries_form=True)  # pipeline.py
SECURE = Extraction("none", review_reason="encrypted-email")  # pipeline.answers
NONE_READ = Extraction("none")
OTHER_SURNAME = replace(FORM, fields={**SAMPLE_VALUES, "subject_surname": "Okafor"})
OTHER_DOB = replace(FORM, fields={**SAMPLE_VALUES, "subject_dob": "08/03/2011"})
SAME_NAME = replace(FORM, fields={**SAMPLE_VALUES, "subject_surname": "o\u2019connor"})

# -- the intake a reply is about ---------------------------------------------------
INTAKE = Intake(
    id=7, reference="PRV-2026-00007", status=Status.INCOMPLETE, priority=Priority.NORMAL,
    age_band=None, sender=JO, first_referrer_email=SAMPLE_VALUES["referrer_email"],
    source="docx", fields={**SAMPLE_VALUES, "subject_dob": "not known"}, field_sources={},
    recipients=(), received_at=datetime(2026, 11, 19, 9, 0, tzinfo=UTC),
    last_message_at=datetime(2026, 11, 19, 9, 0, tzinfo=UTC), review_reason=None,
)
CLOSED_INTAKE = replace(INTAKE, closed_at=datetime(2026, 11, 19, 12, 0, tzinfo=UTC))
REVIEW = replace(INTAKE, status=Status.MANUAL_REVIEW, source="unsupported",
                 review_reason=ReviewReason.SCAN)
REWRITTEN = replace(INTAKE, fields={**INTAKE.fields, "referrer_email": OTHER})

# -- messages ------------------------------------------------------------------------
REFERRAL = referral_email()
REPLY = referral_email(subject="RE: [PRV-2026-00007] Prevent referral received")
FROM_REFERRER = referral_email(sender=SAMPLE_VALUES["referrer_email"],
                               subject="RE: [PRV-2026-00007] Prevent referral received")
FROM_OTHER = referral_email(sender=OTHER, subject="RE: [PRV-2026-00007] Prevent referral")
IN_THREAD = referral_email(subject="RE: your referral", headers={
    "In-Reply-To": "<ack-7@lewisham.gov.uk>", "References": "<ack-7@lewisham.gov.uk>"})
AUTO_REPLY = referral_email(subject="Out of office: Prevent referral",
                            headers={"Auto-Submitted": "auto-replied"})
AUTO_IN_THREAD = referral_email(subject="Automatic reply: [PRV-2026-00007] Prevent referral",
                                headers={"Auto-Submitted": "auto-replied"})
LIST_MAIL = referral_email(subject="Prevent referral pathways: newsletter",
                           headers={"List-Id": "<safeguarding.lists.example.org>"})
OWN_LOOP = referral_email(subject="[PRV-2026-00007] Prevent referral received",
                          headers={"X-Prevent-Intake": "PRV-2026-00007"})
OWN_FROM = referral_email(sender=f"Prevent intake <{MAILBOX}>")
BOUNCE = bounce_email(referral_email(sender=MAILBOX, message_id="<ack-7@lewisham.gov.uk>"))
QUESTION = referral_email(subject="Question about training", body="When is the next course?")
TRAINING = referral_email(subject="Prevent referral training booking", body="Two places.")
SECURE_BODY = referral_email(subject="Secure message", body="You have received a secure email.")
CROSS_REPLY_TO = referral_email(reply_to="someone@elsewhere.example.com")
NO_SENDER = raw_email(head="To: prevent@lewisham.gov.uk\r\nSubject: Prevent referral\r\n")

NEW = Known()
THREAD = Known(thread_intake=INTAKE)
IN_REVIEW = Known(thread_intake=REVIEW)
CLOSED = Known(thread_intake=CLOSED_INTAKE)
REWROTE = Known(thread_intake=REWRITTEN)  # a correction wrote OTHER as referrer_email
DOB_KNOWN = Known(thread_intake=replace(INTAKE, fields=SAMPLE_VALUES))
SOMEONE_ELSE = "reply from someone else in the thread"
BOUNCED_ACK = Known(bounced_intake=INTAKE, bounced_kinds=frozenset({Kind.ACK}))
BOUNCED_ALERT = Known(bounced_intake=INTAKE, bounced_kinds=frozenset({Kind.ALERT}))


@dataclass(frozen=True)
class Row:
    case: str
    message: bytes
    answers: Extraction
    known: Known | str  # SAME / CHANGED: a first delivery of that content
    auth: str
    outcome: str
    reason: str | None
    answered: bool  # an automatic reply may go (and to whom: test_reply_address below)
    status: str | None = None  # what record writes, from the check
    forged: bool = False


# Row(case, message, answers, what the store knew, sender auth,
#     -> outcome, reason, answered, status written)
TABLE = [
    # referrals
    Row("complete referral", REFERRAL, FORM, NEW, NONE,
        "intake", None, True, "complete"),
    Row("incomplete referral", REFERRAL, GAPS, NEW, NONE,
        "intake", None, True, "incomplete"),
    Row("manual review: a scan", REFERRAL, SCAN, NEW, NONE,
        "intake", None, True, "manual_review"),
    Row("manual review: damaged MIME", REFERRAL, DAMAGED, NEW, NONE,
        "intake", None, True, "manual_review"),
    Row("damaged, no sender: unanswered", NO_SENDER, DAMAGED, NEW, NONE,
        "intake", "no-sender", False, "manual_review"),
    Row("says referral, no form", REFERRAL, NONE_READ, NEW, NONE,
        "intake", None, True, "incomplete"),
    Row("behind a secure link", SECURE_BODY, SECURE, NEW, NONE,
        "intake", None, True, "manual_review"),
    Row("training booking with a form", TRAINING, FORM, NEW, NONE,
        "intake", None, True, "complete"),
    Row("auto-reply with a form", AUTO_REPLY, FORM, NEW, NONE,
        "intake", "auto-submitted", False, "complete"),
    # not referrals
    Row("a question", QUESTION, NONE_READ, NEW, NONE,
        "ignored", "not-referral", False),
    Row("training booking, no form", TRAINING, NONE_READ, NEW, NONE,
        "ignored", "not-referral", False),
    Row("auto-reply, no form", AUTO_REPLY, NONE_READ, NEW, NONE,
        "ignored", "auto-submitted", False),
    Row("list mail", LIST_MAIL, NONE_READ, NEW, NONE,
        "ignored", "list", False),
    Row("own mail: loop marker", OWN_LOOP, NONE_READ, THREAD, NONE,
        "ignored", "own-mail", False),
    Row("own mail: our address", OWN_FROM, FORM, NEW, NONE,
        "ignored", "own-mail", False),
    # second deliveries
    Row("second delivery, same bytes", REFERRAL, NONE_READ, SAME, NONE,
        "duplicate", "repeats message row 3", False),
    Row("reused Message-ID, no form", REFERRAL, NONE_READ, CHANGED, NONE,
        "duplicate", "repeats message row 3", False),
    Row("reused Message-ID, a new form", REFERRAL, FORM, CHANGED, NONE,
        "intake", None, True, "complete"),
    # bounces
    Row("bounce of our reply", BOUNCE, NONE_READ, BOUNCED_ACK, NONE,
        "bounce", "report", False),
    Row("bounce of our alert", BOUNCE, NONE_READ, BOUNCED_ALERT, NONE,
        "note", "alert-bounced", False),
    Row("bounce of something unknown", BOUNCE, NONE_READ, NEW, NONE,
        "ignored", "report", False),
    # corrections
    Row("correction by its sender", REPLY, FORM, THREAD, PASS,
        "correction", None, True, "complete"),
    Row("correction without a form", REPLY, NONE_READ, THREAD, NONE,
        "correction", None, True, "incomplete"),
    Row("correction via In-Reply-To", IN_THREAD, FORM, THREAD, NONE,
        "correction", None, True, "complete"),
    Row("correction by the first referrer", FROM_REFERRER, FORM, THREAD, NONE,
        "correction", None, True, "complete"),
    Row("correction in manual review", REPLY, FORM, IN_REVIEW, NONE,
        "correction", None, True, "complete"),
    Row("same surname, other spelling", REPLY, SAME_NAME, THREAD, NONE,
        "correction", None, True, "complete"),
    Row("a date of birth put right", REPLY, FORM, THREAD, NONE,
        "correction", None, True, "complete"),
    Row("DMARC fail: forged correction", REPLY, FORM, THREAD, FAIL,
        "note", "unauthenticated-correction", False, forged=True),
    Row("from an address a correction wrote", FROM_OTHER, FORM, REWROTE, NONE,
        "note", SOMEONE_ELSE, False),
    # notes
    Row("someone else replies", FROM_OTHER, NONE_READ, THREAD, NONE,
        "note", SOMEONE_ELSE, False),
    Row("auto-reply in the thread", AUTO_IN_THREAD, NONE_READ, THREAD, NONE,
        "note", "auto-submitted", False),
    Row("reply to a closed intake", REPLY, NONE_READ, CLOSED, NONE,
        "note", "intake closed", False),
    # a form in a thread that is a new referral
    Row("a form to a closed intake", REPLY, FORM, CLOSED, NONE,
        "intake", None, True, "complete"),
    Row("a form about another surname", REPLY, OTHER_SURNAME, THREAD, NONE,
        "intake", None, True, "complete"),
    Row("a form with another real birth date", REPLY, OTHER_DOB, DOB_KNOWN, NONE,
        "intake", None, True, "complete"),
]


def context(message: bytes, answers: Extraction, known: Known | str, auth: str) -> Context:
    raw = RawMessage("INBOX", 1, 10, RECEIVED, message, len(message))
    email = parse(message)
    digest = content_hash(raw, email)
    if isinstance(known, str):  # an earlier delivery, row 3, with the same Message-ID
        first = Delivery(3, email.message_id, digest if known == SAME else "0" * 64)
        known = Known(first_delivery=first)
    checked = check_message(email, answers, RECEIVED, known.thread_intake, RULES,
                            timezone="Europe/London", mailbox_address=MAILBOX)
    return Context(raw, email, answers, digest, RULES, OWN, known, checked, auth)


def written_status(ctx: Context, decision: Decision) -> str | None:
    if decision.outcome == "intake":
        return ctx.checked.verdict.status
    if decision.outcome == "correction":
        assert ctx.checked.correction is not None
        return ctx.checked.correction.verdict.status
    return None


@pytest.mark.parametrize("row", TABLE, ids=[row.case for row in TABLE])
def test_decide(row: Row) -> None:
    ctx = context(row.message, row.answers, row.known, row.auth)
    decision = decide(ctx)
    assert (decision.outcome, decision.reason, decision.reply_to is not None,
            written_status(ctx, decision), decision.forged) == (
        row.outcome, row.reason, row.answered, row.status, row.forged)
    if decision.outcome in ("correction", "note", "bounce"):
        assert decision.intake is not None and decision.intake.id == INTAKE.id
    else:
        assert decision.intake is None


def test_decide_reads_nothing_but_its_arguments() -> None:
    """The same values, the same answer, twice: nothing outside them is consulted."""
    ctx = context(REPLY, FORM, THREAD, PASS)
    assert decide(ctx) == decide(ctx)


@pytest.mark.parametrize(("message", "expected"), [
    (REFERRAL, JO),
    (referral_email(reply_to="office@school.example.org"), "office@school.example.org"),
    (CROSS_REPLY_TO, JO),  # Reply-To in another organisation: its From
])
def test_reply_address(message: bytes, expected: str) -> None:
    assert decide(context(message, FORM, Known(), NONE)).reply_to == expected


def test_a_correction_of_an_intake_in_review_is_checked_but_keeps_its_verdict_to_a_person(
        ) -> None:
    """No correction takes an intake out of manual review by itself: the check says what
    its answers would give; record files them as a proposal (record.py)."""
    ctx = context(REPLY, FORM, Known(thread_intake=REVIEW), NONE)
    assert ctx.checked.correction is not None and ctx.checked.correction.readable
