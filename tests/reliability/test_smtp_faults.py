"""The SMTP server misbehaves; every outgoing message is sent once, or held with its reason.

A failed send waits in the outbox with capped backoff (a minute after the
first failure), so "the next run" is run with the clock (INTAKE_NOW) two
hours on, as the operator's next scheduled run would be.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from reliability_kit import Outgoing, exported, later, parsed, replies_to, store_rows
from support.forms import SAMPLE_VALUES, make_form
from support.harness import intake
from support.mail import referral_email
from support.smtp_server import RecordingHandler

DOCX = make_form("docx", SAMPLE_VALUES)


def referral(number: int) -> bytes:
    return referral_email([DOCX], sender=f"teacher{number}@school.example.org",
                          message_id=f"<smtp-{number}@school.example.org>")


def outbox(config: Path) -> list[dict]:
    return [dict(row) for row in store_rows(
        config, "SELECT o.id, o.kind, o.status, o.attempts, o.last_error, o.recipients, "
                "o.message_id, i.reference FROM outbox o "
                "LEFT JOIN intakes i ON i.id = o.intake_id ORDER BY o.id")]


def test_smtp_down_for_the_whole_run_holds_then_sends_each_once_in_order(config, dovecot,
                                                                          smtp_server):
    smtp_server.stop()
    dovecot.append_many([referral(n) for n in range(3)])
    done = intake(config, "run", "--once")
    assert done.returncode == 0, done.stderr  # the mailbox is drained; sending waits
    assert "wait" in done.stderr
    waiting = outbox(config)
    assert waiting and {row["status"] for row in waiting} == {"pending"}
    assert all(row["last_error"] for row in waiting[:1])
    assert all("$PreventIntake" in m.flags for m in dovecot.messages())

    smtp_server.start()
    done = intake(config, "run", "--once", env=later())
    assert done.returncode == 0, done.stderr
    rows = outbox(config)
    assert {row["status"] for row in rows} == {"sent"}
    out = Outgoing.of(smtp_server)
    assert out.duplicates() == 0
    # In the order they were queued: the outbox's order is the server's.
    received = [str(parsed(m.content)["Message-ID"]) for m in smtp_server.received]
    assert received == [row["message_id"] for row in rows]
    assert sorted(replies_to(smtp_server)) == [f"<smtp-{n}@school.example.org>" for n in range(3)]


def test_one_recipient_refused_is_held_with_its_reason_others_sent(config, dovecot, smtp_server):
    smtp_server.refuse("teacher1@school.example.org")
    dovecot.append_many([referral(n) for n in range(3)])
    done = intake(config, "run", "--once")
    assert done.returncode == 0, done.stderr
    rows = outbox(config)
    held = [row for row in rows if row["status"] == "held"]
    assert [row["recipients"] for row in held] == ['["teacher1@school.example.org"]']
    assert "550" in held[0]["last_error"] and "rejected" in held[0]["last_error"]
    assert all(row["status"] == "sent" for row in rows if row not in held)
    assert f"{held[0]['reference']} outbox {held[0]['id']} ack held: 550" in done.stderr
    # Held, not retried: another run sends nothing more, and the intake shows it.
    again = intake(config, "run", "--once", env=later())
    assert again.returncode == 0, again.stderr
    assert Outgoing.of(smtp_server).duplicates() == 0
    assert sorted(replies_to(smtp_server)) == ["<smtp-0@school.example.org>",
                                               "<smtp-2@school.example.org>"]
    shown = intake(config, "show", held[0]["reference"])
    assert shown.returncode == 0 and "held" in shown.stdout
    assert len(exported(config)) == 3


def test_connection_dropped_mid_data_before_taken_is_sent_once_later(config, dovecot,
                                                                     smtp_server):
    """The server reads the data and drops the line without taking it: nothing was
    delivered, so the retry is the only copy."""
    smtp_server.drop_connection_in_data()
    dovecot.append(referral(1))
    done = intake(config, "run", "--once")
    assert done.returncode == 0, done.stderr
    assert "connection lost" in done.stderr
    assert not replies_to(smtp_server)
    done = intake(config, "run", "--once", env=later())
    assert done.returncode == 0, done.stderr
    assert replies_to(smtp_server) == {"<smtp-1@school.example.org>": 1}
    assert Outgoing.of(smtp_server).duplicates() == 0
    assert {row["status"] for row in outbox(config)} == {"sent"}


@dataclass
class TakeThenDrop(RecordingHandler):
    """Takes the message (it will be delivered), then drops the line before saying so."""

    takes_then_drops: int = 0

    async def handle_DATA(self, server, session, envelope) -> str:
        answer = await super().handle_DATA(server, session, envelope)
        if self.takes_then_drops > 0:
            self.takes_then_drops -= 1
            server.transport.abort()
        return answer


def test_connection_dropped_after_the_server_took_it_repeats_it_once(config, dovecot,
                                                                     smtp_server, figures):
    """The one case a message can go twice: the server took it, the answer was lost.
    The sender cannot know, so it sends again: the same bytes, the same Message-ID,
    which the referrer's mail client shows as one message."""
    handler = TakeThenDrop(takes_then_drops=1)
    smtp_server.handler = handler
    smtp_server.start()
    dovecot.append(referral(1))
    assert intake(config, "run", "--once").returncode == 0
    done = intake(config, "run", "--once", env=later())
    assert done.returncode == 0, done.stderr
    out = Outgoing.of(smtp_server)
    assert replies_to(smtp_server) == {"<smtp-1@school.example.org>": 2}
    assert out.duplicates() == 1
    (copies,) = [c for c in out.messages.values() if len(c) == 2]
    assert copies[0].content == copies[1].content
    assert {row["status"] for row in outbox(config)} == {"sent"}
    figures["duplicates after a lost answer"] = out.duplicates()
