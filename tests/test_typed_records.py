"""No untyped intake crosses a module boundary (issue 15, item 1), read from the source as
grep would: outside the store (which reads rows and hands out records) and records.py
(which turns a row into one), an intake is read by attribute, never by a column's name,
and a status, priority, outcome, review reason, kind or send status is an enum member,
never a bare string compared or passed as a kind."""

from __future__ import annotations

import re
from pathlib import Path

from intake.domain.records import (
    AgeBand,
    Kind,
    Outcome,
    Priority,
    ReviewReason,
    SendStatus,
    Status,
)

PACKAGE = Path(__file__).resolve().parents[1] / "intake"
# Where rows are read: the store, and the record type's own from_row.
ROW_READERS = (PACKAGE / "store", PACKAGE / "domain" / "records.py")
# `intake["status"]`, `intake.get("status")`, `thread_intake['fields']`...
INDEXED = re.compile(r"""\b\w*intake\w*\s*(?:\[\s*["']|\.get\(\s*["'])""")
WORDS = sorted({str(member) for enum in (Status, Priority, Outcome, ReviewReason, AgeBand,
                                         Kind, SendStatus) for member in enum},
               key=len, reverse=True)
_WORD = "|".join(re.escape(word) for word in WORDS)
# `x == "manual_review"`, `"urgent" != y`, `kind="alert"`, `in ("note", "bounce")`
BARE = re.compile(rf"""(?:==|!=)\s*["'](?:{_WORD})["']|["'](?:{_WORD})["']\s*(?:==|!=)"""
                  rf"""|\bkind=["'](?:{_WORD})["']|\bin\s*\(\s*["'](?:{_WORD})["']""")


# The same words written into SQL outside the store: `status = 'pending'`, `IN ('sent', ...`
IN_SQL = re.compile(rf"""(?:=|\bIN\s*\(|\bTHEN|\bELSE)\s*'(?:{_WORD})'""")


def outside_the_store() -> list[Path]:
    return [path for path in sorted(PACKAGE.rglob("*.py"))
            if not any(path == reader or reader in path.parents for reader in ROW_READERS)]


def offending(pattern: re.Pattern[str]) -> list[str]:
    return [f"{path.relative_to(PACKAGE.parent)}:{number}: {line.strip()}"
            for path in outside_the_store()
            for number, line in enumerate(path.read_text().splitlines(), start=1)
            if pattern.search(line)]


def test_the_patterns_see_what_they_are_for():
    assert INDEXED.search('status = intake["status"]')
    assert INDEXED.search("x = decision.intake.get('reply_to')")
    assert INDEXED.search('fields = thread_intake["fields"]')
    assert not INDEXED.search("status = intake.status")
    assert BARE.search('if intake.status == "manual_review":')
    assert BARE.search('queue(store, message, kind="alert", intake_id=None)')
    assert BARE.search('elif outcome in ("note", "bounce"):')
    assert not BARE.search("if intake.status is Status.MANUAL_REVIEW:")
    assert not BARE.search('"SELECT * FROM intakes WHERE status = ?"')
    assert IN_SQL.search("\"SELECT id FROM outbox WHERE status = 'pending' ORDER BY id\"")
    assert IN_SQL.search("\"... AND status IN ('sent', 'held')\"")
    assert not IN_SQL.search("f\"WHERE status = '{SendStatus.PENDING}'\"")


def test_no_module_outside_the_store_reads_an_intake_by_a_column_name():
    assert offending(INDEXED) == []


def test_no_module_outside_the_store_compares_or_passes_a_bare_word():
    assert offending(BARE) == []


def test_no_module_outside_the_store_writes_a_bare_word_into_sql():
    assert offending(IN_SQL) == []
