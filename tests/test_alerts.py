"""Who the MASH is alerted about, as data: rules/alerts.toml's triggers, and alerts_for.

alerts_for is pure: every row gives an intake's facts before and after as values
and reads the alerts planned. Then the rules file: what it ships, what it
refuses. Then through record(): a trigger turned off stops its alert.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest
from support import RULES
from support.alerting import alerts_queued, record_one, write_alerts
from support.forms import SAMPLE_VALUES
from support.mail import referral_email

from intake.config.paths import project_dir
from intake.domain.alerts import (
    DEFAULT_ACTIONS,
    AlertAction,
    AlertFacts,
    AlertRules,
    BurstRule,
    State,
    Trigger,
    alerts_for,
)
from intake.domain.errors import SettingsError
from intake.domain.models import Extraction
from intake.domain.rules import load_alert_rules, load_rules

ALERT, HOLD, NONE = AlertAction.ALERT, AlertAction.HOLD, AlertAction.NONE
SHIPPED = AlertRules()
T = Trigger

COMPLETE = State("complete", "normal")
INCOMPLETE = State("incomplete", "normal")
REVIEW = State("manual_review", "normal")
URGENT = State("complete", "urgent")
URGENT_REVIEW = State("manual_review", "urgent")
URGENT_INCOMPLETE = State("incomplete", "urgent")


def off(*triggers: Trigger) -> AlertRules:
    return AlertRules({**DEFAULT_ACTIONS, **{t: NONE for t in triggers}})


def at_once(*triggers: Trigger) -> AlertRules:
    return AlertRules({**DEFAULT_ACTIONS, **{t: ALERT for t in triggers}})


@dataclass(frozen=True)
class Row:
    case: str
    facts: AlertFacts
    alert: AlertAction
    forged: bool = False
    because: tuple[Trigger, ...] = ()
    rules: AlertRules = SHIPPED


ROWS = [
    # -- a new referral (record._new_intake) -------------------------------------------
    Row("new, complete, normal: nothing", AlertFacts(COMPLETE), NONE),
    Row("new, incomplete: nothing", AlertFacts(INCOMPLETE), NONE),
    Row("new, urgent: at once", AlertFacts(URGENT), ALERT, because=(T.URGENT,)),
    Row("new, manual review: a burst may hold it", AlertFacts(REVIEW), HOLD,
        because=(T.MANUAL_REVIEW,)),
    Row("new, urgent and manual review: at once, never held", AlertFacts(URGENT_REVIEW), ALERT,
        because=(T.URGENT, T.MANUAL_REVIEW)),
    Row("new, referred before: at once", AlertFacts(COMPLETE, raised=True), ALERT,
        because=(T.REFERRED_BEFORE,)),
    Row("new, manual review, referred before: at once", AlertFacts(REVIEW, raised=True), ALERT,
        because=(T.MANUAL_REVIEW, T.REFERRED_BEFORE)),
    # -- a retried error intake (jobs/retry.py) ------------------------------------------
    Row("retried, manual review already alerted: nothing",
        AlertFacts(REVIEW, review_alerted=True), NONE),
    Row("retried, manual review, its alert never written", AlertFacts(REVIEW), HOLD,
        because=(T.MANUAL_REVIEW,)),
    Row("retried, urgent, already alerted for review: urgent now",
        AlertFacts(URGENT_REVIEW, review_alerted=True), ALERT, because=(T.URGENT,)),
    # -- a correction, a reread, an accept (before -> after) -----------------------------
    Row("change, complete -> complete: nothing", AlertFacts(COMPLETE, before=INCOMPLETE), NONE),
    Row("change, urgent stays urgent: nothing", AlertFacts(URGENT, before=URGENT_INCOMPLETE),
        NONE),
    Row("change, newly urgent", AlertFacts(URGENT, before=INCOMPLETE), ALERT,
        because=(T.NEWLY_URGENT,)),
    Row("change, newly manual review: at once", AlertFacts(REVIEW, before=COMPLETE), ALERT,
        because=(T.NEWLY_MANUAL_REVIEW,)),
    Row("change, still in manual review: nothing", AlertFacts(REVIEW, before=REVIEW), NONE),
    Row("change, out of manual review: nothing", AlertFacts(COMPLETE, before=REVIEW), NONE),
    Row("change, urgent before, manual review after: newly manual review",
        AlertFacts(URGENT_REVIEW, before=URGENT), ALERT, because=(T.NEWLY_MANUAL_REVIEW,)),
    Row("change, newly raised (a correction, or another intake's)",
        AlertFacts(COMPLETE, before=COMPLETE, raised=True), ALERT,
        because=(T.REFERRED_BEFORE,)),
    # -- a forged correction (record._attach) --------------------------------------------
    Row("forged correction: the forged alert only",
        AlertFacts(INCOMPLETE, before=INCOMPLETE, forged=True), NONE, forged=True,
        because=(T.FORGED_CORRECTION,)),
    Row("a note, not forged: nothing", AlertFacts(INCOMPLETE, before=INCOMPLETE), NONE),
    # -- rules with a trigger off, or at once -------------------------------------------
    Row("urgent off", AlertFacts(URGENT), NONE, rules=off(T.URGENT)),
    Row("urgent off, manual review still held", AlertFacts(URGENT_REVIEW), HOLD,
        because=(T.MANUAL_REVIEW,), rules=off(T.URGENT)),
    Row("manual review off", AlertFacts(REVIEW), NONE, rules=off(T.MANUAL_REVIEW)),
    Row("manual review at once: never held", AlertFacts(REVIEW), ALERT,
        because=(T.MANUAL_REVIEW,), rules=at_once(T.MANUAL_REVIEW)),
    Row("referred before off", AlertFacts(COMPLETE, raised=True), NONE,
        rules=off(T.REFERRED_BEFORE)),
    Row("referred before off, urgent still at once", AlertFacts(URGENT, raised=True), ALERT,
        because=(T.URGENT,), rules=off(T.REFERRED_BEFORE)),
    Row("newly urgent off", AlertFacts(URGENT, before=INCOMPLETE), NONE,
        rules=off(T.NEWLY_URGENT)),
    Row("newly manual review off", AlertFacts(REVIEW, before=COMPLETE), NONE,
        rules=off(T.NEWLY_MANUAL_REVIEW)),
    Row("forged correction off", AlertFacts(INCOMPLETE, before=INCOMPLETE, forged=True), NONE,
        rules=off(T.FORGED_CORRECTION)),
    Row("all off", AlertFacts(URGENT_REVIEW, raised=True, forged=True), NONE,
        rules=off(*Trigger)),
    # -- a message the service failed on (the pipeline's error path, jobs/retry.py) -------
    Row("failed: at once", AlertFacts(REVIEW, failed=True), ALERT,
        because=(T.PROCESSING_FAILED,)),
    Row("failed, manual review off: still at once", AlertFacts(REVIEW, failed=True), ALERT,
        because=(T.PROCESSING_FAILED,), rules=off(T.MANUAL_REVIEW)),
    Row("failed, every other trigger off: still at once", AlertFacts(REVIEW, failed=True),
        ALERT, because=(T.PROCESSING_FAILED,),
        rules=off(*(t for t in Trigger if t is not T.PROCESSING_FAILED))),
    Row("failed, held by the rules: a burst may hold it", AlertFacts(REVIEW, failed=True),
        HOLD, because=(T.PROCESSING_FAILED,),
        rules=AlertRules({**DEFAULT_ACTIONS, T.PROCESSING_FAILED: HOLD})),
    Row("failed, manual review at once: not its trigger, held as processing_failed says",
        AlertFacts(REVIEW, failed=True), HOLD, because=(T.PROCESSING_FAILED,),
        rules=AlertRules({**DEFAULT_ACTIONS, T.MANUAL_REVIEW: ALERT,
                          T.PROCESSING_FAILED: HOLD})),
    Row("failed again, already alerted: nothing", AlertFacts(REVIEW, failed=True,
                                                             review_alerted=True), NONE),
    Row("failed, its words unknown: not urgent, not a review reason",
        AlertFacts(URGENT_REVIEW, failed=True), ALERT, because=(T.PROCESSING_FAILED,)),
]


@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.case)
def test_alerts_for(row: Row) -> None:
    planned = alerts_for(row.facts, row.rules)
    assert (planned.alert, planned.forged, planned.because) == (
        row.alert, row.forged, row.because)


# -- the rules file --------------------------------------------------------------------

def test_the_shipped_rules_name_every_trigger_with_its_default():
    shipped = RULES.alerts
    assert shipped.actions == DEFAULT_ACTIONS
    assert set(DEFAULT_ACTIONS) == set(Trigger)
    assert shipped.burst == BurstRule(threshold=5, minutes=10.0)
    text = (project_dir("rules") / "alerts.toml").read_text(encoding="utf-8")
    for trigger in Trigger:  # written out, so a council's copy shows every one
        assert f'\n{trigger} = "{DEFAULT_ACTIONS[trigger]}"' in text


def test_a_trigger_left_out_keeps_its_default_and_one_set_takes_effect(rules_dir):
    write_alerts(rules_dir, 'urgent = "none"\nmanual_review = "alert"')
    loaded = load_rules(rules_dir).alerts
    assert loaded.action(T.URGENT) is NONE and loaded.action(T.MANUAL_REVIEW) is ALERT
    assert loaded.action(T.FORGED_CORRECTION) is ALERT
    assert loaded.burst == BurstRule()


def test_processing_failed_may_be_held_for_a_burst(rules_dir):
    write_alerts(rules_dir, 'processing_failed = "hold"')
    assert load_rules(rules_dir).alerts.action(T.PROCESSING_FAILED) is HOLD


def test_processing_failed_none_is_one_line_that_stops_check_config(rules_dir, tmp_path,
                                                                     capsys):
    from support.settings import settings_text

    from intake.cli import main

    write_alerts(rules_dir, 'processing_failed = "none"')
    config = tmp_path / "settings.toml"
    config.write_text(settings_text(mailbox={"path": "mail", "address": None},
                                    smtp={"shadow_folder": "out"},
                                    rules={"path": str(rules_dir)}))
    assert main(["--config", str(config), "check-config"]) == 2
    said = [line for line in capsys.readouterr().err.splitlines() if "processing_failed" in line]
    assert said == ['[rules] alerts.toml triggers.processing_failed: "none" is not allowed: a '
                    "message the service failed on must reach the MASH (use alert or hold)"]


def test_without_alerts_toml_the_shipped_defaults_apply(rules_dir):
    (rules_dir / "alerts.toml").unlink()
    assert load_rules(rules_dir).alerts == AlertRules()
    assert load_alert_rules(rules_dir) == AlertRules()


@pytest.mark.parametrize(("triggers", "burst", "said"), [
    ('urgnet = "alert"', "", "unknown trigger 'urgnet' (known: urgent, manual_review,"),
    ('urgent = "yes"', "", "triggers.urgent: unknown action 'yes' (use alert, hold, none)"),
    ('urgent = true', "", "triggers.urgent: unknown action True"),
    ('urgent = "hold"', "", "triggers.urgent: only manual_review, processing_failed can be "
     "held for a burst"),
    ('processing_failed = "none"', "", 'triggers.processing_failed: "none" is not allowed: '
     "a message the service failed on must reach the MASH (use alert or hold)"),
    ('forged_correction = "hold"', "", "triggers.forged_correction: only manual_review"),
    ("", "[manual_review_burst]\nthreshold = 0", "threshold must be 1 or more"),
    ("", "[manual_review_burst]\nminutes = 'ten'", "manual_review_burst: could not convert"),
])
def test_a_wrong_alerts_toml_is_refused_at_load_saying_what(rules_dir, triggers, burst, said):
    write_alerts(rules_dir, triggers, burst)
    for load in (load_rules, load_alert_rules):
        with pytest.raises(SettingsError) as raised:
            load(rules_dir)
        assert any(said in problem for problem in raised.value.problems), raised.value.problems


def test_triggers_that_are_not_a_table_are_refused(rules_dir):
    (rules_dir / "alerts.toml").write_text('triggers = "all"\n', encoding="utf-8")
    with pytest.raises(SettingsError, match="must be a table"):
        load_rules(rules_dir)


def test_an_unknown_trigger_stops_the_worker_before_it_takes_mail(rules_dir, tmp_path,
                                                                   capsys):
    from support.settings import settings_text

    from intake.cli import main

    write_alerts(rules_dir, 'urgent = "alert"\nreferred_again = "alert"')
    (tmp_path / "mail" / "new").mkdir(parents=True)
    config = tmp_path / "settings.toml"
    config.write_text(settings_text(mailbox={"path": "mail", "address": None},
                                    smtp={"shadow_folder": "out"},
                                    rules={"path": str(rules_dir)}))
    assert main(["--config", str(config), "run", "--once"]) == 2
    assert "[rules] alerts.toml triggers: unknown trigger 'referred_again'" in (
        capsys.readouterr().err)
    assert not (tmp_path / "intake.sqlite3").exists()
    assert main(["--config", str(config), "check-config"]) == 2
    assert "unknown trigger 'referred_again'" in capsys.readouterr().err


# -- through record() ---------------------------------------------------------------

KNIFE = {**SAMPLE_VALUES, "concerns": "He has a knife and talks of an attack at school."}


CALM_INCOMPLETE = {**SAMPLE_VALUES, "referrer_phone": "",
                   "concerns": "Staff have noticed a marked change in her behaviour."}
OTHER_PERSON = {"subject_forenames": "Kwame", "subject_surname": "Mensah",
                "subject_dob": "03/04/1990"}
URGENT_FORM = Extraction("docx", dict(KNIFE), carries_form=True)
SCAN = Extraction("unsupported", review_reason="scan", carries_form=True)


@pytest.mark.parametrize(("extraction", "trigger", "subject"), [
    (URGENT_FORM, T.URGENT, "[PRV-2026-00001] Prevent referral: URGENT"),
    (SCAN, T.MANUAL_REVIEW, "[PRV-2026-00001] Prevent referral: manual review needed"),
], ids=["urgent", "manual_review"])
def test_a_trigger_turned_off_stops_its_alert_through_record(store, settings, extraction,
                                                               trigger, subject):
    shipped = record_one(store, settings, SHIPPED, referral_email(), extraction, uid=1)
    assert "alert" in shipped.queued and alerts_queued(store) == [subject]

    someone_else = replace(extraction, fields={**extraction.fields, **OTHER_PERSON}
                           if extraction.fields else {})  # not referred before
    silenced = record_one(store, settings, off(trigger),
                          referral_email(message_id="<referral-2@school.example.org>"),
                          someone_else, uid=2)
    assert silenced.outcome == "intake" and silenced.queued == ("ack",)
    assert alerts_queued(store) == [subject]  # still only the first


def test_a_correction_that_makes_it_urgent_alerts_unless_newly_urgent_is_off(store, settings):
    incomplete = Extraction("docx", CALM_INCOMPLETE, carries_form=True)
    first = record_one(store, settings, SHIPPED, referral_email(), incomplete, uid=1)
    assert first.status == "incomplete" and alerts_queued(store) == []

    def correction(number: int) -> bytes:
        return referral_email(subject=f"RE: [{first.reference}] Prevent referral received",
                              message_id=f"<correction-{number}@school.example.org>")

    quiet = record_one(store, settings, off(T.NEWLY_URGENT), correction(1), URGENT_FORM, uid=2)
    assert quiet.outcome == "correction" and "alert" not in quiet.queued
    assert alerts_queued(store) == []
    # Now urgent, and stays so: a second correction is not *newly* urgent either.
    again = record_one(store, settings, SHIPPED, correction(2), URGENT_FORM, uid=3)
    assert again.outcome == "correction" and "alert" not in again.queued


def test_with_the_shipped_rules_a_correction_that_makes_it_urgent_alerts(store, settings):
    incomplete = Extraction("docx", CALM_INCOMPLETE, carries_form=True)
    first = record_one(store, settings, SHIPPED, referral_email(), incomplete, uid=1)
    reply = referral_email(subject=f"RE: [{first.reference}] Prevent referral received",
                           message_id="<correction-1@school.example.org>")
    loud = record_one(store, settings, SHIPPED, reply, URGENT_FORM, uid=2)
    assert loud.outcome == "correction" and "alert" in loud.queued
    assert alerts_queued(store) == [f"[{first.reference}] Prevent referral: URGENT"]

