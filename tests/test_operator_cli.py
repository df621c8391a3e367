"""The operator's command line: read-only commands make no store, --config after the
command, --version, a closed pipe, dry runs and confirmation, reopen, backup, and a
store newer than the code."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from support import stored
from support.settings import settings_text
from support.storefill import add_intake

from intake.cli import main
from intake.cli import operator as cli_ops  # noqa: N813
from intake.store.database import Store

ROOT = Path(__file__).resolve().parent.parent

# The demo's settings, with no address of its own and the store in var/.
SETTINGS = settings_text(mailbox={"path": "mail", "address": None},
                         store={"path": "var/intake.sqlite3"})


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "settings.toml"
    path.write_text(SETTINGS, encoding="utf-8")
    return path


def store_path(config: Path) -> Path:
    return config.parent / "var" / "intake.sqlite3"


def filled(config: Path, *received: str, **columns) -> list[str]:
    store = Store(store_path(config))
    try:
        return [add_intake(store, when, **columns).reference for when in received]
    finally:
        store.close()


@pytest.mark.parametrize("command", [["triage"], ["show", "PRV-2026-00001"],
                                     ["export", "--format", "csv"]])
def test_read_only_commands_never_make_a_store(config, capsys, command):
    assert main(["--config", str(config), *command]) == 1
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(f"intake: no store at {store_path(config)}")
    assert not store_path(config).exists() and not store_path(config).parent.exists()


def test_config_is_accepted_after_the_command(config, capsys):
    filled(config, "2026-11-20T10:00:00+00:00")
    assert main(["show", "PRV-2026-00001", "--config", str(config)]) == 0
    assert "PRV-2026-00001" in capsys.readouterr().out


def test_version_says_which_code_runs(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"intake {cli_ops.version()}"


def test_a_closed_pipe_exits_quietly(config):
    filled(config, *[f"2026-11-{day:02d}T10:00:00+00:00" for day in range(1, 29)])
    command = (f"{sys.executable} -m intake --config {config} export --format jsonl "
               "| head -c 10 > /dev/null")
    for _ in range(3):  # the reader may be gone before or during the writing
        done = subprocess.run(["bash", "-o", "pipefail", "-c", command], capture_output=True,
                              text=True, timeout=60, cwd=ROOT)
        assert done.stderr == "" and done.returncode == 0


def test_close_received_before_dry_run_changes_nothing(config, capsys):
    refs = filled(config, "2026-11-01T10:00:00+00:00", "2026-11-02T10:00:00+00:00",
                  "2026-11-20T10:00:00+00:00", status="incomplete")
    args = ["--config", str(config), "close", "--received-before", "2026-11-10",
            "--reason", "dealt with by hand before going live"]
    assert main([*args, "--dry-run"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        refs[0], refs[1], "2 intakes would be closed (received before 2026-11-10)"]
    assert main(["--config", str(config), "triage", "--status", "incomplete"]) == 0
    listed = capsys.readouterr().out
    assert all(ref in listed for ref in refs)
    assert main([*args, "--yes"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "2 intakes closed"


def test_a_terminal_is_asked_before_closing_and_no_means_no(config, capsys, monkeypatch):
    filled(config, "2026-11-01T10:00:00+00:00", status="incomplete")
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True, raising=False)
    monkeypatch.setattr("builtins.input", lambda prompt: "n")
    args = ["--config", str(config), "close", "--received-before", "2026-11-10", "--reason", "x"]
    assert main(args) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "nothing closed"
    monkeypatch.setattr("builtins.input", lambda prompt: "y")
    assert main(args) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "1 intake closed"


def test_purge_dry_run_erases_nothing_then_asks(config, capsys, monkeypatch):
    (ref,) = filled(config, "2026-01-05T10:00:00+00:00", closed_at="2026-01-10T10:00:00+00:00",
                    close_reason="done")
    base = ["--config", str(config), "purge", "--older-than", "30"]
    assert main([*base, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"{ref} (closed 2026-01-10): would erase 10 form answers" in out
    assert "(dry run: nothing erased)" in out
    store = Store(store_path(config))
    assert stored(store, ref).fields and stored(store, ref).purged_at is None
    store.close()
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True, raising=False)
    monkeypatch.setattr("builtins.input", lambda prompt: "")
    assert main(base) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "nothing erased"
    assert main([*base, "--yes"]) == 0
    assert "purged 1 intake" in capsys.readouterr().out


def test_reopen_undoes_a_close_and_the_trail_says_so(config, capsys):
    (ref,) = filled(config, "2026-11-01T10:00:00+00:00", status="incomplete")
    assert main(["--config", str(config), "close", ref, "--reason", "closed by mistake"]) == 0
    assert main(["--config", str(config), "reopen", ref, "--reason", "wrong one"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == f"{ref} reopened"
    assert main(["--config", str(config), "triage"]) == 0
    assert ref in capsys.readouterr().out
    assert main(["--config", str(config), "show", ref]) == 0
    shown = capsys.readouterr().out
    assert "reopened" in shown and "wrong one" in shown
    assert main(["--config", str(config), "reopen", ref, "--reason", "again"]) == 2
    assert capsys.readouterr().err.strip() == f"intake: no closed intake {ref}"


def test_backup_copies_the_store_while_it_is_open_and_restore_is_a_copy_back(config, capsys,
                                                                              tmp_path):
    refs = filled(config, "2026-11-01T10:00:00+00:00", "2026-11-02T10:00:00+00:00")
    worker_like = Store(store_path(config))  # the worker holds it open, WAL and all
    worker_like.lock()
    try:
        copy = tmp_path / "backups" / "intake-2026-11-03.sqlite3"
        assert main(["--config", str(config), "backup", str(copy)]) == 0
        assert "integrity ok" in capsys.readouterr().out
        assert main(["--config", str(config), "backup", str(copy)]) == 2  # never overwrites
    finally:
        worker_like.close()
    assert copy.stat().st_mode & 0o077 == 0
    with sqlite3.connect(copy) as db:
        assert [r[0] for r in db.execute("SELECT reference FROM intakes ORDER BY id")] == refs
    # Restore: stop the worker, put the copy in place of the store (and its -wal, -shm away).
    store_path(config).unlink()
    for suffix in ("-wal", "-shm"):
        Path(f"{store_path(config)}{suffix}").unlink(missing_ok=True)
    store_path(config).write_bytes(copy.read_bytes())
    assert main(["--config", str(config), "show", refs[1]]) == 0


def test_a_store_newer_than_the_code_is_refused(config, capsys):
    filled(config, "2026-11-01T10:00:00+00:00")
    with sqlite3.connect(store_path(config)) as db:
        db.execute("INSERT INTO migrations VALUES ('999-from-the-future', '2027-01-01')")
    assert main(["--config", str(config), "triage"]) == 1
    (line,) = capsys.readouterr().err.splitlines()
    assert "written by a newer version of intake (migration 999-from-the-future" in line


def test_times_on_a_screen_are_in_one_labelled_zone(config, capsys, monkeypatch):
    monkeypatch.setenv("INTAKE_NOW", "2026-07-02T08:00:00+00:00")
    filled(config, "2026-07-01T09:00:00+00:00", status="incomplete")
    assert main(["--config", str(config), "triage"]) == 0
    out = capsys.readouterr().out
    assert "2026-07-01 10:00 BST" in out and "(as of 2026-07-02 09:00 BST)" in out


def test_log_lines_carry_their_zone(config):
    done = subprocess.run([sys.executable, "-m", "intake", "--config", str(config), "run",
                           "--once"], capture_output=True, text=True, timeout=60, cwd=ROOT)
    first = done.stderr.splitlines()[0]
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d (INFO|ERROR) ", first)
