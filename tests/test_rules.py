"""rules/*.toml: every file parses, every row names something that exists, the spec is covered."""

from __future__ import annotations

import re
import shutil
import tomllib

import pytest
from email_validator import validate_email
from support import RULES

from intake.config.paths import project_dir
from intake.domain import check
from intake.domain.errors import SettingsError
from intake.domain.records import ReviewReason
from intake.domain.rules import VALIDATORS, load_rules

RULES_DIR = project_dir("rules")

# referral-form.md, "Fields": key -> (section title, label on the national form, required)
SPEC_FIELDS = {
    "subject_forenames": ("Individual's details", "Forename(s)", True),
    "subject_surname": ("Individual's details", "Surname", True),
    "subject_dob": ("Individual's details", "Date of Birth (DD/MM/YYYY)", True),
    "subject_gender": ("Individual's details", "Gender", False),
    "subject_address": ("Individual's details", "Known Address(es)", True),
    "subject_nationality": ("Individual's details", "Nationality / Citizenship", False),
    "subject_language": ("Individual's details", "Primary Language", False),
    "subject_phone": ("Individual's details", "Contact Number", False),
    "concerns": ("Describe concerns", None, True),
    "complex_needs": ("Complex needs", None, False),
    "other_information": ("Other information", None, False),
    "individual_aware": ("Consent", "Is the individual aware of this referral? (Yes/No)", True),
    "referrer_name": ("Referrer details", "Name", True),
    "referrer_role": ("Referrer details", "Professional Role & Organisation", True),
    "referrer_relationship": ("Referrer details", "Relationship to Individual", False),
    "referrer_phone": ("Referrer details", "Contact Telephone Number", True),
    "referrer_email": ("Referrer details", "Email Address", True),
    "referral_date": ("Referrer details", "Date of Referral", False),
}
REVIEW_REASONS = {"scan", "encrypted", "damaged", "too-large", "timeout", "unsupported",
                  "not-recognised", "several-forms", "encrypted-email"}


@pytest.mark.parametrize("path", sorted(RULES_DIR.glob("*.toml")), ids=lambda p: p.name)
def test_every_rules_file_parses(path):
    with path.open("rb") as handle:
        assert tomllib.load(handle)


def test_every_field_names_a_known_validator_and_section():
    sections = {section.key for section in RULES.sections}
    for rule in RULES.fields:
        assert rule.validator in VALIDATORS and rule.validator in check.VALIDATORS, rule.key
        assert rule.section in sections, rule.key
    assert set(check.VALIDATORS) == set(VALIDATORS)


def test_the_spec_s_fields_are_all_there_with_their_labels_and_required_flags():
    titles = {section.key: section.title for section in RULES.sections}
    keys = [rule.key for rule in RULES.fields]
    assert len(keys) == len(set(keys))
    for key, (section, label, required) in SPEC_FIELDS.items():
        rule = RULES.field(key)
        assert titles[rule.section] == section, key
        assert rule.required is required, key
        if label is not None:
            assert rule.label == label, key


def _norm(text: str) -> str:
    text = re.sub(r"\([^)]*\)", "", text.lower())
    return " ".join(re.sub(r"[^\w\s]", " ", text).split())


def test_no_wording_is_shared_by_two_fields_of_one_section():
    for section in RULES.sections:
        seen: dict[str, str] = {}
        for rule in (r for r in RULES.fields if r.section == section.key):
            for wording in rule.wordings:
                assert seen.setdefault(_norm(wording), rule.key) == rule.key, wording


def test_placeholders_are_lower_case_and_n_a_is_an_answer():
    assert "" in RULES.placeholders
    assert "n/a" not in RULES.placeholders
    assert all(p == p.lower().strip() for p in RULES.placeholders)


def test_required_recipients_are_valid_lower_case_addresses():
    assert set(RULES.required_recipients) == {
        "preventreferrals@met.pnn.police.uk", "mashagency@lewisham.gov.uk",
        "prevent@lewisham.gov.uk"}
    for address in RULES.required_recipients:
        assert validate_email(address, check_deliverability=False).normalized.lower() == address


def test_urgency_phrases_cover_each_inflection_the_spec_names():
    phrases = RULES.urgency_phrases
    assert len(phrases) == len(set(phrases))
    assert all(p == p.lower() and p == " ".join(p.split()) and p for p in phrases)
    for word in ("attack", "knife", "knives", "bomb", "bombs", "explosive", "explosives", "kill",
                 "killing", "weapon", "weapons", "gun", "guns"):
        assert word in phrases
    assert "attackers" not in phrases
    field_keys = {rule.key for rule in RULES.fields}
    assert set(RULES.urgency_fields) == {"concerns", "complex_needs", "other_information"}
    assert set(RULES.urgency_fields) <= field_keys


