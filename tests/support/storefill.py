"""Realistic intakes in a Store, for tests of what reads them, written by the production
writers of message and intake rows (intake/store/rows.py insert_message and
insert_intake), not a copy of them.

`add_intake` writes what record.py would: the message row with its raw bytes,
the intake, its audit events and an acknowledgement in the outbox (sent). Defaults
describe a complete, normal referral about an adult; override what a test is
about: any column of the intake, as record.py's `columns` would give it.
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import datetime
from typing import Any

from intake.domain.clock import iso, parse_iso
from intake.domain.models import RawMessage
from intake.domain.records import Intake, Kind, SendStatus
from intake.mail.parse import parse
from intake.store.database import Store
from intake.store.rows import insert_intake, insert_message

_uids = itertools.count(1)

FIELDS: dict[str, str] = {
    "subject_forenames": "Jane",
    "subject_surname": "Okafor",
    "subject_dob": "14/03/1990",
    "subject_address": "12 Catford Road, London SE6 4AA",
    "concerns": "Has been sharing extremist material with younger pupils.",
    "individual_aware": "No",
    "referrer_name": "Sam Teacher",
    "referrer_role": "Designated Safeguarding Lead, Hilly Fields School",
    "referrer_phone": "020 8000 0000",
    "referrer_email": "s.teacher@hillyfields.example.org",
}


def _when(value: datetime | str) -> str:
    return iso(value) if isinstance(value, datetime) else iso(parse_iso(value))


def add_intake(store: Store, received_at: datetime | str, *, status: str = "complete",
               fields: dict[str, str] | None = None, raw: bytes | None = None,
               **columns: Any) -> Intake:
    """Record one referral as the pipeline would; returns the intake as stored."""
    received = parse_iso(_when(received_at))
    form = dict(FIELDS if fields is None else fields)
    uid = next(_uids)
    message_id = columns.pop("message_id", f"<referral-{uid}@hillyfields.example.org>")
    sender = columns.pop("sender", "s.teacher@hillyfields.example.org")
    folder = columns.pop("folder", None)
    if raw is None:
        body = "\n".join(f"{key}: {value}" for key, value in form.items())
        raw = (f"From: {sender}\r\nMessage-ID: {message_id}\r\nSubject: Prevent referral\r\n"
               f"\r\n{body}\r\n").encode()
    values: dict[str, Any] = {
        "message_id": message_id,
        "sender": sender,
        "reply_to": sender,
        "status": status,
        "fields": form,
        "field_sources": {key: "docx: table 1" for key in form},
        "recipients": ["mashagency@lewisham.gov.uk", "preventreferrals@met.pnn.police.uk"],
        "age_band": "adult",
        "source": "docx",
    }
    if status == "manual_review":
        values.update(source="none", review_reason="scan", fields={}, field_sources={})
    values.update({k: _when(v) if isinstance(v, datetime) else v for k, v in columns.items()})
    message = RawMessage(folder or "INBOX", 1, uid, received, raw, len(raw))
    # The message row names the sender and Message-ID given, whatever `raw` says.
    email = replace(parse(raw), message_id=message_id, sender=sender)
    with store.transaction():
        message_row = insert_message(store, message, email, f"hash-{uid}", outcome="intake",
                                     reason=None, kept=raw, sender_auth=None, now=received)
        intake = insert_intake(store, message, email, message_row, values, folder=folder,
                               now=received)
        store.audit("received", message_row=message_row, at=received, uid=uid)
        store.audit("checked", intake_id=intake.id, message_row=message_row, at=received,
                    status=status, missing=values.get("missing", []))
        # The acknowledgement as delivered: a sent row, with no "queued" or "sent" audit
        # events (tests of audit trails count the intake's own).
        store.insert("outbox", {
            "intake_id": intake.id, "kind": Kind.ACK, "recipients": [sender],
            "message_id": f"<ack-{uid}@lewisham.gov.uk>",
            "raw": f"Subject: [{intake.reference}] Prevent referral received\r\n\r\n"
                   f"Thank you, {form.get('referrer_name', '')}.\r\n".encode(),
            "status": SendStatus.SENT, "next_attempt_at": received, "created_at": received,
            "sent_at": received,
        })
    stored = store.intake_by_id(intake.id)
    assert stored is not None
    return stored
