"""CSV for Excel users: times in the digest's timezone with their offset, and
`--wide`: one column per form field, in the form's order."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from support import RULES
from support.storefill import FIELDS, add_intake
from test_operator_cli import SETTINGS

from intake.cli import main
from intake.store.database import Store


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "settings.toml"
    path.write_text(SETTINGS, encoding="utf-8")
    store = Store(tmp_path / "var" / "intake.sqlite3")
    add_intake(store, "2026-07-01T09:00:00+00:00")  # British Summer Time
    add_intake(store, "2026-11-20T09:00:00+00:00", fields={**FIELDS, "extra_note": "x"})
    store.close()
    return path


def rows(text: str) -> list[dict[str, str]]:
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"), newline="")))


def test_csv_times_are_local_with_their_offset(config, capsys):
    assert main(["--config", str(config), "export", "--format", "csv"]) == 0
    summer, winter = rows(capsys.readouterr().out)
    assert summer["received_at"] == "2026-07-01T10:00:00+01:00"
    assert winter["received_at"] == "2026-11-20T09:00:00+00:00"


def test_wide_csv_has_a_column_per_form_field_in_the_forms_order(config, capsys):
    assert main(["--config", str(config), "export", "--format", "csv", "--wide"]) == 0
    text = capsys.readouterr().out
    header = next(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))
    form_order = [rule.key for rule in RULES.fields]
    assert "fields" not in header
    assert header[header.index("reference")] == "reference"
    fields_part = header[-(len(form_order) + 1):]
    assert fields_part == [*form_order, "extra_note"]  # a key not on the form comes last
    summer, winter = rows(text)
    assert summer["subject_surname"] == "Okafor" and summer["extra_note"] == ""
    assert winter["extra_note"] == "x"
    assert summer["concerns"] == FIELDS["concerns"]


def test_wide_goes_with_csv_only(config, capsys):
    assert main(["--config", str(config), "export", "--format", "jsonl", "--wide"]) == 2
    assert capsys.readouterr().err.strip() == "intake: export: --wide goes with --format csv"
