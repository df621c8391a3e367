"""Every layout of the referral form gives back exactly what was written."""

from __future__ import annotations

import pytest
from support import RULES
from support.forms import LAYOUTS, SAMPLE_VALUES, SOURCE_OF_LAYOUT, expected_fields, make_form

from intake.domain.models import Attachment
from intake.extract import extract

OTHER_VALUES = {
    **SAMPLE_VALUES,
    "subject_forenames": "Mohammed Ali",
    "subject_surname": "Nguyễn-Smith",
    "subject_dob": "1 February 1990",
    "subject_address": "No fixed abode",
    "subject_phone": "",
    "concerns": "Short answer.",
    "complex_needs": "ADHD; recently bereaved.\nLives with grandmother.",
    "other_information": "",
    "individual_aware": "No",
    "referrer_relationship": "",
    "referral_date": "",
}


def attachment(layout: str, values: dict[str, str], older: bool = False) -> Attachment:
    filename, content_type, data = make_form(layout, values, older_labels=older)
    return Attachment(filename, content_type, data, len(data))


@pytest.mark.parametrize("older", [False, True], ids=["national", "older-wording"])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_answer_comes_back_as_written(layout: str, older: bool) -> None:
    result = extract([attachment(layout, SAMPLE_VALUES, older)], RULES)
    assert result.review_reason is None
    assert result.source == SOURCE_OF_LAYOUT[layout]
    assert result.carries_form
    assert result.fields == expected_fields(SAMPLE_VALUES)
    assert set(result.where) == set(result.fields)


@pytest.mark.parametrize("layout", LAYOUTS)
def test_other_answers_and_empty_optional_fields(layout: str) -> None:
    result = extract([attachment(layout, OTHER_VALUES)], RULES)
    assert result.fields == expected_fields(OTHER_VALUES)


@pytest.mark.parametrize("key", RULES.required_keys)
@pytest.mark.parametrize("layout", LAYOUTS)
def test_a_required_answer_left_empty_is_absent(layout: str, key: str) -> None:
    values = {**SAMPLE_VALUES, key: ""}
    result = extract([attachment(layout, values)], RULES)
    assert result.review_reason is None
    assert key not in result.fields
    assert result.fields == expected_fields(values)


@pytest.mark.parametrize("layout", ["pdf-text", "docx", "docx-controls", "pdf-form"])
def test_yes_no_not_ticked_is_no_answer(layout: str) -> None:
    values = {**SAMPLE_VALUES, "individual_aware": ""}
    assert "individual_aware" not in extract([attachment(layout, values)], RULES).fields


def test_where_names_the_field_or_place() -> None:
    result = extract([attachment("pdf-form", SAMPLE_VALUES)], RULES)
    assert result.where["subject_surname"] == "field SubjectSurname"
    result = extract([attachment("docx", SAMPLE_VALUES)], RULES)
    assert result.where["subject_surname"].startswith("table 1 row")
    result = extract([attachment("pdf-text", SAMPLE_VALUES)], RULES)
    assert result.where["subject_surname"].startswith("page 1")


@pytest.mark.parametrize("layout", ["pdf-text", "docx", "pdf-form"])
def test_a_concern_running_over_a_page_break_is_joined(layout: str) -> None:
    values = {**SAMPLE_VALUES, "concerns": "\n".join([SAMPLE_VALUES["concerns"]] * 4)}
    result = extract([attachment(layout, values)], RULES)
    assert result.fields["concerns"] == values["concerns"]


def test_rows_with_an_empty_label_cell_carry_on_the_answer_above_and_no_further() -> None:
    """Rows under an answer whose label cell is empty carry it on, one line a row; a row
    with a question in its label cell (asked by the form or not) starts a new answer;
    the lines of an answer passed over (a label met twice) stay out of the first one."""
    from intake.extract.labels import LabelMatcher
    from intake.extract.layout import Cell, Row, read_rows

    def table(*rows: tuple[str, ...]) -> list[Row]:
        return [Row([Cell(text, f"row {n}") for text in row], in_table=True)
                for n, row in enumerate(rows, start=1)]

    rows = [Row([Cell("Individual's details", "heading")]), *table(
        ("Known Address(es)", "Flat 12, Rushey Green House"),
        ("", "221-223 Rushey Green"),
        ("", "Catford, London SE6 4BD"),
        ("Ethnicity", "Not asked on this form"),
        ("", "nor carried on"),
        ("Nationality / Citizenship", "British"),
        ("", ""),
        ("Surname", "D'Arcy-Jones"),
        ("Known Address(es)", "A second address"),
        ("", "its second line"),
        ("Primary Language", "English"),
    )]
    answers = read_rows(rows, LabelMatcher(RULES))
    assert answers.fields["subject_address"] == (
        "Flat 12, Rushey Green House\n221-223 Rushey Green\nCatford, London SE6 4BD")
    assert answers.fields["subject_nationality"] == "British"
    assert answers.fields["subject_surname"] == "D'Arcy-Jones"
    assert answers.fields["subject_language"] == "English"
    assert answers.where["subject_address"] == "row 1"
