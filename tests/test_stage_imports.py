"""The stage order in the imports: decide reads values, not the store or the check;
record writes what was checked; the digest hands its message to the outbox and
leaves SMTP to it, like every other sender."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest


def imported(module: str) -> set[str]:
    """The last part of every module `module` imports (relative or not)."""
    tree = ast.parse(Path(importlib.import_module(module).__file__ or "").read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.rsplit(".", 1)[-1])
        elif isinstance(node, ast.Import):
            names.update(alias.name.rsplit(".", 1)[-1] for alias in node.names)
    return names


@pytest.mark.parametrize(("module", "never"), [
    ("intake.domain.decide", {"store", "database", "check", "lookup", "rows", "record",
                              "sqlite3"}),
    ("intake.domain.check_stage", {"store", "database", "lookup", "rows", "record"}),
    ("intake.store.record", {"check", "check_stage"}),
    ("intake.jobs.digest", {"send", "oauth2", "smtplib"}),
])
def test_a_stage_imports_nothing_of_a_later_one(module: str, never: set[str]) -> None:
    assert imported(module) & never == set()
