"""The queue, one intake, downloads, closing, notes and the overview, over HTTP."""

from __future__ import annotations

import json
import logging
import re
from datetime import date, timedelta
from email.message import EmailMessage

import pytest
from support import stored
from support.storefill import FIELDS, add_intake
from support.web_kit import MANAGER_USER, MASH_USER, Web, csrf_token, days_ago, sign_in

from intake.domain.clock import iso, local_day, utcnow
from intake.jobs.digest import digest_for_day, render_digest
from intake.jobs.purge import purge
from intake.ops.triage import triage_rows

FORM_PDF = b"%PDF-1.4\n% the referral form\n" + bytes(range(256)) * 4


def referral_with_form(reference_hint: str = "") -> bytes:
    message = EmailMessage()
    message["From"] = "s.teacher@hillyfields.example.org"
    message["To"] = "prevent@lewisham.gov.uk"
    message["Subject"] = f"Prevent referral {reference_hint}".strip()
    message["Message-ID"] = "<form-1@hillyfields.example.org>"
    message.set_content("Please find the referral form attached.")
    message.add_attachment(FORM_PDF, maintype="application", subtype="pdf",
                           filename="Prevent referral form.pdf")
    return message.as_bytes()


@pytest.fixture
def mash(web: Web) -> Web:
    sign_in(web, MASH_USER)
    return web


def refs(page: str) -> list[str]:
    return re.findall(r'<th scope="row" class="govuk-table__header intake-nowrap">'
                      r'<a class="govuk-link" href="/intakes/(PRV-\d{4}-\d{5})"', page)


def test_the_queue_lists_what_intake_triage_lists_in_the_same_order(mash: Web) -> None:
    store = mash.store
    add_intake(store, days_ago(9), status="incomplete", missing=["subject_dob"],
               cc_missing=["preventreferrals@met.pnn.police.uk"], reminders_sent=2)
    add_intake(store, days_ago(2), status="manual_review")
    urgent = add_intake(store, days_ago(1), status="incomplete", priority="urgent",
                        age_band="child", missing=["referrer_phone"])
    add_intake(store, days_ago(3), status="complete")

    page = mash.client.get("/queue").text

    expected = [row.intake.reference for row in triage_rows(store, mash.settings, now=utcnow())]
    assert refs(page) == expected and expected[0] == urgent.reference
    assert "3 intakes, 1 urgent" in page
    # What is missing in the rules' short words (fields.toml short, recipients.toml
    # [names], referral.toml [review_reasons]), not keys or addresses.
    assert "Date of birth" in page and "Referrer&#39;s phone" in page
    assert ">Police</td>" in page and ">Scan or photo</td>" in page
    for key in ("subject_dob", "referrer_phone", "preventreferrals@met.pnn.police.uk",
                "review: scan"):
        assert key not in page
    for value in FIELDS.values():  # no personal data on the queue
        assert len(value) < 4 or value not in page


def test_the_queue_filters_and_searches_by_reference(mash: Web) -> None:
    store = mash.store
    old_child = add_intake(store, days_ago(10), status="incomplete", age_band="child")
    adult = add_intake(store, days_ago(1), status="incomplete")
    done = add_intake(store, days_ago(4), status="complete")

    def listed(query: str) -> list[str]:
        return refs(mash.client.get(f"/queue?{query}").text)

    assert listed("age_band=child") == [old_child.reference]
    assert listed("days_open=5") == [old_child.reference]
    assert listed("status=complete") == [done.reference]
    assert listed("status=any") == [old_child.reference, done.reference,
                                    adult.reference]
    since = local_day(utcnow(), "Europe/London") - timedelta(days=2)
    assert listed(f"since={since.isoformat()}") == [adult.reference]
    assert listed(f"reference={adult.reference[-3:]}") == [adult.reference]
    page = mash.client.get(f"/queue?reference={done.reference}").text
    assert refs(page) == [] and f"open {done.reference}" in page


def test_a_bad_filter_gets_an_error_summary_not_a_crash(mash: Web) -> None:
    answer = mash.client.get("/queue?since=31/02/2026&days_open=lots")
    assert answer.status_code == 200
    assert "There is a problem" in answer.text and "Enter a real date" in answer.text
    assert "<title>Error: Queue" in answer.text


