"""Numbered durable steps a test can kill the worker at (as isync's tests do).

`INTAKE_CRASH_AT=NAME:N` makes the process SIGKILL itself the Nth time it
passes the step NAME (N defaults to 1). Unset, each call is one dictionary
look-up. The steps: `fetched` (a batch downloaded, nothing recorded),
`recorded` (a message committed, not yet marked on the server), `marked`
(a batch marked), `sent` (the SMTP server took a message, the outbox does
not know yet).
"""

from __future__ import annotations

import os
import signal

STEPS = ("fetched", "recorded", "marked", "sent")
_passed: dict[str, int] = {}


def crashpoint(step: str) -> None:
    wanted = os.environ.get("INTAKE_CRASH_AT")
    if not wanted:
        return
    name, _, count = wanted.partition(":")
    if name != step:
        return
    _passed[step] = _passed.get(step, 0) + 1
    if _passed[step] >= int(count or 1):
        os.kill(os.getpid(), signal.SIGKILL)
