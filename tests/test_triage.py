"""The MASH triage view: which intakes, in what order, and what each line says."""

from __future__ import annotations

from datetime import UTC, date, datetime

from support import stored
from support.storefill import add_intake

from intake.config.settings_types import Settings
from intake.domain.clock import iso
from intake.ops.queue_view import TriageRow
from intake.ops.triage import (
    close_intake,
    close_received_before,
    render_show,
    render_triage,
    triage_rows,
)
from intake.store.database import Store

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)




def refs(rows: list[TriageRow]) -> list[str]:
    return [row.intake.reference for row in rows]


def test_open_intakes_urgent_first_then_oldest(store: Store, settings: Settings) -> None:
    old = add_intake(store, "2026-11-10T09:00:00+00:00", status="incomplete",
                     missing=["subject_dob"])
    newer = add_intake(store, "2026-11-18T09:00:00+00:00", status="manual_review")
    urgent_new = add_intake(store, "2026-11-19T09:00:00+00:00", status="incomplete",
                            priority="urgent", missing=["referrer_phone"])
    urgent_old = add_intake(store, "2026-11-12T09:00:00+00:00", status="manual_review",
                            priority="urgent")
    add_intake(store, "2026-11-01T09:00:00+00:00", status="complete")
    closed = add_intake(store, "2026-11-02T09:00:00+00:00", status="incomplete")
    assert close_intake(store, closed.reference, "duplicate of another referral", NOW)

    rows = triage_rows(store, settings, now=NOW)

    assert refs(rows) == [urgent_old.reference, urgent_new.reference,
                          old.reference, newer.reference]


def test_filters_by_status_priority_and_local_days(store: Store, settings: Settings) -> None:
    done = add_intake(store, "2026-11-10T09:00:00+00:00", status="complete")
    # 23:30 UTC on 30 June is 00:30 on 1 July in London (BST).
    july = add_intake(store, "2026-06-30T23:30:00+00:00", status="incomplete")
    june = add_intake(store, "2026-06-30T22:30:00+00:00", status="incomplete",
                      priority="urgent")

    assert refs(triage_rows(store, settings, status="complete", now=NOW)) == [done.reference]
    assert refs(triage_rows(store, settings, priority="urgent", now=NOW)) == [june.reference]
    assert refs(triage_rows(store, settings, since=date(2026, 7, 1), until=date(2026, 7, 1),
                            now=NOW)) == [july.reference]
    assert refs(triage_rows(store, settings, until=date(2026, 6, 30), now=NOW)) == [
        june.reference]
    assert triage_rows(store, settings, since=date(2026, 7, 2), until=date(2026, 11, 1),
                       now=NOW) == []


def test_table_shows_verdicts_and_notes_but_no_form_answers(store: Store,
                                                            settings: Settings) -> None:
    silent = add_intake(store, "2026-11-16T10:05:00+00:00", status="incomplete",
                        missing=["subject_dob", "referrer_phone"], reminders_sent=3,
                        last_reminder_at="2026-11-19T10:05:00+00:00", age_band="child")
    bounced = add_intake(store, "2026-11-17T10:00:00+00:00", status="incomplete",
                         invalid=["referrer_email"], bounced=1, folder="Junk Email")
    review = add_intake(store, "2026-11-20T08:00:00+00:00", status="manual_review",
                        age_band=None)

    rows = triage_rows(store, settings, now=NOW)
    table = render_triage(rows, now=NOW)
    lines = table.splitlines()

    assert lines[0].split() == ["Reference", "Received", "Age", "band", "Priority", "Screening",
                                "Seen", "before", "Status", "Missing", "Reminders", "Days",
                                "open", "Sender", "auth", "Note"]
    by_ref = {line.split()[0]: line for line in lines[2:] if line.startswith("PRV-")}
    assert "2026-11-16 10:05" in by_ref[silent.reference]
    assert "Date of birth, Referrer's phone" in by_ref[silent.reference]
    assert by_ref[silent.reference].rstrip().endswith("no response")
    assert "Referrer's email (invalid)" in by_ref[bounced.reference]
    assert "referrer could not be reached; junk folder" in by_ref[bounced.reference]
    assert "Scan or photo" in by_ref[review.reference]
    assert "subject_dob" not in table and "review: scan" not in table  # words, not keys
    assert [row.days_open for row in rows] == [4, 3, 0]
    assert "Okafor" not in table and "Jane" not in table
    # columns line up: every reference starts a line, the status column is aligned
    status_at = lines[0].index("Status")
    assert {line[status_at:].split()[0] for line in lines[2:5]} == {"incomplete",
                                                                    "manual_review"}


