"""Which settings keys are known: exactly those the settings code reads.

Every SectionReader (settings_read.py) made while a file is read registers
here, and each remembers the keys asked of it; a key or section of the file
that no reader asked for is unknown. So adding a key is one `reader.get(...)` in settings.py, and
nothing else. docs/settings.md is checked against the same list.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Protocol


class Reader(Protocol):
    section: str
    asked: set[str]


_OPENED: ContextVar[list[Reader]] = ContextVar("settings_readers")

Read = Callable[[Path, dict[str, Any]], object]


def opened(reader: Reader) -> None:
    """Called by each reader as it is made."""
    readers = _OPENED.get(None)
    if readers is not None:
        readers.append(reader)


def known_keys(data: dict[str, Any], read: Read) -> dict[str, set[str]]:
    """The keys the settings code reads, by section, given this file's content: the
    known keys. Keys read only in another mode count too (a maildir file may keep its
    imap keys, an outbox-mode [smtp] its server's)."""
    asked: dict[str, set[str]] = {}
    box, smtp = (data.get(name) if isinstance(data.get(name), dict) else {}
                 for name in ("mailbox", "smtp"))
    for variant in ({"mailbox": {**box, "kind": "imap"}}, {"mailbox": {**box, "kind": "maildir"}},
                    {"smtp": {**smtp, "mode": "send"}}):
        readers: list[Reader] = []
        token = _OPENED.set(readers)
        try:
            read(Path("settings.toml"), {**data, **variant})
        finally:
            _OPENED.reset(token)
        for reader in readers:
            asked.setdefault(reader.section, set()).update(reader.asked)
    return asked


def unknown_keys(data: dict[str, Any], read: Read) -> list[str]:
    """One line per key or section of the file that the settings code does not read."""
    asked = known_keys(data, read)
    problems = []
    for section, content in data.items():
        if section not in asked:
            if isinstance(content, dict):
                problems.append(f"[{section}] unknown section{_did_you_mean(section, asked)}")
            else:
                problems.append(f"[settings] {section}: unknown key outside any section"
                                f"{_did_you_mean(section, _all_keys(asked), bare=True)}")
            continue
        if isinstance(content, dict):
            for key in content:
                if key not in asked[section]:
                    problems.append(f"[{section}] {key}: unknown key"
                                    f"{_did_you_mean(key, asked[section], bare=True)}")
    return problems


def _all_keys(asked: dict[str, set[str]]) -> set[str]:
    return {key for keys in asked.values() for key in keys}


def _did_you_mean(word: str, choices: Iterable[str], *, bare: bool = False) -> str:
    close = difflib.get_close_matches(word, sorted(choices), n=1, cutoff=0.6)
    if not close:
        return ""
    return f" (did you mean {close[0]}?)" if bare else f" (did you mean [{close[0]}]?)"
