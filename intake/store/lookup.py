"""What the store knows about one message, looked up once by the pipeline and handed
to decide as values (decide.Known): the delivery it repeats, the intake whose
thread it is in, and the intake (and kinds of our messages) a bounce returns.

A batch's first deliveries are looked up once, before its forms are read (a
repeat is not read again); `Deliveries` then adds what the batch itself
records, so a second delivery within one batch is still known, with no
second look-up. Only the pipeline writes message rows while a batch runs (the
worker holds the store's lock).
"""

from __future__ import annotations

from collections.abc import Sequence

from ..domain.classify import bounced_message_ids, references_in
from ..domain.decide import Delivery, Known
from ..domain.models import ParsedEmail
from ..domain.records import Kind, Outcome
from .database import Store


def known_about(store: Store, email: ParsedEmail, first_delivery: Delivery | None) -> Known:
    thread = None
    for reference in references_in(email.subject):
        thread = store.intake(reference)
        if thread:
            break
    if thread is None:
        thread = store.intake_for_message_ids((*email.in_reply_to, *email.references))
    originals = bounced_message_ids(email)
    bounced = store.intake_for_message_ids(originals) if originals else None
    kinds = frozenset(Kind(k) for k in store.outbox_kinds(originals)) if bounced else frozenset()
    return Known(first_delivery, thread, bounced, kinds)


def has_message_id(message_id: str | None) -> bool:
    return bool(message_id and message_id.strip("<> "))


def first_among(message_id: str | None, content_hash: str,
                rows: Sequence[Delivery]) -> Delivery | None:
    """The row (of `rows`, oldest first) a message repeats, as Store.first_delivery
    chooses: the same Message-ID, the same bytes first; without one, the same content."""
    if has_message_id(message_id):
        same = [row for row in rows if row.message_id == message_id]
        return next((row for row in same if row.content_hash == content_hash),
                    same[0] if same else None)
    return next((row for row in rows if row.content_hash == content_hash), None)


class Deliveries:
    """The first deliveries of one batch's messages: looked up before the batch, then
    kept up to date from what the batch records."""

    def __init__(self, store: Store, emails: Sequence[ParsedEmail], hashes: Sequence[str]):
        self.keys = list(zip((email.message_id for email in emails), hashes, strict=True))
        self.before: list[Delivery | None] = []
        for message_id, digest in self.keys:
            row = store.first_delivery(message_id, digest)
            self.before.append(Delivery(row["id"], message_id, row["content_hash"])
                               if row else None)
        self.recorded: list[Delivery] = []

    def repeats_exactly(self, i: int) -> bool:
        """Message i was recorded before the batch, the very same bytes."""
        first = self.before[i]
        return first is not None and first.content_hash == self.keys[i][1]

    def first(self, i: int) -> Delivery | None:
        """The row message i repeats, now (earlier messages of the batch recorded)."""
        before = self.before[i]
        return first_among(*self.keys[i], [*([before] if before else []), *self.recorded])

    def add(self, i: int, message_row: int | None, outcome: str) -> None:
        """Message i was recorded as `message_row`."""
        if message_row is not None and outcome != Outcome.DUPLICATE:
            self.recorded.append(Delivery(message_row, *self.keys[i]))
