"""Transfers between depots: dispatch, receipt (with loss in transit) and cancellation."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, field_serializer

from api.deps import CommandContext, LedgerDep, Reader
from api.exports.http import EXPORTS, FormatParam, exported, negotiated
from api.exports.tables import transfers as transfers_table
from api.responses import ERRORS, answer
from domain.commands import CancelTransfer, DispatchTransfer, ReceiveTransfer
from domain.events import ReceivedLine
from domain.exceptions import UnknownTransfer
from ledger.clock import utc_text
from ledger.outcomes import ShortfallLine, TransferOutcome
from ledger.transfers import shortfall

router = APIRouter(prefix="/transfers", tags=["transfers"], responses=ERRORS)

Status = Literal["in_transit", "received", "cancelled"]


class TransferLineView(BaseModel):
    item: str
    quantity: int
    lot: str | None = None


class ReceivedView(BaseModel):
    """What arrived, per item (lines of one item in several lots are received together)."""

    item: str
    quantity_dispatched: int
    quantity_received: int


class TransferView(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    transfer_id: str
    source: str = Field(serialization_alias="from")
    destination: str = Field(serialization_alias="to")
    lines: list[TransferLineView]
    received: list[ReceivedView] | None = None
    status: Status
    allocation_id: str | None = None
    reference: str | None = None
    dispatched_at: datetime
    received_at: datetime | None = None
    cancelled_at: datetime | None = None
    cancel_reason: str | None = None
    shortfall: list[ShortfallLine]

    @field_serializer("dispatched_at", "received_at", "cancelled_at")
    def _utc(self, value: datetime | None) -> str | None:
        return None if value is None else utc_text(value)


class TransferList(BaseModel):
    transfers: list[TransferView]


def transfer_view(row: dict[str, Any]) -> TransferView:
    received_lines = row["received_lines"]
    return TransferView(
        transfer_id=row["transfer_id"],
        source=row["source"],
        destination=row["destination"],
        lines=[TransferLineView(**line) for line in row["lines"]],
        received=None if received_lines is None else [ReceivedView(**line) for line in received_lines],
        status=row["status"],
        allocation_id=row["allocation_id"],
        reference=row["reference"],
        dispatched_at=row["dispatched_at"],
        received_at=row["received_at"],
        cancelled_at=row["cancelled_at"],
        cancel_reason=row["cancel_reason"],
        shortfall=shortfall(ReceivedLine(**line) for line in received_lines or []),
    )


@router.post("", status_code=201, response_model=TransferOutcome, response_model_exclude={"shortfall"})
def dispatch(body: DispatchTransfer, ledger: LedgerDep, ctx: CommandContext, response: Response) -> TransferOutcome:
    return answer(ledger.dispatch_transfer(body, ctx), response)


@router.post("/{transfer_id}/receipt", response_model=TransferOutcome)
def receive(
    transfer_id: str,
    ledger: LedgerDep,
    ctx: CommandContext,
    response: Response,
    body: Annotated[ReceiveTransfer | None, Body()] = None,
) -> TransferOutcome:
    """No `lines` (or no body at all): everything dispatched arrived."""
    return answer(ledger.receive_transfer(transfer_id, body or ReceiveTransfer(), ctx), response)


@router.post("/{transfer_id}/cancel", response_model=TransferOutcome, response_model_exclude={"shortfall"})
def cancel(
    transfer_id: str, body: CancelTransfer, ledger: LedgerDep, ctx: CommandContext, response: Response
) -> TransferOutcome:
    return answer(ledger.cancel_transfer(transfer_id, body, ctx), response)


@router.get("/{transfer_id}", response_model=TransferView)
def get_transfer(transfer_id: str, ledger: LedgerDep, _: Reader) -> TransferView:
    row = ledger.journal.transfer(transfer_id)
    if row is None:
        raise UnknownTransfer(f"no transfer {transfer_id}", transfer_id=transfer_id)
    return transfer_view(row)


@router.get("", response_model=TransferList, responses=EXPORTS)
def list_transfers(
    request: Request,
    ledger: LedgerDep,
    _: Reader,
    status: Status | None = None,
    source: Annotated[str | None, Query(alias="from")] = None,
    destination: Annotated[str | None, Query(alias="to")] = None,
    region: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    export: FormatParam = None,
) -> Any:
    wanted = negotiated(request, export)
    rows = ledger.journal.transfers(status, source, destination, region, limit)
    listing = TransferList(transfers=[transfer_view(row) for row in rows])
    if wanted == "json":
        return listing
    stem = f"transfers-{ledger.clock().date().isoformat()}-pos{ledger.position()}"
    return exported(transfers_table(listing.transfers, stem), wanted)
