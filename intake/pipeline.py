"""One batch of fetched messages through parse -> extract -> check -> decide -> record.

Nothing here touches the mailbox or SMTP: the worker marks the mailbox and
the outbox sends, both from what this committed.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator, Sequence
from datetime import datetime

from .classify import says_referral
from .compose import Composer
from .decide import Context, decide
from .errors import StoreError
from .extract import ParserPool
from .models import Extraction, ParsedEmail, RawMessage
from .outbox import queue
from .parse import parse
from .record import Recorded, record
from .rules import Rules
from .settings_types import Settings
from .store import Store

log = logging.getLogger("intake")


class Pipeline:
    def __init__(self, settings: Settings, store: Store, rules: Rules, pool: ParserPool,
                 composer: Composer):
        self.settings = settings
        self.store = store
        self.rules = rules
        self.pool = pool
        self.composer = composer
        sender = settings.smtp.sender
        own = {settings.mailbox.address, sender.rsplit("<", 1)[-1].rstrip(">").strip().lower()}
        self.own_addresses = tuple(a for a in own if a)

    def process(self, batch: Sequence[RawMessage], now: datetime) -> Iterator[Recorded]:
        """Record each message of the batch in order, yielding as each commits."""
        parsed = [self._parse(raw) for raw in batch]
        hashes = [content_hash(raw, email) for raw, email in zip(batch, parsed, strict=True)]
        # Parse forms in parallel, except for second deliveries we will not read again.
        wanted = [
            i for i, (email, digest) in enumerate(zip(parsed, hashes, strict=True))
            if not batch[i].too_large and not self._repeat(email, digest)
        ]
        extractions: dict[int, Extraction] = {}
        if wanted:
            results = self.pool.extract_many([parsed[i].attachments for i in wanted])
            extractions = dict(zip(wanted, results, strict=True))
        for i, raw in enumerate(batch):
            extraction = extractions.get(i, Extraction(source="none"))
            if raw.too_large:  # only its header was downloaded: a person must look
                extraction = Extraction(source="none", review_reason="too-large",
                                        carries_form=True)
            elif not extraction.carries_form and cut_short(parsed[i]):
                # The MIME walk stopped early: a form may lie beyond where it stopped, and
                # "no form attached" would be untrue. A person must look.
                extraction = Extraction(source="none", review_reason="damaged",
                                        carries_form=True)
            elif not extraction.carries_form and damaged_referral(parsed[i], raw, self.rules):
                extraction = Extraction(source="none", review_reason="damaged",
                                        carries_form=True)
            yield self.record_one(raw, parsed[i], extraction, hashes[i], now)

    def _repeat(self, email: ParsedEmail, digest: str) -> bool:
        """The very same message was recorded before: its form need not be read again."""
        first = self.store.first_delivery(email.message_id, digest)
        return first is not None and first["content_hash"] == digest

    def _parse(self, raw: RawMessage) -> ParsedEmail:
        return parse(raw.data, max_attachment_bytes=self.settings.mailbox.max_attachment_bytes)

    def record_one(self, raw: RawMessage, email: ParsedEmail, extraction: Extraction,
                   content_hash: str, now: datetime) -> Recorded:
        ctx = Context(raw, email, extraction, content_hash, self.rules, self.store,
                      self.own_addresses, self.settings.digest.timezone)
        try:
            decision = decide(ctx)
            return record(ctx, decision, self.composer,
                          mailbox_address=self.settings.mailbox.address,
                          main_folder=self.settings.mailbox.folder, now=now)
        except StoreError:
            raise
        except Exception as err:  # a bug must not lose the message: shunt it to a person
            # The exception's text may quote the message: log its type, trace only in debug.
            log.error("uid=%s %s: could not process; recorded for manual review",
                      raw.uid, type(err).__name__)
            log.debug("uid=%s traceback", raw.uid, exc_info=True)
            return self._shunt(ctx, err, now)

    def _shunt(self, ctx: Context, err: Exception, now: datetime) -> Recorded:
        store, raw = self.store, ctx.raw
        with store.transaction():
            message_row = store.insert("messages", {
                "folder": raw.folder, "uidvalidity": raw.uidvalidity, "uid": raw.uid,
                "message_id": ctx.email.message_id, "content_hash": ctx.content_hash,
                "sender": ctx.email.sender, "received_at": raw.received_at, "recorded_at": now,
                "outcome": "intake", "reason": "error", "raw": raw.data,
            })
            reference = store.next_reference(raw.received_at.year)
            intake_id = store.insert("intakes", {
                "reference": reference, "message_id": ctx.email.message_id,
                "sender": ctx.email.sender, "received_at": raw.received_at,
                "last_message_at": raw.received_at, "status": "manual_review",
                "review_reason": "error", "source": ctx.extraction.source,
                "created_at": now, "updated_at": now,
            })
            store.update("messages", message_row, {"intake_id": intake_id})
            store.audit("error", intake_id=intake_id, message_row=message_row, at=now,
                        error=type(err).__name__)
            try:  # every manual-review intake alerts the MASH, if the alert can be written
                intake = store.intake_by_id(intake_id) or {}
                queue(store, self.composer.alert(intake), kind="alert", intake_id=intake_id,
                      now=now)
            except Exception as alert_err:  # the failure may be the composer's own
                log.error("%s alert could not be written: %s", reference,
                          type(alert_err).__name__)
            store.set_folder_state(raw.folder, raw.uidvalidity, raw.uid)
        return Recorded(raw.uid, "intake", reference, "manual_review", "error")


def content_hash(raw: RawMessage, email: ParsedEmail) -> str:
    """What makes two deliveries the same message: its text and its files (and, without a
    Message-ID, its sender and Date), not the trace headers or MIME boundaries a second
    delivery may change. A message cut to its header is hashed whole, with its size."""
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
    digest.update(" ".join(email.subject.split()).encode("utf-8", "replace"))
    # A blank text/plain part hashed as "" before body_text fell back to the HTML:
    # kept so, or a rescan would not know the messages recorded then.
    text = "" if email.blank_plain_part else email.body_text
    digest.update(" ".join(text.split()).encode("utf-8", "replace"))
    for attachment in email.attachments:
        digest.update(hashlib.sha256(attachment.data).digest())
    return digest.hexdigest()


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
