"""Write realistic intakes straight into a Store, for tests of what reads them.

`add_intake` writes what record.py would: the message row with its raw bytes,
the intake, its audit events and an acknowledgement in the outbox. Defaults
describe a complete, normal referral about an adult; override what a test is
about.
"""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import Any

from intake.domain.clock import iso, parse_iso
from intake.domain.records import Intake
from intake.store.database import Store

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
    received = _when(received_at)
    form = dict(FIELDS if fields is None else fields)
    uid = next(_uids)
    message_id = columns.pop("message_id", f"<referral-{uid}@hillyfields.example.org>")
    sender = columns.pop("sender", "s.teacher@hillyfields.example.org")
    if raw is None:
        body = "\n".join(f"{key}: {value}" for key, value in form.items())
        raw = (f"From: {sender}\r\nMessage-ID: {message_id}\r\nSubject: Prevent referral\r\n"
               f"\r\n{body}\r\n").encode()
    values: dict[str, Any] = {
        "message_id": message_id,
        "sender": sender,
        "reply_to": sender,
        "received_at": received,
        "last_message_at": received,
        "status": status,
        "fields": form,
        "field_sources": {key: "docx: table 1" for key in form},
        "recipients": ["mashagency@lewisham.gov.uk", "preventreferrals@met.pnn.police.uk"],
        "age_band": "adult",
        "source": "docx",
        "created_at": received,
        "updated_at": received,
    }
    if status == "manual_review":
        values.update(source="none", review_reason="scan", fields={}, field_sources={})
    values.update({k: _when(v) if isinstance(v, datetime) else v for k, v in columns.items()})
    with store.transaction():
        message_row = store.insert("messages", {
            "folder": "INBOX", "uidvalidity": 1, "uid": uid, "message_id": message_id,
            "content_hash": f"hash-{uid}", "sender": sender, "received_at": received,
            "recorded_at": received, "outcome": "intake", "raw": raw,
        })
        values["reference"] = columns.get("reference") or store.next_reference(
            parse_iso(received).year)
        intake_id = store.insert("intakes", values)
        store.update("messages", message_row, {"intake_id": intake_id})
        store.audit("received", message_row=message_row, at=parse_iso(received), uid=uid)
        store.audit("checked", intake_id=intake_id, message_row=message_row,
                    at=parse_iso(received), status=status,
                    missing=values.get("missing", []))
        store.insert("outbox", {
            "intake_id": intake_id, "kind": "ack", "recipients": [sender],
            "message_id": f"<ack-{uid}@lewisham.gov.uk>",
            "raw": f"Subject: [{values['reference']}] Prevent referral received\r\n\r\n"
                   f"Thank you, {form.get('referrer_name', '')}.\r\n".encode(),
            "status": "sent", "next_attempt_at": received, "created_at": received,
            "sent_at": received,
        })
    intake = store.intake_by_id(intake_id)
    assert intake is not None
    return intake
