"""Exercises: a control store of what each exercise is, and a ledger of its own per exercise.

The control store (`Exercises`, like the token store a separate event store) holds each
exercise's aggregate: clock, injects, observations. Each exercise's stock lives in its
own `Ledger`, the same code as the live one on separate storage (a SQLite file beside the
live one, or tables prefixed `ex_<code>_`), opened on demand and kept open; on PostgreSQL
they share one connection pool (`ledger.shared_pool`). Nothing here
writes to the live ledger: creating an exercise only reads it (`ledger.fork`).
"""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast

from eventsourcing.application import AggregateNotFoundError, Application, ProcessingEvent
from eventsourcing.persistence import IntegrityError, Recording
from eventsourcing.utils import get_topic
from pydantic import BaseModel

from domain.aggregate import projector
from domain.exceptions import ConcurrentUpdate, DuplicateCode, InvalidCommand
from domain.exercise import Exercise, ExerciseCreated, UnknownExercise
from domain.exercise_commands import CreateExercise, RecordObservation, ScheduleInjects, exercise_code
from domain.ids import exercise_id
from domain.scenario import Inject
from ledger import clock
from ledger.application import Ledger
from ledger.clock import utc_text
from ledger.exercise_reviews import StoredReviews
from ledger.feed import Feed
from ledger.fork import fork
from ledger.injects import Advance, advance, check_codes
from ledger.journal import Journal
from ledger.persistence import IndexRows, IndexStore
from ledger.settings import Database
from projections.views import Views

project_exercise = projector(Exercise)
MAX_ADVANCE = timedelta(days=366)
"""One advance simulates at most a year: a typo in `until` must not write centuries of days."""
OutcomeT = TypeVar("OutcomeT", bound=BaseModel)


@dataclass(frozen=True)
class Once:
    """An Idempotency-Key on a control request: who sent it, the key, and the request's fingerprint."""

    scope: str
    key: str
    fingerprint: str


class ExerciseControl(Application):
    """Its recorder is the ledger's, for one table: `idempotency`, written in the same
    transaction as the exercise's events, so a retried control request stores nothing new."""

    name = "Exercises"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._codes: list[str] = []
        self._codes_read = 0
        self._codes_lock = threading.Lock()

    def _record(self, processing_event: ProcessingEvent) -> list[Recording]:
        index = IndexRows()
        index.idempotency = processing_event.saved_kwargs.pop("idempotency", None)
        processing_event.saved_kwargs["index"] = index
        return super()._record(processing_event)

    def replayed(self, once: Once | None, outcome_type: type[OutcomeT]) -> OutcomeT | None:
        """The stored answer to this key, if it was used before (409 if with another request)."""
        if once is None:
            return None
        stored = Journal(cast(IndexStore, self.recorder)).stored_answer(once.scope, once.key, once.fingerprint)
        return None if stored is None else outcome_type.model_validate(stored[0])

    def awaited(self, once: Once, outcome_type: type[OutcomeT], within: float = 10.0) -> OutcomeT | None:
        """The answer stored with this key by a request that is still finishing (another
        worker, which won a race to create the same exercise), waiting for it up to `within` seconds."""
        deadline = time.monotonic() + within
        while (stored := self.replayed(once, outcome_type)) is None and time.monotonic() < deadline:
            time.sleep(0.05)
        return stored

    def commit(
        self, exercise: Exercise, once: Once | None, outcome: BaseModel, lost_race: Exception | None = None
    ) -> None:
        """Stores the exercise's new events with the answer; `lost_race` is raised if another
        request stored first (default: a ConcurrentUpdate to retry)."""
        idempotency = None
        if once is not None:
            idempotency = {
                "scope": once.scope,
                "key": once.key,
                "fingerprint": once.fingerprint,
                "outcome": outcome.model_dump(mode="json"),
            }
        try:
            self.save(exercise, idempotency=idempotency)
        except IntegrityError:
            raise lost_race or ConcurrentUpdate(
                f"exercise {exercise.code} changed meanwhile, or the key was just used; retry"
            ) from None

    def exercise(self, code: str) -> Exercise:
        code = exercise_code(code)
        try:
            return self.repository.get(exercise_id(code), projector_func=project_exercise)
        except AggregateNotFoundError:
            raise UnknownExercise(f"no exercise {code}", exercise=code) from None

    def codes(self) -> list[str]:
        """Every exercise's code, in code order. Creations are read once per process: each
        call reads only those recorded since the last (a creation event carries its whole fork)."""
        topic = get_topic(ExerciseCreated)
        with self._codes_lock:
            while True:
                batch = self.recorder.select_notifications(self._codes_read + 1, 500, topics=(topic,))
                for notification in batch:
                    created = self.mapper.to_domain_event(notification)
                    assert isinstance(created, ExerciseCreated)  # the only topic selected
                    bisect.insort(self._codes, created.code)
                    self._codes_read = notification.id
                if len(batch) < 500:
                    return list(self._codes)


