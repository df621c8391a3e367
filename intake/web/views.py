"""The pages: the queue and one intake (MASH), the overview (Prevent manager).

Personal data appears only on the intake page, and every open of it and
every download is audited with the signed-in person's name. URLs carry
references and row numbers, never names.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from werkzeug.wrappers import Response

from ..config.settings_types import Settings
from ..domain.clock import local_day, utcnow
from ..domain.records import REFERENCE_PATTERN, AgeBand, Intake, Priority, Status
from ..jobs.digest import LABELS
from ..mail.parse import clean_filename
from ..store.database import Store
from . import queries
from .auth import MANAGER, MASH, person, requires
from .chart import charts

blueprint = Blueprint("pages", __name__)
REFERENCE = re.compile(REFERENCE_PATTERN)
MAX_TEXT = 5000


def _settings() -> Settings:
    return current_app.config["INTAKE_SETTINGS"]


def _store() -> Store:
    return current_app.extensions["intake_store"]()


def _zone() -> ZoneInfo:
    return ZoneInfo(_settings().digest.timezone)


@blueprint.app_template_filter("local")
def local_time(moment: datetime | None) -> str:
    if moment is None:
        return "-"
    return moment.astimezone(_zone()).strftime("%-d %b %Y %H:%M")


@blueprint.app_context_processor
def _context() -> dict[str, Any]:
    return {"person": person() if request.endpoint != "static" else None,
            "MASH": MASH, "MANAGER": MANAGER}


@blueprint.get("/")
def home() -> Response:
    who = person()
    if who is None:
        return redirect(url_for("auth.sign_in"))
    if MASH in who["roles"]:
        return redirect(url_for("pages.queue_page"))
    if MANAGER in who["roles"]:
        return redirect(url_for("pages.overview_page"))
    abort(403)


# -- the queue -----------------------------------------------------------------


def _day(name: str, errors: dict[str, str]) -> date | None:
    text = request.args.get(name, "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        errors[name] = "Enter a real date, for example 2026-11-23"
        return None


def read_filters(args: Any) -> tuple[queries.QueueFilters, dict[str, str]]:
    errors: dict[str, str] = {}
    status = args.get("status", "")
    priority = args.get("priority", "")
    band = args.get("age_band", "")
    days = args.get("days_open", "").strip()
    if days and not (days.isdigit() and int(days) < 10000):
        errors["days_open"] = "Enter a whole number of days, for example 3"
    filters = queries.QueueFilters(
        status=Status(status) if status in set(Status) else None,
        any_status=status == "any",
        priority=priority if priority in set(Priority) else None,
        age_band=AgeBand(band) if band in set(AgeBand) else None,
        since=_day("since", errors),
        until=_day("until", errors),
        min_days_open=int(days) if days and "days_open" not in errors else None,
        reference=args.get("reference", "").strip()[:20],
    )
    return filters, errors


@blueprint.get("/queue")
@requires(MASH)
def queue_page() -> str:
    filters, errors = read_filters(request.args)
    now = utcnow()
    store = _store()
    rows = queries.queue(store, _settings(), filters, now)
    other = None  # a searched reference that is not in the list (closed, or complete)
    wanted = filters.reference.upper()
    if REFERENCE.fullmatch(wanted) and all(r.intake.reference != wanted for r in rows):
        other = queries.find_intake(store, wanted)
    return render_template("queue.html", rows=rows, filters=filters, errors=errors,
                           other=other, refused=queries.refused_lately(store, now),
                           statuses=list(Status), now=now,
                           urgent=sum(r.intake.priority == Priority.URGENT for r in rows))


# -- one intake ------------------------------------------------------------------


def _intake(reference: str) -> Intake:
    if not REFERENCE.fullmatch(reference):
        abort(404)
    intake = queries.find_intake(_store(), reference)
    if intake is None:
        abort(404)
    return intake


@blueprint.get("/intakes/<reference>")
@requires(MASH)
def intake_page(reference: str) -> str:
    intake = _intake(reference)
    store, settings, who = _store(), _settings(), person()
    assert who is not None
    queries.record_access(store, intake, "viewed", who, utcnow())
    return render_template(
        "intake.html", intake=intake, answers=queries.answers(settings, intake),
        findings=queries.findings(settings, intake),
        review=queries.review_words(settings, intake),
        thread=queries.thread(store, settings, intake.id), sent=queries.sent(store, intake.id),
        trail=queries.audit_trail(store, intake.id), notes=queries.notes(store, intake.id),
        errors={}, form={}, **_issue17(store, settings, intake))


@blueprint.get("/intakes/<reference>/messages/<int:message_id>/files/<int:index>")
@requires(MASH)
def download(reference: str, message_id: int, index: int) -> Response:
    intake = _intake(reference)
    store, who = _store(), person()
    assert who is not None
    found = queries.attachment(store, _settings(), intake.id, message_id, index)
    if found is None:
        abort(404)
    queries.record_access(store, intake, "downloaded", who, utcnow(), message_row=message_id,
                          file=index, size=len(found.data))
    name = clean_filename(found.filename, found.content_type) or f"{intake.reference}-file"
    response = Response(found.data, mimetype="application/octet-stream")
    response.headers.set("Content-Disposition", "attachment", filename=name)
    return response


def _text(name: str, label: str, errors: dict[str, str]) -> str:
    text = request.form.get(name, "").strip()
    if not text:
        errors[name] = f"Enter {label}"
    elif len(text) > MAX_TEXT:
        errors[name] = f"{label.capitalize()} must be {MAX_TEXT} characters or fewer"
    return text


def _again(intake: Intake, errors: dict[str, str]) -> tuple[str, int]:
    """The intake page again, with what was wrong with the form (not audited twice)."""
    store, settings = _store(), _settings()
    return render_template(
        "intake.html", intake=intake, answers=queries.answers(settings, intake),
        findings=queries.findings(settings, intake),
        thread=queries.thread(store, settings, intake.id), sent=queries.sent(store, intake.id),
        trail=queries.audit_trail(store, intake.id), notes=queries.notes(store, intake.id),
        errors=errors, form=request.form, **_issue17(store, settings, intake)), 400


def _issue17(store: Store, settings: Settings, intake: Intake) -> dict[str, Any]:
    """The screening clock and the linked intakes, for the intake page."""
    return {"screening": queries.screening(store, settings, intake.id, utcnow()),
            "linked": queries.linked(store, intake.id)}


@blueprint.post("/intakes/<reference>/triaged")
@requires(MASH)
def triaged(reference: str) -> Response | tuple[str, int]:
    """The MASH has triaged it: the screening clock stops (`intake triaged`)."""
    intake = _intake(reference)
    outcome = request.form.get("outcome", "").strip()
    if len(outcome) > MAX_TEXT:
        return _again(intake, {"outcome": f"The outcome must be {MAX_TEXT} characters or fewer"})
    who = person()
    assert who is not None
    problem = queries.triaged(_store(), intake, outcome, who, utcnow())
    flash(f"{intake.reference} was already screened." if problem
          else f"{intake.reference} triaged.", "info" if problem else "success")
    return redirect(url_for("pages.intake_page", reference=intake.reference))


@blueprint.post("/intakes/<reference>/close")
@requires(MASH)
def close(reference: str) -> Response | tuple[str, int]:
    intake = _intake(reference)
    errors: dict[str, str] = {}
    reason = _text("reason", "the reason for closing", errors)
    if errors:
        return _again(intake, errors)
    who = person()
    assert who is not None
    if not queries.close(_store(), intake, reason, who, utcnow()):
        flash(f"{intake.reference} was already closed.", "info")
        return redirect(url_for("pages.intake_page", reference=intake.reference))
    flash(f"{intake.reference} closed.", "success")
    return redirect(url_for("pages.queue_page"))


@blueprint.post("/intakes/<reference>/notes")
@requires(MASH)
def add_note(reference: str) -> Response | tuple[str, int]:
    intake = _intake(reference)
    errors: dict[str, str] = {}
    text = _text("note", "a note", errors)
    if errors:
        return _again(intake, errors)
    who = person()
    assert who is not None
    queries.add_note(_store(), intake, text, who, utcnow())
    flash("Note added.", "success")
    return redirect(url_for("pages.intake_page", reference=intake.reference) + "#notes")


# -- the overview ------------------------------------------------------------------


@blueprint.get("/overview")
@requires(MANAGER)
def overview_page() -> str:
    settings = _settings()
    yesterday = local_day(utcnow(), settings.digest.timezone) - timedelta(days=1)
    errors: dict[str, str] = {}
    day = _day("day", errors) or yesterday
    store = _store()
    counts = queries.overview(store, settings, day, utcnow())
    days = queries.series(store, settings, day)
    return render_template("overview.html", day=day, counts=counts, labels=LABELS,
                           errors=errors, days=days, charts=charts(days),
                           previous=day - timedelta(days=1), following=day + timedelta(days=1))
