"""What a deployer reads: the Dockerfile, the console script, every command's help."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from intake.cli import COMMANDS, build_parser, main

ROOT = Path(__file__).resolve().parent.parent
CONTRACT_COMMANDS = ["run", "export", "digest", "check-config", "close", "purge", "demo"]


def dockerfile_lines() -> list[str]:
    return (ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines()


def test_dockerfile_uses_a_slim_python_base():
    base = next(line for line in dockerfile_lines() if line.startswith("FROM "))
    assert re.fullmatch(r"FROM python:3\.1[1-9]-slim(-\w+)?", base)


def test_dockerfile_runs_as_a_non_root_user():
    users = [line.split()[1] for line in dockerfile_lines() if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")


def test_dockerfile_healthcheck_runs_an_existing_intake_command():
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    match = re.search(r"HEALTHCHECK[^\n]*\\\n\s*CMD \[(.*)\]", text)
    assert match, "no HEALTHCHECK ... CMD [...]"
    argv = [part.strip().strip('"') for part in match.group(1).split(",")]
    assert argv[0] == "intake"
    command = next(arg for arg in argv[1:] if not arg.startswith("-") and "/" not in arg)
    assert command in COMMANDS
    assert build_parser().parse_args(argv[1:]).command == command


def test_dockerfile_installs_as_the_readme_says():
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert "pip install --no-cache-dir -c constraints.txt ." in text
    assert "pip install" in (ROOT / "README.md").read_text(encoding="utf-8")


def test_console_script_is_declared():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["scripts"]["intake"] == "intake.cli:main"
    assert project["requires-python"] == ">=3.11"


@pytest.mark.parametrize("command", CONTRACT_COMMANDS + ["triage", "show", "health"])
def test_every_command_has_help(command, capsys):
    assert main([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: intake")


def test_unknown_command_is_exit_2():
    assert main(["frobnicate"]) == 2


def test_module_runs_as_the_intake_command():
    done = subprocess.run([sys.executable, "-m", "intake", "--help"], capture_output=True,
                          text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 0
    for command in CONTRACT_COMMANDS:
        assert command in done.stdout
