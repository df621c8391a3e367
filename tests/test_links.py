"""Links in the store: recorded with both audit trails, re-evaluated when an intake's
answers change, raised only within the rules' window, and reduced by purge."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime

from support.settings import make_settings
from support.storefill import FIELDS, add_intake

from intake.domain.matching import load_match_rules
from intake.domain.records import Intake, Priority, Status
from intake.mail.compose import Composer
from intake.store import links
from intake.store.followup import on_purge

RULES = load_match_rules()
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
RECEIVED = datetime(2026, 11, 1, 10, 0, tzinfo=UTC)



def readable(message) -> str:
    """The headers and every decoded text part: what a recipient reads."""
    return "\n".join([f"{k}: {v}" for k, v in message.items()] + [
        part.get_content() for part in message.walk() if part.get_content_maintype() == "text"])


def relink(store, intake):
    with store.transaction():
        return links.relink(store, intake.id, RULES, NOW)


def events(store, intake, name):
    return [json.loads(row["detail"]) for row in store.audit_trail(intake.id)
            if row["event"] == name]


def test_a_link_is_recorded_once_in_both_audit_trails(store):
    first = add_intake(store, "2026-03-01T10:00:00+00:00")
    second = add_intake(store, "2026-11-01T10:00:00+00:00",
                        fields={**FIELDS, "subject_surname": "OKAFOR"})
    changes = relink(store, second)
    assert changes.added == (first.id,) and changes.newly_raised == {second.id}
    assert relink(store, second).added == ()  # nothing twice
    assert links.earlier_references(store) == {second.id: [first.reference]}
    (mine,) = events(store, second, "linked")
    (theirs,) = events(store, first, "linked")
    assert mine["other"] == first.reference and mine["other_is"] == "earlier"
    assert theirs["other"] == second.reference and theirs["other_is"] == "later"
    assert mine["strength"] == "same"
    # keys only: no answer in the audit
    assert "Okafor" not in json.dumps(mine) and "1990" not in json.dumps(mine)


def test_an_earlier_intake_beyond_the_window_is_linked_but_does_not_raise(store):
    add_intake(store, "2024-01-01T10:00:00+00:00")
    second = add_intake(store, "2026-11-01T10:00:00+00:00")
    changes = relink(store, second)
    assert changes.added and not changes.newly_raised
    assert links.raised_ids(store, RULES) == set()


def test_a_correction_that_gives_the_date_of_birth_links_then_a_wrong_one_unlinks(store):
    first = add_intake(store, "2026-10-01T10:00:00+00:00")
    second = add_intake(store, "2026-11-01T10:00:00+00:00",
                        fields={**FIELDS, "subject_dob": ""})
    assert relink(store, second).added == ()
    with store.transaction():
        store.update("intakes", second.id, {"fields": FIELDS})
    assert relink(store, second).added == (first.id,)
    with store.transaction():
        store.update("intakes", second.id, {"fields": {**FIELDS, "subject_dob": "1/1/2001"}})
    assert relink(store, second).removed == (first.id,)
    assert links.earlier_references(store) == {}
    assert [e["other"] for e in events(store, first, "unlinked")] == [second.reference]


def test_a_correction_of_the_earlier_intake_raises_the_later_one(store):
    first = add_intake(store, "2026-10-01T10:00:00+00:00",
                       fields={**FIELDS, "subject_dob": ""})
    second = add_intake(store, "2026-11-01T10:00:00+00:00")
    relink(store, second)
    with store.transaction():
        store.update("intakes", first.id, {"fields": FIELDS})
    changes = relink(store, first)
    assert changes.newly_raised == {second.id}
    assert links.earlier_references(store) == {second.id: [first.reference]}


def test_twins_link_as_possible_and_a_namesake_not_at_all(store):
    add_intake(store, "2026-10-01T10:00:00+00:00")
    twin = add_intake(store, "2026-10-02T10:00:00+00:00",
                      fields={**FIELDS, "subject_forenames": "Joy"})
    namesake = add_intake(store, "2026-10-03T10:00:00+00:00",
                          fields={**FIELDS, "subject_dob": "14/03/1991"})
    relink(store, twin)
    assert relink(store, namesake).added == ()
    (link,) = links.linked(store, twin.id)
    assert (link.side, link.strength) == ("earlier", "possible")


def test_purge_leaves_only_the_two_references_and_matching_no_longer_sees_it(store):
    first = add_intake(store, "2026-01-01T10:00:00+00:00")
    second = add_intake(store, "2026-02-01T10:00:00+00:00")
    relink(store, second)
    with store.transaction():
        store.conn.execute("INSERT INTO screening (intake_id, due_at, working_hours, "
                           "screened_at, screened_by, outcome, stopped_by) VALUES "
                           "(?, ?, 24, ?, 'A. Duty', 'told her mother', 'triaged')",
                           (first.id, "2026-01-05T10:00:00+00:00", "2026-01-02T10:00:00+00:00"))
        store.update("intakes", first.id, {"fields": {}, "purged_at": NOW})
        on_purge(store, first.id)
    assert store.query("SELECT outcome FROM screening")[0][0] is None  # free text erased
    (link,) = links.linked(store, second.id)
    assert link.reference == first.reference
    assert (link.strength, link.rule, link.fields) == (None, None, ())
    assert relink(store, second).removed == ()  # kept: it cannot be compared any more
    third = add_intake(store, "2026-03-01T10:00:00+00:00")
    relink(store, third)
    assert links.earlier_references(store)[third.id] == [second.reference]


def test_no_reply_to_a_referrer_mentions_an_earlier_referral(tmp_path):
    composer = Composer(make_settings(tmp_path))
    intake = Intake(id=2, reference="PRV-2026-00002", received_at=RECEIVED,
                    last_message_at=RECEIVED, status=Status.INCOMPLETE,
                    priority=Priority.NORMAL, age_band=None,
                    reply_to="s.teacher@hillyfields.example.org", missing=("referrer_phone",))
    # The earlier references reach the alert only as its own argument: no reply takes one.
    for message in (composer.acknowledgement(intake), composer.reminder(intake, 1),
                    composer.acknowledgement(intake, correction=True)):
        assert "PRV-2026-00001" not in readable(message)
    alert = composer.alert(replace(intake, status=Status.COMPLETE),
                           earlier_referrals=("PRV-2026-00001",))
    assert "PRV-2026-00001" in readable(alert)
    assert "referred before" in str(alert["Subject"])
