"""Issue 17 on the web page: the queue's screening time and "seen before", the intake
page's deadline and linked referrals, and its "Mark as triaged" button."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from support.storefill import FIELDS, add_intake
from support.web_kit import MASH_USER, Web, csrf_token, sign_in

from intake.domain.clock import iso, utcnow
from intake.domain.matching import load_match_rules
from intake.store import links, screening_clock


@pytest.fixture
def mash(web: Web) -> Web:
    sign_in(web, MASH_USER)
    return web


def recorded(web: Web, hours_ago: float, **columns) -> dict:
    """An intake as record.py leaves it: with its links and its screening deadline."""
    intake = add_intake(web.store, iso(utcnow() - timedelta(hours=hours_ago)), **columns)
    with web.store.transaction():
        links.relink(web.store, intake.id, load_match_rules(), utcnow())
        screening_clock.set_deadline(web.store, intake, web.settings, utcnow())
    return intake


def test_the_queue_shows_time_left_and_how_often_seen_before(mash: Web) -> None:
    first = recorded(mash, 24 * 40, status="incomplete")
    again = recorded(mash, 1, status="incomplete", fields={**FIELDS, "subject_surname": "OKAFOR"})
    page = mash.client.get("/queue").text
    assert "Screening" in page and "Seen before" in page
    row = page[page.index(f"/intakes/{again.reference}\""):]
    row = row[:row.index("</tr>")]
    assert ">1</td>" in row and "referred before" in row
    assert "overdue" in page[page.index(f"/intakes/{first.reference}\""):]
    assert page.index(again.reference) < page.index(first.reference)  # raised first


def test_the_intake_page_shows_the_deadline_and_the_earlier_referral(mash: Web) -> None:
    first = recorded(mash, 24 * 40, status="complete")
    again = recorded(mash, 1, status="incomplete")
    page = mash.client.get(f"/intakes/{again.reference}").text
    assert "Deadline" in page and "24 working hours" in page and "Not yet: due in" in page
    assert f'href="/intakes/{first.reference}">{first.reference}</a> (earlier)' in page
    assert "the same individual" in page and "Hilly Fields School" in page


def test_mark_as_triaged_stops_the_clock_with_the_persons_name(mash: Web) -> None:
    intake = recorded(mash, 2, status="complete")
    reference = intake.reference
    token = csrf_token(mash.client.get(f"/intakes/{reference}").text)
    answer = mash.client.post(f"/intakes/{reference}/triaged",
                              data={"csrf_token": token, "outcome": "Passed to Channel"})
    assert answer.status_code == 302
    page = mash.client.get(f"/intakes/{reference}").text
    assert f"{reference} triaged." in page and "Mark as triaged" not in page
    assert "on time; triaged by Amara Mensah): Passed to Channel" in page
    clock = screening_clock.clocks(mash.store)[intake.id]
    assert (clock.screened_by, clock.outcome) == ("Amara Mensah", "Passed to Channel")
    screened = [json.loads(r["detail"]) for r in mash.store.audit_trail(intake.id)
                if r["event"] == "screened"]
    assert screened == [{"by": "Amara Mensah", "on_time": True, "stopped_by": "triaged"}]
    again = mash.client.post(f"/intakes/{reference}/triaged", data={"csrf_token": token})
    assert again.status_code == 302
    assert "was already screened" in mash.client.get(f"/intakes/{reference}").text
