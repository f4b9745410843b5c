"""An exercise as the controller runs it: its scenario clock, its injects, its observations.

The exercise's stock lives in a ledger of its own; this aggregate (in a small control
store beside the ledgers) holds what is *about* the exercise, so that nothing done to run
one ever writes to the live ledger. Its events are recorded in wall-clock time; the
scenario clock is derived from them.

The clock: at creation it stands at `scenario_start`; each advance sets it to `until`.
Between advances it runs at `speed` scenario seconds per wall-clock second (0, the
default, means it stands still until the controller advances it).
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, TypeAdapter

from domain.aggregate import Aggregate
from domain.events import StoredEvent
from domain.exceptions import Conflict, InvalidCommand, NotFound
from domain.scenario import MAX_INJECTS, Inject, Objective
from domain.simulation import failed_deliveries

INJECT = TypeAdapter(Inject)
Status = Literal["running", "ended"]
InjectStatus = Literal["scheduled", "applied", "failed"]
Rating = Literal["P", "S", "M", "U"]
"""HSEEP ratings: performed without challenges, with some challenges, with major challenges, unable to be performed."""


def _at(inject: dict[str, Any]) -> datetime:
    """When a stored inject (as JSON) is due."""
    return datetime.fromisoformat(inject["at"])


class UnknownExercise(NotFound):
    title = "Unknown exercise"


class ExerciseOver(Conflict):
    title = "Exercise ended"


class ForkedBalance(BaseModel):
    """One depot's item at the fork: stock on hand and the consumption of each of the 14 days before."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    depot: str
    item: str
    on_hand: int
    daily: tuple[int, ...]  # daily[k] = consumption dated in (fork - (k+1) days, fork - k days]
    min_days: int | None = None

    @property
    def consumed_14d(self) -> int:
        return sum(self.daily)


