"""docs/settings.md lists exactly the keys the settings code reads, section by section:
adding a key to intake/config/settings.py without documenting it (or the reverse) fails here."""

from __future__ import annotations

import re
from pathlib import Path

from intake.config.settings import known_keys

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "docs" / "settings.md"


def documented() -> dict[str, set[str]]:
    keys: dict[str, set[str]] = {}
    section = None
    for line in REFERENCE.read_text(encoding="utf-8").splitlines():
        heading = re.fullmatch(r"## `\[(\w+)\]`", line)
        if heading:
            section = heading.group(1)
            keys[section] = set()
            continue
        row = re.match(r"\| `(\w+)` \|", line)
        if row and section:
            keys[section].add(row.group(1))
    return keys


def test_the_reference_lists_every_key_the_code_reads_and_no_other():
    docs = documented()
    # Every section the code reads (some only when present) and every documented key,
    # so every section and branch is read.
    source = "".join(p.read_text(encoding="utf-8") for p in (ROOT / "intake").rglob("settings*.py"))
    sections = set(re.findall(r'Reader\(data, "(\w+)"', source))
    assert {"mailbox", "smtp", "store"} <= sections  # the settings code was found and read
    data = {section: dict.fromkeys(docs.get(section, ()), "x") for section in sections | set(docs)}
    code = known_keys(data)
    for section in sorted(set(code) | set(docs)):
        missing = code.get(section, set()) - docs.get(section, set())
        extra = docs.get(section, set()) - code.get(section, set())
        assert not missing, f"[{section}] {sorted(missing)}: read by the code, add to {REFERENCE}"
        assert not extra, f"[{section}] {sorted(extra)}: in {REFERENCE}, not read by the code"


def test_the_readme_links_the_reference():
    assert "docs/settings.md" in (ROOT / "README.md").read_text(encoding="utf-8")
