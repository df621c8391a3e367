"""A mixed backlog of mail, each message with what must come of it.

Kinds cycle: complete and incomplete referrals in three layouts, a referral
with no form, a question (ignored), an out-of-office (ignored), a form
forwarded by a mailbox rule (an intake, never answered), a second delivery
of an earlier referral (a duplicate), and a correction of an earlier one.
Each referrer has an address of its own, so the hourly reply limit never
holds a reply back and every acknowledgement can be traced to its referral.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from support.forms import SAMPLE_VALUES, make_form
from support.mail import referral_email

KINDS = ("complete", "incomplete", "flat", "question", "out-of-office", "no-form",
         "forwarded-by-rule", "duplicate", "correction")


@dataclass(frozen=True)
class Expected:
    message_id: str
    kind: str
    sender: str
    intake: bool  # a new intake (exported once)
    ack: bool  # the referrer gets an acknowledgement
    correction_of: str | None = None  # Message-ID of the referral corrected


@cache
def _form(layout: str, incomplete: bool = False) -> tuple[str, str, bytes]:
    values = dict(SAMPLE_VALUES)
    if incomplete:
        values.update(subject_surname="", referrer_email="")
    return make_form(layout, values)


def backlog(count: int) -> tuple[list[bytes], list[Expected]]:
    """`count` messages and, for each, what must come of it."""
    messages: list[bytes] = []
    expected: list[Expected] = []
    referrals: list[Expected] = []  # answered referrals, for duplicates and corrections
    for n in range(count):
        kind = KINDS[n % len(KINDS)]
        if kind in ("duplicate", "correction") and not referrals:
            kind = "complete"
        sender = f"teacher{n}@school{n}.example.org"
        mid = f"<msg-{n}@school{n}.example.org>"
        if kind == "complete":
            raw = referral_email([_form("docx")], sender=sender, message_id=mid)
            item = Expected(mid, kind, sender, intake=True, ack=True)
        elif kind == "incomplete":
            raw = referral_email([_form("pdf-form", incomplete=True)], sender=sender,
                                 message_id=mid, cc=["mashagency@lewisham.gov.uk"])
            item = Expected(mid, kind, sender, intake=True, ack=True)
        elif kind == "flat":
            raw = referral_email([_form("pdf-text")], sender=sender, message_id=mid)
            item = Expected(mid, kind, sender, intake=True, ack=True)
        elif kind == "question":
            raw = referral_email(sender=sender, message_id=mid, subject="Training dates?",
                                 body="When is the next WRAP training session?")
            item = Expected(mid, kind, sender, intake=False, ack=False)
        elif kind == "out-of-office":
            raw = referral_email(sender=sender, message_id=mid, subject="Out of office",
                                 body="I am away until Monday.",
                                 headers={"Auto-Submitted": "auto-replied"})
            item = Expected(mid, kind, sender, intake=False, ack=False)
        elif kind == "no-form":
            raw = referral_email(sender=sender, message_id=mid, subject="Prevent referral",
                                 body="I would like to make a Prevent referral.")
            item = Expected(mid, kind, sender, intake=True, ack=True)
        elif kind == "forwarded-by-rule":
            raw = referral_email([_form("docx")], sender=sender, message_id=mid,
                                 headers={"Auto-Submitted": "auto-forwarded"})
            item = Expected(mid, kind, sender, intake=True, ack=False)
        elif kind == "duplicate":
            first = referrals[len(referrals) // 2]
            raw = messages[expected.index(first)]
            item = Expected(first.message_id, kind, first.sender, intake=False, ack=False)
        else:  # correction: the referrer answers our acknowledgement with the form filled in
            first = referrals.pop(0)
            raw = referral_email([_form("docx")], sender=first.sender, message_id=mid,
                                 subject="Re: Prevent referral",
                                 headers={"In-Reply-To": first.message_id,
                                          "References": first.message_id})
            item = Expected(mid, kind, first.sender, intake=False, ack=True,
                            correction_of=first.message_id)
        if item.intake and item.ack:
            referrals.append(item)
        messages.append(raw)
        expected.append(item)
    return messages, expected


def verify(config, smtp_server, dovecot, expected: list[Expected]) -> dict[str, int]:
    """Assert every message came to what it must; return the duplicate counts seen."""
    from reliability_kit import Outgoing, exported, integrity, parsed, store_rows

    assert integrity(config) == "ok"
    intakes = exported(config)
    by_id = {row["message_id"]: row for row in intakes}
    wanted = [e.message_id for e in expected if e.intake]
    # Every referral has exactly one intake, and nothing else became one.
    assert sorted(row["message_id"] for row in intakes) == sorted(wanted)
    # Every message on the server was recorded once, and marked, never \Seen.
    on_server = dovecot.messages()
    recorded = store_rows(config, "SELECT uid, marked FROM messages")
    assert sorted(r["uid"] for r in recorded) == [m.uid for m in on_server]
    assert all(r["marked"] for r in recorded)
    assert all("$PreventIntake" in m.flags and "\\Seen" not in m.flags for m in on_server)
    # Nothing waits in the outbox: every reply and alert went out.
    outbox = store_rows(config, "SELECT o.kind, o.message_id, o.status, o.recipients, "
                                "i.message_id AS referral FROM outbox o "
                                "LEFT JOIN intakes i ON i.id = o.intake_id")
    assert {r["status"] for r in outbox} <= {"sent"}, [dict(r) for r in outbox]
    out = Outgoing.of(smtp_server)
    assert all(out.copies(r["message_id"]) >= 1 for r in outbox)
    acks = {}
    for row in outbox:
        if row["kind"] in ("ack", "correction"):
            acks.setdefault((row["referral"], row["kind"]), []).append(row["message_id"])
    for item in expected:
        if not item.ack:
            continue
        key = (item.correction_of, "correction") if item.correction_of else (item.message_id,
                                                                              "ack")
        assert len(acks.get(key, [])) == 1, f"{item.kind} {item.message_id}: {acks.get(key)}"
        (message_id,) = acks[key]
        for copy in out.messages[message_id]:
            assert copy.rcpt_tos == (item.sender,)
            assert parsed(copy.content)["Auto-Submitted"] == "auto-replied"
    answered = {e.message_id for e in expected if e.ack and not e.correction_of}
    unanswered = {e.message_id for e in expected if e.intake} - answered
    assert not any(key[0] in unanswered for key in acks)
    for message_id, copies in out.messages.items():
        assert len({c.content for c in copies}) == 1, f"{message_id}: copies differ"
    ack_ids = [mid for ids in acks.values() for mid in ids]
    return {"acknowledgements": len(ack_ids),
            "duplicate acknowledgements": out.duplicates(ack_ids),
            "duplicate messages": out.duplicates(),
            "intakes": len(by_id)}
