"""The parser pool: isolated workers, time limit, replaced after a crash."""

from __future__ import annotations

import os
import signal
import time

import pytest
from support import RULES
from support.forms import (
    HOSTILE,
    LAYOUTS,
    SAMPLE_VALUES,
    expected_fields,
    make_form,
    make_many_pages_pdf,
)

from intake.domain.models import Attachment
from intake.extract import ParserPool


def attach(made: tuple[str, str, bytes]) -> Attachment:
    filename, content_type, data = made
    return Attachment(filename, content_type, data, len(data))


@pytest.fixture(scope="module")
def pool():
    with ParserPool(RULES, workers=2, timeout=3.0, memory_mb=1024) as running:
        yield running


def test_pool_reads_every_layout_in_one_batch(pool: ParserPool) -> None:
    batch = [[attach(make_form(layout, SAMPLE_VALUES))] for layout in LAYOUTS]
    results = pool.extract_many(batch)
    assert [r.fields for r in results] == [expected_fields(SAMPLE_VALUES)] * len(LAYOUTS)


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_files_give_their_reason_within_the_time_limit(pool, name: str) -> None:
    maker, reason = HOSTILE[name]
    made = maker()
    started = time.monotonic()
    result = pool.extract([attach(made)])
    assert time.monotonic() - started < 3.0 + 2.0
    assert result.review_reason in (reason, "timeout")
    assert result.carries_form


def test_a_job_over_the_time_limit_is_timeout_and_the_pool_goes_on() -> None:
    with ParserPool(RULES, workers=1, timeout=0.05) as slow:
        assert slow.extract([attach(make_many_pages_pdf())]).review_reason == "timeout"
    with ParserPool(RULES, workers=1, timeout=3.0) as fine:
        assert fine.extract([attach(make_form("docx", SAMPLE_VALUES))]).review_reason is None


def test_a_killed_worker_is_damaged_then_replaced(pool: ParserPool) -> None:
    os.kill(pool._workers[0].process.pid, signal.SIGKILL)
    os.kill(pool._workers[1].process.pid, signal.SIGKILL)
    time.sleep(0.2)
    form = [attach(make_form("docx", SAMPLE_VALUES))]
    results = pool.extract_many([form, form])
    assert all(r.fields == expected_fields(SAMPLE_VALUES) for r in results)
