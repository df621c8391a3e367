"""What each `intake` command does, once the command line has read its arguments
(main.py). Each takes the settings and the parsed arguments and returns the exit code."""

from __future__ import annotations

import argparse
import faulthandler
import os
import signal
import sys

from ..config.settings_types import Settings
from ..domain.clock import utcnow
from .common import (
    EXIT_OK,
    EXIT_OPERATION,
    EXIT_SETTINGS,
    confirmed,
    count_intakes,
    open_existing_store,
    open_store,
)


def run_command(settings: Settings, args: argparse.Namespace) -> int:
    from ..mail.oauth2 import token_provider_for
    from ..runtime.worker import Worker

    worker = Worker(settings, once=args.once, token_provider=token_provider_for(settings))
    dumps = _stacks_on_sigusr1()
    try:
        return worker.run()
    finally:
        if dumps:
            faulthandler.unregister(signal.SIGUSR1)


def _stacks_on_sigusr1() -> bool:
    """`kill -USR1 <pid>` makes a running worker write every thread's stack to its
    standard error (a worker that will not stop can say where it is stuck). False
    where standard error is no file to write to (a test that captured it)."""
    try:
        faulthandler.register(signal.SIGUSR1, all_threads=True)
    except (AttributeError, OSError, RuntimeError, ValueError):
        return False
    return True


def export_command(settings: Settings, args: argparse.Namespace) -> int:
    from ..ops.export import export

    wide = None
    if args.wide:
        if args.format != "csv":
            print("intake: export: --wide goes with --format csv", file=sys.stderr)
            return EXIT_SETTINGS
        from ..domain.rules import load_rules

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


def digest_command(settings: Settings, args: argparse.Namespace) -> int:
    from ..jobs.digest import send_digest_command

    with open_store(settings) as store:
        return send_digest_command(store, settings, day=args.date, dry_run=args.dry_run,
                                   now=utcnow(), out=sys.stdout)


def check_config_command(settings: Settings, args: argparse.Namespace) -> int:
    from ..config.config_check import check_locally
    from ..extract import office
    from ..ops.probe import check_servers

    check_locally(settings, sys.stdout)  # rules, templates, store, secrets: exit 2 if wrong
    code = check_servers(settings, out=sys.stdout)
    if code == 0:
        print(office.status_line(), flush=True)
    return code


def close_command(settings: Settings, args: argparse.Namespace) -> int:
    from ..ops.triage import close_intake, close_received_before

    if (args.reference is None) == (args.received_before is None):
        print("intake: close: give a REFERENCE or --received-before DATE (one of them)",
              file=sys.stderr)
        return EXIT_SETTINGS
    with open_store(settings) as store:
        if args.received_before is not None:
            before, reason = args.received_before, args.reason
            waiting = close_received_before(store, settings, before, reason, utcnow(),
                                            dry_run=True)
            if args.dry_run or not waiting:
                print("\n".join([*waiting, f"{count_intakes(len(waiting))} would be closed "
                                 f"(received before {before})"]))
                return EXIT_OK
            if not confirmed(f"Close these {count_intakes(len(waiting))}?", args,
                             preview="\n".join(waiting)):
                print("nothing closed")
                return EXIT_OK
            closed = close_received_before(store, settings, before, reason, utcnow())
            print(f"{count_intakes(len(closed))} closed")
            return EXIT_OK
        if not close_intake(store, args.reference, args.reason, utcnow()):
            print(f"intake: no open intake {args.reference}", file=sys.stderr)
            return EXIT_SETTINGS
        print(f"{args.reference.upper()} closed")
    return EXIT_OK


def purge_command(settings: Settings, args: argparse.Namespace) -> int:
    from ..jobs.purge import purge

    if args.older_than < 0:
        print("purge: --older-than must be 0 or more", file=sys.stderr)
        return EXIT_SETTINGS
    with open_store(settings) as store:
        preview = purge(store, args.older_than, now=utcnow(), dry_run=True)
        if args.dry_run or not preview.intakes:
            print(preview)
            return EXIT_OK
        if not confirmed(f"Erase the personal data of {count_intakes(len(preview.intakes))}?",
                         args, preview=str(preview)):
            print("nothing erased")
            return EXIT_OK
        report = purge(store, args.older_than, now=utcnow(),
                       shadow_folder=settings.smtp.shadow_folder)
        print(report)
    return EXIT_OK


def triage_command(settings: Settings, args: argparse.Namespace) -> int:
    from ..ops.triage import render_triage, triage_rows, undelivered

    with open_existing_store(settings) as store:
        now = utcnow()
        rows = triage_rows(store, settings, status=args.status, priority=args.priority,
                           since=args.since, until=args.until, now=now)
        print(render_triage(rows, now=now, refused=undelivered(store, now),
                            timezone=settings.digest.timezone))
    return EXIT_OK


def show_command(settings: Settings, args: argparse.Namespace) -> int:
    from ..ops.triage import render_show

    with open_existing_store(settings) as store:
        text = render_show(store, settings, args.reference)
    if text is None:
        print(f"intake: no intake {args.reference}", file=sys.stderr)
        return EXIT_SETTINGS
    print(text)
    return EXIT_OK


def health_command(settings: Settings, args: argparse.Namespace) -> int:
    from ..ops.health import check_health

    problems, notes = check_health(settings, now=utcnow(), max_age=args.max_age)
    for problem in problems:
        print(f"intake: unhealthy: {problem}", file=sys.stderr)
    if problems:
        return EXIT_OPERATION
    print(f"healthy: {'; '.join(notes)}")
    return EXIT_OK


def accept_command(settings: Settings, args: argparse.Namespace) -> int:
    from ..ops.accept import NothingToAccept, accept

    if not args.by.strip():
        print("intake: accept: --by must name who accepts", file=sys.stderr)
        return EXIT_SETTINGS
    with open_store(settings) as store:
        try:
            reference, status, keys = accept(store, settings, args.reference, args.by.strip(),
                                             utcnow())
        except NothingToAccept as err:
            print(f"intake: {err}", file=sys.stderr)
            return EXIT_SETTINGS
    print(f"{reference} accepted by {args.by.strip()}: now {status}; "
          f"{len(keys)} answer{'s' if len(keys) != 1 else ''} changed")
    return EXIT_OK


def web_command(settings: Settings, args: argparse.Namespace) -> int:
    from ..web.app import serve

    return serve(settings)


def triaged_command(settings: Settings, args: argparse.Namespace) -> int:
    from ..store.screening_clock import mark_triaged

    if not args.by.strip():
        print("intake: triaged: --by must name who triaged it", file=sys.stderr)
        return EXIT_SETTINGS
    with open_store(settings) as store:
        problem = mark_triaged(store, args.reference, args.by, args.outcome, utcnow())
    if problem:
        print(f"intake: {problem}", file=sys.stderr)
        return EXIT_SETTINGS
    print(f"{args.reference.strip().upper()} triaged")
    return EXIT_OK


def reread_command(settings: Settings, args: argparse.Namespace) -> int:
    from ..jobs.reread import reread_command

    if bool(args.references) == (args.status is not None) or (args.since and not args.status):
        print("intake: reread: give REFERENCE... or --status STATUS [--since DATE]",
              file=sys.stderr)
        return EXIT_SETTINGS
    with open_store(settings) as store:
        return reread_command(store, settings, references=args.references, status=args.status,
                              since=args.since, dry_run=args.dry_run, now=utcnow(),
                              out=sys.stdout)
