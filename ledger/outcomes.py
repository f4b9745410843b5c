"""What a command answers. These are stored with an idempotency key, so a retried command
gets back exactly what the first one got; they are also the HTTP response bodies."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field, field_serializer

from domain.obligations import Basis
from ledger.clock import utc_text

NOT_YET_RECORDED = datetime(1970, 1, 1, tzinfo=UTC)


class Outcome(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # Both are filled in by the service layer from the last stored event.
    position: int = Field(0, description="Ledger position of the last stored event")
    recorded_at: datetime = Field(NOT_YET_RECORDED, description="When the last stored event was recorded")

    @field_serializer("recorded_at", check_fields=False)
    def _utc(self, value: datetime) -> str:
        return utc_text(value)


class EventLink(BaseModel):
    """A reference to a stored event: its id (as `event_id` answers it) and its ledger position."""

    event_id: str
    position: int | None = Field(description="The event's ledger position (null only for a dangling legacy reference)")


class DepotCommandOutcome(Outcome):
    event_id: str
    depot: str
    version: int
    warnings: list[str] = []
    corrects: EventLink | None = Field(None, description="Corrections only: the event this one corrects")
    variance: int | None = Field(None, description="Counts only: counted minus the book at the count's time")
    request_id: str | None = Field(None, description="Supply requests only")


class ItemOutcome(Outcome):
    code: str
    name: str
    unit: str
    category: str
    atc_code: str | None = None
    gtins: list[str] = Field([], description="GTIN-14s")


class ItemGtinsOutcome(Outcome):
    item: str
    gtins: list[str] = Field(description="The item's GTINs from now on, each as GTIN-14")
    version: int


class DepotFacts(BaseModel):
    """A depot as registered: what the directory lists."""

    code: str
    name: str
    region: str
    organisation: str
    kind: str
    population_served: int | None = None


class DepotOutcome(DepotFacts, Outcome):
    version: int


class ObligationOutcome(Outcome):
    """The obligation as stored: its basis and that basis's parameters (the others null)."""

    depot: str
    item: str
    min_days: int | None
    basis: Basis = "recent_consumption"
    share_of_year: float | None = None
    years: int | None = None
    exclude_years: list[int] = []
    daily_quantity: float | None = None
    version: int


class ShortfallLine(BaseModel):
    item: str
    quantity_dispatched: int
    quantity_received: int
    shortfall: int


class TransferOutcome(Outcome):
    transfer_id: str
    status: str
    shortfall: list[ShortfallLine] = []


class AllocationLineView(BaseModel):
    to: str
    quantity: int
    sector: str | None = Field(
        None,
        exclude_if=lambda sector: sector is None,  # a plain policy's line stays {to, quantity}
        description="Under a distribution model: the recipient's sector (absent: a plain policy, or in no sector)",
    )


class RequestFillView(BaseModel):
    """Under a distribution model with `requests_first`: units that went to a critical request first."""

    request_id: str
    to: str
    quantity: int


class TransferSummary(BaseModel):
    transfer_id: str
    to: str
    quantity: int
    status: str = "in_transit"


class AllocationOutcome(Outcome):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    allocation_id: str
    source: str = Field(serialization_alias="from")
    item: str
    quantity: int
    policy: str
    occurred_at: datetime
    basis_position: int
    basis_known_at: datetime | None
    lines: list[AllocationLineView]
    recommended_lines: list[AllocationLineView]
    departed: bool = Field(description="Whether the chosen lines differ from the recommendation")
    rationale: str | None = None
    transfers: list[TransferSummary] | None = Field(None, description="With dispatch: the transfers dispatched")
    reserve: int | None = Field(
        None, description="Under a distribution model: units of the quantity asked for kept available at the source"
    )
    requests_filled: list[RequestFillView] = Field([], description="Under a model: critical requests filled first")

    @field_serializer("occurred_at", "basis_known_at")
    def _utc_times(self, value: datetime | None) -> str | None:
        return None if value is None else utc_text(value)


class RevocationOutcome(Outcome):
    allocation_id: str
    status: str
    item: str
    released: int = Field(description="The reserved quantity made available again")
