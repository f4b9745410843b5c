"""What an exercise controller and evaluators ask for: they are also the HTTP request bodies."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StrictFloat, StrictInt, model_validator

from domain.commands import Command, Instant, Text
from domain.scenario import MAX_INJECTS, Inject

ExerciseCode = Annotated[
    str,
    Field(
        min_length=1,
        max_length=24,
        pattern=r"^[a-z0-9][a-z0-9-]*$",
        description=(
            "Lower-case letters, digits and '-'; names the exercise's ledger (a file, or table prefix ex_<code>_)"
        ),
        examples=["spring-2020"],
    ),
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
