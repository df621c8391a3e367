"""A MASH worker's day in a real browser (Debian's Chromium driven by Playwright).

GIVEN the bundled sample referrals in a real Dovecot mailbox, taken in by
`intake run --once` (replies through a real aiosmtpd), and `intake web` served by
waitress as its own process, signing in at the local OpenID Connect provider:
WHEN a MASH worker finds the urgent referral, opens it, downloads its form,
records the triage and closes it with a reason, and the manager opens the overview,
THEN it leaves the queue, the audit names the worker, the overview's counts are
`intake digest --dry-run`'s, axe-core finds no accessibility violation on any
page, no page breaks its Content-Security-Policy, and the server's log holds
nothing personal. Screenshots go to test-artifacts/screenshots/ (look at them after a
run); `make screenshots` runs this test with INTAKE_SCREENSHOTS=docs/screenshots to
refresh the README's copies, so `make test` leaves the checkout clean.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from support.harness import ROOT, intake, write_settings
from support.oidc_provider import OidcServer
from support.servers import free_port
from support.web_kit import MANAGER_USER, MASH_USER, NOBODY_USER

from intake.mail.parse import parse
from intake.store.database import Store

pytest.importorskip("playwright")
from playwright.sync_api import Page, expect, sync_playwright  # noqa: E402

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
SCREENSHOTS = Path(os.environ.get("INTAKE_SCREENSHOTS", ROOT / "test-artifacts" / "screenshots"))
AXE = (Path(__file__).resolve().parent.parent / "axe.min.js").read_text(encoding="utf-8")
SAMPLES = sorted((ROOT / "intake" / "samples").glob("*.eml"))


def check_accessible(page: Page) -> None:
    """axe-core's every default rule (WCAG 2.2 A/AA and best practice) on the page as it is."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(AXE)  # through DevTools: the page's own CSP stays strict
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    problems = [f"{v['id']}: {v['help']} ({', '.join(n['target'][0] for n in v['nodes'])})"
                for v in result["violations"]]
    assert problems == [], f"{page.url}: {problems}"


def shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def served(tmp_path: Path, dovecot, smtp_server, oidc: OidcServer) -> Iterator[dict]:
    """The samples taken in by `run --once`, then `intake web` running on them."""
    port = free_port()
    client = oidc.register_client(f"http://127.0.0.1:{port}/auth/callback")
    web_section = f"""
[web]
port = {port}
oidc_tenant_id = "{client.tenant_id}"
oidc_client_id = "{client.client_id}"
oidc_client_secret_env = "INTAKE_WEB_CLIENT_SECRET"
oidc_discovery_url = "{oidc.discovery_url(client)}"
oidc_mash_role = "Prevent.MASH"
oidc_manager_role = "Prevent.Manager"
session_secret_env = "INTAKE_WEB_SESSION_SECRET"
"""
    config = write_settings(tmp_path, dovecot, smtp_server, extra=web_section)
    env = {"INTAKE_WEB_CLIENT_SECRET": client.secret,
           "INTAKE_WEB_SESSION_SECRET": secrets.token_urlsafe(32)}
    dovecot.append_many([path.read_bytes() for path in SAMPLES])
    ran = intake(config, "run", "--once", env=env)
    assert ran.returncode == 0, ran.stderr
    log = (tmp_path / "web.log").open("w")
    server = subprocess.Popen([sys.executable, "-m", "intake", "--config", str(config), "web"],
                              stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path,
                              env={**__import__("os").environ, **env, "PYTHONPATH": str(ROOT)})
    try:
        deadline = time.monotonic() + 30
        while not listening(port):
            assert server.poll() is None, (tmp_path / "web.log").read_text()
            assert time.monotonic() < deadline, "intake web did not start listening"
            time.sleep(0.1)
        yield {"base": f"http://127.0.0.1:{port}", "config": config, "env": env,
               "log": tmp_path / "web.log", "store": tmp_path / "intake.sqlite3"}
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()