def test_the_intake_page_shows_answers_with_sources_and_audits_the_viewer(mash: Web) -> None:
    intake = add_intake(mash.store, days_ago(1), status="incomplete", missing=["referrer_phone"],
                        findings=[{"field": "referrer_phone",
                                   "message": "Not given: Contact Telephone Number"}])
    answer = mash.client.get(f"/intakes/{intake.reference}")

    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "no-store"
    page = answer.text
    assert "Jane" in page and "Okafor" in page and "docx: table 1" in page
    assert "Not given: Contact Telephone Number" in page
    title = re.search(r"<title>(.*?)</title>", page, re.S).group(1)
    assert title.startswith(intake.reference) and "Jane" not in title
    trail = mash.store.audit_trail(intake.id)
    viewed = [json.loads(row["detail"]) for row in trail if row["event"] == "viewed"]
    assert viewed == [{"by": "Amara Mensah", "username": MASH_USER}]


def test_the_intake_page_says_why_it_waits_for_a_person_in_the_queue_s_words(
        mash: Web) -> None:
    intake = add_intake(mash.store, days_ago(1), status="manual_review",
                        review_reason="encrypted")
    page = mash.client.get(f"/intakes/{intake.reference}").text
    assert "Manual review: Password-protected</dd>" in page
    assert "Manual review: encrypted" not in page


def test_the_original_attachment_downloads_and_the_download_is_audited(mash: Web) -> None:
    intake = add_intake(mash.store, days_ago(1), raw=referral_with_form())
    page = mash.client.get(f"/intakes/{intake.reference}").text
    link = re.search(r'href="(/intakes/[^"]+/files/0)"', page).group(1)
    assert "Okafor" not in link

    answer = mash.client.get(link)

    assert answer.status_code == 200 and answer.data == FORM_PDF
    assert answer.headers["Content-Type"] == "application/octet-stream"
    assert answer.headers["Content-Disposition"].startswith("attachment;")
    assert answer.headers["Cache-Control"] == "no-store"
    events = [(row["event"], json.loads(row["detail"]).get("by"))
              for row in mash.store.audit_trail(intake.id)]
    assert ("downloaded", "Amara Mensah") in events
    assert mash.client.get(link.replace("/files/0", "/files/1")).status_code == 404


def test_closing_with_a_reason_takes_it_off_the_queue(mash: Web) -> None:
    intake = add_intake(mash.store, days_ago(2), status="incomplete")
    reference = intake.reference
    page = mash.client.get(f"/intakes/{reference}").text
    token = csrf_token(page)

    empty = mash.client.post(f"/intakes/{reference}/close", data={"csrf_token": token})
    assert empty.status_code == 400 and "Enter the reason for closing" in empty.text
    answer = mash.client.post(f"/intakes/{reference}/close",
                              data={"csrf_token": token, "reason": "Passed to Channel panel"})

    assert answer.status_code == 302 and answer.headers["Location"] == "/queue"
    queue = mash.client.get("/queue").text
    assert f"{reference} closed." in queue and reference not in refs(queue)
    row = stored(mash.store, reference)
    assert row.closed_at and row.close_reason == "Passed to Channel panel"
    closed = [json.loads(r["detail"]) for r in mash.store.audit_trail(intake.id)
              if r["event"] == "closed"]
    assert closed == [{"by": "Amara Mensah", "status": "incomplete"}]
    assert "Close this referral" not in mash.client.get(f"/intakes/{reference}").text


def test_a_note_is_kept_with_its_author_and_purge_erases_its_text(mash: Web) -> None:
    intake = add_intake(mash.store, days_ago(2), status="incomplete")
    reference = intake.reference
    token = csrf_token(mash.client.get(f"/intakes/{reference}").text)
    answer = mash.client.post(f"/intakes/{reference}/notes",
                              data={"csrf_token": token, "note": "Police called back."})
    assert answer.status_code == 302
    page = mash.client.get(f"/intakes/{reference}").text
    assert "Police called back." in page and "Amara Mensah" in page
    assert "note-added" in page

    mash.client.post(f"/intakes/{reference}/close",
                     data={"csrf_token": token, "reason": "Dealt with"})
    purge(mash.store, 0, now=utcnow() + timedelta(seconds=5))
    assert mash.store.query("SELECT text FROM notes")[0]["text"] is None
    assert "Police called back." not in mash.client.get(f"/intakes/{reference}").text


