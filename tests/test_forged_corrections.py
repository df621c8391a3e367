"""Forged corrections, end to end: real Dovecot, real aiosmtpd, the real `intake` command.

Only the receiving server's Authentication-Results count (here Exchange
Online's, which carries no authserv-id and sits above every other header);
a correction under the referrer's address that failed DMARC changes nothing
and alerts the MASH; only the original sender or the referrer's email as
first received may correct; an intake in manual review waits for a person.
"""

from __future__ import annotations

import json
from email import message_from_bytes, policy

import pytest
from support.forms import SAMPLE_VALUES, make_form, make_scan_pdf
from support.harness import intake, write_settings
from support.mail import referral_email

pytestmark = pytest.mark.servers

ORIGINAL_ID = "<original@school.example.org>"
ATTACKER = "attacker@evil.example.net"


def exchange_online(dmarc: str, compauth: str | None = None, domain: str = "school.example.org"
                    ) -> str:
    """The header Exchange Online stamps on mail it receives (no authserv-id)."""
    compauth = compauth or ("pass" if dmarc == "pass" else "fail")
    return (f"spf=pass (sender IP is 192.0.2.10) smtp.mailfrom={domain}; dkim=none (message "
            f"not signed) header.d=none;dmarc={dmarc} action=none header.from={domain};"
            f"compauth={compauth} reason={'100' if compauth == 'pass' else '000'}")


def original(attachment=None, *, dmarc: str = "pass") -> bytes:
    values = {**SAMPLE_VALUES, "referrer_phone": ""}
    return referral_email([attachment or make_form("docx", values)], message_id=ORIGINAL_ID,
                          headers={"Authentication-Results": exchange_online(dmarc)})


def correction(values: dict[str, str], *, sender: str = "jo.teacher@school.example.org",
               results: list[str], number: int) -> bytes:
    return referral_email([make_form("docx", values)], sender=sender,
                          subject="RE: Prevent referral",
                          message_id=f"<correction-{number}@example.org>",
                          headers={"In-Reply-To": ORIGINAL_ID, "References": ORIGINAL_ID,
                                   "Authentication-Results": results})


@pytest.fixture
def config(tmp_path, dovecot, smtp_server):
    return write_settings(tmp_path, dovecot, smtp_server,
                          mailbox_extra='trusted_authserv_ids = ["exchange-online"]')


def run(config) -> str:
    done = intake(config, "run", "--once")
    assert done.returncode == 0, done.stderr
    return done.stderr


def only_intake(config) -> dict:
    done = intake(config, "export", "--format", "jsonl")
    assert done.returncode == 0, done.stderr
    (row,) = [json.loads(line) for line in done.stdout.splitlines()]
    return row


def received(smtp_server) -> list:
    return [(m.rcpt_tos, message_from_bytes(m.content, policy=policy.default))
            for m in smtp_server.received]


