"""check(): missing, invalid, recipients, status, age band and priority, as the MASH sees them."""

from __future__ import annotations

from dataclasses import asdict, replace
from datetime import UTC, date, datetime

import pytest
from support import RULES
from support.mail import referral_email

from intake.config.paths import project_dir
from intake.domain.check import check, parse_date
from intake.domain.models import Extraction, Finding
from intake.mail.compose import template_env
from intake.mail.finding_words import FindingWords
from intake.mail.parse import parse

RECEIVED = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
MAILBOX = "prevent@lewisham.gov.uk"
FORM = Extraction(source="docx", carries_form=True, filename="form.docx")
FULL = {
    "subject_forenames": "Sam",
    "subject_surname": "Example",
    "subject_dob": "14/03/2010",
    "subject_address": "1 High Street, London SE13",
    "concerns": "Has been sharing extremist videos with classmates.",
    "individual_aware": "No",
    "referrer_name": "Jo Teacher",
    "referrer_role": "Designated Safeguarding Lead, Example School",
    "referrer_phone": "020 7946 0000",
    "referrer_email": "jo.teacher@school.example.org",
}
WORDS = FindingWords(template_env(project_dir("templates")), None)


def said(finding: Finding) -> str:
    """A finding as the shipped templates/_findings.j2 says it."""
    return WORDS.sentence(asdict(finding))
EMAIL = parse(referral_email())


def run(fields=None, extraction=FORM, email=EMAIL, received=RECEIVED, **kwargs):
    answers = FULL if fields is None else fields
    return check(answers, extraction, email, received, RULES, mailbox_address=MAILBOX, **kwargs)


def changed(**answers):
    return {**FULL, **answers}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("14/03/2010", date(2010, 3, 14)),
        ("4/3/2010", date(2010, 3, 4)),
        ("14.03.2010", date(2010, 3, 14)),
        ("14-03-2010", date(2010, 3, 14)),
        ("14 03 2010", date(2010, 3, 14)),
        (" 14 / 03 / 2010 ", date(2010, 3, 14)),
        ("2010-03-14", date(2010, 3, 14)),
        ("14 March 2010", date(2010, 3, 14)),
        ("14th March 2010", date(2010, 3, 14)),
        ("1 Sept 2010", date(2010, 9, 1)),
        ("14 mar 2010", date(2010, 3, 14)),
        ("29/02/2012", date(2012, 2, 29)),
        ("29/02/2011", None),  # not a real day
        ("31/04/2010", None),
        ("14/13/2010", None),  # day first: no 13th month
        ("14/03/10", None),  # two-digit years are invalid
        ("14 March 10", None),
        ("14/03-2010", None),  # mixed separators
        ("March 14 2010", None),
        ("14 Smarch 2010", None),
        ("２０１０-03-14", None),  # full-width digits
        ("", None),
        ("unknown", None),
    ],
)
def test_parse_date(text, expected):
    assert parse_date(text) == expected


def test_a_full_form_correctly_addressed_is_complete():
    verdict = run()
    assert verdict.status == "complete"
    assert (verdict.missing, verdict.invalid, verdict.cc_missing, verdict.findings) == ((),) * 4
    assert (verdict.priority, verdict.age_band) == ("normal", "child")


@pytest.mark.parametrize("key", RULES.required_keys)
def test_each_required_field_missing_makes_it_incomplete(key):
    verdict = run({k: v for k, v in FULL.items() if k != key})
    assert verdict.missing == (key,)
    assert verdict.status == "incomplete"
    [finding] = verdict.findings
    assert (finding.rule, finding.field, finding.label) == ("required", key, RULES.field(key).label)
    assert (finding.code, finding.values) == ("required", {})
    assert said(finding) == f"Not given: {RULES.field(key).label}"


@pytest.mark.parametrize(
    ("value", "missing"),
    [
        ("", True),
        ("   \n ", True),
        ("-", True),
        ("Click or tap here to enter text.", True),
        ("click  or tap here to enter text.", True),
        ("N/A", False),
        ("Not known", False),
    ],
)
def test_placeholders_are_not_answers(value, missing):
    verdict = run(changed(subject_address=value))
    assert ("subject_address" in verdict.missing) is missing


def test_finding_wording_uses_the_form_s_own_labels():
    verdict = run(changed(subject_surname="", subject_dob="31/02/2010"))
    assert [said(f) for f in verdict.findings] == [
        "Not given: Surname",
        "Not a valid date: Date of Birth (DD/MM/YYYY)",
    ]


