"""What an operator installs: the systemd units (hardened, running real commands) and
the operations guide, whose every `intake` command line parses as written."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from intake.cli import COMMANDS, build_parser

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
GUIDE = ROOT / "docs" / "operations.md"


def unit(name: str) -> dict[str, list[str]]:
    """A systemd unit's settings, KEY -> values (keys may repeat)."""
    values: dict[str, list[str]] = {}
    for line in (DEPLOY / name).read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            values.setdefault(key, []).append(value)
    return values


def intake_argv(command_line: str) -> list[str]:
    """The arguments after `intake` in a shell command line ($(...) kept as one word)."""
    inner = re.fullmatch(r"/bin/sh -c '(.*)'", command_line)  # a unit's shell wrapper
    words = shlex.split(re.sub(r"\$\([^)]*\)", "X", inner.group(1) if inner else command_line))
    start = next(i for i, word in enumerate(words) if word == "intake" or
                 word.endswith("/intake"))
    return words[start + 1:]


def test_the_service_runs_the_worker_hardened_as_its_own_user():
    service = unit("prevent-intake.service")
    assert service["User"][0] not in ("root", "0")
    assert service["ProtectSystem"] == ["strict"]
    assert service["NoNewPrivileges"] == ["yes"]
    assert service["CapabilityBoundingSet"] == [""]
    assert "/var/lib/prevent-intake" in service["ReadWritePaths"][0]
    assert service["RestartPreventExitStatus"] == ["2"]  # bad settings: no restart loop
    argv = intake_argv(service["ExecStart"][0])
    assert build_parser().parse_args(argv).command == "run"


@pytest.mark.parametrize(("name", "command"), [("prevent-intake-backup.service", "backup"),
                                               ("prevent-intake-purge.service", "purge")])
def test_the_timed_jobs_run_existing_commands(name, command):
    job = unit(name)
    args = build_parser().parse_args(intake_argv(job["ExecStart"][0]))
    assert args.command == command and command in COMMANDS
    if command == "purge":
        assert args.yes, "a timer has no terminal to answer the question"
    assert job["ProtectSystem"] == ["strict"]
    assert (DEPLOY / name.replace(".service", ".timer")).exists()


def test_every_intake_command_in_the_operations_guide_parses():
    text = GUIDE.read_text(encoding="utf-8")
    lines = [line for block in re.findall(r"```sh\n(.*?)```", text, re.S)
             for line in block.splitlines() if re.search(r"(^|/)intake ", line)]
    assert len(lines) >= 5
    parser = build_parser()
    for line in lines:
        argv = intake_argv(line)
        if argv == ["--version"]:
            continue
        assert parser.parse_args(argv).command in COMMANDS, line


def test_the_readme_links_the_operations_guide():
    assert "docs/operations.md" in (ROOT / "README.md").read_text(encoding="utf-8")
