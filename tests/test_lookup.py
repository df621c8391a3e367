"""lookup.Deliveries: a batch's first deliveries, looked up once before the batch and
kept from what the batch records, choose the row Store.first_delivery would."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from intake.domain.models import ParsedEmail
from intake.store.database import Store
from intake.store.lookup import Deliveries

NOW = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def email(message_id: str | None) -> ParsedEmail:
    return ParsedEmail(message_id, "Prevent referral", "jo@school.example.org", (), None, (),
                       (), (), (), (), "text/plain", "", ())


def recorded(store: Store, message_id: str | None, digest: str, outcome: str = "intake") -> int:
    (uid,) = store.query("SELECT COUNT(*) + 1 FROM messages")[0]
    with store.transaction():
        return store.insert("messages", {
            "folder": "INBOX", "uidvalidity": 1, "uid": uid, "message_id": message_id,
            "content_hash": digest, "sender": "jo@school.example.org", "received_at": NOW,
            "recorded_at": NOW, "outcome": outcome})


# (message id, content hash) of each message of one batch, with what was recorded before.
CASES = {
    "new, then again in the batch": ([], [("<a@x>", "h1"), ("<a@x>", "h1")]),
    "same id, other bytes in the batch": ([], [("<a@x>", "h1"), ("<a@x>", "h2")]),
    "before with other bytes, the same in the batch": (
        [("<a@x>", "h2")], [("<a@x>", "h1"), ("<a@x>", "h1")]),
    "before with the same bytes": ([("<a@x>", "h2"), ("<a@x>", "h1")], [("<a@x>", "h1")]),
    "no Message-ID: by content": ([(None, "h3")], [(None, "h3"), ("<>", "h4"), (None, "h4")]),
    "a duplicate row is never the first": ([], [("<b@x>", "h5"), ("<b@x>", "h5"),
                                                ("<b@x>", "h5")]),
}


@pytest.mark.parametrize("before, batch", CASES.values(), ids=CASES.keys())
def test_the_batch_knows_its_own_deliveries_as_the_store_would(
        store: Store, before: list[tuple[str | None, str]],
        batch: list[tuple[str | None, str]]) -> None:
    for message_id, digest in before:
        recorded(store, message_id, digest)
    deliveries = Deliveries(store, [email(m) for m, _ in batch], [h for _, h in batch])
    for i, (message_id, digest) in enumerate(batch):
        row = store.first_delivery(message_id, digest)
        first = deliveries.first(i)
        kept = (first.row_id, first.content_hash) if first else None
        assert kept == ((row["id"], row["content_hash"]) if row else None)
        outcome = "duplicate" if first and first.content_hash == digest else "intake"
        deliveries.add(i, recorded(store, message_id, digest, outcome), outcome)