def test_no_response_only_after_the_last_reminder(store: Store, settings: Settings) -> None:
    add_intake(store, "2026-11-16T10:00:00+00:00", status="incomplete", reminders_sent=2,
               missing=["subject_dob"])
    # the referrer wrote back after the last reminder: not "no response"
    add_intake(store, "2026-11-10T10:00:00+00:00", status="incomplete", reminders_sent=3,
               last_reminder_at="2026-11-13T10:00:00+00:00",
               last_message_at="2026-11-14T10:00:00+00:00", missing=["subject_dob"])
    assert [row.note for row in triage_rows(store, settings, now=NOW)] == ["", ""]


def test_empty_view_says_so(store: Store, settings: Settings) -> None:
    assert render_triage(triage_rows(store, settings, now=NOW), now=NOW) == "No open intakes."


def test_show_prints_everything_with_the_audit_trail(store: Store, settings: Settings) -> None:
    intake = add_intake(store, "2026-07-01T09:00:00+00:00", status="incomplete",
                        missing=["referrer_phone"])
    close_intake(store, intake.reference, "passed to Channel panel", NOW)

    text = render_show(store, settings, intake.reference.lower())

    assert text is not None
    assert text.startswith(f"{intake.reference}  incomplete  normal")
    assert "Okafor" in text and "12 Catford Road, London SE6 4AA" in text
    assert "2026-07-01 10:00:00 BST" in text  # received_at, local
    assert "passed to Channel panel" in text
    audit = text.split("Audit trail")[1]
    assert [line.split()[3] for line in audit.strip().splitlines()] == ["received", "checked",
                                                                         "closed"]
    assert render_show(store, settings, "PRV-2026-99999") is None


def test_close_received_before_a_local_day_closes_the_history(store: Store,
                                                               settings: Settings) -> None:
    # 23:30 UTC on 30 June is 00:30 on 1 July in London: not before 1 July.
    june = add_intake(store, "2026-06-30T22:30:00+00:00", status="incomplete")
    july = add_intake(store, "2026-06-30T23:30:00+00:00", status="manual_review")
    done = add_intake(store, "2026-06-01T09:00:00+00:00", status="complete")
    already = add_intake(store, "2026-05-01T09:00:00+00:00", status="incomplete")
    assert close_intake(store, already.reference, "earlier", NOW)

    closed = close_received_before(store, settings, date(2026, 7, 1), "before go-live", NOW)

    assert closed == [june.reference, done.reference]
    assert refs(triage_rows(store, settings, now=NOW)) == [july.reference]
    assert stored(store, already.reference).close_reason == "earlier"
    assert stored(store, june.reference).close_reason == "before go-live"
    assert [e["event"] for e in store.audit_trail(june.id)].count("closed") == 1


def test_close_only_once(store: Store, settings: Settings) -> None:
    intake = add_intake(store, "2026-11-19T09:00:00+00:00", status="incomplete")

    assert close_intake(store, intake.reference, "no further action", NOW)
    assert not close_intake(store, intake.reference, "again", NOW)
    assert not close_intake(store, "PRV-2026-99999", "unknown", NOW)

    row = stored(store, intake.reference)
    assert iso(row.closed_at) == "2026-11-20T12:00:00+00:00"
    assert row.close_reason == "no further action"
    events = [e["event"] for e in store.audit_trail(intake.id)]
    assert events.count("closed") == 1
    assert triage_rows(store, settings, now=NOW) == []


def test_what_is_missing_is_in_the_rules_short_words_and_keys_without_rules(
        store: Store, settings: Settings) -> None:
    from support import RULES

    from intake.ops.triage import gaps

    intake = add_intake(store, "2026-11-20T08:00:00+00:00", status="manual_review",
                     missing=["form", "referrer_phone"], invalid=["referrer_email"],
                     cc_missing=["preventreferrals@met.pnn.police.uk",
                                 "mashagency@lewisham.gov.uk"], review_reason="encrypted")
    assert gaps(intake, RULES) == ["Referral form", "Referrer's phone",
                                   "Referrer's email (invalid)", "not copied in: Police, MASH",
                                   "Password-protected"]
    assert gaps(intake, RULES, recipients=False) == [
        "Referral form", "Referrer's phone", "Referrer's email (invalid)", "Password-protected"]
    assert gaps(intake) == ["form", "referrer_phone", "referrer_email (invalid)",
                            "not copied in (2)", "review: encrypted"]
    (listed,) = triage_rows(store, settings, now=NOW)
    assert listed.missing_text == ", ".join(gaps(intake, RULES))
