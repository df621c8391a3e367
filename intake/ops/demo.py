"""`intake demo`: the real worker on a bundled sample mailbox, no servers.

The samples (intake/samples/*.eml) hold referrals in every layout the form
arrives in, plus machine mail and a correction. They are delivered into a
fresh maildir; `run --once` records them and writes its replies as .eml files
(the `outbox` sender); then the triage view, the outgoing mail and the
digest are printed.
"""

from __future__ import annotations

import email
import email.policy
import mailbox
import os
import shutil
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ..domain.clock import utcnow

SAMPLES = Path(__file__).resolve().parent.parent / "samples"

DEMO_SETTINGS = """\
# Written by `intake demo`: the embedded default (a maildir and an outbox folder).
[mailbox]
kind = "maildir"
path = "mailbox"
address = "prevent@lewisham.gov.uk"

[smtp]
mode = "outbox"
from = "Lewisham Prevent <prevent@lewisham.gov.uk>"
shadow_folder = "outgoing"

[store]
path = "intake.sqlite3"

[triage]
alert_to = ["mashagency@lewisham.gov.uk"]

[digest]
to = ["prevent.manager@lewisham.gov.uk"]
"""


def prepare(directory: Path) -> Path:
    """A fresh demo folder: settings, an empty store, the samples delivered. Returns settings."""
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(parents=True)
    settings_path = directory / "settings.toml"
    settings_path.write_text(DEMO_SETTINGS, encoding="utf-8")
    box = mailbox.Maildir(directory / "mailbox", create=True)
    samples = sorted(SAMPLES.glob("*.eml"))
    start = utcnow() - timedelta(minutes=len(samples) * 7)
    for number, sample in enumerate(samples):
        key = box.add(mailbox.MaildirMessage(sample.read_bytes()))
        received = (start + timedelta(minutes=number * 7)).timestamp()
        os.utime(Path(box._path) / "new" / key, (received, received))  # noqa: SLF001
    return settings_path


def run_demo(directory: Path, main: Callable[[list[str]], int]) -> int:
    """Run the demo through `main`, the command line's entry point (cli/main.py passes its own:
    the demo does not import the command line that imports it)."""
    settings_path = prepare(directory)
    config = ["--config", str(settings_path)]
    print(f"Delivered {len(list(SAMPLES.glob('*.eml')))} sample emails to {directory}/mailbox",
          file=sys.stderr)
    status = main([*config, "run", "--once"])
    if status != 0:
        return status
    sys.stdout.flush()
    print("\n== Triage: open intakes, urgent first ==")
    sys.stdout.flush()
    main([*config, "triage"])
    print("\n== Complete ==")
    sys.stdout.flush()
    main([*config, "triage", "--status", "complete"])
    sys.stdout.flush()
    print(f"\n== Outgoing mail written to {directory}/outgoing ==")
    for path in sorted((directory / "outgoing").glob("*.eml"), key=lambda p: p.stat().st_mtime_ns):
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        print(f"{path.name}\n    To: {message['To']}\n    Subject: {message['Subject']}")
    today = datetime.now(UTC).date().isoformat()
    print(f"\n== The Prevent manager's digest for {today} (dry run) ==")
    sys.stdout.flush()
    main([*config, "digest", "--date", today, "--dry-run"])
    return 0
