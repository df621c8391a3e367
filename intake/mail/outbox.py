"""The outbox: every message is recorded first, then sent from its record.

queue() stores a finished message (raw bytes, its fixed Message-ID, the
recipients) inside the caller's transaction, so a reply commits with the
intake it is about. deliver_due() sends what is due, oldest first, and
commits each outcome right after the server's answer: a kill between the
two repeats at most that one message, with the same Message-ID.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.utils import getaddresses, parseaddr
from typing import Any

from ..config.settings_types import Settings, SmtpSettings
from ..domain.clock import iso, parse_iso
from ..domain.errors import SendError, StoreLockedError
from ..domain.records import REPLY_KINDS, Kind, OutboxItem, SendStatus
from ..runtime.crashpoints import crashpoint
from ..store.database import Store
from .compose import Composer
from .oauth2 import token_provider_for
from .reply_limits import (
    RATE_WINDOW,
    cap_free_at,
    limited_until,
    recent_replies,
    recent_reply_times,
)
from .send import Refused, Sender, ServerDown, open_sender, refusal

HELD_EVENT = "held"  # the audit event of a message the server refused for good

log = logging.getLogger("intake.outbox")

_CODE = re.compile(r"\b([45]\d\d)\b")


@dataclass
class DeliveryReport:
    """Outbox ids by what happened to them in one round."""

    sent: list[int] = field(default_factory=list)
    retrying: list[int] = field(default_factory=list)  # a transient failure: tried again later
    held: list[int] = field(default_factory=list)  # refused for good: a person must look
    deferred: list[int] = field(default_factory=list)  # over the per-address hourly limit
    stopped: str | None = None  # the server could not be used: the round ended early

    def __str__(self) -> str:
        text = (f"sent {len(self.sent)}, retrying {len(self.retrying)}, "
                f"held {len(self.held)}, deferred {len(self.deferred)}")
        return f"{text}; stopped: {self.stopped}" if self.stopped else text


def queue(store: Store, message: EmailMessage, *, kind: Kind | str, intake_id: int | None,
          now: datetime) -> int:
    """Record a message to send; call inside store.transaction(). Returns the outbox id."""
    kind = Kind(kind)  # an unknown kind raises here, before anything is written
    if not store.conn.in_transaction:
        raise RuntimeError("outbox.queue must run inside store.transaction()")
    message_id = str(message.get("Message-ID") or "").strip()
    if not message_id:
        raise ValueError(f"{kind}: a queued message needs a Message-ID")
    fields = [str(v) for name in ("To", "Cc", "Bcc") for v in message.get_all(name, [])]
    recipients = list(dict.fromkeys(a.lower() for _, a in getaddresses(fields) if a))
    if not recipients:
        raise ValueError(f"{kind}: a queued message needs a recipient")
    outbox_id = store.insert("outbox", {
        "intake_id": intake_id,
        "kind": kind,
        "recipients": recipients,
        "message_id": message_id,
        "raw": message.as_bytes(policy=policy.SMTP),
        "status": SendStatus.PENDING,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
        "queued_in": store.queue_mode,
    })
    store.audit("queued", intake_id=intake_id, at=now, outbox_id=outbox_id, kind=kind,
                recipients=len(recipients))
    return outbox_id


def deliver_due(store: Store, sender: Sender, settings: Settings, now: datetime) -> DeliveryReport:
    """Send the pending messages due by `now`, oldest first; one SMTP connection a round.

    In shadow (and outbox) mode they are written to the shadow folder, with no hourly
    limit (nobody receives them). A message queued in either is never sent by a later
    send-mode run: going live drops it from the queue, audited; one queued in send
    mode waits for send mode again.
    """
    report = DeliveryReport()
    mode = settings.smtp.mode
    writing = mode != "send"
    mail_from = parseaddr(settings.smtp.sender)[1]
    limit = settings.max_replies_per_address_per_hour
    _claim_unmarked(store, mode)
    if not writing:
        drop_shadow_queue(store, now)
    rows = [OutboxItem.from_row(row) for row in store.query(
        "SELECT o.id, o.kind, o.intake_id, o.recipients, o.attempts, o.message_id, "
        "o.status, o.queued_in, i.reference FROM outbox o "
        "LEFT JOIN intakes i ON i.id = o.intake_id "
        f"WHERE o.status = '{SendStatus.PENDING}' AND o.next_attempt_at <= ? "
        f"AND (o.queued_in = 'send') = {0 if writing else 1} ORDER BY o.id",
        (iso(now),),
    )]
    if not rows:
        return report
    done_word = "written to shadow folder" if writing else "sent"
    recent = recent_replies(store, now)
    sent_this_hour = sum(len(times) for times in recent_reply_times(store, now))
    cap = settings.max_automatic_per_hour
    connected = False
    try:
        for row in rows:
            outbox_id, kind = row.id, row.kind
            recipients = list(row.recipients)
            label = f"{row.reference or '-'} outbox {outbox_id} {kind}"
            if row.is_reply and not writing and sent_this_hour >= cap:
                # Every automatic reply together, to anyone: a flood waits, never dropped.
                until = cap_free_at(store, cap, now)
                _defer(store, row, until, now, reason="hourly-automatic-cap")
                report.deferred.append(outbox_id)
                log.warning("%s waits until %s (at most %d automatic replies an hour)",
                            label, iso(until), cap)
                _tell_mash_once(store, settings, cap, now)
                continue
            if row.is_reply and not writing:
                until = limited_until(recent, recipients, limit, now)
                if until is not None:
                    _defer(store, row, until, now)
                    report.deferred.append(outbox_id)
                    log.info("%s waits until %s (hourly reply limit)", label, iso(until))
                    continue
            # Still pending (a purge may have cancelled it since the round began)?
            found = store.query("SELECT raw FROM outbox WHERE id = ? AND status = ?",
                                (outbox_id, SendStatus.PENDING))
            if not found or not found[0][0]:
                continue
            raw = bytes(found[0][0])
            connected = True
            try:
                refused = sender.send(raw, mail_from, recipients) or {}
            except ServerDown as err:
                _retry(store, row, err, now, settings.smtp, server_down=True)
                report.retrying.append(outbox_id)
                report.stopped = str(err)
                log.warning("%s not sent: %s; the outbox waits", label, err)
                break
            except SendError as err:
                permanent, temporary = _by_kind(err.refused)
                if permanent and temporary:
                    # Some refused for good, the rest for now: hold those, retry these.
                    with store.transaction():
                        report.held.append(_split_off(store, row, raw, permanent, now,
                                                      settings.smtp, keep=list(temporary)))
                    log.warning("%s: %d recipient(s) held: %s", label, len(permanent),
                                smtp_code(err) or "refused")
                    err = refusal(temporary)
                if err.permanent:
                    _hold(store, row, err, now)
                    report.held.append(outbox_id)
                    log.warning("%s held: %s", label, smtp_code(err) or "refused")
                else:
                    _retry(store, row, err, now, settings.smtp, server_down=False)
                    report.retrying.append(outbox_id)
                    # The server's text may quote the address: log its code only.
                    log.warning("%s not sent: %s; retrying later", label,
                                smtp_code(err) or "temporary failure")
                continue
            crashpoint("sent")
            taken = [a for a in recipients if a not in refused]
            later = _sent(store, row, raw, now, taken, refused, settings.smtp,
                          event="written" if writing else "sent")
            report.sent.append(outbox_id)
            for address in taken:
                recent.setdefault(address, []).append(now)
            if kind in REPLY_KINDS:
                sent_this_hour += 1
            log.info("%s %s", label, done_word)
            if refused:
                report.held += later["held"]
                report.retrying += later["retrying"]
                # The server's text may quote the address: log codes only.
                log.warning("%s: %d of %d recipients refused (%s): held %d, retrying %d",
                            label, len(refused), len(recipients),
                            ", ".join(sorted({str(c) for c, _ in refused.values()})),
                            len(later["held"]), len(later["retrying"]))
    finally:
        if connected:
            sender.close()
    return report


def deliver_now(store: Store, settings: Settings, now: datetime) -> DeliveryReport | None:
    """Send what is due from a command, when no worker runs on this store; None when one
    does (it sends them). Raises SendError when the server cannot be reached."""
    try:
        store.lock()
    except StoreLockedError:
        return None
    return deliver_due(store, open_sender(settings, token_provider_for(settings)), settings, now)


# -- going live: what a shadow trial queued is never sent ------------------------


def _claim_unmarked(store: Store, mode: str) -> None:
    """Rows queued before the store knew modes (or by a caller that named none) belong
    to the mode the store runs in now: the mode it was running in when they were queued."""
    store.conn.execute("UPDATE outbox SET queued_in = ? WHERE queued_in IS NULL AND "
                       f"status = '{SendStatus.PENDING}'", (mode,))


def drop_shadow_queue(store: Store, now: datetime) -> int:
    """Take every message queued in shadow or outbox mode out of the queue, each audited,
    in one commit; return how many. Run by send mode before it sends anything."""
    with store.transaction():
        rows = [OutboxItem.from_row(row) for row in store.query(
            "SELECT id, intake_id, kind, recipients, status, queued_in FROM outbox "
            f"WHERE status = '{SendStatus.PENDING}' AND queued_in != 'send' ORDER BY id")]
        for row in rows:
            store.update("outbox", row.id, {"status": SendStatus.DROPPED, "last_error": (
                f"queued in {row.queued_in} mode: never sent in send mode")})
            store.audit("dropped", intake_id=row.intake_id, at=now, outbox_id=row.id,
                        kind=row.kind, reason=f"queued-in-{row.queued_in}-mode")
    if rows:
        log.warning("going live: %d message(s) queued in shadow mode dropped, never sent "
                    "(intake show REFERENCE lists them)", len(rows))
    return len(rows)


# -- outcomes, each committed on its own ----------------------------------------


def _sent(store: Store, row: OutboxItem, raw: bytes, now: datetime, taken: list[str],
          refused: Refused, smtp: SmtpSettings, *, event: str = "sent") -> dict[str, list[int]]:
    """Mark the row sent; the recipients who refused it get copies, in the same commit."""
    values: dict[str, Any] = {"status": SendStatus.SENT, "sent_at": now,
                              "attempts": row.attempts + 1, "last_error": None}
    later: dict[str, list[int]] = {"held": [], "retrying": []}
    with store.transaction():
        if refused:  # the row records who got it
            values["recipients"] = taken
            permanent, temporary = _by_kind(refused)
            for part, outcome in ((permanent, "held"), (temporary, "retrying")):
                if part:
                    later[outcome].append(_split_off(store, row, raw, part, now, smtp))
        store.update("outbox", row.id, values)
        store.audit(event, intake_id=row.intake_id, at=now, outbox_id=row.id,
                    kind=row.kind, **({"refused": len(refused)} if refused else {}))
    return later


# A message some recipients refused is split: the row keeps those who took it,
# and each refusal becomes a row of its own, held (5xx) or retrying (4xx).


def _by_kind(refused: Refused) -> tuple[Refused, Refused]:
    """The refusals for good (5xx), then those for now (4xx)."""
    permanent = {a: reply for a, reply in refused.items() if reply[0] >= 500}
    return permanent, {a: reply for a, reply in refused.items() if a not in permanent}


def _split_off(store: Store, row: OutboxItem, raw: bytes, refused: Refused, now: datetime,
               smtp: SmtpSettings, *, keep: list[str] | None = None) -> int:
    """A copy of the row for the `refused` recipients, inside the caller's transaction:
    held when all refused it for good, else due again after a backoff. `keep`: what
    the row itself is left addressed to."""
    err = refusal(refused)
    held = err.permanent
    copy_id = store.insert("outbox", {
        "intake_id": row.intake_id, "kind": row.kind, "recipients": list(refused),
        "message_id": row.message_id, "raw": raw,
        "status": SendStatus.HELD if held else SendStatus.PENDING, "attempts": 1,
        "next_attempt_at": now if held else now + backoff(1, smtp),
        "created_at": now, "last_error": str(err)[:500], "queued_in": row.queued_in,
    })
    if keep is not None:
        store.update("outbox", row.id, {"recipients": keep})
    store.audit("split", intake_id=row.intake_id, at=now, outbox_id=row.id,
                copy_id=copy_id, kind=row.kind, recipients=len(refused),
                code=smtp_code(err))
    if held:
        _held_effects(store, row, copy_id, err, now)
    return copy_id


def backoff(attempts: int, smtp: SmtpSettings | None = None) -> timedelta:
    """[smtp] retry_first_seconds (1 minute) after the first failure, doubling, at most
    retry_max_seconds (an hour)."""
    smtp = smtp or SmtpSettings()
    first = timedelta(seconds=smtp.retry_first_seconds)
    return min(first * 2 ** max(0, attempts - 1), timedelta(seconds=smtp.retry_max_seconds))


def _retry(store: Store, row: OutboxItem, err: SendError, now: datetime, smtp: SmtpSettings,
           *, server_down: bool) -> None:
    attempts = row.attempts + 1
    with store.transaction():
        if server_down:
            # The server, not the message: everything pending waits until the same moment,
            # so the outbox goes out in its order when the server is back.
            (worst,) = store.conn.execute(
                f"SELECT MAX(attempts) FROM outbox WHERE status = '{SendStatus.PENDING}' "
                "AND id != ?",
                (row.id,),
            ).fetchone()
            until = now + backoff(max(attempts, worst or 0), smtp)
            store.conn.execute(
                "UPDATE outbox SET next_attempt_at = ? "
                f"WHERE status = '{SendStatus.PENDING}' AND id != ? AND next_attempt_at < ?",
                (iso(until), row.id, iso(until)),
            )
        else:
            until = now + backoff(attempts, smtp)
        store.update("outbox", row.id, {"attempts": attempts, "next_attempt_at": until,
                                           "last_error": str(err)[:500]})
        store.audit("send-failed", intake_id=row.intake_id, at=now, outbox_id=row.id,
                    kind=row.kind, attempts=attempts, code=smtp_code(err),
                    server_down=server_down, retry_at=iso(until))


def _hold(store: Store, row: OutboxItem, err: SendError, now: datetime) -> None:
    with store.transaction():
        store.update("outbox", row.id, {"status": SendStatus.HELD, "attempts": row.attempts + 1,
                                           "last_error": str(err)[:500]})
        _held_effects(store, row, row.id, err, now)


def _held_effects(store: Store, row: OutboxItem, outbox_id: int, err: SendError,
                  now: datetime) -> None:
    store.audit(HELD_EVENT, intake_id=row.intake_id, at=now, outbox_id=outbox_id,
                kind=row.kind, code=smtp_code(err))
    if row.intake_id is not None and row.is_reply:
        # The referrer's address was refused: as a bounce, it stops the reminders.
        store.update("intakes", row.intake_id, {"bounced": 1, "updated_at": now})
        store.audit("bounced", intake_id=row.intake_id, at=now, outbox_id=outbox_id,
                    reason="refused-at-send")


def _defer(store: Store, row: OutboxItem, until: datetime, now: datetime, *,
           reason: str = "hourly-reply-limit") -> None:
    with store.transaction():
        store.update("outbox", row.id, {"next_attempt_at": until})
        store.audit("deferred", intake_id=row.intake_id, at=now, outbox_id=row.id,
                    kind=row.kind, until=iso(until), reason=reason)


# -- the global hourly cap: the MASH is told ------------------------------------


def _tell_mash_once(store: Store, settings: Settings, cap: int, now: datetime) -> None:
    """One alert to the MASH per hour the cap holds replies back (kind `alert`: exempt)."""
    with store.transaction():
        told = store.query("SELECT at FROM notices WHERE kind = 'automatic-cap'")
        if told and parse_iso(told[0][0]) > now - RATE_WINDOW:
            return
        store.conn.execute(
            "INSERT INTO notices (kind, at) VALUES ('automatic-cap', ?) "
            "ON CONFLICT(kind) DO UPDATE SET at = excluded.at", (iso(now),))
        if settings.alert_to:
            composer = Composer(settings, settings.templates_dir)
            queue(store, composer.cap_alert(cap), kind=Kind.ALERT, intake_id=None, now=now)


def smtp_code(text: object) -> str | None:
    """The first SMTP reply code (4xx or 5xx) in an error or its recorded text."""
    found = _CODE.search(str(text))
    return found.group(1) if found else None