def test_a_forged_correction_changes_nothing_and_the_mash_is_told(config, dovecot, smtp_server):
    dovecot.append(original())
    run(config)
    before = only_intake(config)
    assert before["status"] == "incomplete" and before["sender_auth"] == "pass"
    sent_before = len(smtp_server.received)

    # Under the referrer's own address, failing DMARC at the receiving server; a
    # "dmarc=pass" the sender wrote lower down, and one from an untrusted server, count for
    # nothing.
    forged = {**SAMPLE_VALUES, "concerns": "Referral made in error, please close.",
              "subject_address": "1 Attacker Road", "referrer_email": ATTACKER}
    dovecot.append(correction(forged, number=1, results=[
        exchange_online("fail"), "mx.evil.example.net; dmarc=pass header.from=school.example.org",
        "spf=pass; dmarc=pass header.from=school.example.org"]))
    log = run(config)
    after = only_intake(config)
    assert after["fields"] == before["fields"] and after["status"] == "incomplete"
    assert f"{before['reference']} note incomplete (unauthenticated-correction) queued alert" \
        in log
    new = received(smtp_server)[sent_before:]
    assert [(to, str(m["Subject"])) for to, m in new] == [
        (("mashagency@lewisham.gov.uk",),
         f"[{before['reference']}] Prevent referral: possible forged correction")]
    text = new[0][1].get_body(("plain",)).get_content()
    for secret in ("O'Connor", "Zoë", "Attacker", "error", ATTACKER, "jo.teacher"):
        assert secret not in text

    # The address the forgery wrote is nobody who may correct: even authenticated, its
    # mail is a note, and so is anything from an address a correction wrote.
    dovecot.append(correction(forged, sender=ATTACKER, number=2,
                              results=[exchange_online("pass", domain="evil.example.net")]))
    run(config)
    assert only_intake(config)["fields"] == before["fields"]

    # The real referrer corrects (authenticated): the answers change, the old ones are kept.
    real = {**SAMPLE_VALUES, "referrer_email": "new.address@school.example.org"}
    dovecot.append(correction(real, number=3, results=[exchange_online("pass")]))
    log = run(config)
    corrected = only_intake(config)
    assert corrected["status"] == "complete" and "correction complete" in log
    assert corrected["fields"]["referrer_phone"] == SAMPLE_VALUES["referrer_phone"]

    again = {**real, "concerns": "Referral made in error, please close."}
    dovecot.append(correction(again, sender="new.address@school.example.org", number=4,
                              results=[exchange_online("pass")]))
    run(config)
    assert only_intake(config)["fields"] == corrected["fields"]

    show = intake(config, "show", before["reference"])
    assert show.returncode == 0, show.stderr
    assert "sender_auth=fail  unauthenticated-correction" in show.stdout
    history = show.stdout.split("Changes of answers", 1)[1].split("Messages", 1)[0]
    assert "from message #4" in history  # the fourth message, the real correction
    assert "referrer_phone: (empty) -> 020 8690 0000" in history
    assert ("referrer_email: l.nowak@prendergast.example.org -> new.address@school.example.org"
            in history)
    assert "(incomplete -> complete)" in history


def test_a_correction_never_takes_an_intake_out_of_manual_review_by_itself(
        config, dovecot, smtp_server):
    dovecot.append(original(make_scan_pdf()))
    run(config)
    scan = only_intake(config)
    assert (scan["status"], scan["review_reason"]) == ("manual_review", "scan")

    dovecot.append(correction(SAMPLE_VALUES, number=1, results=[exchange_online("pass")]))
    log = run(config)
    waiting = only_intake(config)
    assert waiting["status"] == "manual_review" and waiting["fields"] == scan["fields"]
    assert "proposal waiting" in log
    triage = intake(config, "triage")
    assert scan["reference"] in triage.stdout and "Sender auth" in triage.stdout
    assert "correction waiting (intake accept)" in triage.stdout
    show = intake(config, "show", scan["reference"]).stdout
    assert f"intake accept {scan['reference']} --by NAME" in show
    assert f"concerns: (empty) -> {SAMPLE_VALUES['concerns'][:40]}" in show

    accepted = intake(config, "accept", scan["reference"], "--by", "Sam Duty")
    assert accepted.returncode == 0, accepted.stderr
    assert "now complete" in accepted.stdout
    done = only_intake(config)
    assert done["status"] == "complete" and done["review_reason"] is None
    assert done["fields"]["subject_surname"] == "O'Connor"
    show = intake(config, "show", scan["reference"]).stdout
    assert "accepted by Sam Duty  (manual_review -> complete)" in show
    assert 'accepted  by="Sam Duty"' in show
    assert scan["reference"] not in intake(config, "triage").stdout
    # Nothing is left to accept: a second accept says so and exits 2.
    assert intake(config, "accept", scan["reference"], "--by", "Sam Duty").returncode == 2
