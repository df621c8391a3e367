"""Warn before the store's disk fills: a full disk stops the worker taking mail."""

from __future__ import annotations

import shutil
from pathlib import Path

LOW_DISK_BYTES = 512 * 1024 * 1024  # below this much free space the log and check-config warn


def low_disk_warning(store_path: Path, low: int = LOW_DISK_BYTES) -> str | None:
    """One line when the disk holding the store has less than `low` bytes free."""
    folder = Path(store_path).parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent  # not made yet: the disk it will be made on
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return None
    if free >= low:
        return None
    return (f"store {store_path}: only {free // 2**20} MB free on its disk (warning below "
            f"{low // 2**20} MB); free space or move [store] path before the store is full")
