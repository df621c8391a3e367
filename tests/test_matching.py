"""Which earlier referral is about the same individual: a table of name and date pairs
(rules/matching.toml as shipped), each a match, a weak match, or none."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support.settings import settings_text

from intake.domain.check import parse_date
from intake.domain.errors import SettingsError
from intake.domain.matching import load_match_rules, match, normalise_name

RULES = load_match_rules()


def person(forenames: str, surname: str, dob: str) -> dict[str, str]:
    return {"subject_forenames": forenames, "subject_surname": surname, "subject_dob": dob}


SAME = [
    # (new referral, earlier referral): the same person, written differently
    (person("Sean", "O'Brien", "01/02/2010"), person("Sean", "OBrien", "01/02/2010")),
    (person("Sean", "o brien", "1.2.2010"), person("Sean", "O'Brien", "2010-02-01")),
    (person("Zoe", "Smith", "07/03/2011"), person("Zoë", "Smith", "7 March 2011")),
    (person("ZOË ANNE", "O'CONNOR", "07/03/2011"), person("Zoë", "O'Connor", "07/03/2011")),
    (person("Mary-Jane", "Smith-Jones", "05/05/2005"), person("Mary Jane", "Smith Jones",
                                                              "05/05/2005")),
    (person("Renée", "Adébáyọ̀", "30/12/1999"), person("Renee", "Adebayo", "30/12/1999")),
    (person(" Ali ", " Khan ", " 3/4/2008 "), person("ali", "KHAN", "03/04/2008")),
    (person("Łukasz", "Nowak-Żelazny", "01/01/1990"), person("Lukasz", "Nowak Zelazny",
                                                               "01/01/1990")),
]

POSSIBLE = [
    # twins: same surname and date of birth, different forenames
    (person("Adam", "Kowalski", "12/06/2012"), person("Eve", "Kowalski", "12/06/2012"),
     "same-surname-other-forename"),
    # a close spelling variant of a surname of 5 letters or more
    (person("Jordan", "Thompson", "09/09/2009"), person("Jordan", "Thomson", "09/09/2009"),
     "close-surname"),
    (person("Jordan", "Smtih", "09/09/2009"), person("Jordan", "Smith", "09/09/2009"),
     "close-surname"),
    # a name change: same forename and date of birth, another surname
    (person("Aisha", "Begum", "14/02/2004"), person("Aisha", "Rahman", "14/02/2004"),
     "name-change"),
    # forename and surname swapped
    (person("Khan", "Imran", "20/10/2007"), person("Imran", "Khan", "20/10/2007"),
     "swapped-names"),
]

NONE = [
    # a shared surname and a different date of birth is no match
    (person("Sean", "O'Brien", "01/02/2010"), person("Sean", "O'Brien", "02/01/2010")),
    (person("Adam", "Kowalski", "12/06/2012"), person("Eve", "Kowalski", "12/06/2013")),
    # same date of birth, nothing else in common
    (person("Tom", "Jones", "01/01/2010"), person("Ann", "Patel", "01/01/2010")),
    # short surnames must be exact for the close rule; another forename too: none
    (person("Li", "Wong", "01/01/2010"), person("Bo", "Wang", "01/01/2010")),
    # two letters apart is not close, and the forenames differ
    (person("Jordan", "Thompson", "09/09/2009"), person("Jorge", "Thomas", "09/09/2009")),
    # no date of birth, or an unreadable one, never matches
    (person("Sean", "O'Brien", ""), person("Sean", "O'Brien", "")),
    (person("Sean", "O'Brien", "not known"), person("Sean", "O'Brien", "not known")),
    (person("Sean", "O'Brien", "01/02/10"), person("Sean", "O'Brien", "01/02/10")),
    # empty names never agree
    (person("", "", "01/02/2010"), person("", "", "01/02/2010")),
]


@pytest.mark.parametrize(("new", "earlier"), SAME)
def test_the_same_person_written_differently_is_a_same_match(new, earlier):
    found = match(new, earlier, RULES)
    assert found is not None and found.strength == "same", found
    assert found.fields == ("subject_dob", "subject_surname", "subject_forenames")


@pytest.mark.parametrize(("new", "earlier", "rule"), POSSIBLE)
def test_weak_evidence_is_only_a_possible_match(new, earlier, rule):
    found = match(new, earlier, RULES)
    assert found is not None, "expected a possible match"
    assert (found.strength, found.rule) == ("possible", rule)
    assert "subject_dob" in found.fields


@pytest.mark.parametrize(("new", "earlier"), NONE)
def test_not_the_same_person(new, earlier):
    assert match(new, earlier, RULES) is None


def test_twins_are_never_the_same_match():
    twin_a = person("Adam", "Kowalski", "12/06/2012")
    twin_b = person("Eve", "Kowalski", "12/06/2012")
    assert match(twin_a, twin_b, RULES).strength == "possible"
    assert match(twin_b, twin_a, RULES).strength == "possible"


@pytest.mark.parametrize(("written", "normal"), [
    ("O'Brien", "obrien"), ("OBrien", "obrien"), ("o brien", "obrien"), ("O’Brien", "obrien"),
    ("Zoë", "zoe"), ("Smith-Jones", "smithjones"), ("ŁUKASZ", "łukasz"),
    ("Straße", "strasse"), ("", ""),
])
def test_names_are_normalised_forgivingly(written, normal):
    assert normalise_name(written) == normal


def test_a_rule_with_an_unknown_comparison_is_a_rules_error(tmp_path):
    (tmp_path / "matching.toml").write_text(
        '[[rule]]\nid = "x"\nstrength = "certain"\ncompare = { subject_dob = "fuzzy" }\n')
    with pytest.raises(SettingsError) as caught:
        load_match_rules(tmp_path)
    assert any("strength" in p for p in caught.value.problems)
    assert any("unknown comparison 'fuzzy'" in p for p in caught.value.problems)


def test_a_broken_matching_rules_file_stops_the_worker_before_it_takes_mail(tmp_path, capsys):
    import shutil

    from intake.cli import main
    from intake.config.paths import project_dir

    rules = tmp_path / "rules"
    shutil.copytree(project_dir("rules"), rules)
    (rules / "matching.toml").write_text('[[rule]]\nid = "x"\nstrength = "same"\n'
                                         'compare = { subject_dob = "fuzzy" }\n')
    (tmp_path / "mail" / "new").mkdir(parents=True)
    config = tmp_path / "settings.toml"
    config.write_text(settings_text(mailbox={"path": "mail", "address": None},
                                    smtp={"shadow_folder": "out"}, rules={"path": str(rules)}))
    assert main(["--config", str(config), "run", "--once"]) == 2
    assert "[rules] matching.toml x: subject_dob: unknown comparison 'fuzzy'" in (
        capsys.readouterr().err)
    assert not (tmp_path / "intake.sqlite3").exists()


NAMES = st.sampled_from(["O'Brien", "OBrien", "Obrien", "Smith", "Smtih", "Zoë", "Zoe",
                         "Khan", "Imran", "Thompson", "Thomson", "", "Ann Marie"])
DATES = st.sampled_from(["01/02/2010", "1.2.2010", "2010-02-01", "02/01/2010", "", "unknown"])


@given(a=st.tuples(NAMES, NAMES, DATES), b=st.tuples(NAMES, NAMES, DATES))
@settings(max_examples=400, deadline=None)
def test_matching_is_symmetric_and_never_without_a_shared_date_of_birth(a, b):
    first, second = person(*a), person(*b)
    one, other = match(first, second, RULES), match(second, first, RULES)
    assert (one and one.strength) == (other and other.strength)
    if one is not None:
        assert parse_date(a[2]) is not None and parse_date(a[2]) == parse_date(b[2])
