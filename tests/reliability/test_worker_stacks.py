"""A worker that will not stop says where it is stuck: SIGUSR1 makes `intake run` write
every thread's stack to its standard error (faulthandler), and the kit's Worker.stop,
when SIGTERM was not enough in time, asks for them, kills the worker and prints its log."""

from __future__ import annotations

import signal
import subprocess

import pytest
from reliability_kit import Worker, wait_for

STACK = "(most recent call first)"


def test_sigusr1_writes_every_thread_stack_and_the_worker_runs_on(config, dovecot):
    worker = Worker(config)
    try:
        worker.wait_log("signed in as")
        worker.process.send_signal(signal.SIGUSR1)
        wait_for(lambda: STACK in worker.log, 30, "stacks in the worker's log")
        assert "Current thread" in worker.log and "intake/runtime/worker.py" in worker.log
        assert worker.process.poll() is None  # a dump, not the signal's default (exit)
    finally:
        code = worker.stop()
    assert code == 0, worker.log


def test_a_worker_not_stopped_in_time_is_asked_for_its_stacks_killed_and_shown(
        config, dovecot, capsys):
    worker = Worker(config)
    worker.wait_log("signed in as")
    with pytest.raises(subprocess.TimeoutExpired):
        worker.stop(timeout=0.001)  # far less than it takes to sign out and close
    assert worker.process.poll() is not None
    shown = capsys.readouterr().out
    assert f"worker pid {worker.process.pid} did not stop within 0.001 s" in shown
    assert STACK in shown and "signed in as" in shown
