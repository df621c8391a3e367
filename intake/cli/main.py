"""The `intake` command line (see the contract in README.md).

Standard output carries only what a command outputs; log lines go to
standard error. Exit codes: 0 done, 1 could not connect/sign in/write the
store, 2 bad settings or arguments.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from datetime import date
from pathlib import Path

from ..config.logsetup import add_secrets, mask
from ..config.logsetup import configure as configure_logging
from ..config.settings import load_settings
from ..config.settings_types import Settings
from ..domain.errors import OperationError, SettingsError
from ..domain.records import Priority, Status
from . import commands
from .common import EXIT_OK, EXIT_OPERATION, EXIT_SETTINGS
from .operator import (
    ZonedFormatter,
    add_operator_arguments,
    backup_command,
    config_after_any_command,
    reopen_command,
)

log = logging.getLogger("intake")



def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from err


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="intake", description="Take in Prevent referrals from a shared mailbox."
    )
    parser.add_argument("--config", type=Path, default=Path("settings.toml"),
                        help="settings file (default ./settings.toml)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="the worker: take mail, reply, remind, send digests")
    run.add_argument("--once", action="store_true",
                     help="take everything waiting, send what is due, then exit")

    export = commands.add_parser("export", help="write every referral intake to standard output")
    export.add_argument("--format", choices=("jsonl", "csv"), required=True)
    export.add_argument("--since", type=_date, help="inclusive date in the digest's timezone")
    export.add_argument("--output", type=Path, metavar="FILE",
                        help="write to FILE (mode 0600) instead of standard output")
    export.add_argument("--wide", action="store_true",
                        help="CSV only: one column per form field, in the form's order")

    digest = commands.add_parser("digest", help="send (or print) one day's digest")
    digest.add_argument("--date", type=_date, help="the day (default: yesterday)")
    digest.add_argument("--dry-run", action="store_true", help="print it, send nothing")

    commands.add_parser("check-config", help="validate settings and reach both servers")

    close = commands.add_parser("close", help="close an intake (a MASH worker's decision)")
    close.add_argument("reference", nargs="?")
    close.add_argument("--reason", required=True)
    close.add_argument("--received-before", type=_date, metavar="DATE",
                       help="instead of one reference: every open intake received before "
                            "this local day (history dealt with before going live)")

    purge = commands.add_parser("purge", help="erase personal data of long-closed intakes")
    purge.add_argument("--older-than", type=int, required=True, metavar="DAYS")

    triage = commands.add_parser("triage", help="open intakes for MASH triage, urgent first")
    triage.add_argument("--status", choices=[str(word) for word in Status])
    triage.add_argument("--priority", choices=[str(word) for word in Priority])
    triage.add_argument("--since", type=_date, help="received on or after this date")
    triage.add_argument("--until", type=_date, help="received on or before this date")

    show = commands.add_parser("show", help="one intake in full, with its audit trail")
    show.add_argument("reference")

    health = commands.add_parser("health", help="exit 0 when the worker is alive (healthcheck)")
    health.add_argument("--max-age", type=int, default=None, metavar="SECONDS",
                        help="a mailbox round must have completed within this (default "
                             "[health] max_round_age_seconds: 5 poll intervals, >= 300)")

    accept = commands.add_parser("accept", help="accept the answers a correction proposed "
                                 "for an intake in manual review (audited)")
    accept.add_argument("reference")
    accept.add_argument("--by", required=True, metavar="NAME", help="who accepts them")

    commands.add_parser("web", help="the MASH and manager web page ([web] settings)")

    triaged = commands.add_parser("triaged", help="record that the MASH has triaged an intake "
                                  "(stops its screening clock)")
    triaged.add_argument("reference")
    triaged.add_argument("--by", required=True, metavar="NAME", help="who triaged it")
    triaged.add_argument("--outcome", metavar="TEXT", help="what was decided (optional)")

    reread = commands.add_parser(
        "reread", help="read stored intakes again with today's readers and rules")
    reread.add_argument("references", nargs="*", metavar="REFERENCE")
    reread.add_argument("--status", choices=[str(word) for word in Status],
                        help="every open intake with this status (instead of references)")
    reread.add_argument("--since", type=_date, help="with --status: received on or after")
    reread.add_argument("--dry-run", action="store_true", help="show what would change")

    demo = commands.add_parser("demo", help="run on the bundled sample mailbox, no servers")
    demo.add_argument("--dir", type=Path, default=Path("demo-out"),
                      help="where the demo's mailbox, store and outbox go (default ./demo-out)")
    add_operator_arguments(parser, commands)
    return config_after_any_command(parser, commands)  # last: every command has been added


def main(argv: list[str] | None = None) -> int:
    os.umask(0o077)  # whatever it writes (store, outgoing mail, exports) is the user's alone
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:  # argparse: 2 for bad arguments, 0 for --help
        return int(exit_.code or 0)
    # A fresh handler on the current standard error, through the one filter (logsetup.py).
    configure_logging(logging.DEBUG if args.verbose else logging.INFO, sys.stderr,
                      formatter=ZonedFormatter("%(asctime)s %(levelname)s %(message)s"))
    try:
        if args.command == "demo":
            from ..ops.demo import run_demo

            return run_demo(args.dir, main)
        settings = load_settings(args.config)
        add_secrets(secret_values(settings))
        code = COMMANDS[args.command](settings, args)
        sys.stdout.flush()  # here, so a closed pipe is caught below
        return code
    except BrokenPipeError:  # `intake show X | head`: the reader has all it wanted
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # nothing more to write at exit either
        return EXIT_OK
    except SettingsError as err:
        for problem in err.problems:
            print(problem, file=sys.stderr)
        return EXIT_SETTINGS
    except OperationError as err:
        print(f"intake: {mask(str(err))}", file=sys.stderr)
        return EXIT_OPERATION
    except KeyboardInterrupt:
        return EXIT_OPERATION


def secret_values(settings: Settings) -> list[str]:
    """Every secret the settings point at that can be read now: masked in every log line."""
    found = []
    secrets = [settings.mailbox.password, settings.smtp.password,
               settings.oauth2.client_secret if settings.oauth2 else None]
    for secret in secrets:
        if secret is None:
            continue
        try:
            found.append(secret.reveal())
        except SettingsError:  # not set: the command that needs it says so
            pass
    return [value for value in found if value]


COMMANDS = {
    "run": commands.run_command,
    "export": commands.export_command,
    "digest": commands.digest_command,
    "check-config": commands.check_config_command,
    "close": commands.close_command,
    "purge": commands.purge_command,
    "triage": commands.triage_command,
    "show": commands.show_command,
    "health": commands.health_command,
    "accept": commands.accept_command,
    "web": commands.web_command,
    "triaged": commands.triaged_command,
    "reopen": reopen_command,
    "backup": backup_command,
    "reread": commands.reread_command,
}
