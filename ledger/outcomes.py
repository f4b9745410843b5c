"""What a command answers. These are stored with an idempotency key, so a retried command
gets back exactly what the first one got; they are also the HTTP response bodies."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field, field_serializer

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


class DepotCommandOutcome(Outcome):
    event_id: str
    depot: str
    version: int
    warnings: list[str] = []
    variance: int | None = Field(None, description="Counts only: counted minus the book at the count's time")
    request_id: str | None = Field(None, description="Supply requests only")


class ItemOutcome(Outcome):
    code: str
    name: str
    unit: str
    category: str
    atc_code: str | None = None


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
    depot: str
    item: str
    min_days: int
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
