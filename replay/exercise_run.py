"""What happened in an exercise run, in the few shapes the after-action measures need.

A run is read from the exercise ledger (what the players did) or produced by the
counterfactual simulation (what a policy would have done); either way the measures
(`replay.measures`) are computed from a `Run` by the same code, so the two columns of
the review are comparable by construction.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field


class Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SimulatedDay(Record):
    """One depot's demand for one item on one simulated day, and how much of it was met."""

    depot: str
    region: str
    item: str
    day_end: datetime  # the day covers (day_end - 1 day, day_end]
    demand: int
    consumed: int  # min(demand, stock on hand): unmet = demand - consumed

    @property
    def unmet(self) -> int:
        return self.demand - self.consumed


class RequestRecord(Record):
    request_id: str
    depot: str
    region: str
    item: str
    quantity: int
    priority: str
    requested_at: datetime
    needed_by: datetime | None = None
    source: str  # "inject" (scenario) or "api" (a player)
    position: int | None = None  # in the exercise ledger: orders requests made at the same time
    closed_at: datetime | None = None  # closed (fulfilled or withdrawn) by the players


class DecisionRecord(Record):
    """An allocation decision: chosen lines and the policy's recommended lines, by recipient code."""

    allocation_id: str
    source: str
    item: str
    quantity: int
    policy: str
    decided_at: datetime
    recipients: list[str]
    lines: dict[str, int]
    recommended_lines: dict[str, int]
    rationale: str | None = None
    revoked_at: datetime | None = None


class TransferLineRecord(Record):
    item: str
    dispatched: int
    received: int | None = None  # None until received


class TransferRecord(Record):
    transfer_id: str
    source: str
    destination: str
    allocation_id: str | None = None
    dispatched_at: datetime
    received_at: datetime | None = None
    received_position: int | None = None  # the receipt's in the exercise ledger: orders receipts at the same time
    cancelled_at: datetime | None = None
    lines: list[TransferLineRecord]


class RegionPoint(Record):
    """A region's stock and consumption rate for one item at the end of one simulated day."""

    region: str
    item: str
    at: datetime
    on_hand: int
    consumed_14d: int  # consumption of the region's depots in the 14 days up to `at`
    avg_daily_consumption: float  # consumed_14d / 14, two decimals, as the stock views show it


class MovementRecord(Record):
    """A fact a player recorded in the exercise (receipt, consumption, adjustment, count), as played.

    Simulated consumption and inject effects are not movements: the counterfactual
    simulation produces those itself."""

    depot: str
    item: str
    at: datetime
    kind: str  # "receipt", "consumption", "adjustment", "count"
    quantity: int  # signed change of on_hand (a count: its variance)


class Run(Record):
    """Everything the measures read, for one run of the exercise (played or simulated)."""

    start: datetime  # scenario_start
    end: datetime  # the scenario clock at the end of the run
    days: list[SimulatedDay] = Field(default_factory=list)
    requests: list[RequestRecord] = Field(default_factory=list)
    decisions: list[DecisionRecord] = Field(default_factory=list)
    transfers: list[TransferRecord] = Field(default_factory=list)
    regions: list[RegionPoint] = Field(default_factory=list)
    movements: list[MovementRecord] = Field(default_factory=list)
