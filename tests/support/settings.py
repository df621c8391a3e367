"""One way to build Settings in a test: `make_settings(tmp_path, ...)`.

The defaults describe Lewisham's service in shadow mode (replies written to
tmp_path/shadow, nothing sent); a test passes what it is about: an `smtp`
(a test server's SmtpSettings), the digest's `timezone`/`at`, `reminders_max`,
or any other Settings field by name (alert_to=..., max_automatic_per_hour=...).
"""

from __future__ import annotations

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