def test_the_overview_shows_the_digest_counts_for_any_day(web: Web) -> None:
    store = web.store
    day = local_day(utcnow(), "Europe/London") - timedelta(days=5)
    noon = iso(utcnow().replace(hour=12, minute=0, second=0, microsecond=0)
               - timedelta(days=5))
    add_intake(store, noon, status="complete", age_band="child", priority="urgent")
    add_intake(store, noon, status="incomplete")
    add_intake(store, noon, status="manual_review")
    add_intake(store, days_ago(40), status="complete")
    sign_in(web, MANAGER_USER)

    page = web.client.get(f"/overview?day={day.isoformat()}").text

    shown = dict(re.findall(r'<dt class="govuk-summary-list__key">([^<]+)</dt>'
                            r'<dd class="govuk-summary-list__value">(\d+)</dd>', page))
    text, _ = render_digest(digest_for_day(store, web.settings, day, now=utcnow()))
    printed = dict(re.findall(r"^([A-Z][a-z ]+): (\d+)$", text, re.M))
    assert shown == printed
    assert shown["Received"] == "3" and shown["Children"] == "1" and shown["Urgent"] == "1"
    assert page.count("<svg class=\"intake-chart\"") == 2
    assert len(re.findall(r"<th scope=\"row\"[^>]*>\d{4}-\d\d-\d\d</th>", page)) == 90
    assert "Jane" not in page and "Okafor" not in page


def test_the_overview_says_which_day_is_wrong(web: Web) -> None:
    sign_in(web, MANAGER_USER)
    answer = web.client.get("/overview?day=yesterday")
    assert answer.status_code == 200 and "Enter a real date" in answer.text
    yesterday = local_day(utcnow(), "Europe/London") - timedelta(days=1)
    assert f'value="{yesterday.isoformat()}"' in answer.text


def test_an_unknown_or_malformed_reference_is_not_found(mash: Web) -> None:
    assert mash.client.get("/intakes/PRV-2026-99999").status_code == 404
    assert mash.client.get("/intakes/<script>").status_code == 404


def test_nothing_personal_in_the_web_servers_log(mash: Web,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    intake = add_intake(mash.store, days_ago(1), raw=referral_with_form())
    reference = intake.reference
    sign_in(mash, MASH_USER)
    page = mash.client.get(f"/intakes/{reference}").text
    mash.client.get(re.search(r'href="(/intakes/[^"]+/files/0)"', page).group(1))
    mash.client.get("/queue?reference=Okafor")
    token = csrf_token(page)
    mash.client.post(f"/intakes/{reference}/notes",
                     data={"csrf_token": token, "note": "Spoke to Jane Okafor's mother"})
    mash.client.post(f"/intakes/{reference}/close", data={"csrf_token": token, "reason": "Done"})

    log = "\n".join(record.getMessage() for record in caplog.records)
    assert f"web GET /intakes/{reference} 200" in log
    for secret in [*(v for v in FIELDS.values() if len(v) > 3), "Amara Mensah", MASH_USER, "Okafor",
                   "Prevent referral form.pdf"]:
        assert secret not in log, secret


def test_the_chart_is_drawn_from_the_counts(web: Web) -> None:
    from intake.web.chart import charts

    days = [(date(2026, 11, 1) + timedelta(days=n),
             {"Received": n % 3, "Complete": n % 3, "Incomplete": 0, "Manual review": 0,
              "Urgent": 0, "Children": 0, "Adults": n % 3}) for n in range(90)]
    by_status, by_age = charts(days)
    assert len(by_status.bars) == sum(1 for _, c in days if c["Received"])
    assert by_status.y_ticks[-1].text == "4"
    tallest = max(by_status.bars, key=lambda bar: bar.height)
    assert tallest.title.endswith("2 complete")
    assert {bar.colour for bar in by_age.bars} == {"#4c2c92"}  # adults only


def test_the_page_works_beside_a_running_worker_without_its_lock(mash: Web) -> None:
    """The worker holds the one-worker lock; the page reads and writes all the same."""
    from intake.store.database import Store

    intake = add_intake(mash.store, days_ago(1), status="incomplete")
    worker = Store(mash.settings.store_path)
    worker.lock()
    try:
        page = mash.client.get(f"/intakes/{intake.reference}").text
        answer = mash.client.post(f"/intakes/{intake.reference}/close",
                                  data={"csrf_token": csrf_token(page), "reason": "Done"})
        assert answer.status_code == 302
        assert stored(worker, intake.reference).closed_at
    finally:
        worker.close()
