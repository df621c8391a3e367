"""Find the individuals' personal data in text that leaves the store.

The needles come from the store itself (every intake's answers), so the
scan covers whatever forms the run read: names as whole words, dates of
birth, address lines, and any five words in a row from the concerns,
complex needs or other information answers.
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

NAME_KEYS = ("subject_forenames", "subject_surname")
EXACT_KEYS = ("subject_dob", "subject_phone")
PROSE_KEYS = ("concerns", "complex_needs", "other_information", "subject_address")
_WORD = re.compile(r"\w+(?:'\w+)?")
RUN = 5  # words in a row that count as a quotation


def _runs(text: str) -> set[tuple[str, ...]]:
    words = [w.casefold() for w in _WORD.findall(text)]
    return {tuple(words[i:i + RUN]) for i in range(len(words) - RUN + 1)}


@dataclass
class Needles:
    names: set[str] = field(default_factory=set)
    exact: set[str] = field(default_factory=set)
    runs: set[tuple[str, ...]] = field(default_factory=set)

    @classmethod
    def from_store(cls, store: Path) -> Needles:
        found = cls()
        conn = sqlite3.connect(f"file:{store}?mode=ro", uri=True)
        try:
            rows = [json.loads(row[0]) for row in conn.execute("SELECT fields FROM intakes")]
        finally:
            conn.close()
        for fields in rows:
            found.add(fields)
        return found

    def add(self, fields: dict[str, str]) -> None:
        for key in NAME_KEYS:
            self.names.update(w for w in _WORD.findall(fields.get(key, "")) if len(w) >= 3)
        for key in EXACT_KEYS:
            if fields.get(key, "").strip():
                self.exact.add(fields[key].strip())
        for key in PROSE_KEYS:
            self.runs |= _runs(fields.get(key, ""))
            for line in fields.get(key, "").splitlines():
                if len(line.strip()) >= 12:
                    self.exact.add(line.strip())

    def __bool__(self) -> bool:
        return bool(self.names and self.runs)

    def found_in(self, text: str) -> list[str]:
        """What personal data the text holds (empty: none)."""
        hits = [e for e in self.exact if e in text]
        words = set(_WORD.findall(text))
        hits += sorted(self.names & words)
        hits += [" ".join(r) for r in _runs(text) & self.runs][:3]
        return hits


def scan(needles: Needles, texts: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """{where: what was found} for every text that holds personal data."""
    return {where: hits for where, text in texts if (hits := needles.found_in(text))}


def decoded(raw: bytes) -> str:
    """A message's bytes and its decoded text parts, so encodings hide nothing."""
    from email import message_from_bytes, policy

    parts = [raw.decode("utf-8", "replace")]
    message = message_from_bytes(raw, policy=policy.default)
    parts += [f"{k}: {v}" for k, v in message.items()]
    for part in message.walk():
        if part.get_content_maintype() == "text":
            try:
                parts.append(part.get_content())
            except (LookupError, ValueError):
                pass
    return "\n".join(parts)


def files_outside_store(directory: Path, skip: Iterable[Path] = ()) -> list[tuple[str, str]]:
    """(path, text) of every file under directory but the store and the skipped folders."""
    skipped = [Path(s) for s in skip]
    out = []
    for path in sorted(directory.rglob("*")):
        if not path.is_file() or path.name.startswith("intake.sqlite3"):
            continue
        if any(s == path or s in path.parents for s in skipped):
            continue
        data = path.read_bytes()
        out.append((str(path), decoded(data) if path.suffix == ".eml" else
                    data.decode("utf-8", "replace")))
    return out