@pytest.mark.parametrize(
    ("dob", "invalid"),
    [
        ("14/03/2010", False),
        ("02/03/2026", False),  # born the day received
        ("03/03/2026", True),  # after the day received
        ("02/03/1906", False),  # exactly 120 years
        ("01/03/1906", True),  # over 120 years
        ("14/03/10", True),
        ("31/02/2010", True),
        ("sometime in 2010", True),
    ],
)
def test_date_of_birth_checks(dob, invalid):
    verdict = run(changed(subject_dob=dob))
    assert ("subject_dob" in verdict.invalid) is invalid
    assert (verdict.status == "incomplete") is invalid
    assert all(f.rule == "date-of-birth" for f in verdict.findings)


@pytest.mark.parametrize(
    ("email", "invalid"),
    [
        ("jo.teacher@school.example.org", False),
        ("  Jo.Teacher@School.Example.ORG ", False),
        ("jo.teacher@school", True),
        ("jo.teacher", True),
        ("jo teacher@school.example.org", True),
        ("jo@@school.example.org", True),
    ],
)
def test_referrer_email_is_checked_without_dns(email, invalid):
    assert ("referrer_email" in run(changed(referrer_email=email)).invalid) is invalid


@pytest.mark.parametrize(
    ("answer", "outcome"),
    [
        ("Yes", "ok"),
        ("no", "ok"),
        ("Yes - discussed with parent", "ok"),
        ("Yes/No", "invalid"),  # the question's own hint left in
        ("Maybe", "invalid"),
        ("N/A", "invalid"),
        ("Not yet", "invalid"),
        ("", "missing"),
        ("Choose an item.", "missing"),
    ],
)
def test_individual_aware_must_be_yes_or_no(answer, outcome):
    verdict = run(changed(individual_aware=answer))
    assert ("individual_aware" in verdict.invalid) is (outcome == "invalid")
    assert ("individual_aware" in verdict.missing) is (outcome == "missing")


@pytest.mark.parametrize(("value", "invalid"), [("", False), ("02/03/2026", False),
                                                 ("yesterday", True)])
def test_referral_date_is_checked_only_when_given(value, invalid):
    verdict = run(changed(referral_date=value))
    assert ("referral_date" in verdict.invalid) is invalid
    assert "referral_date" not in verdict.missing


@pytest.mark.parametrize(
    ("to", "cc", "extra", "gap"),
    [
        (["preventreferrals@met.pnn.police.uk"], ["mashagency@lewisham.gov.uk"], [], []),
        (["Police <PreventReferrals@MET.pnn.police.uk>"], ["MASH <MASHAgency@Lewisham.gov.uk>"],
         [], []),
        (["preventreferrals@met.pnn.police.uk"], [], [], ["mashagency@lewisham.gov.uk"]),
        ([], ["mashagency@lewisham.gov.uk"], [], ["preventreferrals@met.pnn.police.uk"]),
        ([], [], ["preventreferrals@met.pnn.police.uk", "mashagency@lewisham.gov.uk"], []),
        (["someone@else.org"], [], [],
         ["preventreferrals@met.pnn.police.uk", "mashagency@lewisham.gov.uk"]),
    ],
)
def test_recipients_gap(to, cc, extra, gap):
    # prevent@lewisham.gov.uk is the mailbox read: it counts as present even when Bcc'd
    verdict = run(email=parse(referral_email(to=to, cc=cc)), extra_recipients=extra)
    assert list(verdict.cc_missing) == gap
    assert verdict.status == ("incomplete" if gap else "complete")
    assert [(f.rule, f.field, f.label) for f in verdict.findings] == [
        ("recipients", address, address) for address in gap]


def test_the_mailbox_address_counts_only_for_itself():
    email = parse(referral_email(to=[], cc=[]))
    mailbox = "MASHAgency@lewisham.gov.uk"
    verdict = check(FULL, FORM, email, RECEIVED, RULES, mailbox_address=mailbox)
    assert verdict.cc_missing == ("preventreferrals@met.pnn.police.uk", "prevent@lewisham.gov.uk")


@pytest.mark.parametrize(
    ("fields", "to"),
    [
        (changed(subject_surname=""), None),
        (changed(subject_dob="31/02/2010"), None),
        (changed(referrer_email="nobody"), None),
        (changed(individual_aware="Maybe"), None),
        (FULL, ["someone@else.org"]),
    ],
)
def test_never_complete_with_anything_missing_invalid_or_uncopied(fields, to):
    email = EMAIL if to is None else parse(referral_email(to=to, cc=[]))
    assert run(fields, email=email).status == "incomplete"


