"""The screening clock and linked referrals on the web page (issue 17's, shown to the MASH)."""

from __future__ import annotations

import json
import re

import pytest
from storefill import add_intake
from web_kit import MASH_USER, Web, csrf_token, days_ago, sign_in

from intake import links, screening_clock
from intake.clock import utcnow
from intake.matching import load_match_rules


@pytest.fixture
def mash(web: Web) -> Web:
    sign_in(web, MASH_USER)
    return web


def with_deadline(web: Web, received: str, **columns) -> dict:
    intake = add_intake(web.store, received, **columns)
    with web.store.transaction():
        screening_clock.set_deadline(web.store, intake, web.settings, utcnow())
    return intake


def test_the_queue_shows_the_screening_clock_and_an_overdue_one_stands_out(mash: Web) -> None:
    overdue = with_deadline(mash, days_ago(20), status="incomplete")
    page = mash.client.get("/queue").text
    row = page[page.index(f">{overdue['reference']}<"):]
    row = row[:row.index("</tr>")]
    assert re.search(r'govuk-tag--red">Overdue \d', row), row


def test_recording_the_triage_stops_the_clock_with_the_persons_name(mash: Web) -> None:
    intake = with_deadline(mash, days_ago(0, hour=utcnow().hour), status="incomplete")
    reference = intake["reference"]
    page = mash.client.get(f"/intakes/{reference}").text
    assert "Not yet: due in" in page and "Record triage" in page

    answer = mash.client.post(f"/intakes/{reference}/triaged",
                              data={"csrf_token": csrf_token(page),
                                    "outcome": "Passed to Channel"})

    assert answer.status_code == 302
    page = mash.client.get(f"/intakes/{reference}").text
    assert "triage recorded, its screening clock stopped" in page
    assert "by Amara Mensah (triaged): Passed to Channel" in page
    assert "Record triage" not in page
    clock = screening_clock.clocks(mash.store)[intake["id"]]
    assert clock["screened_by"] == "Amara Mensah" and clock["stopped_by"] == "triaged"
    screened = [json.loads(r["detail"]) for r in mash.store.audit_trail(intake["id"])
                if r["event"] == "screened"]
    assert screened and screened[0]["by"] == "Amara Mensah"


def test_an_intake_from_before_the_clock_can_be_triaged_too(mash: Web) -> None:
    intake = add_intake(mash.store, days_ago(3), status="incomplete")
    page = mash.client.get(f"/intakes/{intake['reference']}").text
    assert "No screening deadline" in page
    mash.client.post(f"/intakes/{intake['reference']}/triaged",
                     data={"csrf_token": csrf_token(page)})
    assert screening_clock.clocks(mash.store)[intake["id"]]["screened_by"] == "Amara Mensah"


def test_a_referral_about_the_same_person_is_linked_both_ways(mash: Web) -> None:
    first = add_intake(mash.store, days_ago(30), status="complete")
    second = add_intake(mash.store, days_ago(2), status="incomplete")
    with mash.store.transaction():
        links.relink(mash.store, second["id"], load_match_rules(), utcnow())

    later = mash.client.get(f"/intakes/{second['reference']}").text
    earlier = mash.client.get(f"/intakes/{first['reference']}").text

    assert f'href="/intakes/{first["reference"]}">{first["reference"]}</a>' in later
    assert "Earlier:" in later and "Later:" in earlier
    queue = mash.client.get("/queue").text
    assert "1 earlier referral" in queue
