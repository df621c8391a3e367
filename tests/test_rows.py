"""rows.py, the one writer of message and intake rows: what it hands on from memory
is what a read back of the row gives, so replies and alerts built from it say what
the store says."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from support.forms import SAMPLE_VALUES

from intake.domain.models import Finding, ParsedEmail, RawMessage
from intake.domain.records import AgeBand, Priority, Status
from intake.store.database import Store
from intake.store.rows import insert_intake, insert_message, update_intake

NOW = datetime(2026, 11, 20, 9, 5, 30, 123456, tzinfo=UTC)
RAW = RawMessage("INBOX", 1, 10, datetime(2026, 11, 20, 9, 0, tzinfo=UTC), b"x", 1)
EMAIL = ParsedEmail("<r-1@school.example.org>", "Prevent referral", "jo@school.example.org",
                    (), None, ("preventreferrals@met.pnn.police.uk",), (), (), (), (),
                    "text/plain", "", ())


def test_a_new_intake_in_memory_is_its_row_read_back(store: Store) -> None:
    columns = {
        "status": Status.INCOMPLETE, "missing": ["subject_surname"], "invalid": [],
        "cc_missing": ["prevent@lewisham.gov.uk"], "age_band": AgeBand.CHILD,
        "findings": [vars(Finding("required", "subject_surname", "Surname", code="required"))],
        "reply_to": "jo@school.example.org", "fields": {"z": "1", **SAMPLE_VALUES},
        "field_sources": {"subject_dob": "table 1"}, "recipients": ["b@x", "a@x"],
        "priority": Priority.URGENT, "urgent_because": ["knife"], "source": "docx",
        "review_reason": None, "machine_reason": None, "sender_auth": "pass",
        "first_referrer_email": "l.nowak@prendergast.example.org",
    }
    with store.transaction():
        row = insert_message(store, RAW, EMAIL, "h", outcome="intake", reason=None,
                             kept=b"x", sender_auth="pass", now=NOW)
        intake = insert_intake(store, RAW, EMAIL, row, columns, folder=None, now=NOW)
        assert intake == store.intake_by_id(intake.id)
        later = update_intake(store, intake, {"status": Status.COMPLETE, "missing": [],
                                              "bounced": True, "updated_at": NOW})
        assert later == store.intake_by_id(intake.id)
    (linked,) = store.query("SELECT intake_id FROM messages WHERE id = ?", (row,))[0]
    assert (intake.reference, linked) == ("PRV-2026-00001", intake.id)


def test_the_error_path_intake_gets_every_column_too(store: Store) -> None:
    with store.transaction():
        row = insert_message(store, RAW, EMAIL, "h", outcome="intake", reason="error",
                             kept=b"x", sender_auth=None, now=NOW)
        intake = insert_intake(store, RAW, EMAIL, row, {
            "status": "manual_review", "review_reason": "error", "source": "none"},
            folder=None, now=NOW)
        assert intake == store.intake_by_id(intake.id)
    assert store.query("SELECT sender_auth FROM messages WHERE id = ?", (row,))[0][0] is None


def test_a_change_to_a_column_the_intakes_table_has_not_is_refused(store: Store) -> None:
    with store.transaction():
        row = insert_message(store, RAW, EMAIL, "h", outcome="intake", reason=None,
                             kept=b"x", sender_auth=None, now=NOW)
        intake = insert_intake(store, RAW, EMAIL, row, {"status": Status.INCOMPLETE},
                               folder=None, now=NOW)
        with pytest.raises(ValueError, match="no intakes column 'earlier_referrals'"):
            update_intake(store, intake, {"earlier_referrals": ["PRV-2026-00002"]})
        assert store.intake_by_id(intake.id) == intake
