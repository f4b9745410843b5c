"""Exercise control in a browser: the list of exercises, creating one (a fork of the live
ledger, or an empty one), its clock, loading a scenario file, observations, ending it, and
its review. Every form runs the same control command as the JSON API
(`api.routers.exercises`), once per form key: a double click or a resubmission after a lost
answer gets the first answer back, as an `Idempotency-Key` does there.

Who may do what follows the API: anyone signed in reads; the admin controls (create, load,
advance, end); an auditor or the admin records observations. The exercise's own dashboard
is the ledger pages under `/exercises/{code}/` (`api.console.__init__`); this module's pages
sit at `/exercises`, `/exercises/{code}/control[/...]` and `/exercises/{code}/review`, beside them.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from api.console.cuts import as_cut_text
from api.console.forms import FormState, Submitted, SubmittedForm
from api.console.i18n import N_
from api.console.pages import SECURITY_HEADERS, chrome, environment, render, see_other
from api.console.session import SignedInDep, console_request, needs
from api.routers.exercises import (
    Policy,
    advance_clock,
    create_exercise,
    end_exercise,
    record_observation,
    schedule_injects,
    summary,
    view,
)
from domain.exercise_commands import AdvanceClock, CreateExercise, RecordObservation, ScheduleInjects
from ledger import clock
from ledger.console_sessions import SignedIn
from ledger.exercises import Exercises, Once
from replay.exercise_report import exercise_review_html
from replay.exercise_review import review

router = APIRouter(include_in_schema=False, dependencies=[Depends(console_request)])
Controller = Annotated[SignedIn, Depends(needs())]
Evaluator = Annotated[SignedIn, Depends(needs("auditor"))]
MAX_SCENARIO_BYTES = 2_000_000
"""As `ScheduleInjects.scenario` allows."""
PAGE = 50
SHOWN_ERRORS = 8

DONE = {
    "created": N_("The exercise was created."),
    "loaded": N_("The scenario's injects were scheduled."),
    "advanced": N_("The scenario clock was advanced."),
    "observed": N_("The observation was recorded."),
    "ended": N_("The exercise has ended: its ledger is read-only and its review final."),
}
"""The notice shown after a form succeeded (`?done=`), a message id translated in the page."""
STARTS = (
    ("live_now", N_("the live ledger as known now")),
    ("live_at", N_("the live ledger as known at the time below")),
    ("empty", N_("an empty ledger")),
)
BACK_TO_EXERCISE = N_("Back to the exercise")
STATUSES = (N_("running"), N_("ended"), N_("scheduled"), N_("applied"), N_("failed"))
"""An exercise's and an inject's status: message ids the pages translate."""
RATINGS = (
    ("P", N_("P: performed without challenges")),
    ("S", N_("S: performed with some challenges")),
    ("M", N_("M: performed with major challenges")),
    ("U", N_("U: unable to be performed")),
)


class NoBody(BaseModel):
    """Ending an exercise takes nothing but the form's key."""


def _exercises(request: Request) -> Exercises:
    return request.app.state.exercises


def _once(form: Submitted, signed: SignedIn, extra: bytes = b"") -> Once:
    """The form's key as an exercise control's Idempotency-Key: the same submission replays."""
    fingerprint = hashlib.sha256((form.context.fingerprint or "").encode() + b"\0" + extra).hexdigest()
    return Once(scope=signed.principal.id, key=form.key, fingerprint=fingerprint)


def _instant(value: str, offset: str = "") -> str:
    """A datetime-local field's value as an instant: in `offset` (e.g. +01:00), UTC without one;
    anything else as typed, for the command to accept or refuse in its own words."""
    value = value.strip()
    local = as_cut_text(value) or ""
    if local == value:  # not a datetime-local value
        return value
    offset = offset.strip()
    return local if offset in ("", "Z", "UTC") else local.removesuffix("Z") + offset


def _number(value: str) -> int | float | str:
    try:
        return int(value)
    except ValueError:
        try:
            return float(value)
        except ValueError:
            return value


