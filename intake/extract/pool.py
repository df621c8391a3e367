"""Read forms in separate, warm worker processes with a time and memory limit.

A parser bug, a PDF that loops or a file that eats memory can only cost its
worker: after a timeout the worker is killed and replaced, and the message
goes to manual review ("timeout"); a crash or MemoryError gives "damaged".
Workers start from a forkserver (or spawn) with the readers already
imported, so a form costs milliseconds, not an interpreter start.
"""

from __future__ import annotations

import logging
import multiprocessing
import time
from collections.abc import Sequence
from multiprocessing.connection import Connection, wait
from pathlib import Path

from ..models import Attachment, Extraction
from ..rules import Rules, load_rules
from .choose import extract, form_candidates

log = logging.getLogger(__name__)


def _worker_main(conn: Connection, rules: Rules, memory_mb: int, timeout: float) -> None:
    """Child loop: receive a list of attachments, send back an Extraction."""
    try:
        import resource

        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, ValueError, OSError):
        pass
    from . import office
    from .labels import LabelMatcher

    # A LibreOffice conversion gives up before the pool would kill this process.
    office.TIMEOUT_SECONDS = max(1.0, min(office.TIMEOUT_SECONDS, timeout * 0.75))
    matcher = LabelMatcher(rules)
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        try:
            result = extract(job, rules, matcher=matcher)
        except MemoryError:
            result = Extraction(source="unsupported", review_reason="damaged", carries_form=True)
        conn.send(result)


def _context() -> multiprocessing.context.BaseContext:
    methods = multiprocessing.get_all_start_methods()
    ctx = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    if "forkserver" in methods:
        ctx.set_forkserver_preload(["intake.extract.choose", "pdfplumber", "lxml.etree"])
    return ctx


class _Worker:
    def __init__(self, ctx, rules: Rules, memory_mb: int, timeout: float):
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_worker_main, args=(child, rules, memory_mb, timeout),
                                   daemon=True)
        self.process.start()
        child.close()
        self.job: int | None = None
        self.deadline = 0.0

    def stop(self, kill: bool = False) -> None:
        try:
            if not kill:
                self.conn.send(None)
                self.process.join(1.0)
        except (OSError, BrokenPipeError):
            pass
        if self.process.is_alive():
            self.process.kill()
            self.process.join(2.0)
        self.conn.close()


class ParserPool:
    """Isolated, warm parser processes. Never raises for bad input."""

    def __init__(
        self,
        rules: Rules | None = None,
        rules_dir: Path | None = None,
        workers: int = 2,
        timeout: float = 20.0,
        memory_mb: int = 1024,
    ):
        self.rules = rules or load_rules(rules_dir)
        self.timeout = timeout
        self.memory_mb = memory_mb
        self._ctx = _context()
        self._workers = [self._start() for _ in range(max(1, workers))]

    def _start(self) -> _Worker:
        return _Worker(self._ctx, self.rules, self.memory_mb, self.timeout)

    def extract(self, attachments: Sequence[Attachment]) -> Extraction:
        return self.extract_many([attachments])[0]

    def extract_many(self, batch: Sequence[Sequence[Attachment]]) -> list[Extraction]:
        """Read each message's attachments, using every worker while jobs wait."""
        results: list[Extraction | None] = [None] * len(batch)
        waiting: list[int] = []
        for index, attachments in enumerate(batch):
            if form_candidates(attachments, self.rules):
                waiting.append(index)
            else:
                results[index] = Extraction(source="none", carries_form=False)
        waiting.reverse()
        while waiting or any(w.job is not None for w in self._workers):
            for slot, worker in enumerate(self._workers):
                if worker.job is None and waiting:
                    self._send(slot, waiting.pop(), batch)
            busy = [w for w in self._workers if w.job is not None]
            if not busy:
                continue
            remaining = min(w.deadline for w in busy) - time.monotonic()
            ready = wait([w.conn for w in busy], timeout=max(0.0, remaining))
            for slot, worker in enumerate(self._workers):
                if worker.job is None:
                    continue
                job = worker.job
                if worker.conn in ready:
                    results[job] = self._receive(slot)
                elif time.monotonic() >= worker.deadline:
                    log.warning("parser worker timed out after %.1fs: replaced", self.timeout)
                    results[job] = _review("timeout")
                    self._replace(slot, kill=True)
        return [r if r is not None else _review("damaged") for r in results]

    def _send(self, slot: int, index: int, batch) -> _Worker:
        worker = self._workers[slot]
        if not worker.process.is_alive():
            worker = self._replace(slot, kill=True)
        worker.job = index
        worker.deadline = time.monotonic() + self.timeout
        try:
            worker.conn.send(list(batch[index]))
        except (OSError, BrokenPipeError):
            pass  # the wait below sees the dead pipe and reports "damaged"
        return worker

    def _receive(self, slot: int) -> Extraction:
        worker = self._workers[slot]
        try:
            result = worker.conn.recv()
        except (EOFError, OSError):
            log.warning("parser worker died (exit code %s): replaced", worker.process.exitcode)
            self._replace(slot, kill=True)
            return _review("damaged")
        worker.job = None
        return result

    def _replace(self, slot: int, kill: bool) -> _Worker:
        self._workers[slot].stop(kill=kill)
        self._workers[slot] = self._start()
        return self._workers[slot]

    def close(self) -> None:
        for worker in self._workers:
            worker.stop()
        self._workers = []

    def __enter__(self) -> ParserPool:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _review(reason: str) -> Extraction:
    return Extraction(source="unsupported", review_reason=reason, carries_form=True)