class ForkedDepot(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str
    region: str
    population_served: int | None = None


class Fork(BaseModel):
    """What the exercise took from the live ledger, and what it did not."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    known_at: datetime
    position: int
    depots: tuple[ForkedDepot, ...]
    items: tuple[str, ...]
    balances: tuple[ForkedBalance, ...]
    not_carried: dict[str, int]  # transfers in transit, open allocations, open requests at the fork


class ExerciseCreated(StoredEvent):
    code: str
    name: str
    scenario_start: datetime  # in UTC
    scenario_offset_minutes: int = 0  # the offset `scenario_start` was given with (events before it: UTC)
    speed: float
    description: str | None = None
    fork: Fork | None = None
    created_by: str


class InjectsScheduled(StoredEvent):
    injects: tuple[tuple[str, dict[str, Any]], ...]  # (inject id, the inject as JSON)
    objectives: tuple[Objective, ...] = ()
    capabilities: tuple[str, ...] = ()
    scenario_name: str | None = None
    description: str | None = None
    scheduled_by: str


class ClockAdvanced(StoredEvent):
    until: datetime
    advanced_by: str


class ObservationRecorded(StoredEvent):
    at: datetime
    text: str
    capability: str | None = None
    rating: Rating | None = None
    observer: str


class ExerciseEnded(StoredEvent):
    at: datetime
    ended_by: str


class Observation(BaseModel):
    """An evaluator's note, in scenario time (`at`) and when it was recorded."""

    model_config = ConfigDict(frozen=True)

    at: datetime
    recorded_at: datetime
    observer: str
    text: str
    capability: str | None = None
    rating: Rating | None = None


class Exercise(Aggregate):
    code: str
    name: str
    description: str | None = None
    scenario_start: datetime
    scenario_offset_minutes: int = 0
    speed: float
    fork: Fork | None = None
    created_by: str
    injects: list[tuple[str, dict[str, Any]]] = []
    objectives: list[Objective] = []
    capabilities: list[str] = []
    applied_until: datetime  # every inject and simulated day up to here is in the exercise ledger
    advanced: bool = False  # before the first advance nothing is applied, not even what is due at the start
    advances: int = 0
    at_clock: dict[str, int] = {}
    """Injects scheduled at the time the clock had already been advanced to, each with the number of
    advances before it: the next advance applies them, after everything already applied at that time."""
    clock_set_at: datetime  # wall-clock time the clock last stood at `applied_until`
    observations: list[Observation] = []
    status: Status = "running"
    ended_at: datetime | None = None

    @classmethod
    def created(cls, event: ExerciseCreated) -> Self:
        return cls(
            **cls.born(event),
            code=event.code,
            name=event.name,
            description=event.description,
            scenario_start=event.scenario_start,
            scenario_offset_minutes=event.scenario_offset_minutes,
            speed=event.speed,
            fork=event.fork,
            created_by=event.created_by,
            applied_until=event.scenario_start,
            clock_set_at=event.timestamp,
        )

    def mutate(self, event: object) -> None:
        if isinstance(event, InjectsScheduled):
            if self.advanced:
                late = {i: self.advances for i, data in event.injects if _at(data) <= self.applied_until}
                self.at_clock = {**self.at_clock, **late}
            self.injects = [*self.injects, *event.injects]
            self.objectives = [*self.objectives, *event.objectives]
            self.capabilities = [*self.capabilities, *(c for c in event.capabilities if c not in self.capabilities)]
            if event.description and not self.description:
                self.description = event.description
        elif isinstance(event, ClockAdvanced):
            self.applied_until = event.until
            self.clock_set_at = event.timestamp
            self.advanced = True
            self.advances += 1
        elif isinstance(event, ObservationRecorded):
            self.observations = [
                *self.observations,
                Observation(
                    at=event.at,
                    recorded_at=event.timestamp,
                    text=event.text,
                    capability=event.capability,
                    rating=event.rating,
                    observer=event.observer,
                ),
            ]
        elif isinstance(event, ExerciseEnded):
            self.status = "ended"
            self.ended_at = event.at
        else:
            raise TypeError(f"Exercise cannot apply {type(event).__name__}")

    # --- the scenario clock ---------------------------------------------------------------

    @property
    def local_start(self) -> datetime:
        """`scenario_start` at the offset it was given with: a scenario file's `day`/`time` are read there."""
        return self.scenario_start.astimezone(timezone(timedelta(minutes=self.scenario_offset_minutes)))

    @property
    def offset_text(self) -> str:
        """The start's UTC offset as ISO 8601 writes it: "+01:00", "-05:30"."""
        sign = "-" if self.scenario_offset_minutes < 0 else "+"
        hours, minutes = divmod(abs(self.scenario_offset_minutes), 60)
        return f"{sign}{hours:02d}:{minutes:02d}"

    def clock(self, wall_now: datetime) -> datetime:
        """Scenario time now: where the last advance left it, plus the running time since."""
        if self.ended_at is not None:
            return self.ended_at
        if self.speed == 0:
            return self.applied_until
        running = max(wall_now - self.clock_set_at, timedelta(0)) * self.speed
        return self.applied_until + running

    @property
    def applied_after(self) -> datetime:
        """Steps after this are still to apply: an inject due at the very start is applied by the first advance."""
        return self.applied_until if self.advanced else self.scenario_start - timedelta(microseconds=1)

    def is_applied(self, inject_id: str, at: datetime) -> bool:
        return at <= self.applied_until and self.advanced and inject_id not in self.waiting

    @property
    def waiting(self) -> list[str]:
        """Injects scheduled at the clock's time since the last advance: the next one applies them first."""
        return [inject_id for inject_id, advances in self.at_clock.items() if advances == self.advances]

    def scheduled(self) -> list[tuple[str, Any]]:
        """The injects as models, in id order."""
        return [(inject_id, INJECT.validate_python(data)) for inject_id, data in self.injects]

    def inject_statuses(self) -> list[tuple[str, Any, InjectStatus]]:
        """Each inject, in id order, with where it stands: still scheduled, applied, or failed
        (a delivery that a delivery failure stopped, once its time has been applied)."""
        scheduled = self.scheduled()
        failed = failed_deliveries(scheduled, self.at_clock)
        return [
            (
                inject_id,
                inject,
                ("failed" if inject_id in failed else "applied")
                if self.is_applied(inject_id, inject.at)
                else "scheduled",
            )
            for inject_id, inject in scheduled
        ]

    @property
    def simulated_days(self) -> int:
        """Whole days simulated so far."""
        return int((self.applied_until - self.scenario_start) / timedelta(days=1))

    def next_inject_ids(self, count: int) -> list[str]:
        return [f"I-{len(self.injects) + n:04d}" for n in range(1, count + 1)]

    # --- commands -------------------------------------------------------------------------

    def running(self) -> None:
        if self.status == "ended":
            raise ExerciseOver(f"exercise {self.code} has ended; its ledger is read-only", exercise=self.code)

    def schedule(self, injects: list[Any], actor: str, **scenario: Any) -> InjectsScheduled:
        self.running()
        if len(self.injects) + len(injects) > MAX_INJECTS:
            raise InvalidCommand(
                f"an exercise holds at most {MAX_INJECTS:,} injects: "
                f"it has {len(self.injects):,}, and these are {len(injects):,} more",
                errors=[
                    {
                        "loc": ["body", "injects"],
                        "msg": f"more than {MAX_INJECTS:,} injects in the exercise",
                        "type": "too_many_injects",
                    }
                ],
            )
        errors = [  # before the first advance applied_until is the start: an inject may be at it
            {
                "loc": ["body", "injects", n, "at"],
                "msg": f"at {inject.at.isoformat()} is before the scenario start or before "
                f"{self.applied_until.isoformat()}, the scenario time already applied",
                "type": "inject_in_the_past",
            }
            for n, inject in enumerate(injects)
            if inject.at < self.applied_until
        ]
        if errors:
            raise InvalidCommand("an inject may not lie before the scenario time already applied", errors=errors)
        ids = self.next_inject_ids(len(injects))
        pairs = tuple(
            (inject_id, inject.model_dump(mode="json")) for inject_id, inject in zip(ids, injects, strict=True)
        )
        return self.trigger(InjectsScheduled, injects=pairs, scheduled_by=actor, **scenario)

    def advance(self, until: datetime, now: datetime, actor: str) -> ClockAdvanced:
        self.running()
        if until < self.clock(now):
            raise InvalidCommand(
                f"the scenario clock is already at {self.clock(now).isoformat()}; it only moves forward",
                errors=[{"loc": ["body", "until"], "msg": "before the scenario clock", "type": "clock_backwards"}],
            )
        return self.trigger(ClockAdvanced, until=until, advanced_by=actor)

    def observe(
        self, at: datetime, text: str, capability: str | None, rating: str | None, observer: str
    ) -> ObservationRecorded:
        return self.trigger(
            ObservationRecorded, at=at, text=text, capability=capability, rating=rating, observer=observer
        )

    def end(self, now: datetime, actor: str) -> ExerciseEnded:
        self.running()
        return self.trigger(ExerciseEnded, at=self.clock(now), ended_by=actor)
