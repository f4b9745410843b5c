"""The after-action review as data: `GET /v1/exercises/{code}/review` returns `ExerciseReview`,
and `review.html` and `supply-ledger exercise review` render the same object.

Its sections follow the after-action report exercise planners already write: overview;
objectives and capabilities with ratings; timeline of injects, decisions and
observations; key measures (as played, and had a named policy decided instead); and an
improvement plan.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from domain.exercise import Observation, Rating  # noqa: F401 - part of the review's shape

RATING_NAMES: dict[str, str] = {
    "P": "Performed without challenges",
    "S": "Performed with some challenges",
    "M": "Performed with major challenges",
    "U": "Unable to be performed",
}


class Model(BaseModel):
    model_config = ConfigDict(frozen=True)


class Stockout(Model):
    """Consecutive simulated days on which a depot could not meet its demand for an item."""

    depot: str
    region: str
    item: str
    start: datetime  # start of the first day short
    end: datetime  # end of the last day short
    days: int
    unmet: int  # units of demand not met over those days
    ongoing: bool  # still short on the last simulated day


class CurvePoint(Model):
    at: datetime
    days_of_supply: float | None  # one decimal; None when the region consumes nothing


class RegionCurve(Model):
    region: str
    item: str
    minimum: float | None
    minimum_at: datetime | None
    points: list[CurvePoint]


class Latency(Model):
    """Hours between two moments for each case that has both; `pending` cases have only the first."""

    count: int
    median_hours: float | None
    worst_hours: float | None
    pending: int


class Loss(Model):
    transfer_id: str
    source: str
    destination: str
    item: str
    dispatched: int
    received: int
    lost: int


class Departure(Model):
    """A decision whose chosen lines differ from the policy's recommended lines."""

    allocation_id: str
    decided_at: datetime
    source: str
    item: str
    policy: str
    recommended: dict[str, int]
    chosen: dict[str, int]
    rationale: str | None


class FillRate(Model):
    requested: int  # units asked for in requests
    filled: int  # units received by the requesting depots against them (first come, first filled)
    rate: float | None  # filled / requested, 3 decimals


class Measures(Model):
    stockout_depot_days: int
    stockouts: list[Stockout]
    days_of_supply: list[RegionCurve]
    request_to_allocation: Latency
    dispatch_to_receipt: Latency
    fill_rate: FillRate
    losses_in_transit: int
    losses: list[Loss]
    departures: list[Departure]
    decisions: int
    transfers: int


class Counterfactual(Model):
    policy: str
    measures: Measures
    assumptions: list[str]  # how the simulated decisions were carried out, in words
    summary: str  # "Had the coordinators followed equal days of supply, stockout depot-days would have been ..."


class CapabilityRating(Model):
    capability: str
    rating: Rating | None  # the worst rating given in observations of it
    observations: int


class Objective(Model):
    title: str
    capabilities: list[CapabilityRating]


class ReviewTimelineEntry(Model):
    """One line of the review's story of the exercise (not a depot timeline's `TimelineEntry`:
    OpenAPI names schemas by class, and a generated client drops one of two that clash)."""

    at: datetime
    kind: str  # an inject kind, "allocation", "transfer", "receipt", "request", "observation"
    title: str
    detail: str | None = None
    ref: str | None = None  # inject id, allocation id, transfer id, request id


class ImprovementItem(Model):
    capability: str
    rating: Rating | None
    observation: str
    recommendation: str


class Overview(Model):
    code: str
    name: str
    status: Literal["running", "ended"]
    scenario_start: datetime
    scenario_clock: datetime
    simulated_days: int
    fork_known_at: datetime | None
    fork_position: int | None
    depots: int
    items: int
    injects: int
    injects_applied: int
    deliveries_failed: int
    description: str | None = None


class ExerciseReview(Model):
    overview: Overview
    objectives: list[Objective]
    capabilities: list[CapabilityRating]
    timeline: list[ReviewTimelineEntry]
    measures: Measures
    counterfactual: Counterfactual | None
    observations: list[Observation]
    improvement_plan: list[ImprovementItem]
    generated_at: datetime = Field(description="Wall-clock time the review was computed")
