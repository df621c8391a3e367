"""Kill -9 the worker again and again while it drains a backlog; nothing is lost.

Deterministic first, as isync's tests do: INTAKE_CRASH_AT=STEP:N SIGKILLs the
worker the Nth time it passes a durable step (fetched, recorded, marked,
sent), and every step is hit at several counts. The soak variant adds kills
at random moments. Afterwards every referral has exactly one intake, every
referrer its acknowledgement, the store passes PRAGMA integrity_check, and
an acknowledgement is repeated at most once per kill (only a kill between
the SMTP server's "250" and the outbox's commit can repeat one).
"""

from __future__ import annotations

import random
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from backlog import backlog, verify
from reliability_kit import Worker, store_rows
from support.harness import intake

BATCH = 4  # [mailbox] batch_size in the `config` fixture
# Each wave of mail is appended, then drained by runs killed at these steps.
FAST_SCHEDULE = ("fetched:1", "recorded:1", "marked:1", "recorded:3", "fetched:2",
                 "recorded:2", "sent:1", "sent:3")


@dataclass
class Kills:
    deterministic: int = 0
    at_sent: int = 0
    random: int = 0
    runs: int = 0

    @property
    def total(self) -> int:
        return self.deterministic + self.random


def run_killed_at(config: Path, spec: str, kills: Kills) -> None:
    done = intake(config, "run", "--once", env={"INTAKE_CRASH_AT": spec}, timeout=300)
    kills.runs += 1
    if done.returncode == -signal.SIGKILL:
        kills.deterministic += 1
        kills.at_sent += spec.startswith("sent:")
    else:  # the step was never reached: the run drained what there was
        assert done.returncode == 0, f"{spec}: {done.stderr[-3000:]}"


def run_killed_at_random(config: Path, rng: random.Random, kills: Kills) -> bool:
    """Start `run --once`, SIGKILL it after 0.2 to 1.2 s; False when it finished first."""
    worker = Worker(config, "--once")
    time.sleep(rng.uniform(0.2, 1.2))
    kills.runs += 1
    if worker.kill():
        kills.random += 1
        return True
    assert worker.process.returncode == 0, worker.log[-3000:]
    return False


def recorded(config: Path) -> int:
    if not (config.parent / "intake.sqlite3").exists():
        return 0
    return store_rows(config, "SELECT COUNT(*) FROM messages")[0][0]


def drain_under_kills(config: Path, dovecot, waves: list[list[bytes]],
                      schedules: list[list[str]], seed: int = 6) -> Kills:
    """Append each wave, then run killed at each step of the schedule in turn.

    A kill at `sent` comes only once the mail is taken (the worker sends after
    taking), so the mail steps run while more than a batch is left, then the
    `sent` steps take the rest and die after the Nth message the server took.
    A "random" entry starts the worker and SIGKILLs it after 0.2 to 1.2 s, until
    one run finishes before its kill."""
    kills = Kills()
    rng = random.Random(seed)
    appended = 0
    for wave, schedule in zip(waves, schedules, strict=True):
        dovecot.append_many(wave)
        appended += len(wave)
        for spec in schedule:
            if spec == "random":
                if not run_killed_at_random(config, rng, kills):
                    break  # a run finished before its kill: the wave is drained
            elif spec.startswith("sent:"):
                run_killed_at(config, spec, kills)
            elif appended - recorded(config) <= 2 * BATCH:
                continue  # leave the rest of the wave for the `sent` steps to take
            else:
                run_killed_at(config, spec, kills)
    final = intake(config, "run", "--once", timeout=300)
    assert final.returncode == 0, final.stderr[-3000:]
    return kills


def report(figures: dict[str, object], kills: Kills, counts: dict[str, int],
           messages: int) -> None:
    figures.update({
        "messages": messages, "intakes": counts["intakes"], "runs": kills.runs,
        "kills survived": kills.total, "of them at random moments": kills.random,
        "of them after a send": kills.at_sent,
        "acknowledgements": counts["acknowledgements"],
        "duplicate acknowledgements": counts["duplicate acknowledgements"],
        "duplicate messages (all kinds)": counts["duplicate messages"],
    })


def test_backlog_drained_under_repeated_kills_loses_nothing(config, dovecot, smtp_server,
                                                            figures):
    """GIVEN 30 mixed messages in two waves
    WHEN the worker is SIGKILLed at each durable step, at several counts
    THEN each referral is one intake, each referrer acknowledged, at most one repeat a kill."""
    messages, expected = backlog(30)
    kills = drain_under_kills(config, dovecot, [messages[:15], messages[15:]],
                              [list(FAST_SCHEDULE)] * 2)
    counts = verify(config, smtp_server, dovecot, expected)
    report(figures, kills, counts, len(messages))
    assert kills.total >= 10
    # Only a kill after the server took a message and before the outbox knew can repeat it.
    assert counts["duplicate messages"] <= kills.at_sent


def soak_schedule(rng: random.Random, length: int) -> list[str]:
    """Mail steps at small counts, then three kills after a send."""
    steps = (("fetched", 2), ("recorded", 4), ("marked", 1))
    mail = [f"{steps[i % 3][0]}:{rng.randint(1, steps[i % 3][1])}" for i in range(length)]
    return mail + [f"sent:{rng.randint(1, 5)}" for _ in range(3)]


@pytest.mark.soak
def test_soak_200_messages_under_deterministic_and_random_kills(config, dovecot, smtp_server,
                                                                  figures):
    """The full loop: 200 messages in eight waves; four drained under kills at every step
    (>= 30), four under kills at random moments (the worker started and SIGKILLed after
    0.2 to 1.2 s, again and again, until a run finishes first)."""
    messages, expected = backlog(200)
    waves = [messages[i:i + 35] for i in range(0, 140, 35)]
    waves += [messages[i:i + 15] for i in range(140, 200, 15)]
    rng = random.Random(2026)
    schedules = [soak_schedule(rng, 24) for _ in range(4)] + [["random"] * 20] * 4
    kills = drain_under_kills(config, dovecot, waves, schedules)
    counts = verify(config, smtp_server, dovecot, expected)
    report(figures, kills, counts, len(messages))
    assert kills.deterministic >= 30
    assert kills.random >= 10
    assert counts["duplicate messages"] <= kills.at_sent + kills.random
