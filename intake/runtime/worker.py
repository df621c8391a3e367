"""The polling worker: take new mail, record it, then act from the record.

For each folder: re-mark what was recorded but not yet marked (a kill
between commit and mark), then fetch what is new in batches, record each
message in its own transaction, and only then mark it on the server.
Sending, reminders and the digest run from the store on a schedule.
"""

from __future__ import annotations

import heapq
import logging
import signal
import time
from collections.abc import Iterator
from itertools import groupby
from operator import itemgetter
from pathlib import Path
from types import FrameType

import schedule

from ..config.preflight import load_rules_and_templates
from ..config.settings_types import Settings
from ..domain.clock import utcnow
from ..domain.errors import LoginError, MailboxError, OperationError, StoreError
from ..extract import ParserPool
from ..jobs.digest import queue_due_digests
from ..jobs.reminders import queue_due_reminders
from ..jobs.retry import retry_errors
from ..mail.batching import Progress, batches
from ..mail.bursts import flush_review_alerts
from ..mail.compose import Composer
from ..mail.fetch import Mailbox, open_mailbox
from ..mail.outbox import deliver_due
from ..mail.send import Sender, open_sender
from ..store.database import Store
from ..store.record import Recorded
from ..store.screening_clock import queue_overdue_alerts
from ..store.service_state import record_failure, record_ok
from . import memory
from .crashpoints import crashpoint
from .diskspace import low_disk_warning
from .pipeline import Pipeline

log = logging.getLogger("intake")

ONCE_RECONNECT_ATTEMPTS = 6


def heartbeat_path(store_path: Path) -> Path:
    return Path(f"{store_path}.heartbeat")


def heartbeat_age(store_path: Path) -> float | None:
    """Seconds since the worker last went round its loop; None if it never did."""
    try:
        return max(0.0, time.time() - heartbeat_path(store_path).stat().st_mtime)
    except FileNotFoundError:
        return None


class Stop(Exception):
    """SIGTERM arrived while the worker was waiting, not mid-message."""


