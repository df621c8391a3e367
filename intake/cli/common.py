"""What the commands share: exit codes, opening the store, asking before a change."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from ..config.settings_types import Settings
from ..domain.errors import OperationError

if TYPE_CHECKING:
    from ..store.database import Store

EXIT_OK, EXIT_OPERATION, EXIT_SETTINGS = 0, 1, 2


@contextmanager
def open_existing_store(settings: Settings) -> Iterator[Store]:
    """The store for a command that only reads it: never made when it is not there."""
    if not settings.store_path.exists():
        raise OperationError(f"no store at {settings.store_path}: the worker has not run "
                             "with these settings yet (check [store] path)")
    with open_store(settings) as store:
        yield store


@contextmanager
def open_store(settings: Settings) -> Iterator[Store]:
    """The store for one command, closed when it is done."""
    from ..store.database import Store

    store = Store(settings.store_path)
    store.queue_mode = settings.smtp.mode
    try:
        yield store
    finally:
        store.close()


def confirmed(question: str, args: argparse.Namespace, *, preview: str = "",
              ask: Callable[[str], str] | None = None) -> bool:
    """True with --yes or off a terminal (scripts); else, after showing `preview`, the
    operator's answer."""
    if getattr(args, "yes", False) or not sys.stdin.isatty():
        return True
    if preview:
        print(preview, flush=True)
    try:
        return (ask or input)(f"{question} [y/N] ").strip().lower() in ("y", "yes")
    except EOFError:
        return False


def count_intakes(count: int) -> str:
    return f"{count} intake{'s' if count != 1 else ''}"
