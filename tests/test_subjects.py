"""Every subject line comes from templates/_subjects.j2, and reads exactly as it always
has: each kind of message, byte for byte. A council's own templates folder may word
them its own way, and one copied before subjects were templates still works."""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime
from pathlib import Path

from support.settings import make_settings

from intake.config.paths import project_dir
from intake.config.preflight import _samples, template_problems
from intake.jobs.digest import Digest, subject
from intake.mail.compose import Composer

SUBJECTS = {
    "acknowledgement (incomplete)": "[PRV-2026-00001] Prevent referral received",
    "acknowledgement (complete)": "[PRV-2026-00001] Prevent referral received",
    "acknowledgement (manual review)": "[PRV-2026-00001] Prevent referral received",
    "acknowledgement (correction)": "[PRV-2026-00001] Prevent referral updated",
    "reminder": "[PRV-2026-00001] Prevent referral: still needed",
    "alert (urgent)": "[PRV-2026-00001] Prevent referral: URGENT",
    "alert (manual review)": "[PRV-2026-00001] Prevent referral: manual review needed",
    "alert (referred before)": "[PRV-2026-00001] Prevent referral: referred before",
    "overdue alert": "[PRV-2026-00001] Prevent referral: screening overdue",
    "alert (possible forged correction)":
        "[PRV-2026-00001] Prevent referral: possible forged correction",
    "alert (manual-review burst)": "Prevent referrals: 1 need manual review",
    "alert (automatic replies paused)":
        "Prevent intake: automatic replies paused (hourly limit reached)",
    "service (down)": "Prevent intake service cannot read the mailbox",
    "service (recovered)": "Prevent intake service reads the mailbox again",
    "digest": "Prevent referrals digest: Sunday 4 January 2026",
}


def subjects(composer: Composer) -> dict[str, str]:
    return {what: str(build()["Subject"]) for what, build in _samples(composer)}


def test_every_subject_reads_as_it_always_has(tmp_path):
    assert subjects(Composer(make_settings(tmp_path))) == SUBJECTS


def test_the_digest_subject_names_the_day():
    assert subject(date(2026, 11, 20)) == "Prevent referrals digest: Friday 20 November 2026"


def test_smtp_down_and_back_subjects(tmp_path):
    from intake.store.service_state import service_message

    composer = Composer(make_settings(tmp_path))
    at = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    down = service_message(composer, composer.settings, "smtp", at, at, recovered=False)
    back = service_message(composer, composer.settings, "smtp", at, at, recovered=True)
    assert (down["Subject"], back["Subject"]) == (
        "Prevent intake service cannot send email", "Prevent intake service sends email again")


def own_templates(tmp_path: Path) -> Path:
    folder = tmp_path / "our-templates"
    shutil.copytree(project_dir("templates"), folder)
    return folder


def test_a_council_words_its_own_subjects(tmp_path):
    folder = own_templates(tmp_path)
    wording = folder / "_subjects.j2"
    wording.write_text(wording.read_text().replace("Prevent referral: still needed",
                                                   "Prevent referral: please send the rest"))
    composer = Composer(make_settings(tmp_path), folder)
    worded = subjects(composer)
    assert worded["reminder"] == "[PRV-2026-00001] Prevent referral: please send the rest"
    assert worded["acknowledgement (complete)"] == SUBJECTS["acknowledgement (complete)"]


def test_own_templates_copied_before_subjects_were_templates_keep_the_shipped_subjects(
        tmp_path):
    folder = own_templates(tmp_path)
    (folder / "_subjects.j2").unlink()
    settings = make_settings(tmp_path)
    settings = type(settings)(**{**vars(settings), "templates_dir": folder})
    assert template_problems(settings) == []
    assert subjects(Composer(settings, folder)) == SUBJECTS


def test_a_broken_subject_template_is_refused_before_anything_starts(tmp_path):
    folder = own_templates(tmp_path)
    (folder / "_subjects.j2").write_text("{% macro reminder(reference) %}[{{ reference }\n")
    settings = make_settings(tmp_path)
    settings = type(settings)(**{**vars(settings), "templates_dir": folder})
    assert any(line.startswith("[rules] templates: _subjects.j2 line ")
               for line in template_problems(settings))


def test_digest_html_title_is_its_subject():
    from intake.jobs.digest import digest_context

    digest = Digest(day=date(2026, 3, 29), timezone="Europe/London", counts={}, open=(),
                    made_at=datetime(2026, 11, 1, tzinfo=UTC))
    assert digest_context(digest)["subject"] == "Prevent referrals digest: Sunday 29 March 2026"