@dataclass
class ExerciseLedger:
    """One exercise's ledger with the read side and feed the API uses on it."""

    ledger: Ledger
    views: Views
    feed: Feed


def ledger_name(code: str) -> str:
    return f"ex_{code.replace('-', '_')}"


class Exercises:
    def __init__(self, database: Database, live: Views) -> None:
        self.database = database
        self.live = live
        self.control = ExerciseControl(database.env("exercises"))
        self.reviews = StoredReviews(cast(IndexStore, self.control.recorder))
        self._open: dict[str, ExerciseLedger] = {}
        self._lock = threading.Lock()
        self._creating = threading.Lock()

    def close(self) -> None:
        with self._lock:
            for opened in self._open.values():
                opened.ledger.close()
            self._open.clear()
        self.control.close()

    # --- reading ----------------------------------------------------------------------------

    def exercise(self, code: str) -> Exercise:
        return self.control.exercise(code)

    def page(self, after: str | None, limit: int) -> tuple[list[Exercise], str | None]:
        """Up to `limit` exercises in code order after `after`, and the code to continue after
        (None on the last page)."""
        codes = self.control.codes()
        start = 0 if after is None else bisect.bisect_right(codes, exercise_code(after))
        chosen = codes[start : start + limit]
        more = start + limit < len(codes)
        return [self.control.exercise(code) for code in chosen], (chosen[-1] if more and chosen else None)

    def opened(self, code: str) -> ExerciseLedger:
        """The exercise's ledger, opened once per process; 404 for an unknown exercise."""
        code = exercise_code(code)
        with self._lock:
            found = self._open.get(code)
        if found is not None:
            return found
        self.exercise(code)
        return self.open_ledger(code)

    def ledger(self, code: str) -> Ledger:
        return self.opened(code).ledger

    def open_ledger(self, code: str) -> ExerciseLedger:
        """Opens (creates, on first use) the storage of `code` whether or not the exercise exists yet."""
        code = exercise_code(code)
        with self._lock:
            if code in self._open:
                return self._open[code]
            ledger = Ledger(self.database.env(f"exercise-{code}", shared_pool=True), name=ledger_name(code))
            ledger.clock = lambda: self.control.exercise(code).clock(clock.now())
            ledger.in_scenario_time = True
            opened = ExerciseLedger(ledger, Views(ledger, None), Feed(ledger))
            self._open[code] = opened
            return opened

    @contextmanager
    def creation(self) -> Iterator[None]:
        """One creation at a time in this process (they are rare, and admin's): a second request
        for the same code then finds the first one's exercise, or its stored answer. Across
        processes the storage decides: see `create`."""
        with self._creating:
            yield

    # --- commands: each returns the exercise with its new events unsaved; the caller commits
    # them with its answer (`ExerciseControl.commit`), so an Idempotency-Key replays that answer.

    def create(self, command: CreateExercise, actor: str) -> Exercise:
        try:
            self.control.exercise(command.code)
        except UnknownExercise:
            pass
        else:
            raise DuplicateCode(f"exercise {command.code} already exists", code=command.code)
        now = clock.now()
        if command.fork_known_at is not None and command.fork_known_at > now + clock.FUTURE_TOLERANCE:
            raise InvalidCommand(
                "fork_known_at is in the future: the live ledger cannot be known there yet",
                errors=[{"loc": ["body", "fork_known_at"], "msg": "in the future", "type": "future"}],
            )
        target = self.open_ledger(command.code).ledger
        if target.position():
            raise CreationRace(
                f"storage for exercise {command.code} already holds events: another request is creating it, "
                "or an earlier creation failed half-way",
                code=command.code,
            )
        forked = None
        if command.fork_known_at is not None:
            try:
                forked = fork(self.live, target, command.fork_known_at, command.scenario_start, actor)
            except IntegrityError:  # another process forked into this storage first
                raise CreationRace(
                    f"exercise {command.code} is being created by another request", code=command.code
                ) from None
        exercise = Exercise.start(
            ExerciseCreated,
            exercise_id(command.code),
            code=command.code,
            name=command.name,
            scenario_start=command.scenario_start,
            scenario_offset_minutes=command.scenario_offset_minutes,
            speed=float(command.speed),
            description=command.description,
            fork=forked,
            created_by=actor,
        )
        return exercise

    def schedule(self, code: str, command: ScheduleInjects, actor: str) -> tuple[Exercise, list[str]]:
        exercise = self.exercise(code)
        code = exercise.code
        scenario: dict[str, Any] = {}
        injects: list[Inject] = list(command.injects or [])
        if command.scenario is not None:
            from domain.scenario_file import ScenarioError, load_scenario

            try:
                loaded = load_scenario(command.scenario, exercise.local_start)
            except ScenarioError as error:
                raise InvalidCommand(
                    f"the scenario file is not valid: {error}", errors=_in_body(error.errors)
                ) from None
            injects = list(loaded.injects)
            scenario = {
                "objectives": tuple(loaded.objectives),
                "capabilities": tuple(loaded.capabilities),
                "scenario_name": loaded.name,
                "description": loaded.description,
            }
        check_codes(self.ledger(code), injects)
        event = exercise.schedule(injects, actor, **scenario)
        return exercise, [inject_id for inject_id, _ in event.injects]

    def advance(self, code: str, until: datetime, actor: str) -> tuple[Exercise, Advance]:
        """Writes every due step to the exercise ledger; the clock moves when the caller commits."""
        exercise = self.exercise(code)
        code = exercise.code
        if until - exercise.applied_until > MAX_ADVANCE:
            raise InvalidCommand(
                f"advance at most {MAX_ADVANCE.days} days at a time",
                errors=[
                    {"loc": ["body", "until"], "msg": f"more than {MAX_ADVANCE.days} days ahead", "type": "too_far"}
                ],
            )
        after, waiting = exercise.applied_after, exercise.waiting
        exercise.advance(until, clock.now(), actor)  # refuses a clock going backwards before anything is written
        ledger = self.ledger(code)
        done = advance(exercise, ledger, after, until, actor, waiting)
        return exercise, done.model_copy(update={"clock": exercise.clock(clock.now()), "position": ledger.position()})

    def observe(self, code: str, command: RecordObservation, actor: str) -> Exercise:
        exercise = self.exercise(code)
        now = exercise.clock(clock.now())
        at = command.at or now
        if at > now + clock.FUTURE_TOLERANCE:
            raise InvalidCommand(
                f"at {utc_text(at)} is ahead of the scenario clock ({utc_text(now)}): observe what has happened",
                errors=[{"loc": ["body", "at"], "msg": "in the scenario's future", "type": "future"}],
            )
        exercise.observe(at, command.text, command.capability, command.rating, actor)
        return exercise

    def end(self, code: str, actor: str) -> Exercise:
        exercise = self.exercise(code)
        exercise.end(clock.now(), actor)
        return exercise


class CreationRace(DuplicateCode):
    """Another request created the same exercise at the same moment (in another process:
    within one, `Exercises.creation` makes them wait their turn)."""


def _in_body(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**error, "loc": ["body", "scenario", *error.get("loc", [])]} for error in errors]
