"""Migration i15-finding-codes: findings stored as sentences become codes (schema.py).

Until issue 15 each finding kept the sentence check.MESSAGES made of it, so new wording
never reached an open intake. The migration reads each sentence back to its code with a
frozen copy of those sentences; the stored label, rule and field are kept. A sentence that
matches none (or a row that is not a list of findings) is left exactly as it is, and is
still shown as it was (intake/mail/finding_words.py): nothing is lost, nothing fails.
"""

from __future__ import annotations

import json
import re
from typing import Any

# check.MESSAGES as every version before codes wrote them. Frozen: never edit these.
SENTENCES_BEFORE_CODES: dict[str, str] = {
    "required": "Not given: {label}",
    "form": "No referral form was attached: {label}",
    "not-a-date": "Not a valid date: {label}",
    "future-date": "Date is after the day the referral was received: {label}",
    "too-old": "Date is more than {years} years ago: {label}",
    "email": "Not a valid email address: {label}",
    "yes-no": "Please answer Yes or No: {label}",
    "recipients": "Not addressed to or copied in: {label}",
}
_HOLES = {"label": r"(?P<label>.+)", "years": r"(?P<years>[0-9]+)"}


def _pattern(sentence: str) -> re.Pattern[str]:
    parts = re.split(r"\{(\w+)\}", sentence)  # text, hole, text, hole, ...
    return re.compile("".join(_HOLES[part] if i % 2 else re.escape(part)
                              for i, part in enumerate(parts)), re.DOTALL)


_PATTERNS = {code: _pattern(sentence) for code, sentence in SENTENCES_BEFORE_CODES.items()}


def coded(finding: Any) -> Any:
    """One stored finding with its sentence read back to a code; else unchanged."""
    if not isinstance(finding, dict) or "code" in finding:
        return finding
    message = finding.get("message")
    for code, pattern in _PATTERNS.items():
        match = pattern.fullmatch(message) if isinstance(message, str) else None
        if match:
            values = {"years": int(match["years"])} if "years" in pattern.groupindex else {}
            kept = {key: value for key, value in finding.items() if key != "message"}
            label = finding.get("label") or match["label"]
            return kept | {"label": label, "code": code, "values": values}
    return finding


def coded_findings(column: str | None) -> str | None:
    """The intakes.findings column (JSON) with each finding coded; unreadable: unchanged.
    Registered as an SQL function for the migration (database.py)."""
    try:
        findings = json.loads(column) if column else None
    except ValueError:
        return column
    if not isinstance(findings, list):
        return column
    converted = [coded(finding) for finding in findings]
    if converted == findings:
        return column
    return json.dumps(converted, ensure_ascii=False, sort_keys=True)
