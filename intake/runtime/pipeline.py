"""One batch of fetched messages through parse -> extract -> check -> decide -> record.

What the store knows about each message is looked up once (lookup.py) and, with
the check's result, handed to decide as values: decide reads no store.

Nothing here touches the mailbox or SMTP: the worker marks the mailbox and
the outbox sends, both from what this committed.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from ..config.settings_types import Settings
from ..domain.alerts import AlertFacts, State, alerts_for
from ..domain.check_stage import check_message
from ..domain.classify import behind_secure_link, says_referral
from ..domain.decide import Context, Delivery, decide
from ..domain.errors import StoreError
from ..domain.models import Extraction, ParsedEmail, RawMessage
from ..domain.records import Intake, Outcome, ReviewReason, Status
from ..domain.rules import Rules
from ..domain.safe_text import clean_fields
from ..domain.sender_auth import sender_auth
from ..extract import ParserPool
from ..mail.compose import Composer
from ..mail.parse import parse
from ..mail.parse_apart import APART_BYTES, parse_apart
from ..store.database import Store
from ..store.followup import queue_alert
from ..store.lookup import Deliveries, known_about
from ..store.record import Recorded, record
from ..store.rows import insert_intake, insert_message
from ..store.screening_clock import set_deadline

log = logging.getLogger("intake")


class Pipeline:
    def __init__(self, settings: Settings, store: Store, rules: Rules, pool: ParserPool,
                 composer: Composer):
        self.settings = settings
        self.store = store
        self.rules = rules
        self.pool = pool
        self.composer = composer
        self.burst_rule = rules.alerts.burst  # rules/alerts.toml
        sender = settings.smtp.sender
        own = {settings.mailbox.address, sender.rsplit("<", 1)[-1].rstrip(">").strip().lower()}
        self.own_addresses = tuple(a for a in own if a)

    def process(self, batch: Sequence[RawMessage], now: datetime | Callable[[], datetime]
                ) -> Iterator[tuple[RawMessage, Recorded]]:
        """Record each message of the batch as soon as it is read, yielding (the message,
        what was recorded) as each commits.

        Messages are recorded in the order they arrived, except that one whose form is
        still being read after `SLOW_GRACE_SECONDS` (moved to the parser's slow lane) is
        overtaken by those behind it, so it never holds up their alerts. A message that
        replies to one still being read waits for it. The folder position only moves over
        messages recorded with every earlier one of their folder: a kill never skips one."""
        clock = now if callable(now) else (lambda: now)
        parsed = [self._parse(raw) for raw in batch]
        hashes = [content_hash(raw, email) for raw, email in zip(batch, parsed, strict=True)]
        deliveries = Deliveries(self.store, parsed, hashes)
        # Parse forms in parallel, except for second deliveries we will not read again.
        wanted = [i for i in range(len(batch))
                  if not batch[i].too_large and not deliveries.repeats_exactly(i)]
        ready: dict[int, Extraction] = {
            i: Extraction(source="none") for i in range(len(batch)) if i not in set(wanted)}
        order = _Order(batch, parsed)
        jobs = self.pool.extract_as_ready([parsed[i].attachments for i in wanted],
                                          grace=SLOW_GRACE_SECONDS)
        try:
            for i in order.next_ready(ready):
                yield batch[i], self._record_at(i, batch, parsed, hashes, ready.pop(i), order,
                                                deliveries, clock())
            for job, result in jobs:
                if result is None:
                    order.slow.add(wanted[job])
                else:
                    ready[wanted[job]] = result
                for i in order.next_ready(ready):
                    yield batch[i], self._record_at(i, batch, parsed, hashes, ready.pop(i),
                                                    order, deliveries, clock())
        finally:
            jobs.close()  # stopped early: no parser answer is left for the next batch

    def _record_at(self, i: int, batch: Sequence[RawMessage], parsed: list[ParsedEmail],
                   hashes: list[str], extraction: Extraction, order: _Order,
                   deliveries: Deliveries, now: datetime) -> Recorded:
        raw = batch[i]
        if raw.too_large:  # only its header was downloaded: a person must look
            extraction = Extraction(source="none", review_reason=ReviewReason.TOO_LARGE,
                                    carries_form=True)
        elif not extraction.carries_form and cut_short(parsed[i]):
            # The MIME walk stopped early: a form may lie beyond where it stopped, and
            # "no form attached" would be untrue. A person must look.
            extraction = Extraction(source="none", review_reason=ReviewReason.DAMAGED,
                                    carries_form=True)
        elif not extraction.carries_form and damaged_referral(parsed[i], raw, self.rules):
            extraction = Extraction(source="none", review_reason=ReviewReason.DAMAGED,
                                    carries_form=True)
        position = order.taken(i)
        result = self.record_one(raw, parsed[i], extraction, hashes[i], now,
                                 first_delivery=deliveries.first(i), position=position)
        deliveries.add(i, result.message_row, result.outcome)
        return result

    def _parse(self, raw: RawMessage) -> ParsedEmail:
        cap = self.settings.mailbox.max_attachment_bytes
        if len(raw.data) > APART_BYTES:  # the parser's working memory stays out of ours
            return parse_apart(raw.data, max_attachment_bytes=cap,
                               timeout=self.settings.parse_timeout_seconds,
                               memory_mb=self.settings.parse_memory_mb)
        return parse(raw.data, max_attachment_bytes=cap)

    def record_one(self, raw: RawMessage, email: ParsedEmail, extraction: Extraction,
                   content_hash: str, now: datetime, *, first_delivery: Delivery | None,
                   position: int | None = None) -> Recorded:
        extraction = self.answers(email, extraction)
        auth = sender_auth(email, self.settings.mailbox.trusted_authserv_ids)
        try:
            ctx = self.context(raw, email, extraction, content_hash, auth, first_delivery,
                               position)
            decision = decide(ctx)
            return record(self.store, ctx, decision, self.composer,
                          mailbox_address=self.settings.mailbox.address,
                          main_folder=self.settings.mailbox.folder, now=now,
                          burst_rule=self.burst_rule)
        except StoreError:
            raise
        except Exception as err:  # a bug must not lose the message: shunt it to a person
            # The exception's text may quote the message: log its type, trace only in debug.
            log.error("uid=%s %s: could not process; recorded for manual review",
                      raw.uid, type(err).__name__)
            log.debug("uid=%s traceback", raw.uid, exc_info=True)
            return self._shunt(raw, email, extraction, content_hash, err, now, position)

    def answers(self, email: ParsedEmail, extraction: Extraction) -> Extraction:
        """The extracted answers as they are checked and stored."""
        # Answers are data: no control or bidi-control character is stored (safe_text.py).
        extraction = replace(extraction, fields=clean_fields(extraction.fields),
                             where=clean_fields(extraction.where))
        if not extraction.carries_form and behind_secure_link(email, self.rules):
            # No form, but the real message may wait behind the link: a person must look.
            extraction = replace(extraction, review_reason=ReviewReason.ENCRYPTED_EMAIL)
        return extraction

    def context(self, raw: RawMessage, email: ParsedEmail, extraction: Extraction,
                digest: str, auth: str, first_delivery: Delivery | None,
                position: int | None = None) -> Context:
        """Look up what the store knows, check, and bundle it all for decide."""
        known = known_about(self.store, email, first_delivery)
        checked = check_message(email, extraction, raw.received_at, known.thread_intake,
                                self.rules, timezone=self.settings.digest.timezone,
                                mailbox_address=self.settings.mailbox.address)
        return Context(raw, email, extraction, digest, self.rules, self.own_addresses,
                       known, checked, auth, position_uid=position)

    def _shunt(self, raw: RawMessage, email: ParsedEmail, extraction: Extraction,
               digest: str, err: Exception, now: datetime, position: int | None) -> Recorded:
        store = self.store
        uid = raw.uid if position is None else position
        with store.transaction():
            message_row = insert_message(store, raw, email, digest, outcome=Outcome.INTAKE,
                                         reason=ReviewReason.ERROR, kept=raw.data,
                                         sender_auth=None, now=now)
            intake = insert_intake(store, raw, email, message_row, {
                "status": Status.MANUAL_REVIEW, "review_reason": ReviewReason.ERROR,
                "source": extraction.source}, folder=None, now=now)
            intake_id, reference = intake.id, intake.reference
            store.audit("error", intake_id=intake_id, message_row=message_row, at=now,
                        error=type(err).__name__)
            # Its screening deadline, as any new referral's, if it can be set.
            try:
                with store.savepoint("deadline"):
                    set_deadline(store, intake, self.settings, now)
            except Exception as clock_err:  # e.g. rules/screening.toml is the fault
                log.error("%s screening deadline could not be set: %s", reference,
                          type(clock_err).__name__)
            self.alert_failed(intake, now)
            store.set_folder_state(raw.folder, raw.uidvalidity, uid)
        return Recorded(raw.uid, Outcome.INTAKE, reference, Status.MANUAL_REVIEW,
                        ReviewReason.ERROR, message_row=message_row)

    def alert_failed(self, intake: Intake, now: datetime, *, alerted: bool = False) -> None:
        """Inside the caller's transaction: the alert about a message the pipeline failed
        on, as rules/alerts.toml's processing_failed says (never "none"), whatever
        manual_review says, if it can be written (the error path; a retry that fails
        again, `alerted` if the MASH was told already)."""
        planned = alerts_for(AlertFacts(State(Status.MANUAL_REVIEW), failed=True,
                                        review_alerted=alerted), self.rules.alerts)
        try:
            with self.store.savepoint("alert"):
                queue_alert(self.store, self.composer, planned, intake, now, self.burst_rule)
        except Exception as alert_err:  # the failure may be the composer's own
            log.error("%s alert could not be written: %s", intake.reference,
                      type(alert_err).__name__)


def content_hash(raw: RawMessage, email: ParsedEmail) -> str:
    """What makes two deliveries the same message: its text and its files, not the trace
    headers or MIME boundaries a second delivery may change. A message cut to its
    header is hashed whole, with its size."""
    digest = hashlib.sha256()
    if raw.too_large:
        digest.update(raw.data + str(raw.size).encode())
        return digest.hexdigest()
    if not email.message_id:
        # Without a Message-ID, the same form from another referrer, or sent again later,
        # is another message: who sent it and when it was written are part of its identity.
        date = email.header_values("date")
        digest.update(f"{email.sender or ''}\n{date[0] if date else ''}\n".encode(
            "utf-8", "replace"))
    _hash_words(digest, email.subject)
    # A blank text/plain part hashed as "" before body_text fell back to the HTML:
    # kept so, or a rescan would not know the messages recorded then.
    _hash_words(digest, "" if email.blank_plain_part else email.body_text)
    for attachment in email.attachments:
        digest.update(hashlib.sha256(attachment.data).digest())
    return digest.hexdigest()


_HASH_CHUNK = 1 << 20  # characters: the words of a 20 MB body are hashed a chunk at a time


def _hash_words(digest: Any, text: str) -> None:
    """Hash " ".join(text.split()), UTF-8, without holding a list of every word."""
    first, carry, start = True, "", 0
    while True:
        chunk = carry + text[start:start + _HASH_CHUNK]
        start += _HASH_CHUNK
        more = start < len(text)
        words = chunk.split()
        # A chunk that ends inside a word: the word goes on into the next chunk.
        carry = words.pop() if more and words and not chunk[-1].isspace() else ""
        if words:
            digest.update((("" if first else " ") + " ".join(words)).encode("utf-8", "replace"))
            first = False
        if not more:
            return


WALK_CUT_SHORT = ("too-many-parts", "too-deep", "unparseable-mime", "walk-failed")


def cut_short(email: ParsedEmail) -> bool:
    return any(defect.startswith(WALK_CUT_SHORT) for defect in email.defects)


# MIME damage after which the parts we see may not be the parts that were sent.
BROKEN_MIME = ("StartBoundaryNotFoundDefect", "CloseBoundaryNotFoundDefect",
               "MultipartInvariantViolationDefect", "MissingHeaderBodySeparatorDefect",
               "InvalidBase64", "unparseable-headers")
PDF_MARKS = (b"application/pdf", b"%PDF-", b"JVBERi0")  # the last: "%PDF-" in base64


def damaged_referral(email: ParsedEmail, raw: RawMessage, rules: Rules) -> bool:
    """A damaged message (MIME out of step, or a From no address can be read from) that
    may be a referral: it says so, or a PDF lies somewhere in its bytes. Not a form we
    could read, but a person must look: never ignored for having no sender."""
    unreadable_from = bool(email.header_values("from")) and not email.sender
    broken = unreadable_from or any(d.startswith(BROKEN_MIME) for d in email.defects)
    if not broken:
        return False
    return says_referral(email, rules) or any(mark in raw.data for mark in PDF_MARKS)


SLOW_GRACE_SECONDS = 2.0  # a form still being read after this is overtaken by the rest


class _Order:
    """Which message of a batch may be recorded next, and the folder position after it."""

    def __init__(self, batch: Sequence[RawMessage], parsed: list[ParsedEmail]):
        self.batch = batch
        self.parsed = parsed
        self.done: set[int] = set()
        self.slow: set[int] = set()

    def next_ready(self, ready: dict[int, Extraction]) -> Iterator[int]:
        """The messages that may be recorded now, first come first; each is recorded
        (taken) before the next is asked for."""
        while True:
            found = None
            for i in range(len(self.batch)):
                if i in self.done:
                    continue
                if i in ready and self._may_overtake(i):
                    found = i
                    break
                if i not in self.slow:
                    break  # in arrival order: wait for this one
            if found is None:
                return
            yield found

    def _may_overtake(self, i: int) -> bool:
        """Every earlier message is recorded, or slow and not one this replies to."""
        email = self.parsed[i]
        thread = {*email.in_reply_to, *email.references}
        waiting_for = [j for j in range(i) if j not in self.done]
        return all(j in self.slow and self.parsed[j].message_id not in thread
                   for j in waiting_for)

    def taken(self, i: int) -> int:
        """Mark message i recorded; the UID its folder's position may move to (0: not at
        all, an earlier message of the folder is still being read)."""
        self.done.add(i)
        folder = self.batch[i].folder
        position = 0
        for j, raw in enumerate(self.batch):
            if raw.folder != folder:
                continue
            if j not in self.done:
                break
            position = raw.uid
        return position
