"""Typed records: a stored row reads back as the same record, and a word the code does not
know is refused instead of falling into an `else`."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage

import pytest

from intake.domain.records import (
    AgeBand,
    Intake,
    Kind,
    MessageRow,
    OutboxItem,
    Outcome,
    Priority,
    ReviewReason,
    SendStatus,
    Status,
)
from intake.mail.outbox import queue

NOW = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)



def _intake(**overrides) -> Intake:
    values = dict(
        id=0, reference="PRV-2026-00001", status=Status.MANUAL_REVIEW,
        priority=Priority.URGENT, age_band=AgeBand.CHILD, received_at=NOW,
        last_message_at=NOW, sender="jo@school.org", message_id="<a@school.org>",
        reply_to="jo@school.org", recipients=("mashagency@lewisham.gov.uk",),
        source="pdf-form", review_reason=ReviewReason.SCAN, missing=("referrer_phone",),
        invalid=("subject_dob",), cc_missing=("preventreferrals@met.pnn.police.uk",),
        urgent_because=("immediate risk",),
        findings=({"rule": "required", "field": "referrer_phone"},),
        fields={"subject_surname": "Okafor"}, field_sources={"subject_surname": "page 1"},
        reminders_sent=1, last_reminder_at=NOW, bounced=True, folder="Junk",
        created_at=NOW, updated_at=NOW,
    )
    values.update(overrides)
    return Intake(**values)


def test_an_intake_written_with_to_row_reads_back_the_same(store):
    written = _intake()
    with store.transaction():
        intake_id = store.insert("intakes", written.to_row())
    read = store.intake_by_id(intake_id)
    assert read == _intake(id=intake_id)
    assert read.status is Status.MANUAL_REVIEW and read.review_reason is ReviewReason.SCAN
    assert read.is_open


@pytest.mark.parametrize(("column", "word"), [
    ("status", "manual-review"), ("status", "closed"), ("priority", "high"),
    ("age_band", "teen"), ("review_reason", "unreadable"),
])
def test_an_unknown_word_in_an_intake_row_raises(store, column, word):
    with store.transaction():
        intake_id = store.insert("intakes", _intake().to_row() | {column: word})
    with pytest.raises(ValueError, match=word) as raised:
        store.intake_by_id(intake_id)
    # The error names the row it came from, whichever look-up met it.
    assert f"intake row {intake_id} (PRV-2026-00001)" in str(raised.value)
    with pytest.raises(ValueError, match=word):
        store.intakes()
    with pytest.raises(ValueError, match=word):
        store.intake("PRV-2026-00001")


def test_the_words_are_those_the_contract_and_the_store_use():
    assert [str(s) for s in Status] == ["complete", "incomplete", "manual_review"]
    assert {str(o) for o in Outcome} == {"intake", "correction", "note", "bounce", "ignored",
                                         "duplicate"}
    assert Status.MANUAL_REVIEW.label == "Manual review"


def _message(to: str = "jo@school.org") -> EmailMessage:
    message = EmailMessage()
    message["To"] = to
    message["Message-ID"] = "<ack-1@lewisham.gov.uk>"
    message.set_content("Thank you.")
    return message


def test_a_queued_message_reads_back_as_an_outbox_item(store):
    with store.transaction():
        outbox_id = queue(store, _message("Jo <Jo@School.org>"), kind="ack", intake_id=None,
                          now=NOW)
    (row,) = store.query("SELECT * FROM outbox WHERE id = ?", (outbox_id,))
    item = OutboxItem.from_row(row)
    assert item == OutboxItem(id=outbox_id, kind=Kind.ACK, intake_id=None,
                              recipients=("jo@school.org",), attempts=0,
                              message_id="<ack-1@lewisham.gov.uk>",
                              status=SendStatus.PENDING, queued_in=None)
    assert item.is_reply


def test_an_unknown_kind_is_refused_before_anything_is_queued(store):
    with store.transaction(), pytest.raises(ValueError, match="acknowledgement"):
        queue(store, _message(), kind="acknowledgement", intake_id=None, now=NOW)
    assert store.query("SELECT COUNT(*) FROM outbox")[0][0] == 0


def test_a_recipients_column_that_is_not_a_list_is_refused():
    row = {"id": 1, "kind": "ack", "recipients": '"jo@school.org"'}
    with pytest.raises(ValueError, match="JSON list"):
        OutboxItem.from_row(row)


def test_a_message_row_reads_its_outcome(store):
    with store.transaction():
        row_id = store.insert("messages", {
            "folder": "INBOX", "uidvalidity": 7, "uid": 3, "message_id": "<m@x>",
            "content_hash": "abc", "sender": "jo@school.org", "received_at": NOW,
            "recorded_at": NOW, "outcome": "note", "reason": "reply from someone else",
        })
    (row,) = store.query("SELECT * FROM messages WHERE id = ?", (row_id,))
    message = MessageRow.from_row(row)
    assert message.outcome is Outcome.NOTE and message.uid == 3 and not message.marked
    with store.transaction():
        store.update("messages", row_id, {"outcome": "spam"})
    (row,) = store.query("SELECT * FROM messages WHERE id = ?", (row_id,))
    with pytest.raises(ValueError, match="spam"):
        MessageRow.from_row(row)


def test_a_decision_takes_only_a_known_outcome():
    from intake.domain.decide import Decision

    assert Decision("note").outcome is Outcome.NOTE
    with pytest.raises(ValueError, match="merged"):
        Decision("merged")


def test_the_reference_format_is_spelled_once():
    import re

    from intake.domain import classify
    from intake.domain.records import REFERENCE_PATTERN, format_reference
    from intake.web import views

    assert format_reference(2026, 7) == "PRV-2026-00007"
    assert re.fullmatch(REFERENCE_PATTERN, format_reference(2026, 99999))
    assert views.REFERENCE.pattern == REFERENCE_PATTERN
    assert REFERENCE_PATTERN in classify.REFERENCE.pattern
