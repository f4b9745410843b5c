"""An allocation decision as it stands: what was decided, what has been dispatched against it,
what it still reserves at the source (API.md `GET /v1/allocations/{id}`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_serializer

from domain import events as ev
from domain.exceptions import UnknownAllocation
from domain.policies import Recipient
from ledger.allocations import RecipientInput, inputs_view
from ledger.application import Ledger
from ledger.clock import utc_text
from ledger.distribution_models import fills_view
from ledger.outcomes import AllocationLineView, RequestFillView, TransferSummary

Status = Literal["open", "dispatched", "revoked"]


class AllocatedLine(BaseModel):
    to: str
    quantity: int = Field(description="Allocated")
    dispatched: int = Field(description="Dispatched against the allocation, cancellations excluded")
    received: int
    in_transit: int
    remaining: int = Field(description="Still reserved at the source (0 once revoked)")


class AllocationView(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    allocation_id: str
    source: str = Field(serialization_alias="from")
    item: str
    quantity: int
    policy: str
    status: Status
    occurred_at: datetime
    recorded_at: datetime
    position: int
    actor: str
    basis_position: int
    basis_known_at: datetime | None
    recipients: list[str]
    inputs: list[RecipientInput] = Field(description="The recipients' figures as stored with the decision")
    recommended_lines: list[AllocationLineView]
    lines: list[AllocatedLine]
    departed: bool
    rationale: str | None
    note: str | None
    reserved: int = Field(description="What the allocation still reserves at the source")
    reserve: int | None = Field(
        None, description="Under a distribution model: units of the quantity asked for kept available at the source"
    )
    requests_filled: list[RequestFillView] = Field([], description="Under a model: critical requests filled first")
    revoked_at: datetime | None = None
    revoke_reason: str | None = None
    released: int | None = None
    transfers: list[TransferSummary]

    @field_serializer("occurred_at", "recorded_at", "basis_known_at", "revoked_at")
    def _utc(self, value: datetime | None) -> str | None:
        return None if value is None else utc_text(value)


class AllocationList(BaseModel):
    allocations: list[AllocationView]


def event_at(ledger: Ledger, position: int) -> Any:
    """The stored event at a ledger position."""
    [notification] = ledger.recorder.select_notifications(start=position, limit=1)
    return ledger.mapper.to_domain_event(notification)


def decision(ledger: Ledger, allocation_id: str) -> tuple[dict[str, Any], ev.AllocationDecided]:
    """The allocation's index row and its decision event, or 404."""
    row = ledger.journal.allocation(allocation_id)
    if row is None:
        raise UnknownAllocation(f"no allocation {allocation_id}", allocation_id=allocation_id)
    return row, event_at(ledger, row["decided_position"])


def stored_inputs(decided: ev.AllocationDecided) -> list[Recipient]:
    return [Recipient(i.depot, i.on_hand, i.consumed_14d, i.population_served) for i in decided.inputs]


def allocation_view(ledger: Ledger, allocation_id: str) -> AllocationView:
    row, decided = decision(ledger, allocation_id)
    revoked = event_at(ledger, row["revoked_position"]) if row["revoked_position"] is not None else None
    chosen = {line.to: line.quantity for line in decided.lines}
    lines = {
        to: AllocatedLine(to=to, quantity=q, dispatched=0, received=0, in_transit=0, remaining=0)
        for to, q in chosen.items()
    }
    transfers = []
    for transfer in ledger.journal.transfers_against(allocation_id):
        quantity = sum(line["quantity"] for line in transfer["lines"])
        transfers.append(
            TransferSummary(
                transfer_id=transfer["transfer_id"],
                to=transfer["destination"],
                quantity=quantity,
                status=transfer["status"],
            )
        )
        line = lines.setdefault(
            transfer["destination"],
            AllocatedLine(to=transfer["destination"], quantity=0, dispatched=0, received=0, in_transit=0, remaining=0),
        )
        if transfer["status"] == "cancelled":
            continue
        line.dispatched += quantity
        if transfer["status"] == "in_transit":
            line.in_transit += quantity
        else:
            line.received += sum(received["quantity_received"] for received in transfer["received_lines"] or [])
    for line in lines.values():
        line.remaining = 0 if revoked is not None else max(0, line.quantity - line.dispatched)
    reserved = sum(line.remaining for line in lines.values())
    status: Status = "revoked" if revoked is not None else ("open" if reserved else "dispatched")
    return AllocationView(
        allocation_id=allocation_id,
        source=row["source"],
        item=decided.item,
        quantity=decided.quantity,
        policy=decided.policy,
        status=status,
        occurred_at=decided.occurred_at,
        recorded_at=decided.timestamp,
        position=row["decided_position"],
        actor=decided.actor,
        basis_position=decided.basis_position,
        basis_known_at=decided.basis_known_at,
        recipients=list(decided.recipients),
        inputs=inputs_view(stored_inputs(decided), chosen),
        recommended_lines=[
            AllocationLineView(to=line.to, quantity=line.quantity) for line in decided.recommended_lines
        ],
        lines=[lines[to] for to in sorted(lines)],
        departed=decided.lines != decided.recommended_lines,
        rationale=decided.rationale,
        note=decided.note,
        reserved=reserved,
        reserve=decided.reserve,
        requests_filled=fills_view(decided.requests_filled),
        revoked_at=revoked.occurred_at if revoked is not None else None,
        revoke_reason=revoked.reason if revoked is not None else None,
        released=revoked.released if revoked is not None else None,
        transfers=transfers,
    )


def allocation_list(
    ledger: Ledger, source: str | None, item: str | None, status: Status | None, limit: int
) -> AllocationList:
    """Decisions in the order they were taken; `status` filters on what they are now."""
    rows = ledger.journal.allocations(
        source=source, item=item, status="revoked" if status == "revoked" else None, limit=limit
    )
    views = [allocation_view(ledger, row["allocation_id"]) for row in rows]
    return AllocationList(allocations=[view for view in views if status is None or view.status == status])
