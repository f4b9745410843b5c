"""What an exercise controller and evaluators ask for: they are also the HTTP request bodies."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    Field,
    PrivateAttr,
    StrictFloat,
    StrictInt,
    TypeAdapter,
    ValidationError,
    ValidatorFunctionWrapHandler,
    model_validator,
)

from domain.commands import Command, Instant, Text
from domain.scenario import MAX_INJECTS, Inject


def exercise_code(code: str) -> str:
    """Exercise codes are case-insensitive, kept in lower case: `EX1` and `ex1` name the same
    exercise (its ledger is a file name or a table prefix, so one spelling must be stored)."""
    return code.lower()


ExerciseCode = Annotated[
    str,
    Field(
        min_length=1,
        max_length=24,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9-]*$",
        description="Letters, digits and '-', case-insensitive: stored and answered in lower case, so `EX1` and "
        "`ex1` name the same exercise (in every path too); names the exercise's ledger (a file, or table prefix "
        "ex_<code>_)",
        examples=["spring-2020"],
    ),
    AfterValidator(exercise_code),
]


class CreateExercise(Command):
    code: ExerciseCode
    name: Text
    scenario_start: Instant = Field(description="Scenario time at which the exercise begins")
    fork_known_at: Instant | None = Field(
        default=None, description="Start from the live ledger as known (and as of) this time; default: an empty ledger"
    )
    speed: Annotated[StrictFloat | StrictInt, Field(ge=0, le=100_000)] = Field(
        default=0, description="Scenario seconds per wall-clock second between advances; 0: the clock stands still"
    )
    description: str | None = Field(default=None, max_length=4000)
    _offset_minutes: int = PrivateAttr(default=0)

    @model_validator(mode="wrap")
    @classmethod
    def _keep_offset(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> CreateExercise:
        """`scenario_start` is kept in UTC like every instant; the offset it was written with is
        kept beside it, since controllers write a scenario's times in that zone."""
        command: CreateExercise = handler(data)
        given = data.get("scenario_start") if isinstance(data, dict) else None
        command._offset_minutes = _offset_minutes(given)
        return command

    @property
    def scenario_offset_minutes(self) -> int:
        return self._offset_minutes


_AWARE: TypeAdapter[datetime] = TypeAdapter(AwareDatetime)


def _offset_minutes(given: Any) -> int:
    try:
        offset = _AWARE.validate_python(given).utcoffset()
    except ValidationError:
        return 0
    return 0 if offset is None else int(offset.total_seconds() // 60)


class ScheduleInjects(Command):
    """Either a list of injects with absolute times, or a scenario file's text (YAML or JSON)."""

    injects: list[Inject] | None = Field(default=None, min_length=1, max_length=MAX_INJECTS)
    scenario: str | None = Field(
        default=None, min_length=1, max_length=2_000_000, description="A scenario file (YAML or JSON)"
    )

    @model_validator(mode="after")
    def _one_of(self) -> ScheduleInjects:
        if (self.injects is None) == (self.scenario is None):
            raise ValueError("give either injects or scenario")
        return self


class AdvanceClock(Command):
    until: Instant = Field(
        description="Scenario time to advance to: due injects and whole simulated days up to it apply"
    )


class RecordObservation(Command):
    at: Instant | None = Field(default=None, description="Scenario time observed; default: the scenario clock")
    text: str = Field(min_length=1, max_length=4000)
    capability: str | None = Field(default=None, min_length=1, max_length=200)
    rating: str | None = Field(
        default=None,
        pattern=r"^[PSMU]$",
        description="HSEEP: P, S, M or U (performed without/with some/with major challenges, unable)",
    )
