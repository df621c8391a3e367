"""What a stored finding says, in today's words: templates/_findings.j2 and rules/fields.toml.

An intake keeps each finding as a code (intake/domain/check.py) with its field key and the
values its wording needs; the words are rendered here when a reply, a reminder, the web page
or `intake show` is made. So new wording, or a relabelled question, reaches intakes recorded
before the change. A finding stored as a sentence the i15 migration could not map back to a
code (intake/store/finding_codes.py) keeps its sentence and is shown as it was.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Any

import jinja2

from ..domain.errors import SettingsError
from ..domain.rules import load_rules

FINDINGS = "_findings.j2"


class FindingWords:
    """Says findings with the macro `finding` of _findings.j2 in `env`, labels from rules/."""

    def __init__(self, env: jinja2.Environment, rules_dir: Path | None) -> None:
        self.env = env
        self.rules_dir = rules_dir

    @cached_property
    def labels(self) -> dict[str, str]:
        """Each field key's label as rules/fields.toml words it now (read once, when needed)."""
        try:
            return {rule.key: rule.label for rule in load_rules(self.rules_dir).fields}
        except SettingsError:  # reported by check-config and at start: the stored labels do
            return {}

    def label(self, finding: Mapping[str, Any]) -> str:
        """The question's label now; the stored one only for a key the rules no longer have."""
        if not finding.get("code"):
            return str(finding.get("label") or "")  # a kept sentence names its own label
        key = str(finding.get("field") or "")
        return self.labels.get(key) or str(finding.get("label") or key)

    def sentence(self, finding: Mapping[str, Any]) -> str:
        """What the finding says: its code in today's wording, or the sentence it kept."""
        code = finding.get("code")
        if not code:
            return str(finding.get("message") or "")
        macro = self.env.get_template(FINDINGS).module.finding  # type: ignore[attr-defined]
        return str(macro(str(code), self.label(finding), dict(finding.get("values") or {})))

    def line(self, finding: Mapping[str, Any]) -> str:
        """One line a referrer acts on: the label, then what to do (once, if it names it)."""
        return finding_line(self.label(finding), self.sentence(finding))


def finding_line(label: object, message: object) -> str:
    """The form's label, then what to do; the message alone when it names the label."""
    label, message = str(label or "").strip(), str(message or "").strip()
    if label and label not in message:
        return f"{label}: {message}" if message else label
    return message or label