def _local(moment: datetime) -> str:
    """A UTC instant as a datetime-local field's value."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M")


# --- the list, and creating an exercise ----------------------------------------------------------


@router.get("/exercises", response_class=HTMLResponse)
def exercise_list(
    request: Request, signed: SignedInDep, after: Annotated[str | None, Query(max_length=24)] = None
) -> Response:
    """Every exercise with its status and clock; the admin's form to create one."""
    return _list(request, signed, FormState(values={"start": "live_now", "speed": "0"}), after)


def _list(request: Request, signed: SignedIn, form: FormState, after: str | None = None) -> Response:
    found, next_after = _exercises(request).page(after, PAGE)
    rows = [summary(exercise) for exercise in found]
    return render(
        request,
        "exercises.html",
        status=form.status,
        exercises=rows,
        next_after=next_after,
        form=form,
        starts=STARTS,
        controls=signed.principal.role == "admin",
    )


@router.post("/exercises", response_class=HTMLResponse)
def create(request: Request, signed: Controller, form: SubmittedForm) -> Response:
    fields = form.fields
    start = fields.get("start", "live_now")
    fork_known_at: str | None = None
    if start == "live_now":
        fork_known_at = clock.now().isoformat()
    elif start == "live_at":
        fork_known_at = _instant(fields.get("fork_known_at", ""))
    body: dict[str, Any] = {
        "code": fields.get("code", "").strip(),
        "name": fields.get("name", "").strip(),
        "scenario_start": _instant(fields.get("scenario_start", ""), fields.get("offset", "")),
        "fork_known_at": fork_known_at,
        "speed": _number(fields.get("speed", "").strip() or "0"),
        "description": fields.get("description", "").strip() or None,
    }
    once = _once(form, signed)
    outcome = form.attempt(
        CreateExercise, lambda command, ctx: create_exercise(request, command, ctx.actor, once), body=body
    )
    if outcome.form is not None:
        return _list(request, signed, outcome.form)
    assert outcome.result is not None
    return see_other(f"/exercises/{outcome.result.code}/control?done=created")


# --- one exercise: its clock, injects, observations, end -------------------------------------------


@router.get("/exercises/{code}/control", response_class=HTMLResponse)
def control(
    request: Request, code: str, signed: SignedInDep, done: Annotated[str | None, Query(max_length=20)] = None
) -> Response:
    """Where an exercise stands, and the forms that move it on."""
    return _control(request, code, signed, {}, DONE.get(done or ""))


def _control(
    request: Request, code: str, signed: SignedIn, refused: dict[str, FormState], notice: str | None = None
) -> Response:
    exercises = _exercises(request)
    shown = view(exercises, exercises.exercise(code))
    chrome(request).exercise = shown.code  # drawn in the exercise's colour, marked "not live data"
    role = signed.principal.role
    forms = {
        "advance": FormState(values={"until": _local(shown.applied_until + timedelta(days=1))}),
        "injects": FormState(),
        "observation": FormState(),
        "end": FormState(),
    }
    forms.update(refused)
    status = next((form.status for form in refused.values()), 200)
    return render(
        request,
        "exercise_control.html",
        status=status,
        exercise=shown,
        forms=forms,
        notice=notice,
        ratings=RATINGS,
        controls=role == "admin" and shown.status == "running",
        evaluates=role in ("admin", "auditor") and shown.status == "running",
    )


@router.post("/exercises/{code}/control/advance", response_class=HTMLResponse)
def advance(request: Request, code: str, signed: Controller, form: SubmittedForm) -> Response:
    once = _once(form, signed)
    body = {"until": _instant(form.fields.get("until", ""))}
    outcome = form.attempt(
        AdvanceClock, lambda command, ctx: advance_clock(request, code, command, ctx.actor, once), body=body
    )
    return _after(request, code, signed, "advance", outcome.form, "advanced")