def sign_in(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/")
    assert page.url == f"{base}/sign-in"
    page.get_by_role("button", name="Sign in").click()
    page.get_by_label("Email, phone, or Skype").fill(username)
    page.get_by_role("button", name="Next").click()
    page.wait_for_load_state()
    page.wait_for_url(re.compile(re.escape(base) + r"/(queue|overview|)$"))


def test_a_mash_workers_day_and_the_managers_overview(served: dict, tmp_path: Path) -> None:
    base = served["base"]
    csp_errors: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(accept_downloads=True, locale="en-GB",
                                      timezone_id="Europe/London",
                                      viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.on("console", lambda m: csp_errors.append(m.text)
                if "Content Security Policy" in m.text else None)

        page.goto(f"{base}/")
        check_accessible(page)
        shot(page, "sign-in")

        sign_in(page, base, MASH_USER)
        assert page.url == f"{base}/queue"
        assert page.locator("body.govuk-frontend-supported").count() == 1  # init.js ran
        check_accessible(page)
        shot(page, "queue")
        open_refs = page.locator("tbody th a").all_inner_texts()
        assert open_refs  # the incomplete and manual-review samples

        page.locator("summary", has_text="Filter and search").click()
        page.get_by_label("Status").select_option("any")
        page.get_by_label("Priority").select_option("urgent")
        page.get_by_role("button", name="Show referrals").click()
        page.wait_for_url(re.compile(r".*priority=urgent.*"))
        check_accessible(page)
        urgent = page.locator("tbody th a").first
        reference = urgent.inner_text()
        assert "Urgent" in page.locator("tbody tr").first.inner_text()
        urgent.click()
        page.wait_for_url(f"{base}/intakes/{reference}")  # loaded, not only navigated
        assert reference in page.title()
        check_accessible(page)
        shot(page, "intake")

        with page.expect_download() as downloading:
            page.locator("a", has_text="Download").first.click()
        downloaded = Path(downloading.value.path()).read_bytes()
        first_sample = parse(SAMPLES[0].read_bytes())
        assert downloaded == first_sample.attachments[0].data

        page.get_by_label("Outcome of triage (optional)").fill("Channel panel")
        page.get_by_role("button", name="Mark as triaged").click()
        expect(page.locator("main")).to_contain_text(f"{reference} triaged.")
        check_accessible(page)
        page.get_by_label("Reason for closing").fill("Passed to the Channel panel")
        page.get_by_role("button", name="Close referral").click()
        page.wait_for_url(f"{base}/queue")
        assert f"{reference} closed." in page.inner_text("main")
        check_accessible(page)
        page.goto(f"{base}/queue?status=any&priority=urgent")
        assert reference not in page.inner_text("main")
        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url(f"{base}/sign-in")

        sign_in(page, base, MANAGER_USER)
        today = datetime.now(ZoneInfo("Europe/London")).date()
        page.goto(f"{base}/overview?day={today.isoformat()}")
        check_accessible(page)
        shot(page, "overview")
        keys = page.locator("#counts dt").all_inner_texts()
        values = page.locator("#counts dd").all_inner_texts()
        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url(f"{base}/sign-in")

        sign_in(page, base, NOBODY_USER)
        assert "You do not have access to this" in page.inner_text("main")
        check_accessible(page)
        shot(page, "no-access")
        browser.close()

    printed = intake(served["config"], "digest", "--date", today.isoformat(), "--dry-run",
                     env=served["env"])
    assert printed.returncode == 0, printed.stderr
    digest_counts = dict(re.findall(r"^([A-Z][a-z ]+): (\d+)$", printed.stdout, re.M))
    assert dict(zip(keys, values, strict=True)) == digest_counts
    assert int(digest_counts["Received"]) >= 9

    assert csp_errors == []
    store = Store(served["store"])
    try:
        row = store.intake(reference)
        assert row is not None and row.close_reason == "Passed to the Channel panel"
        trail = [(event["event"], json.loads(event["detail"]).get("by"))
                 for event in store.audit_trail(row.id)]
        answers = [value for intake_row in store.query("SELECT fields FROM intakes")
                   for value in json.loads(intake_row["fields"]).values() if len(value) > 3]
    finally:
        store.close()
    for event in ("viewed", "downloaded", "screened", "closed"):
        assert (event, "Amara Mensah") in trail, trail

    log = served["log"].read_text(encoding="utf-8")
    assert f"web GET /intakes/{reference} 200" in log
    assert answers  # the form answers the samples carry: none of them in the log
    for personal in ("Amara Mensah", MASH_USER, "Pat Okonjo", *answers):
        assert personal not in log, personal
