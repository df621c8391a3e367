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
from collections.abc import Iterator, Sequence
from multiprocessing.connection import Connection, wait
from pathlib import Path

from ..domain.models import Attachment, Extraction
from ..domain.records import ReviewReason
from ..domain.rules import Rules, load_rules
from .choose import extract, form_candidates

log = logging.getLogger(__name__)


def _worker_main(conn: Connection, rules: Rules, memory_mb: int, timeout: float) -> None:
    """Child loop: receive a list of attachments, send back an Extraction."""
    from ..config.logsetup import configure

    configure(logging.WARNING)  # as in the main process: no library's text reaches the log
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
            result = _review(ReviewReason.DAMAGED)
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
        self.started = 0.0
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
        max_slow: int = 4,
    ):
        self.rules = rules or load_rules(rules_dir)
        self.timeout = timeout
        self.memory_mb = memory_mb
        self.max_slow = max_slow
        self._ctx = _context()
        self._workers = [self._start() for _ in range(max(1, workers))]

    def _start(self) -> _Worker:
        return _Worker(self._ctx, self.rules, self.memory_mb, self.timeout)

    def extract(self, attachments: Sequence[Attachment]) -> Extraction:
        return self.extract_many([attachments])[0]

    def extract_many(self, batch: Sequence[Sequence[Attachment]]) -> list[Extraction]:
        """Read each message's attachments, using every worker while jobs wait."""
        results: list[Extraction] = [_review(ReviewReason.DAMAGED)] * len(batch)
        for index, result in self.extract_as_ready(batch):
            if result is not None:
                results[index] = result
        return results

    def extract_as_ready(self, batch: Sequence[Sequence[Attachment]], *,
                         grace: float | None = None
                         ) -> Iterator[tuple[int, Extraction | None]]:
        """(index, Extraction) for each message as soon as it is read, in no fixed order;
        (index, None) when a job moves into the slow lane (its result comes later).

        `grace`: a job still running after this many seconds moves aside, with its
        worker, into a slow lane (at most `max_slow` at a time) where it keeps its full
        timeout, and a fresh worker takes the next job: one slow file never holds up
        the messages behind it by more than `grace`."""
        waiting: list[int] = []
        for index, attachments in enumerate(batch):
            if form_candidates(attachments, self.rules):
                waiting.append(index)
            else:
                yield index, Extraction(source="none", carries_form=False)
        waiting.reverse()
        slow: list[_Worker] = []
        try:
            while waiting or slow or any(w.job is not None for w in self._workers):
                for slot, worker in enumerate(self._workers):
                    if worker.job is None and waiting:
                        self._send(slot, waiting.pop(), batch)
                busy = [w for w in self._workers if w.job is not None] + slow
                if not busy:
                    continue
                now = time.monotonic()
                moments = [w.deadline for w in busy]
                if grace is not None and len(slow) < self.max_slow:
                    moments += [w.started + grace for w in self._workers if w.job is not None]
                ready = wait([w.conn for w in busy], timeout=max(0.0, min(moments) - now))
                for worker in list(slow):
                    if worker.conn in ready or time.monotonic() >= worker.deadline:
                        slow.remove(worker)
                        yield self._finish_slow(worker, worker.conn in ready)
                for slot, worker in enumerate(self._workers):
                    if worker.job is None:
                        continue
                    job = worker.job
                    if worker.conn in ready:
                        yield job, self._receive(slot)
                    elif time.monotonic() >= worker.deadline:
                        log.warning("parser worker timed out after %.1fs: replaced", self.timeout)
                        self._replace(slot, kill=True)
                        yield job, _review(ReviewReason.TIMEOUT)
                    elif (grace is not None and len(slow) < self.max_slow
                          and time.monotonic() >= worker.started + grace):
                        slow.append(worker)  # it keeps its job and its deadline
                        self._workers[slot] = self._start()
                        yield job, None  # moved aside: the caller need not wait for it
        finally:  # closed early (SIGTERM): no job's answer may reach the next caller
            for worker in slow:
                worker.stop(kill=True)
            for slot, worker in enumerate(self._workers):
                if worker.job is not None:
                    self._replace(slot, kill=True)

    def _finish_slow(self, worker: _Worker, answered: bool) -> tuple[int, Extraction]:
        job = worker.job if worker.job is not None else -1
        result = _review(ReviewReason.TIMEOUT)
        if answered:
            try:
                result = worker.conn.recv()
            except (EOFError, OSError):
                result = _review(ReviewReason.DAMAGED)
        else:
            log.warning("parser worker timed out after %.1fs: replaced", self.timeout)
        worker.stop(kill=not answered)
        return job, result

    def _send(self, slot: int, index: int, batch) -> _Worker:
        worker = self._workers[slot]
        if not worker.process.is_alive():
            worker = self._replace(slot, kill=True)
        worker.job = index
        worker.started = time.monotonic()
        worker.deadline = worker.started + self.timeout
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
            return _review(ReviewReason.DAMAGED)
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


def _review(reason: ReviewReason) -> Extraction:
    return Extraction(source="unsupported", review_reason=reason, carries_form=True)