def test_no_form_is_incomplete_with_form_missing():
    verdict = run({}, extraction=Extraction(source="none"))
    assert (verdict.status, verdict.missing, verdict.invalid) == ("incomplete", ("form",), ())
    assert verdict.findings[0].rule == "form"


@pytest.mark.parametrize("reason", ["scan", "encrypted", "damaged", "too-large", "timeout"])
def test_an_unreadable_form_goes_to_manual_review(reason):
    extraction = Extraction(source="pdf-text", carries_form=True, review_reason=reason)
    verdict = run({}, extraction=extraction)
    assert (verdict.status, verdict.missing, verdict.invalid) == ("manual_review", (), ())


@pytest.mark.parametrize(
    ("dob", "band"),
    [
        ("03/03/2008", "child"),  # 18 tomorrow
        ("02/03/2008", "adult"),  # 18th birthday today
        ("01/03/2008", "adult"),
        ("29/02/2008", "adult"),  # a leap-day birthday: 18 on 1 March 2026 at the latest
        ("02/03/2026", "child"),
        ("31/02/2008", None),
        ("03/03/2026", None),  # in the future: not a valid date of birth
        ("", None),
    ],
)
def test_age_band_on_the_day_received(dob, band):
    assert run(changed(subject_dob=dob)).age_band == band


def test_age_band_of_a_leap_day_birthday_before_1_march():
    received = datetime(2026, 2, 28, 12, tzinfo=UTC)
    assert run(changed(subject_dob="29/02/2008"), received=received).age_band == "child"


def test_the_age_of_majority_and_the_oldest_age_are_rules_not_code():
    """fields.toml [ages]: 18 and 120 by default; a council's own values change the outcome."""
    assert (RULES.adult_age, RULES.max_age_years) == (18, 120)
    sixteen = changed(subject_dob="02/03/2010")  # 16 on the day received
    assert run(sixteen).age_band == "child"
    at_sixteen = replace(RULES, adult_age=16)
    verdict = check(sixteen, FORM, EMAIL, RECEIVED, at_sixteen, mailbox_address=MAILBOX)
    assert verdict.age_band == "adult"

    old = changed(subject_dob="01/03/1936")  # 90 years and a day
    assert "subject_dob" not in run(old).invalid
    at_ninety = replace(RULES, max_age_years=90)
    verdict = check(old, FORM, EMAIL, RECEIVED, at_ninety, mailbox_address=MAILBOX)
    assert verdict.invalid == ("subject_dob",) and verdict.age_band is None
    assert [(f.code, f.values) for f in verdict.findings] == [("too-old", {"years": 90})]
    assert [said(f) for f in verdict.findings] == [
        "Date is more than 90 years ago: Date of Birth (DD/MM/YYYY)"]


@pytest.mark.parametrize(
    ("field", "text", "because"),
    [
        ("concerns", "He plans to attack his school.", ("attack",)),
        ("concerns", "He follows attackers online.", ()),
        ("concerns", "Was seen with KNIVES and a knife.", ("knife", "knives")),
        ("concerns", "Made threats  to\nkill a teacher.", ("kill", "threats to kill")),
        ("concerns", "Spoke about bombs.", ("bombs",)),
        ("concerns", "Watches killings in games.", ()),
        ("complex_needs", "Has access to a gun at home.", ("gun",)),
        ("other_information", "Brother has firearms.", ("firearms",)),
        ("subject_address", "1 Gun Street", ()),  # not an urgency field
        ("concerns", "Talks about weaponry.", ()),
    ],
)
def test_urgency_phrases_match_whole_words_in_urgency_fields(field, text, because):
    verdict = run(changed(**{field: text}))
    assert set(verdict.urgent_because) == set(because)
    assert verdict.priority == ("urgent" if because else "normal")


@pytest.mark.parametrize(
    ("subject", "body"),
    [("URGENT: planned attack - Prevent referral", "x"), ("Prevent referral", "He has a bomb.")],
)
def test_urgency_phrases_in_the_email_subject_and_body(subject, body):
    email = parse(referral_email(subject=subject, body=body))
    assert run(email=email).priority == "urgent"
    assert run({}, extraction=Extraction(source="none"), email=email).priority == "urgent"
