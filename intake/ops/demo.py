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
from datetime import timedelta
from pathlib import Path

from ..config.settings_types import DigestSettings
from ..domain.clock import day_bounds, local_day, utcnow

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
DEMO_TIMEZONE = DigestSettings.timezone  # the demo's settings leave [digest] timezone as default

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
    for sample, received in zip(samples, _arrival_times(len(samples)), strict=True):
        key = box.add(mailbox.MaildirMessage(sample.read_bytes()))
        os.utime(Path(box._path) / "new" / key, (received, received))  # noqa: SLF001
    return settings_path


def _arrival_times(count: int) -> list[float]:
    """Sample arrival times, 7 minutes apart and all earlier today (the digest's local day):
    run just after midnight, they close up so the digest still counts every one."""
    now = utcnow()
    midnight, _ = day_bounds(local_day(now, DEMO_TIMEZONE), DEMO_TIMEZONE)
    step = min(timedelta(minutes=7), (now - midnight) / (count + 1))
    return [(now - step * (count - number)).timestamp() for number in range(count)]


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
    today = local_day(utcnow(), DEMO_TIMEZONE).isoformat()
    print(f"\n== The Prevent manager's digest for {today} (dry run) ==")
    sys.stdout.flush()
    main([*config, "digest", "--date", today, "--dry-run"])
    return 0
