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
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from .cli_ops import (
    ZonedFormatter,
    add_operator_arguments,
    backup_command,
    config_after_any_command,
    confirmed,
    reopen_command,
)
from .clock import utcnow
from .errors import OperationError, SettingsError
from .logsetup import add_secrets, mask
from .logsetup import configure as configure_logging
from .records import Priority, Status
from .settings import load_settings
from .settings_types import Settings

if TYPE_CHECKING:
    from .store import Store

log = logging.getLogger("intake")

EXIT_OK, EXIT_OPERATION, EXIT_SETTINGS = 0, 1, 2


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
    reread.add_argument("--status", choices=("complete", "incomplete", "manual_review"),
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
            from .demo import run_demo

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


def _run(settings: Settings, args: argparse.Namespace) -> int:
    from .oauth2 import token_provider_for
    from .worker import Worker

    worker = Worker(settings, once=args.once, token_provider=token_provider_for(settings))
    return worker.run()


@contextmanager
def open_existing_store(settings: Settings) -> Iterator[Store]:
    """The store for a command that only reads it: never made when it is not there."""
    if not settings.store_path.exists():
        raise OperationError(f"no store at {settings.store_path}: the worker has not run "
                             "with these settings yet (check [store] path)")
    with _open_store(settings) as store:
        yield store


@contextmanager
def _open_store(settings: Settings) -> Iterator[Store]:
    """The store for one command, closed when it is done."""
    from .store import Store

    store = Store(settings.store_path)
    store.queue_mode = settings.smtp.mode
    try:
        yield store
    finally:
        store.close()


def _export(settings: Settings, args: argparse.Namespace) -> int:
    from .export import export

    wide = None
    if args.wide:
        if args.format != "csv":
            print("intake: export: --wide goes with --format csv", file=sys.stderr)
            return EXIT_SETTINGS
        from .rules import load_rules

        wide = [rule.key for rule in load_rules(settings.rules_dir).fields]
    with open_existing_store(settings) as store:
        if args.output is None:
            export(store, sys.stdout, args.format, since=args.since,
                   timezone=settings.digest.timezone, wide_fields=wide)
            return EXIT_OK
        try:  # personal data: readable by the service's user only, even if it existed
            handle = os.open(args.output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.fchmod(handle, 0o600)
        except OSError as err:
            print(f"intake: export: {args.output}: {err.strerror}", file=sys.stderr)
            return EXIT_OPERATION
        with open(handle, "w", encoding="utf-8", newline="") as out:
            export(store, out, args.format, since=args.since, timezone=settings.digest.timezone,
                   wide_fields=wide)
    return EXIT_OK


def _digest(settings: Settings, args: argparse.Namespace) -> int:
    from .digest import send_digest_command

    with _open_store(settings) as store:
        return send_digest_command(store, settings, day=args.date, dry_run=args.dry_run,
                                   now=utcnow(), out=sys.stdout)


def _check_config(settings: Settings, args: argparse.Namespace) -> int:
    from .config_check import check_locally
    from .extract import office
    from .probe import check_servers

    check_locally(settings, sys.stdout)  # rules, templates, store, secrets: exit 2 if wrong
    code = check_servers(settings, out=sys.stdout)
    if code == 0:
        print(office.status_line(), flush=True)
    return code


def _close(settings: Settings, args: argparse.Namespace) -> int:
    from .triage import close_intake, close_received_before

    if (args.reference is None) == (args.received_before is None):
        print("intake: close: give a REFERENCE or --received-before DATE (one of them)",
              file=sys.stderr)
        return EXIT_SETTINGS
    with _open_store(settings) as store:
        if args.received_before is not None:
            before, reason = args.received_before, args.reason
            waiting = close_received_before(store, settings, before, reason, utcnow(),
                                            dry_run=True)
            if args.dry_run or not waiting:
                print("\n".join([*waiting, f"{_intakes(len(waiting))} would be closed "
                                 f"(received before {before})"]))
                return EXIT_OK
            if not confirmed(f"Close these {_intakes(len(waiting))}?", args,
                             preview="\n".join(waiting)):
                print("nothing closed")
                return EXIT_OK
            closed = close_received_before(store, settings, before, reason, utcnow())
            print(f"{_intakes(len(closed))} closed")
            return EXIT_OK
        if not close_intake(store, args.reference, args.reason, utcnow()):
            print(f"intake: no open intake {args.reference}", file=sys.stderr)
            return EXIT_SETTINGS
        print(f"{args.reference.upper()} closed")
    return EXIT_OK


def _purge(settings: Settings, args: argparse.Namespace) -> int:
    from .purge import purge

    if args.older_than < 0:
        print("purge: --older-than must be 0 or more", file=sys.stderr)
        return EXIT_SETTINGS
    with _open_store(settings) as store:
        preview = purge(store, args.older_than, now=utcnow(), dry_run=True)
        if args.dry_run or not preview.intakes:
            print(preview)
            return EXIT_OK
        if not confirmed(f"Erase the personal data of {_intakes(len(preview.intakes))}?",
                         args, preview=str(preview)):
            print("nothing erased")
            return EXIT_OK
        report = purge(store, args.older_than, now=utcnow(),
                       shadow_folder=settings.smtp.shadow_folder)
        print(report)
    return EXIT_OK


def _intakes(count: int) -> str:
    return f"{count} intake{'s' if count != 1 else ''}"


def _triage(settings: Settings, args: argparse.Namespace) -> int:
    from .triage import render_triage, triage_rows, undelivered

    with open_existing_store(settings) as store:
        now = utcnow()
        rows = triage_rows(store, settings, status=args.status, priority=args.priority,
                           since=args.since, until=args.until, now=now)
        print(render_triage(rows, now=now, refused=undelivered(store, now),
                            timezone=settings.digest.timezone))
    return EXIT_OK


def _show(settings: Settings, args: argparse.Namespace) -> int:
    from .triage import render_show

    with open_existing_store(settings) as store:
        text = render_show(store, settings, args.reference)
    if text is None:
        print(f"intake: no intake {args.reference}", file=sys.stderr)
        return EXIT_SETTINGS
    print(text)
    return EXIT_OK


def _health(settings: Settings, args: argparse.Namespace) -> int:
    from .health import check_health

    problems, notes = check_health(settings, now=utcnow(), max_age=args.max_age)
    for problem in problems:
        print(f"intake: unhealthy: {problem}", file=sys.stderr)
    if problems:
        return EXIT_OPERATION
    print(f"healthy: {'; '.join(notes)}")
    return EXIT_OK


def _accept(settings: Settings, args: argparse.Namespace) -> int:
    from .accept import NothingToAccept, accept

    if not args.by.strip():
        print("intake: accept: --by must name who accepts", file=sys.stderr)
        return EXIT_SETTINGS
    with _open_store(settings) as store:
        try:
            reference, status, keys = accept(store, settings, args.reference, args.by.strip(),
                                             utcnow())
        except NothingToAccept as err:
            print(f"intake: {err}", file=sys.stderr)
            return EXIT_SETTINGS
    print(f"{reference} accepted by {args.by.strip()}: now {status}; "
          f"{len(keys)} answer{'s' if len(keys) != 1 else ''} changed")
    return EXIT_OK


def _web(settings: Settings, args: argparse.Namespace) -> int:
    from .web.app import serve

    return serve(settings)


def _triaged(settings: Settings, args: argparse.Namespace) -> int:
    from .screening_clock import mark_triaged

    if not args.by.strip():
        print("intake: triaged: --by must name who triaged it", file=sys.stderr)
        return EXIT_SETTINGS
    with _open_store(settings) as store:
        problem = mark_triaged(store, args.reference, args.by, args.outcome, utcnow())
    if problem:
        print(f"intake: {problem}", file=sys.stderr)
        return EXIT_SETTINGS
    print(f"{args.reference.strip().upper()} triaged")
    return EXIT_OK


def _reread(settings: Settings, args: argparse.Namespace) -> int:
    from .reread import reread_command

    if bool(args.references) == (args.status is not None) or (args.since and not args.status):
        print("intake: reread: give REFERENCE... or --status STATUS [--since DATE]",
              file=sys.stderr)
        return EXIT_SETTINGS
    with _open_store(settings) as store:
        return reread_command(store, settings, references=args.references, status=args.status,
                              since=args.since, dry_run=args.dry_run, now=utcnow(),
                              out=sys.stdout)


COMMANDS = {
    "run": _run,
    "export": _export,
    "digest": _digest,
    "check-config": _check_config,
    "close": _close,
    "purge": _purge,
    "triage": _triage,
    "show": _show,
    "health": _health,
    "accept": _accept,
    "web": _web,
    "triaged": _triaged,
    "reopen": reopen_command,
    "backup": backup_command,
    "reread": _reread,
}