def test_referral_phrases_are_there():
    assert "prevent referral" in RULES.referral_subject_phrases
    assert RULES.referral_body_phrases


@pytest.mark.parametrize(
    "header",
    ["auto-submitted", "x-autoreply", "x-autorespond", "x-auto-response-suppress", "precedence",
     "list-id", "list-unsubscribe", "x-loop"],
)
def test_each_machine_header_of_the_spec_has_a_rule(header):
    assert any(rule.name == header and rule.reason for rule in RULES.machine_headers)


@pytest.mark.parametrize(
    ("header", "value", "machine"),
    [("auto-submitted", "no", False), ("auto-submitted", "NO", False),
     ("auto-submitted", "auto-replied", True), ("precedence", "bulk", True),
     ("precedence", "bulky", False), ("x-auto-response-suppress", "OOF", True),
     ("x-auto-response-suppress", "RN, NRN", False)],
)
def test_machine_header_patterns(header, value, machine):
    rules = [rule for rule in RULES.machine_headers if rule.name == header]
    assert any(rule.pattern.fullmatch(value) for rule in rules) is machine


@pytest.mark.parametrize(
    ("local", "machine"),
    [("mailer-daemon", True), ("postmaster", True), ("owner-list", True), ("list-request", True),
     ("no-reply", True), ("noreply", True), ("jo.teacher", False), ("requester", False)],
)
def test_machine_sender_patterns(local, machine):
    assert any(p.fullmatch(local) for p in RULES.machine_senders) is machine


def test_form_and_review_types_are_well_formed():
    for extension, kind in RULES.form_types.items():
        assert extension.startswith(".") and extension == extension.lower()
        assert kind in ("pdf", "docx", "doc", "odt", "rtf")
    for extension, reason in RULES.review_types.items():
        assert extension.startswith(".") and extension == extension.lower()
        assert reason in REVIEW_REASONS
    assert not set(RULES.form_types) & set(RULES.review_types)
    for content_type, kind in RULES.content_types.items():
        assert content_type == content_type.lower() and "/" in content_type
        assert kind in {"pdf", "docx", "doc", "odt", "rtf"} | REVIEW_REASONS
    assert RULES.min_labels_found >= 1 and RULES.min_image_bytes >= 0


def test_referral_settings_are_top_level_keys_not_swallowed_by_a_table():
    with (RULES_DIR / "referral.toml").open("rb") as handle:
        raw = tomllib.load(handle)
    assert isinstance(raw["min_labels_found"], int) and isinstance(raw["min_image_bytes"], int)
    assert all(isinstance(kind, str) for table in ("form_types", "review_types", "content_types")
               for kind in raw[table].values())


def test_a_broken_rules_file_is_refused_with_one_line_per_problem(tmp_path):
    directory = tmp_path / "rules"
    shutil.copytree(RULES_DIR, directory)
    fields = directory / "fields.toml"
    text = fields.read_text(encoding="utf-8")
    text = text.replace('validator = "email"', 'validator = "e-mail"')
    text = text.replace('section = "consent"', 'section = "agreement"')
    fields.write_text(text, encoding="utf-8")
    with pytest.raises(SettingsError) as caught:
        load_rules(directory)
    assert len(caught.value.problems) == 2
    assert all(problem.startswith("[rules] fields.toml") for problem in caught.value.problems)


def test_the_ages_are_read_from_fields_toml_and_a_bad_one_is_refused(tmp_path):
    with (RULES_DIR / "fields.toml").open("rb") as handle:
        assert tomllib.load(handle)["ages"] == {"adult_age": 18, "max_age_years": 120}
    directory = tmp_path / "rules"
    shutil.copytree(RULES_DIR, directory)
    fields = directory / "fields.toml"
    text = fields.read_text(encoding="utf-8")
    fields.write_text(text.replace("adult_age = 18", "adult_age = 16"), encoding="utf-8")
    assert (load_rules(directory).adult_age, load_rules(directory).max_age_years) == (16, 120)
    fields.write_text(text.replace("max_age_years = 120", 'max_age_years = "old"'),
                      encoding="utf-8")
    with pytest.raises(SettingsError) as caught:
        load_rules(directory)
    assert caught.value.problems == [
        "[rules] fields.toml [ages] max_age_years: a whole number of years above 0, not 'old'"]
    without = text.replace("[ages]\nadult_age = 18\nmax_age_years = 120\n", "")
    assert "[ages]" not in without
    fields.write_text(without, encoding="utf-8")
    assert (load_rules(directory).adult_age, load_rules(directory).max_age_years) == (18, 120)


# -- short words for the MASH's lists (the queue, `intake triage`, the digest) -----------

