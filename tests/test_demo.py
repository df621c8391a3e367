"""`intake demo`: the bundled samples through the real pipeline, no servers."""

from __future__ import annotations

import json
from email import message_from_bytes, policy

from support.harness import intake

from intake.cli import main


def test_demo_records_every_layout_and_replies_only_to_people(tmp_path, capsys):
    assert main(["demo", "--dir", str(tmp_path / "demo")]) == 0
    out = capsys.readouterr().out
    assert "== Triage: open intakes, urgent first ==" in out
    assert "Received: 9" in out  # the digest's count of today's referrals

    config = tmp_path / "demo" / "settings.toml"
    done = intake(config, "export", "--format", "jsonl")
    rows = {row["message_id"]: row for row in map(json.loads, done.stdout.splitlines())}
    assert {row["source"] for row in rows.values()} >= {"pdf-form", "pdf-text", "docx"}
    assert rows["<demo-01@prendergast.example.org>"]["priority"] == "urgent"
    assert rows["<demo-02@youth.example.org>"]["status"] == "complete"  # corrected by 09
    assert rows["<demo-06@surgery.example.org>"]["review_reason"] == "scan"
    assert rows["<demo-07@school.example.org>"]["review_reason"] == "encrypted"
    assert rows["<demo-08@school.example.org>"]["missing"] == ["form"]
    late = rows["<demo-13@housing.example.org>"]
    assert late["status"] == "incomplete"
    assert late["missing"] == ["referrer_phone"] and late["invalid"] == ["referrer_email"]
    assert late["cc_missing"] == ["preventreferrals@met.pnn.police.uk",
                                  "mashagency@lewisham.gov.uk"]
    assert len(rows) == 9  # the correction, out-of-office, newsletter, question: no intake

    outgoing = [message_from_bytes(p.read_bytes(), policy=policy.default)
                for p in (tmp_path / "demo" / "outgoing").glob("*.eml")]
    recipients = {str(m["To"]) for m in outgoing}
    assert "head@school.example.org" not in recipients  # out-of-office: never answered
    assert "news@news.example.org" not in recipients
    assert "teacher@school.example.org" not in recipients  # a question: no reply
    acks = [m for m in outgoing if str(m["Subject"]).endswith("Prevent referral received")]
    assert len(acks) == 9
    assert all(m["Auto-Submitted"] == "auto-replied" for m in acks)


def test_demo_run_just_after_midnight_counts_every_sample_in_todays_digest(
        tmp_path, capsys, monkeypatch):
    # The samples arrive "earlier today": two minutes into the day they must not spill
    # into yesterday, or the digest the demo prints undercounts (seen in CI at 00:0x).
    monkeypatch.setenv("INTAKE_NOW", "2026-12-03T00:02:00+00:00")
    assert main(["demo", "--dir", str(tmp_path / "demo")]) == 0
    out = capsys.readouterr().out
    assert "digest for 2026-12-03" in out
    assert "Received: 9" in out
