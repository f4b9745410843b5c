"""Exercises: create one (optionally forked from the live ledger), schedule injects, move the
scenario clock, record observations, end it, and review it. Every ledger route also exists
under `/v1/exercises/{exercise}/` (see `api.app`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from api.deps import Admin, Evaluator, ExerciseCodeInPath, OnceDep, Reader
from api.responses import ERRORS
from domain.exceptions import Conflict
from domain.exercise import Exercise, Fork, InjectStatus, Observation
from domain.exercise_commands import AdvanceClock, CreateExercise, RecordObservation, ScheduleInjects
from domain.policies import MODEL_POLICY, POLICIES, says_policy
from ledger import clock
from ledger.exercises import CreationRace, Exercises, Once
from ledger.injects import Advance
from replay.exercise_report import exercise_review_html
from replay.exercise_review import review
from replay.review_model import ExerciseReview

router = APIRouter(prefix="/v1/exercises", tags=["exercises"], responses=ERRORS)

POSITION = (
    "The exercise ledger's position after this write (the one `known_at=pos:N` and the feed under "
    "`/v1/exercises/{code}/` count in). Creating with a fork and advancing store events there; scheduling "
    "injects, observations and ending store theirs in the exercise registry only and leave it where it was."
)
RECORDED_AT = (
    "When this write was recorded: the wall-clock time of its event in the exercise registry (the exercise "
    "ledger's own events are dated in scenario time)"
)


class InjectView(BaseModel):
    id: str
    at: datetime
    kind: str
    status: InjectStatus = Field(description="scheduled, applied, or failed (a delivery stopped by a delivery failure)")
    inject: dict[str, Any]


class ExerciseView(BaseModel):
    code: str
    name: str
    status: str
    description: str | None
    scenario_start: datetime
    scenario_clock: datetime = Field(description="Scenario time now")
    applied_until: datetime = Field(description="Injects and simulated days up to here are in the exercise ledger")
    speed: float
    fork: Fork | None
    position: int = Field(description=POSITION)
    recorded_at: datetime = Field(description=RECORDED_AT + "; on a read, of the exercise's latest control event")
    scenario_offset: str = Field(
        description="The UTC offset of `scenario_start` as it was given (e.g. +01:00): a scenario file's "
        "`day`/`time` are read in it"
    )
    injects: list[InjectView]
    observations: list[Observation]
    created_by: str
    ended_at: datetime | None


class ExerciseSummary(BaseModel):
    """One line of the list: what an exercise is and where it stands, without its fork or injects."""

    code: str
    name: str
    status: str
    scenario_start: datetime
    scenario_clock: datetime = Field(description="Scenario time now")
    speed: float
    injects: int = Field(description="Injects scheduled")
    observations: int = Field(description="Observations recorded")
    created_by: str
    ended_at: datetime | None


class ExercisePage(BaseModel):
    exercises: list[ExerciseSummary] = Field(description="In code order")
    next_after: str | None = Field(description="Pass as `after` for the next page; null on the last page")


class ScheduledInjects(BaseModel):
    exercise: str
    scheduled: list[str] = Field(description="Ids of the injects scheduled by this call")
    injects: int = Field(description="Injects scheduled in all")
    position: int = Field(description=POSITION)
    recorded_at: datetime = Field(description=RECORDED_AT)


class RecordedObservation(Observation):
    """The observation as recorded, with where the exercise ledger stood."""

    position: int = Field(description=POSITION)


def _exercises(request: Request) -> Exercises:
    return request.app.state.exercises


def view(exercises: Exercises, exercise: Exercise) -> ExerciseView:
    injects = [
        InjectView(id=inject_id, at=inject.at, kind=inject.kind, status=status, inject=inject.model_dump(mode="json"))
        for inject_id, inject, status in exercise.inject_statuses()
    ]
    return ExerciseView(
        code=exercise.code,
        name=exercise.name,
        status=exercise.status,
        description=exercise.description,
        scenario_start=exercise.scenario_start,
        scenario_clock=exercise.clock(clock.now()),
        applied_until=exercise.applied_until,
        speed=exercise.speed,
        fork=exercise.fork,
        position=exercises.open_ledger(exercise.code).ledger.position(),
        recorded_at=exercise.modified_on,
        scenario_offset=exercise.offset_text,
        injects=injects,
        observations=list(exercise.observations),
        created_by=exercise.created_by,
        ended_at=exercise.ended_at,
    )


def summary(exercise: Exercise) -> ExerciseSummary:
    return ExerciseSummary(
        code=exercise.code,
        name=exercise.name,
        status=exercise.status,
        scenario_start=exercise.scenario_start,
        scenario_clock=exercise.clock(clock.now()),
        speed=exercise.speed,
        injects=len(exercise.injects),
        observations=len(exercise.observations),
        created_by=exercise.created_by,
        ended_at=exercise.ended_at,
    )


OutcomeT = TypeVar("OutcomeT", bound=BaseModel)


def _control(
    request: Request,
    once: Once | None,
    outcome_type: type[OutcomeT],
    act: Callable[[Exercises], tuple[Exercise, OutcomeT]],
    lost_race: Exception | None = None,
) -> tuple[OutcomeT, bool]:
    """Run a control request once: a repeat with its Idempotency-Key gets the stored answer
    (and True: replayed); otherwise the exercise's new events and the answer are stored together.
    A request that loses a race to one with the same key (another worker) gets that one's answer too."""
    exercises = _exercises(request)
    try:
        replayed = exercises.control.replayed(once, outcome_type)
        if replayed is None:
            exercise, answer = act(exercises)
            exercises.control.commit(exercise, once, answer, lost_race)
            return answer, False
    except Conflict as refused:
        replayed = exercises.control.replayed(once, outcome_type)
        if replayed is None and once is not None and isinstance(refused, CreationRace):
            replayed = exercises.control.awaited(once, outcome_type)
        if replayed is None:
            raise
    return replayed, True


