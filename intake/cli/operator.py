"""The operator's commands and the command line's manners (see main.py).

`reopen` undoes a close; `backup` copies the store while the worker runs
(SQLite's online backup API); `close --received-before` and `purge` show
what they would do with --dry-run and ask on a terminal unless --yes.
`--config` is taken after the sub-command too; `--version` says which code runs.
"""

from __future__ import annotations

import argparse
import logging
import os
import sqlite3
import sys
from datetime import datetime
from importlib import metadata
from pathlib import Path

from ..config.settings_types import Settings
from ..domain.clock import utcnow
from ..domain.errors import OperationError
from ..store.rows import update_intake
from .common import EXIT_OK, EXIT_SETTINGS, open_existing_store


class ZonedFormatter(logging.Formatter):
    """Log times with their zone offset: 2026-11-23T11:43:05.120+00:00."""

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        moment = datetime.fromtimestamp(record.created).astimezone()
        return moment.isoformat(timespec="milliseconds")


def version() -> str:
    try:
        return metadata.version("prevent-intake")
    except metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed)"


def add_operator_arguments(parser: argparse.ArgumentParser,
                           commands: argparse._SubParsersAction) -> None:
    """--version, the reopen and backup commands, --dry-run and --yes."""
    parser.add_argument("--version", action="version", version=f"intake {version()}")
    reopen = commands.add_parser("reopen", help="reopen a closed intake (undo a close)")
    reopen.add_argument("reference")
    reopen.add_argument("--reason", required=True)
    backup = commands.add_parser(
        "backup", help="copy the store to PATH, safely while the worker runs")
    backup.add_argument("path", type=Path, metavar="PATH")
    for name in ("close", "purge"):
        sub = commands.choices[name]
        sub.add_argument("--dry-run", action="store_true",
                         help="print what would be done, change nothing")
        sub.add_argument("--yes", action="store_true",
                         help="do not ask for confirmation on a terminal")


def config_after_any_command(parser: argparse.ArgumentParser,
                             commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """`intake show X --config PATH` as well as `intake --config PATH show X`."""
    for sub in commands.choices.values():
        if not any("--config" in action.option_strings for action in sub._actions):
            sub.add_argument("--config", type=Path, default=argparse.SUPPRESS,
                             help="settings file (also accepted before the command)")
    return parser


def reopen_command(settings: Settings, args: argparse.Namespace) -> int:
    with open_existing_store(settings) as store:
        with store.transaction():
            intake = store.intake(args.reference.strip())
            if intake is None or intake.closed_at is None:
                print(f"intake: no closed intake {args.reference}", file=sys.stderr)
                return EXIT_SETTINGS
            now = utcnow()
            update_intake(store, intake, {"closed_at": None, "close_reason": None,
                                          "updated_at": now})
            store.audit("reopened", intake_id=intake.id, at=now, reason=args.reason.strip(),
                        was_closed_because=intake.close_reason)
    print(f"{args.reference.upper()} reopened")
    return EXIT_OK


def backup_command(settings: Settings, args: argparse.Namespace) -> int:
    """A consistent copy of the store, made with SQLite's online backup API."""
    target = Path(args.path)
    if target.is_dir():
        target = target / settings.store_path.name
    if target.exists():
        print(f"intake: {target} exists already; give a new file name", file=sys.stderr)
        return EXIT_SETTINGS
    if not settings.store_path.exists():
        raise OperationError(f"no store at {settings.store_path} (check [store] path)")
    source = sqlite3.connect(f"file:{settings.store_path}?mode=ro", uri=True, timeout=30)
    old_umask = os.umask(0o077)  # the copy holds what the store holds: private
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        copy = sqlite3.connect(target)
        try:
            source.backup(copy)
            (check,) = copy.execute("PRAGMA integrity_check").fetchone()
            pages = copy.execute("PRAGMA page_count").fetchone()[0]
        finally:
            copy.close()
    except (sqlite3.Error, OSError) as err:
        target.unlink(missing_ok=True)
        raise OperationError(f"backup to {target}: {err}") from err
    finally:
        os.umask(old_umask)
        source.close()
    if check != "ok":
        raise OperationError(f"backup to {target}: integrity check says {check}")
    print(f"backed up {settings.store_path} to {target} ({pages} pages, integrity ok)")
    return EXIT_OK