def test_every_field_has_a_short_name_that_is_not_its_key():
    for rule in RULES.fields:
        assert rule.short and rule.name == rule.short, rule.key
        assert rule.short != rule.key and "_" not in rule.short
        assert len(rule.short) <= 24, rule.key  # the queue must fit 1280 px
    names = [rule.name for rule in RULES.fields]
    assert len(set(names)) == len(names)  # no two fields called alike
    assert RULES.field_name("referrer_phone") == "Referrer's phone"
    assert RULES.field_name("subject_dob") == "Date of birth"
    assert RULES.field_name("form") == "Referral form"


def test_a_field_without_a_short_name_is_called_by_its_label():
    from intake.domain.rules import FieldRule

    rule = FieldRule("subject_gender", "subject", "Gender", (), False, "text")
    assert rule.name == "Gender"


def test_every_required_address_and_every_review_reason_has_a_short_name():
    assert {RULES.recipient_name(a) for a in RULES.required_recipients} == {
        "Police", "MASH", "Prevent team"}
    assert RULES.recipient_name("MASHagency@Lewisham.gov.uk") == "MASH"
    assert RULES.recipient_name("someone@else.example.org") == "someone@else.example.org"
    assert set(RULES.review_reason_names) == {reason.value for reason in ReviewReason}
    assert RULES.reason_name("scan") == "Scan or photo"
    assert RULES.reason_name("error") == "Processing failed"


@pytest.mark.parametrize(("name", "old", "new", "said"), [
    ("recipients.toml", '"mashagency@lewisham.gov.uk" = "MASH"',
     '"mash@lewisham.gov.uk" = "MASH"',
     "[rules] recipients.toml [names] 'mash@lewisham.gov.uk': not a required address "
     "(known: mashagency@lewisham.gov.uk, prevent@lewisham.gov.uk, "
     "preventreferrals@met.pnn.police.uk)"),
    ("recipients.toml", '= "Police"', '= ""',
     "[rules] recipients.toml [names] 'preventreferrals@met.pnn.police.uk': must be text, "
     "not ''"),
    ("referral.toml", '"scan" = "Scan or photo"', '"scanned" = "Scan or photo"',
     "[rules] referral.toml [review_reasons] 'scanned': not a review reason (known: damaged,"),
    ("fields.toml", 'short = "Surname"', "short = 1",
     "[rules] fields.toml subject_surname: short must be text, not 1"),
    ("fields.toml", 'form_short = "Referral form"', "form_short = []",
     "[rules] fields.toml form_short: must be text, not []"),
])
def test_a_wrong_short_name_is_refused_saying_where(tmp_path, name, old, new, said):
    directory = tmp_path / "rules"
    shutil.copytree(RULES_DIR, directory)
    path = directory / name
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")
    with pytest.raises(SettingsError) as caught:
        load_rules(directory)
    assert len(caught.value.problems) == 1 and caught.value.problems[0].startswith(said), (
        caught.value.problems)


def test_rules_without_short_names_fall_back_to_labels_keys_and_addresses(tmp_path):
    directory = tmp_path / "rules"
    shutil.copytree(RULES_DIR, directory)
    fields = directory / "fields.toml"
    fields.write_text("\n".join(line for line in fields.read_text().splitlines()
                                if not line.startswith(("short =", "form_short ="))),
                      encoding="utf-8")
    for name, table in (("recipients.toml", "[names]"), ("referral.toml", "[review_reasons]")):
        path = directory / name
        path.write_text(path.read_text().split(table)[0], encoding="utf-8")
    rules = load_rules(directory)
    assert rules.field_name("referrer_phone") == "Contact Telephone Number"
    assert rules.field_name("form") == "form"
    assert rules.recipient_name("mashagency@lewisham.gov.uk") == "mashagency@lewisham.gov.uk"
    assert rules.reason_name("scan") == "scan"


@pytest.mark.parametrize(("old", "new", "said"), [
    ('".png" = "scan"', '".png" = "photo"',
     "[rules] referral.toml [review_types] '.png': 'photo' is not one of damaged,"),
    ('"application/pkcs7-mime" = "encrypted-email"', '"application/pkcs7-mime" = "smime"',
     "[rules] referral.toml [content_types] 'application/pkcs7-mime': 'smime' is not one of"),
    ('".odt" = "odt"', '".odt" = "opendocument"',
     "[rules] referral.toml [form_types] '.odt': 'opendocument' is not one of doc, docx,"),
])
def test_a_file_type_sent_to_a_word_no_intake_can_hold_is_refused(tmp_path, old, new, said):
    """A review reason the contract does not list would be stored with the intake and
    stop every page that reads it: refused at load, one line, saying where."""
    directory = tmp_path / "rules"
    shutil.copytree(RULES_DIR, directory)
    path = directory / "referral.toml"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")
    with pytest.raises(SettingsError) as caught:
        load_rules(directory)
    assert len(caught.value.problems) == 1 and caught.value.problems[0].startswith(said), (
        caught.value.problems)