@router.post("/exercises/{code}/control/injects", response_class=HTMLResponse)
async def load_scenario(request: Request, code: str, signed: Controller, form: SubmittedForm) -> Response:
    """A scenario file (YAML or JSON, as `POST /v1/exercises/{code}/injects` takes as `scenario`),
    uploaded or pasted."""
    upload = (await request.form()).get("scenario_file")
    text = form.fields.get("scenario", "")
    raw = b""
    if isinstance(upload, UploadFile) and upload.filename:
        raw = await upload.read(MAX_SCENARIO_BYTES + 1)
    return await run_in_threadpool(_load, request, code, signed, form, raw, text)


def _load(request: Request, code: str, signed: SignedIn, form: Submitted, raw: bytes, text: str) -> Response:
    if raw:
        if len(raw) > MAX_SCENARIO_BYTES:
            refused = form.refused(413, N_("Scenario file too large"), f"at most {MAX_SCENARIO_BYTES:,} bytes", [], {})
            return _control(request, code, signed, {"injects": refused})
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            refused = form.refused(
                422, "Invalid request", "", [{"loc": ["scenario_file"], "msg": "not a UTF-8 text file"}], {}
            )
            return _control(request, code, signed, {"injects": refused})
    once = _once(form, signed, hashlib.sha256(text.encode()).digest())
    outcome = form.attempt(
        ScheduleInjects,
        lambda command, ctx: schedule_injects(request, code, command, ctx.actor, once),
        body={"scenario": text or None},
        fields=dict.fromkeys(("scenario", "injects"), "scenario_file" if raw else "scenario"),
    )
    if outcome.form is not None:
        _shorten(outcome.form)
        if raw:
            outcome.form.values.pop("scenario", None)  # the file's text was not typed into the field
    return _after(request, code, signed, "injects", outcome.form, "loaded")


def _shorten(form: FormState, most: int = SHOWN_ERRORS) -> None:
    """A scenario's errors next to its field: each different one once, the first few of them."""
    for name, joined in form.errors.items():
        different = list(dict.fromkeys(joined.split("; ")))
        more = f"; … (+{len(different) - most})" if len(different) > most else ""
        form.errors[name] = "; ".join(different[:most]) + more


@router.post("/exercises/{code}/control/observations", response_class=HTMLResponse)
def observe(request: Request, code: str, signed: Evaluator, form: SubmittedForm) -> Response:
    once = _once(form, signed)
    body = form.body()
    if "at" in body:
        body["at"] = _instant(body["at"])
    outcome = form.attempt(
        RecordObservation, lambda command, ctx: record_observation(request, code, command, ctx.actor, once), body=body
    )
    return _after(request, code, signed, "observation", outcome.form, "observed")


@router.post("/exercises/{code}/control/end", response_class=HTMLResponse)
def end(request: Request, code: str, signed: Controller, form: SubmittedForm) -> Response:
    once = _once(form, signed)
    outcome = form.attempt(NoBody, lambda _, ctx: end_exercise(request, code, ctx.actor, once), body={})
    return _after(request, code, signed, "end", outcome.form, "ended")


def _after(request: Request, code: str, signed: SignedIn, name: str, refused: FormState | None, done: str) -> Response:
    """Post/Redirect/Get on success; the same page with the refused form otherwise."""
    if refused is not None:
        return _control(request, code, signed, {name: refused})
    return see_other(f"/exercises/{_exercises(request).exercise(code).code}/control?done={done}")


# --- the review ---------------------------------------------------------------------------------


@router.get("/exercises/{code}/review", response_class=HTMLResponse)
def review_page(request: Request, code: str, _: SignedInDep, policy: Policy = "equal_days_of_supply") -> Response:
    """The after-action review as the API's `review.html` draws it: self-contained, no scripts."""
    found = review(_exercises(request), code, None if policy == "none" else policy)
    back = environment(chrome(request).language).get_template("back_link.html")
    link = back.render(href=f"/exercises/{quote(code, safe='')}/control", label=BACK_TO_EXERCISE)
    return HTMLResponse(exercise_review_html(found).replace("<body>", "<body>\n" + link, 1), headers=SECURITY_HEADERS)
