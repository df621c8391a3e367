"""One way to build Settings in a test: `make_settings(tmp_path, ...)`.

The defaults describe Lewisham's service in shadow mode (replies written to
tmp_path/shadow, nothing sent); a test passes what it is about: an `smtp`
(a test server's SmtpSettings), the digest's `timezone`/`at`, `reminders_max`,
or any other Settings field by name (alert_to=..., max_automatic_per_hour=...).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from intake.config.settings_types import (
    DigestSettings,
    MailboxSettings,
    ReminderSettings,
    Settings,
    SmtpSettings,
)

SENDER = "Lewisham Prevent <prevent@lewisham.gov.uk>"
MASH = "mashagency@lewisham.gov.uk"  # alert_to
MANAGER = "prevent.manager@lewisham.gov.uk"  # the digest's reader


def make_settings(tmp_path: Path, smtp: SmtpSettings | None = None, *,
                  timezone: str = "Europe/London", at: str = "08:00", reminders_max: int = 3,
                  **fields: Any) -> Settings:
    values: dict[str, Any] = dict(
        path=tmp_path / "settings.toml",
        mailbox=MailboxSettings(host="imap.example.org", username="prevent@lewisham.gov.uk",
                                address="prevent@lewisham.gov.uk"),
        smtp=smtp or SmtpSettings(host="smtp.example.org", sender=SENDER, mode="shadow",
                                  shadow_folder=tmp_path / "shadow"),
        store_path=tmp_path / "intake.sqlite3",
        alert_to=(MASH,),
        digest=DigestSettings(to=(MANAGER,), at=at, timezone=timezone),
        reminders=ReminderSettings(max=reminders_max),
    )
    values.update(fields)
    return Settings(**values)


def settings_text(**sections: str | dict[str, Any]) -> str:
    """The demo's settings.toml (intake.ops.demo.DEMO_SETTINGS) with changes, by section:
    a string replaces that section's body, a dict sets its keys (None takes one out);
    a section the demo has not got is added at the end. For example
    settings_text(mailbox={"path": "mail"}, parser={"workers": 1})."""
    from intake.ops.demo import DEMO_SETTINGS

    preamble, parsed = _sections(DEMO_SETTINGS)
    for name, change in sections.items():
        parsed[name] = change.strip("\n") if isinstance(change, str) else \
            _with_keys(parsed.get(name, ""), change)
    preamble = "" if sections else preamble  # "Written by `intake demo`" no longer
    return preamble + "\n\n".join(f"[{name}]\n{body}".rstrip("\n") for name, body
                                  in parsed.items()) + "\n"


def _sections(text: str) -> tuple[str, dict[str, str]]:
    preamble: list[str] = []
    sections: dict[str, list[str]] = {}
    current = preamble
    for line in text.splitlines():
        header = re.fullmatch(r"\[([A-Za-z0-9_]+)\]\s*", line)
        if header:
            current = sections.setdefault(header[1], [])
        else:
            current.append(line)
    return ("".join(f"{line}\n" for line in preamble),
            {name: "\n".join(lines).strip("\n") for name, lines in sections.items()})


def _with_keys(body: str, keys: dict[str, Any]) -> str:
    lines = body.splitlines() if body else []
    for key, value in keys.items():
        at = [i for i, line in enumerate(lines) if re.match(rf"{re.escape(key)}\s*=", line)]
        for i in reversed(at):
            del lines[i]
        if value is not None:
            lines.insert(at[0] if at else len(lines), f"{key} = {_toml(value)}")
    return "\n".join(lines)


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    return json.dumps(str(value), ensure_ascii=False)  # a TOML basic string
