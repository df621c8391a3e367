"""Cutting a backlog into batches that fit in memory, and showing progress through it."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator

from ..config.settings_types import MailboxSettings

HEADER_ONLY_BYTES = 64 * 1024  # what a message over max_message_bytes costs: its header


def batches(order: list[tuple[str, int]], sizes: dict[tuple[str, int], int],
            settings: MailboxSettings) -> Iterator[list[tuple[str, int]]]:
    """The order cut into batches of at most `batch_size` messages and `batch_bytes`
    bytes (a message over it goes alone): what is held in memory at once is bounded
    by bytes, not by a count. `sizes`: (folder, uid) -> bytes, asked of the server first."""
    count, budget = max(1, settings.batch_size), max(1, settings.batch_bytes)
    batch: list[tuple[str, int]] = []
    held = 0
    for item in order:
        size = sizes.get(item, 0)
        if size > settings.max_message_bytes:  # only its header is fetched
            size = HEADER_ONLY_BYTES
        if batch and (len(batch) >= count or held + size > budget):
            yield batch
            batch, held = [], 0
        batch.append(item)
        held += size
    if batch:
        yield batch


class Progress:
    """A progress bar on standard error, only on a terminal and only for a backlog."""

    def __init__(self, total: int, folder: str, write: Callable[[str], object] = sys.stderr.write):
        self.total = total
        self.folder = folder
        self.write = write
        self.enabled = total >= 20 and sys.stderr.isatty()

    def show(self, done: int) -> None:
        if self.enabled:
            filled = int(30 * done / self.total)
            self.write(f"\r{self.folder} [{'#' * filled}{'.' * (30 - filled)}] {done}/{self.total}")

    def finish(self) -> None:
        if self.enabled:
            self.write("\n")
