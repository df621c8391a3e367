"""`pip install .` is enough: the installed command finds its rules and templates
anywhere, check-config proves they load, and a council's own copies are used."""

from __future__ import annotations

import mailbox
import os
import shutil
import subprocess
import sys
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest
from support.settings import settings_text

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "intake" / "samples" / "01-word-form-urgent.eml"

SETTINGS = settings_text(mailbox={"path": "mail"}, store={"path": "data/intake.sqlite3"},
                         parser={"workers": 1})  # the demo's, in folders of its own


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The project as `pip install .` leaves it: a copy of the source (so nothing in
    the checkout is found by accident) installed into a folder of its own."""
    work = tmp_path_factory.mktemp("install")
    source = work / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "intake", "rules", "templates"):
        copy = shutil.copytree if (ROOT / name).is_dir() else shutil.copy
        copy(ROOT / name, source / name)
    for junk in source.rglob("__pycache__"):
        shutil.rmtree(junk)
    target = work / "site"
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target",
         str(target), str(source)], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    # make demo and a council's install stay clean: every data folder is declared.
    assert "would be ignored" not in done.stderr and "is absent from the" not in done.stderr
    shutil.rmtree(source)  # the installed package must stand on its own
    return target


def intake(site: Path, folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run([sys.executable, "-m", "intake", *args], capture_output=True,
                          text=True, timeout=180, env=env, cwd=folder)


def message_subject(path: Path) -> str:
    return str(BytesParser(policy=policy.default).parsebytes(path.read_bytes())["Subject"])


def council(tmp_path: Path) -> Path:
    folder = tmp_path / "council"
    folder.mkdir()
    (folder / "settings.toml").write_text(SETTINGS, encoding="utf-8")
    box = mailbox.Maildir(folder / "mail", create=True)
    box.add(mailbox.MaildirMessage(SAMPLE.read_bytes()))
    return folder


def test_the_installed_package_carries_rules_and_templates(installed):
    bundled = installed / "intake" / "bundled"
    assert sorted(p.name for p in (bundled / "rules").iterdir()) == sorted(
        p.name for p in (ROOT / "rules").iterdir())
    assert sorted(p.name for p in (bundled / "templates").iterdir()) == sorted(
        p.name for p in (ROOT / "templates").iterdir())


def test_installed_command_checks_and_runs_from_another_folder(installed, tmp_path):
    folder = council(tmp_path)
    checked = intake(installed, folder, "check-config")
    assert checked.returncode == 0, checked.stderr
    assert f"form fields, from {installed / 'intake' / 'bundled' / 'rules'}" in checked.stdout
    assert f"templates: ok — every message renders, from {installed}" in checked.stdout
    assert not (folder / "data").exists(), "check-config created the store"

    ran = intake(installed, folder, "run", "--once")
    assert ran.returncode == 0, ran.stderr
    assert "PRV-2026-00001 intake complete queued ack,alert" in ran.stderr
    subjects = {message_subject(p) for p in (folder / "outgoing").glob("*.eml")}
    assert {"[PRV-2026-00001] Prevent referral received",
            "[PRV-2026-00001] Prevent referral: URGENT"} <= subjects


def test_settings_may_point_at_a_councils_own_rules_and_templates(installed, tmp_path):
    folder = council(tmp_path)
    shutil.copytree(ROOT / "rules", folder / "our-rules")
    shutil.copytree(ROOT / "templates", folder / "our-templates")
    ack = folder / "our-templates" / "acknowledgement.txt.j2"
    ack.write_text(ack.read_text().replace("Lewisham Prevent\n", "Lewisham Prevent Team\n"))
    with (folder / "settings.toml").open("a") as handle:
        handle.write('\n[rules]\npath = "our-rules"\ntemplates = "our-templates"\n')
    checked = intake(installed, folder, "check-config")
    assert checked.returncode == 0, checked.stderr
    assert f"from {folder / 'our-rules'}" in checked.stdout
    assert f"from {folder / 'our-templates'}" in checked.stdout
    assert intake(installed, folder, "run", "--once").returncode == 0
    texts = [p.read_text() for p in (folder / "outgoing").glob("*.eml")]
    assert any("Lewisham Prevent Team" in text for text in texts)


def test_broken_own_templates_are_refused_before_anything_is_taken(installed, tmp_path):
    folder = council(tmp_path)
    shutil.copytree(ROOT / "templates", folder / "our-templates")
    (folder / "our-templates" / "alert.txt.j2").unlink()
    with (folder / "settings.toml").open("a") as handle:
        handle.write('\n[rules]\ntemplates = "our-templates"\n')
    for command in (["check-config"], ["run", "--once"]):
        done = intake(installed, folder, *command)
        assert done.returncode == 2, done.stderr
        assert done.stderr.splitlines() == [
            f"[rules] templates: alert.txt.j2 not found in {folder / 'our-templates'}"]
    assert not (folder / "data").exists(), "nothing was recorded, not even a store made"
    assert not (folder / "outgoing").exists()