# The control commands, each run once per key: these routes and the console's exercise pages
# (`api.console.exercises`) call them alike. Each answers (its outcome, whether it was replayed).


def create_exercise(request: Request, body: CreateExercise, actor: str, once: Once | None) -> tuple[ExerciseView, bool]:
    def act(exercises: Exercises) -> tuple[Exercise, ExerciseView]:
        exercise = exercises.create(body, actor)
        return exercise, view(exercises, exercise)

    lost = CreationRace(f"exercise {body.code} was just created by another request", code=body.code)
    with _exercises(request).creation():
        return _control(request, once, ExerciseView, act, lost_race=lost)


def schedule_injects(
    request: Request, code: str, body: ScheduleInjects, actor: str, once: Once | None
) -> tuple[ScheduledInjects, bool]:
    def act(exercises: Exercises) -> tuple[Exercise, ScheduledInjects]:
        updated, ids = exercises.schedule(code, body, actor)
        return updated, ScheduledInjects(
            exercise=updated.code,
            scheduled=ids,
            injects=len(updated.injects),
            position=exercises.ledger(updated.code).position(),
            recorded_at=updated.modified_on,
        )

    return _control(request, once, ScheduledInjects, act)


def advance_clock(
    request: Request, code: str, body: AdvanceClock, actor: str, once: Once | None
) -> tuple[Advance, bool]:
    return _control(request, once, Advance, lambda exercises: exercises.advance(code, body.until, actor))


def record_observation(
    request: Request, code: str, body: RecordObservation, actor: str, once: Once | None
) -> tuple[RecordedObservation, bool]:
    def act(exercises: Exercises) -> tuple[Exercise, RecordedObservation]:
        updated = exercises.observe(code, body, actor)
        recorded = updated.observations[-1].model_dump()
        return updated, RecordedObservation(**recorded, position=exercises.ledger(updated.code).position())

    return _control(request, once, RecordedObservation, act)


def end_exercise(request: Request, code: str, actor: str, once: Once | None) -> tuple[ExerciseView, bool]:
    def act(exercises: Exercises) -> tuple[Exercise, ExerciseView]:
        updated = exercises.end(code, actor)
        return updated, view(exercises, updated)

    return _control(request, once, ExerciseView, act)


def _answered(response: Response, outcome: tuple[OutcomeT, bool]) -> OutcomeT:
    answer, replayed = outcome
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return answer


