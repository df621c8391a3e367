"""A key or section the settings code does not read is an error, never ignored:
a typo must not turn a shadow trial into real sending."""

from __future__ import annotations

import pytest
from test_settings import GOOD, write

from intake.cli import main
from intake.config.settings import load_settings
from intake.domain.errors import SettingsError


def problems_of(tmp_path, text: str) -> list[str]:
    with pytest.raises(SettingsError) as caught:
        load_settings(write(tmp_path, text))
    return caught.value.problems


def test_a_mistyped_mode_is_an_error_with_a_suggestion(tmp_path):
    text = GOOD.replace('[smtp]\n', '[smtp]\nmdoe = "shadow"\n')
    assert problems_of(tmp_path, text) == ["[smtp] mdoe: unknown key (did you mean mode?)"]


def test_a_mistyped_optional_key_is_an_error(tmp_path):
    text = GOOD + '\n[replies]\nmax_per_adress_per_hour = 1\n'
    assert problems_of(tmp_path, text) == [
        "[replies] max_per_adress_per_hour: unknown key (did you mean max_per_address_per_hour?)"]


def test_a_mistyped_section_is_an_error(tmp_path):
    text = GOOD + '\n[smpt]\nmode = "shadow"\n'
    assert problems_of(tmp_path, text) == ["[smpt] unknown section (did you mean [smtp]?)"]


def test_every_unknown_key_is_listed_and_the_command_exits_2(tmp_path, capsys):
    text = GOOD.replace('[smtp]\n', '[smtp]\nmdoe = "shadow"\n') + '\n[nonsense]\nx = 1\n'
    path = write(tmp_path, 'colour = "blue"\n' + text)
    assert main(["--config", str(path), "check-config"]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert "[smtp] mdoe: unknown key (did you mean mode?)" in lines
    assert "[nonsense] unknown section" in lines
    assert any(line.startswith("[settings] colour: unknown key") for line in lines)
    assert len(lines) == 3


def test_a_key_with_no_near_match_has_no_suggestion(tmp_path):
    text = GOOD.replace('[store]\n', '[store]\nbananas = 3\n')
    assert problems_of(tmp_path, text) == ["[store] bananas: unknown key"]


def test_keys_of_the_other_mailbox_kind_are_not_unknown(tmp_path):
    """Switching kind = "maildir" for a test leaves the imap keys in place."""
    text = GOOD.replace('[mailbox]\n', '[mailbox]\nkind = "maildir"\npath = "mail"\n')
    assert load_settings(write(tmp_path, text)).mailbox.kind == "maildir"


def test_config_pointing_at_a_folder_is_one_line_exit_2(tmp_path, capsys):
    assert main(["--config", str(tmp_path), "check-config"]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and "is a folder" in lines[0]


def test_check_config_lists_every_missing_secret_and_unwritable_place(tmp_path, capsys,
                                                                       monkeypatch):
    monkeypatch.delenv("INTAKE_IMAP_PASSWORD", raising=False)
    monkeypatch.delenv("INTAKE_SMTP_SECRET_X", raising=False)
    (tmp_path / "not-a-folder").write_text("x")
    text = (GOOD.replace('[smtp]\n', '[smtp]\nusername = "prevent@lewisham.gov.uk"\n'
                         'password_env = "INTAKE_SMTP_SECRET_X"\n')
            .replace('path = "var/intake.sqlite3"', 'path = "not-a-folder/intake.sqlite3"'))
    assert main(["--config", str(write(tmp_path, text)), "check-config"]) == 2
    out = capsys.readouterr()
    assert out.out == ""  # nothing reached: not even the servers
    assert sorted(out.err.splitlines()) == [
        "[mailbox] password_env: environment variable INTAKE_IMAP_PASSWORD is not set",
        "[smtp] password_env: environment variable INTAKE_SMTP_SECRET_X is not set",
        f"[store] path: {tmp_path / 'not-a-folder'} is not a folder, so "
        f"{tmp_path / 'not-a-folder' / 'intake.sqlite3'} cannot be made",
    ]
