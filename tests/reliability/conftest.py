"""Fixtures for the reliability suite: the real worker under faults and hostile input.

The shared fixtures (`dovecot`, `smtp_server`, `tls_certificate`) come from
tests/conftest.py. Each test here reports its figures (kills survived,
duplicates seen, inputs tried, data leaked) through `figures`; they are
printed at the end of the run, for docs/what-it-survives.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from reliability_kit import FIGURES
from support.harness import write_settings


@pytest.fixture
def config(tmp_path: Path, dovecot, smtp_server) -> Path:
    """Settings for the worker on this test's mailbox and SMTP server, small batches."""
    return write_settings(tmp_path, dovecot, smtp_server, mailbox_extra="batch_size = 4")


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Iterator[dict[str, object]]:
    """Record a figure for the summary: figures["kills survived"] = 12."""
    found: dict[str, object] = {}
    yield found
    if found:
        FIGURES[request.node.nodeid.split("::", 1)[-1]] = found
        print(f"\n{request.node.name}: " + ", ".join(f"{k}: {v}" for k, v in found.items()))


def pytest_terminal_summary(terminalreporter) -> None:
    if not FIGURES:
        return
    terminalreporter.section("what it survives (tests/reliability)")
    for test, found in FIGURES.items():
        text = ", ".join(f"{key}: {value}" for key, value in found.items())
        terminalreporter.write_line(f"{test}: {text}")