@router.post("", status_code=201, response_model=ExerciseView)
def create(body: CreateExercise, request: Request, response: Response, principal: Admin, once: OnceDep) -> ExerciseView:
    """A new exercise with its own ledger; with `fork_known_at`, starting from the live ledger as known then."""
    return _answered(response, create_exercise(request, body, principal.name, once))


@router.get("", response_model=ExercisePage)
def list_exercises(
    request: Request,
    _: Reader,
    after: Annotated[
        str | None, Query(max_length=24, description="List the codes after this (`next_after` of a page)")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> ExercisePage:
    """Exercises in code order, a page at a time, each summed up; `GET /v1/exercises/{code}` has the rest."""
    found, next_after = _exercises(request).page(after, limit)
    return ExercisePage(exercises=[summary(exercise) for exercise in found], next_after=next_after)


@router.get("/{exercise}", response_model=ExerciseView)
def show(exercise: ExerciseCodeInPath, request: Request, _: Reader) -> ExerciseView:
    exercises = _exercises(request)
    return view(exercises, exercises.exercise(exercise))


@router.post("/{exercise}/injects", status_code=201, response_model=ScheduledInjects)
def schedule(
    exercise: ExerciseCodeInPath,
    body: ScheduleInjects,
    request: Request,
    response: Response,
    principal: Admin,
    once: OnceDep,
) -> ScheduledInjects:
    """Schedule injects (absolute scenario times), or load a scenario file's (YAML or JSON, times may be relative)."""
    return _answered(response, schedule_injects(request, exercise, body, principal.name, once))


@router.post("/{exercise}/advance", response_model=Advance)
def advance(
    exercise: ExerciseCodeInPath,
    body: AdvanceClock,
    request: Request,
    response: Response,
    principal: Admin,
    once: OnceDep,
) -> Advance:
    """Move the scenario clock to `until`: due injects apply in order, and each whole day's simulated demand
    is consumed."""
    return _answered(response, advance_clock(request, exercise, body, principal.name, once))


@router.post("/{exercise}/observations", status_code=201, response_model=RecordedObservation)
def observe(
    exercise: ExerciseCodeInPath,
    body: RecordObservation,
    request: Request,
    response: Response,
    principal: Evaluator,
    once: OnceDep,
) -> RecordedObservation:
    """An evaluator's observation (auditor or admin), optionally rating a capability P/S/M/U."""
    return _answered(response, record_observation(request, exercise, body, principal.name, once))


@router.post("/{exercise}/end", response_model=ExerciseView)
def end(
    exercise: ExerciseCodeInPath, request: Request, response: Response, principal: Admin, once: OnceDep
) -> ExerciseView:
    """Stop the clock; the exercise ledger becomes read-only and the review final."""
    return _answered(response, end_exercise(request, exercise, principal.name, once))


_REVIEW_POLICY = "^(" + "|".join((*POLICIES, "none")) + ")$|" + MODEL_POLICY
Policy = Annotated[
    str,
    says_policy(_REVIEW_POLICY, f"give one of {', '.join(POLICIES)}, none, or model:NAME or model:NAME@VERSION"),
    Query(
        pattern=_REVIEW_POLICY,
        max_length=80,
        description="The policy of the counterfactual re-run ('none' for no counterfactual), or a distribution "
        "model: model:NAME[@VERSION], from the exercise's ledger, else the live ledger",
    ),
]


def _policy(policy: str) -> str | None:
    return None if policy == "none" else policy


@router.get("/{exercise}/review", response_model=ExerciseReview)
def get_review(
    exercise: ExerciseCodeInPath, request: Request, _: Reader, policy: Policy = "equal_days_of_supply"
) -> ExerciseReview:
    """The after-action review: overview, capabilities, timeline, key measures as played and had
    `policy` decided instead, observations and an improvement plan. Available while running too."""
    return review(_exercises(request), exercise, _policy(policy))


@router.get("/{exercise}/review.html", response_class=HTMLResponse)
def get_review_page(
    exercise: ExerciseCodeInPath, request: Request, _: Reader, policy: Policy = "equal_days_of_supply"
) -> HTMLResponse:
    """The review as a self-contained report with charts drawn server-side: no scripts, nothing fetched."""
    return HTMLResponse(exercise_review_html(review(_exercises(request), exercise, _policy(policy))))
