"""Scenario injects: what an exercise controller plans to happen, and when (scenario time).

An inject is a fact about the scenario world, not about the live ledger: when the clock
passes its `at`, the exercise writes what it implies into the exercise ledger as ordinary
events with `source: inject` (a delivery becomes a receipt, a fire a loss adjustment, an
urgent request a supply request). A surge and a delivery failure change no stock by
themselves: they change what the simulation does on the days they cover.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from fractions import Fraction
from typing import Annotated, Literal

from pydantic import Field, StrictFloat, StrictInt, model_validator

from domain.commands import Code, Command, DayEnd, Instant, Note, Quantity
from domain.events import Priority

Factor = Annotated[StrictFloat | StrictInt, Field(gt=0, le=1000, description="Multiplies daily demand, e.g. 2.5")]
Days = Annotated[StrictInt, Field(ge=1, le=366)]


class InjectBase(Command):
    at: Instant = Field(description="Scenario time at which the inject takes effect")
    title: str | None = Field(default=None, max_length=200, description="What the controller calls it")
    note: Note = None


class ConsumptionSurge(InjectBase):
    """Daily demand at a depot, or every depot of a region, multiplied for `days` days."""

    kind: Literal["consumption_surge"]
    depot: Code | None = None
    region: str | None = Field(default=None, min_length=1, max_length=64)
    item: Code | None = Field(default=None, description="Default: every item")
    factor: Factor
    days: Days

    @model_validator(mode="after")
    def _one_place(self) -> ConsumptionSurge:
        if (self.depot is None) == (self.region is None):
            raise ValueError("a surge names either a depot or a region")
        return self

    @property
    def exact_factor(self) -> Fraction:
        return Fraction(str(self.factor))

    def covers(self, day_end: datetime, depot: str, region: str, item: str) -> bool:
        """Whether the simulated day ending at `day_end` at this depot and item is surging."""
        if self.item is not None and self.item != item:
            return False
        if self.depot is not None and self.depot != depot:
            return False
        if self.region is not None and self.region != region:
            return False
        return self.at < day_end <= self.at + timedelta(days=self.days)


class Delivery(InjectBase):
    """A scheduled supplier delivery: a receipt at the depot, unless a delivery failure covers it."""

    kind: Literal["delivery"]
    depot: Code
    item: Code
    quantity: Quantity
    supplier: str | None = Field(default=None, max_length=200)
    lot: str | None = Field(default=None, max_length=64)


class DeliveryFailure(InjectBase):
    """Deliveries scheduled in `[at, at + days)` from this supplier or to this depot do not arrive."""

    kind: Literal["delivery_failure"]
    supplier: str | None = Field(default=None, max_length=200)
    depot: Code | None = None
    item: Code | None = Field(default=None, description="Default: every item")
    days: Days

    @model_validator(mode="after")
    def _names_something(self) -> DeliveryFailure:
        if self.supplier is None and self.depot is None:
            raise ValueError("a delivery failure names a supplier or a depot")
        return self

    def stops(self, delivery: Delivery) -> bool:
        if not self.at <= delivery.at < self.at + timedelta(days=self.days):
            return False
        if self.item is not None and self.item != delivery.item:
            return False
        if self.supplier is not None and self.supplier != delivery.supplier:
            return False
        return self.depot is None or self.depot == delivery.depot


class DepotLoss(InjectBase):
    """A fire or flood: `fraction` of the depot's stock on hand (of one item, or all) is lost."""

    kind: Literal["depot_loss"]
    depot: Code
    fraction: Annotated[StrictFloat | StrictInt, Field(gt=0, le=1)]
    item: Code | None = Field(default=None, description="Default: every item")

    @property
    def exact_fraction(self) -> Fraction:
        return Fraction(str(self.fraction))


class UrgentRequest(InjectBase):
    """A depot asks for supply: a supply request in the exercise ledger."""

    kind: Literal["request"]
    depot: Code
    item: Code
    quantity: Quantity
    priority: Priority = "high"
    needed_by: DayEnd | None = None


class Message(InjectBase):
    """Narrative for the players: recorded on the exercise timeline, changes no stock."""

    kind: Literal["message"]
    text: str = Field(min_length=1, max_length=4000)


Inject = Annotated[
    ConsumptionSurge | Delivery | DeliveryFailure | DepotLoss | UrgentRequest | Message,
    Field(discriminator="kind"),
]
InjectKind = Literal["consumption_surge", "delivery", "delivery_failure", "depot_loss", "request", "message"]


class Objective(Command):
    title: str = Field(min_length=1, max_length=200)
    capabilities: list[str] = Field(default_factory=list, max_length=50)


MAX_INJECTS = 2_000
"""Injects one exercise may hold, all loads together: the sample scenario has 27. A review
replays every inject, so the bound keeps a review's work bounded too."""


class Scenario(Command):
    """A scenario file (YAML or JSON): what the exercise is for, and its injects."""

    name: str | None = Field(default=None, max_length=200)
    description: str | None = Field(default=None, max_length=4000)
    objectives: list[Objective] = Field(default_factory=list, max_length=50)
    capabilities: list[str] = Field(default_factory=list, max_length=100)
    injects: list[Inject] = Field(min_length=1, max_length=MAX_INJECTS)
