"""The LibreOffice conversion of .doc, .odt and .rtf forms: its limits and its traces."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from support import RULES
from support.forms import SAMPLE_VALUES, expected_fields, make_form
from support.office import convert

from intake.extract import office
from intake.extract.docx_form import read_docx
from intake.extract.labels import LabelMatcher


@pytest.fixture(scope="module")
def odt(tmp_path_factory) -> bytes:
    folder = tmp_path_factory.mktemp("odt")
    source = folder / "form.docx"
    source.write_bytes(make_form("docx-boxes", SAMPLE_VALUES)[2])
    return convert([source], "odt", folder)[0].read_bytes()


def processes_mentioning(text: str) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and text in (entry / "cmdline").read_bytes().decode(
                    "utf-8", "replace"):
                found.append(entry.name)
        except OSError:
            continue
    return found


def test_an_odt_is_read_and_leaves_nothing_on_disk(tmp_path, monkeypatch, odt):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    docx = office.to_docx(odt, "odt")
    answers = read_docx(docx, LabelMatcher(RULES))
    assert answers.fields == expected_fields(SAMPLE_VALUES)
    assert list(tmp_path.iterdir()) == []  # file, profile and output all gone
    assert processes_mentioning(str(tmp_path)) == []


def test_a_conversion_over_its_time_limit_is_timeout_and_is_killed(tmp_path, monkeypatch, odt):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with pytest.raises(office.OfficeError) as raised:
        office.to_docx(odt, "odt", timeout=0.05)
    assert raised.value.reason == "timeout"
    assert list(tmp_path.iterdir()) == []
    assert processes_mentioning(str(tmp_path)) == []


def test_the_conversion_runs_with_no_network_where_the_system_allows():
    prefix = office._no_network_prefix()
    if not prefix:
        assert "network not isolated" in office.status_line()
        pytest.skip("this system gives no private network namespace (unshare -rn)")
    done = subprocess.run([*prefix, sys.executable, "-c",
                           "import socket; print([n for _, n in socket.if_nameindex()])"],
                          capture_output=True, text=True, timeout=30, check=True)
    assert done.stdout.strip() == "['lo']"  # only a loopback, and that one down
    assert "no network" in office.status_line()