class Worker:
    def __init__(self, settings: Settings, *, once: bool, token_provider: object = None):
        memory.keep_large_blocks_apart()
        self.settings = settings
        self.once = once
        self.stopping = False
        self.in_message = False
        # Rules and every template must work before anything is taken (else exit 2).
        self.rules = load_rules_and_templates(settings)
        self.store = Store(settings.store_path)
        self.store.queue_mode = settings.smtp.mode
        self.store.lock()
        self.composer = Composer(settings, settings.templates_dir)
        self.pool = ParserPool(rules=self.rules, rules_dir=settings.rules_dir,
                               workers=settings.parser_workers,
                               timeout=settings.parse_timeout_seconds,
                               memory_mb=settings.parse_memory_mb)
        self.pipeline = Pipeline(settings, self.store, self.rules, self.pool, self.composer)
        self.shadow = settings.smtp.mode != "send"
        self.mailbox: Mailbox = open_mailbox(settings.mailbox, token_provider,
                                             readonly=self.shadow)
        self.token_provider = token_provider
        self._sender: Sender | None = None
        self._disk_warned_until = 0.0
        self.scheduler = schedule.Scheduler()
        jobs = settings.worker
        self.scheduler.every(jobs.send_every_seconds).seconds.do(self.deliver)
        self.scheduler.every(jobs.reminders_every_seconds).seconds.do(self.remind)
        self.scheduler.every(jobs.digest_every_seconds).seconds.do(self.digest)
        self.scheduler.every(jobs.overdue_every_seconds).seconds.do(self.overdue)

    # -- the loop ----------------------------------------------------------

    def run(self) -> int:
        previous = signal.signal(signal.SIGTERM, self._on_sigterm)
        try:
            # What could not be processed before (`error`) is taken again first.
            retry_errors(self.pipeline, utcnow())
            return self._loop()
        except Stop:
            log.info("stopped on SIGTERM")
            return 0
        finally:
            signal.signal(signal.SIGTERM, previous)
            self.close()

    def _loop(self) -> int:
        failures = 0
        connected_once = connected = False
        while not self.stopping:
            try:
                if not connected:
                    self.mailbox.connect()
                    connected = connected_once = True
                self.take_all()
                heartbeat_path(self.settings.store_path).touch()
                self._warn_if_disk_low()
                record_ok(self.store, "mailbox", self.composer, self.settings, utcnow())
                failures = 0
                self.after_mail()
                if self.once:
                    return 0
                self.scheduler.run_pending()
                self.mailbox.wait_for_mail(self._wait_seconds())
            except LoginError as err:
                connected = False
                log.error("mailbox: %s", err)
                self._failing("mailbox", err)
                if self.once:
                    return 1
                failures += 1
                self._backoff(failures)
            except MailboxError as err:
                connected = False
                failures += 1
                self._failing("mailbox", err)
                if self.once and not connected_once:
                    log.error("mailbox: %s", err)
                    return 1
                if self.once and failures > ONCE_RECONNECT_ATTEMPTS:
                    log.error("mailbox: %s; giving up after %d attempts", err, failures)
                    return 1
                log.warning("mailbox: %s; reconnecting (attempt %d)", err, failures)
                self.mailbox.close()
                self._backoff(failures)
        return 0

    def _warn_if_disk_low(self) -> None:
        """Once an hour at most, while the store's disk is low."""
        if time.monotonic() < self._disk_warned_until:
            return
        warning = low_disk_warning(self.settings.store_path)
        if warning:
            log.warning("%s", warning)
            self._disk_warned_until = time.monotonic() + 3600
    def _failing(self, component: str, err: Exception) -> None:
        record_failure(self.store, component, str(err), self.composer, self.settings, utcnow())
        if component == "mailbox":
            self.deliver()  # the loop sends nothing else while the mailbox is down

    def _backoff(self, failures: int) -> None:
        jobs = self.settings.worker
        delay = min(jobs.reconnect_first_seconds * 2 ** (failures - 1),
                    jobs.reconnect_max_seconds)
        self._sleep(delay)

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.stopping and time.monotonic() < deadline:
            time.sleep(min(0.2, deadline - time.monotonic()))

    def _wait_seconds(self) -> float:
        until_job = self.scheduler.idle_seconds
        wait = self.settings.mailbox.poll_seconds
        return max(1.0, min(wait, until_job if until_job is not None else wait))

    def _on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        self.stopping = True
        if not self.in_message:
            raise Stop()

    # -- taking mail -------------------------------------------------------

    def take_all(self) -> int:
        """Everything new in every folder, in the order it arrived. Junk is read
        with the inbox, not after it: a referral filed as junk comes before the
        follow-up that reached the inbox later, so the two stay one intake."""
        validity: dict[str, int] = {}
        waiting: list[tuple[str, list[int]]] = []
        for folder in self.mailbox.folders():
            validity[folder], new = self._new_in(folder)
            if new:
                waiting.append((folder, new))
        if not waiting:
            return 0
        if len(waiting) == 1:
            folder, uids = waiting[0]
            order = [(folder, uid) for uid in uids]
        else:
            order = self._by_arrival(waiting)
        return self._take(order, validity)

    def _new_in(self, folder: str) -> tuple[int, list[int]]:
        """The folder's UIDVALIDITY and its UIDs not yet recorded, ascending; marks
        first what was recorded but not yet marked (a kill between the two)."""
        uidvalidity = self.mailbox.uidvalidity(folder)
        state = self.store.folder_state(folder)
        last_uid = 0
        if state is not None:
            if state[0] == uidvalidity:
                last_uid = state[1]
            else:
                log.warning("%s: UIDVALIDITY changed (%s -> %s); rescanning, duplicates skipped",
                            folder, state[0], uidvalidity)
        self._mark(folder, uidvalidity, self.store.unmarked_uids(folder, uidvalidity))
        uids = self.mailbox.uids_after(folder, last_uid)
        known = self.store.known_uids(folder, uidvalidity, uids)
        return uidvalidity, [uid for uid in uids if uid not in known]

    def _by_arrival(self, waiting: list[tuple[str, list[int]]]) -> list[tuple[str, int]]:
        """Merge the folders by the server's receipt time, each still in UID order
        (the folder position only moves forward: a UID is never taken before a lower one)."""
        runs = []
        for rank, (folder, uids) in enumerate(waiting):
            dates = self.mailbox.received_dates(folder, uids)
            latest = max(dates.values(), default=None)
            runs.append([(dates.get(uid, latest), rank, uid, folder) for uid in uids])
        return [(folder, uid) for _, _, uid, folder in
                heapq.merge(*runs, key=lambda item: (item[0] is None, item[0], item[1]))]

    def _take(self, order: list[tuple[str, int]], validity: dict[str, int]) -> int:
        if not order:
            return 0
        folders = list(dict.fromkeys(folder for folder, _ in order))
        progress = Progress(len(order), ", ".join(folders))
        done = 0
        for batch in self._batches(order):
            done = self._take_batch(batch, validity, progress, done)
            memory.release()  # what the batch held goes back before the next is fetched
            heartbeat_path(self.settings.store_path).touch()  # a long backlog is progress
            if self.stopping:
                raise Stop()
        progress.finish()
        return done

    def _take_batch(self, batch: list[tuple[str, int]], validity: dict[str, int],
                    progress: Progress, done: int) -> int:
        """Fetch one batch, record each message (sending what it queued at once), then
        mark on the server what was recorded. Returns the running count."""
        raws = []
        for folder, group in groupby(batch, key=itemgetter(0)):
            raws += self.mailbox.fetch(folder, [uid for _, uid in group])
        crashpoint("fetched")
        recorded: dict[str, list[int]] = {}
        self.in_message = True
        try:
            for raw, result in self.pipeline.process(raws, utcnow):
                recorded.setdefault(raw.folder, []).append(result.uid)
                crashpoint("recorded")
                _log_recorded(raw.folder, result)
                done += 1
                progress.show(done)
                if self.stopping:
                    break
                if result.queued:  # its alert and acknowledgement go now, not after all
                    self._send_now()
        finally:
            self.in_message = False
        for folder, uids in recorded.items():
            self._mark(folder, validity[folder], uids)
        crashpoint("marked")
        if self.alert_batch():  # a burst in this batch: its one alert goes now
            self._send_now()
        return done

    def _batches(self, order: list[tuple[str, int]]) -> Iterator[list[tuple[str, int]]]:
        sizes: dict[tuple[str, int], int] = {}
        for folder in dict.fromkeys(folder for folder, _ in order):
            found = self.mailbox.sizes(folder, [uid for f, uid in order if f == folder])
            sizes.update({(folder, uid): size for uid, size in found.items()})
        return batches(order, sizes, self.settings.mailbox)

    def _mark(self, folder: str, uidvalidity: int, uids: list[int]) -> None:
        """Mark on the server what is committed in the store (never in shadow mode)."""
        if not uids:
            return
        if not self.shadow:
            self.in_message = True  # a SIGTERM now waits until the marks are made
            try:
                leave = self.store.left_in_place(folder, uidvalidity, uids)
                self.mailbox.mark_processed(folder, [u for u in uids if u not in leave])
                self.mailbox.mark_processed(folder, sorted(leave), move=False)
            finally:
                self.in_message = False
        self.store.set_marked(folder, uidvalidity, uids)

    # -- acting from the store ---------------------------------------------

    def after_mail(self) -> None:
        self.alert_batch()
        self.remind()
        self.digest()
        self.overdue()
        self.deliver()

    def overdue(self) -> None:
        for reference in queue_overdue_alerts(self.store, self.composer, self.settings,
                                              utcnow()):
            log.info("%s screening overdue: alert queued", reference)

    def alert_batch(self) -> int:
        """The manual-review alerts a burst held back, as one alert (bursts.py)."""
        listed = flush_review_alerts(self.store, self.composer, self.pipeline.burst_rule,
                                     utcnow())
        if listed:
            log.info("alert listing %d manual-review referrals queued", listed)
        return listed

    def remind(self) -> None:
        for reference in queue_due_reminders(self.store, self.composer, self.settings, utcnow()):
            log.info("%s reminder queued", reference)

    def digest(self) -> None:
        for day in queue_due_digests(self.store, self.settings, self.composer, now=utcnow()):
            log.info("digest for %s queued", day.isoformat())

    def deliver(self) -> None:
        self.in_message = True  # a SIGTERM lets the message in hand be sent and recorded
        try:
            self._send_now()
        finally:
            self.in_message = False
        if self.stopping:
            raise Stop()

    def _send_now(self) -> None:
        """Send what is due (also while a batch is being taken: the caller keeps SIGTERM
        waiting); SMTP trouble leaves it in the outbox and is recorded as an outage."""
        try:
            if self._sender is None:
                self._sender = open_sender(self.settings, self.token_provider)
            report = deliver_due(self.store, self._sender, self.settings, utcnow())
            log.debug("outbox: %s", report)
            if report.stopped:
                self._failing("smtp", Exception(report.stopped))
            elif report.sent and record_ok(self.store, "smtp", self.composer, self.settings,
                                           utcnow()):
                deliver_due(self.store, self._sender, self.settings, utcnow())  # "sends again"
        except StoreError:
            raise
        except OperationError as err:  # SMTP down, or its sign-in token refused
            log.warning("smtp: %s; messages wait in the outbox", err)
            self._failing("smtp", err)
            self._close_sender()

    def _close_sender(self) -> None:
        if self._sender is not None:
            try:
                self._sender.close()
            except Exception:  # closing a broken connection may fail again
                pass
            self._sender = None

    def close(self) -> None:
        self._close_sender()
        self.mailbox.close()
        self.pool.close()
        self.store.close()


def _log_recorded(folder: str, result: Recorded) -> None:
    parts = [f"uid={result.uid}"]
    if result.reference:
        parts.append(result.reference)
    parts.append(result.outcome)
    if result.status:
        parts.append(result.status)
    if result.reason:
        parts.append(f"({result.reason})")
    if result.queued:
        parts.append("queued " + ",".join(result.queued))
    if result.reason == "alert-bounced":
        log.error("%s %s: our alert to the MASH was returned undelivered; check [triage] "
                  "alert_to", folder, result.reference)
    log.info("%s %s", folder, " ".join(parts))
