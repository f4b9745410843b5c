"""The current stock of every depot and item, folded from events in ledger order.

This is the materialised projection's arithmetic, free of any database: it folds the
events of a batch onto the rows it was given and says which rows changed. It follows
the depot aggregate's rules exactly (a movement dated before the latest count leaves
`on_hand` alone; a count moves it by its variance), using the same effects
(`domain.effects`), so the view and the aggregate agree on every depot at every
position.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from domain import events as ev
from domain.depot_books import ItemBook
from domain.effects import InTransit, effects_of
from projections.fold import CONSUMPTION


@dataclass
class StockRow:
    depot: str
    item: str
    region: str
    on_hand: int = 0
    transit_in: int = 0
    transit_out: int = 0
    reserved: int = 0
    min_days: int | None = None  # of the obligation in force: None without one, or on annual_average
    obligation_at: datetime | None = None  # set whenever an obligation is in force
    last_count_at: datetime | None = None
    last_movement_at: datetime | None = None


@dataclass
class TransferRow:
    transfer_id: str
    source: str
    destination: str
    lines: list[ev.TransferLine]
    status: str = "in_transit"
    allocation_id: str | None = None


@dataclass
class AllocationRow:
    """Whether an allocation is still in force: a cancelled transfer against it reserves its lines again."""

    allocation_id: str
    source: str
    revoked: bool = False


@dataclass
class ConsumptionRow:
    depot: str
    region: str
    item: str
    occurred_at: datetime
    position: int
    line: int
    quantity: int


@dataclass
class DepotRow:
    id: UUID
    code: str
    region: str


@dataclass
class Changes:
    """What one batch writes: rows to upsert, and rows to insert."""

    stock: dict[tuple[str, str], StockRow] = field(default_factory=dict)
    transfers: dict[str, TransferRow] = field(default_factory=dict)
    allocations: dict[str, AllocationRow] = field(default_factory=dict)
    consumption: list[ConsumptionRow] = field(default_factory=list)
    depots: list[DepotRow] = field(default_factory=list)


class CurrentStock:
    """Folds a batch of (position, event) onto rows fetched on demand through the loaders."""

    def __init__(
        self,
        depots: dict[UUID, DepotRow],
        load_stock: Callable[[str, str], StockRow | None],
        load_transfer: Callable[[str], TransferRow | None],
        load_allocation: Callable[[str], AllocationRow | None],
    ) -> None:
        self.depots = depots
        self._load_stock = load_stock
        self._load_transfer = load_transfer
        self._load_allocation = load_allocation
        self.changes = Changes()

    def fold(self, events: Iterable[tuple[int, Any]]) -> Changes:
        for position, event in events:
            self._apply(position, event)
        return self.changes

    def _stock(self, depot: DepotRow, item: str) -> StockRow:
        key = (depot.code, item)
        row = self.changes.stock.get(key)
        if row is None:
            row = self._load_stock(*key) or StockRow(depot.code, item, depot.region)
            self.changes.stock[key] = row
        return row

    def _transfer(self, transfer_id: str) -> TransferRow | None:
        row = self.changes.transfers.get(transfer_id)
        if row is None:
            row = self._load_transfer(transfer_id)
            if row is not None:
                self.changes.transfers[transfer_id] = row
        return row

    def _allocation(self, allocation_id: str) -> AllocationRow | None:
        row = self.changes.allocations.get(allocation_id)
        if row is None:
            row = self._load_allocation(allocation_id)
            if row is not None:
                self.changes.allocations[allocation_id] = row
        return row

    def _apply(self, position: int, event: Any) -> None:
        if isinstance(event, ev.DepotRegistered):
            registered = DepotRow(event.originator_id, event.code, event.region)
            self.depots[event.originator_id] = registered
            self.changes.depots.append(registered)
            return
        originator = getattr(event, "originator_id", None)
        depot = self.depots.get(originator) if originator is not None else None
        if depot is None or not isinstance(event, ev.LedgerEvent):
            return  # the item catalogue, or anything not a depot's

        def open_lines(transfer_id: str) -> InTransit | None:
            transfer = self._transfer(transfer_id)
            if transfer is None:
                return None
            outgoing = transfer.source == depot.code
            allocation = self._allocation(transfer.allocation_id) if transfer.allocation_id else None
            reserved_again = outgoing and allocation is not None and not allocation.revoked
            return InTransit("out" if outgoing else "in", transfer.lines, reserved_again)

        for line, effect in enumerate(effects_of(event, open_lines)):
            row = self._stock(depot, effect.item)
            book = ItemBook(on_hand=row.on_hand, last_count_at=row.last_count_at, last_movement_at=row.last_movement_at)
            book.apply(effect, event.occurred_at)
            row.on_hand, row.last_count_at, row.last_movement_at = (
                book.on_hand,
                book.last_count_at,
                book.last_movement_at,
            )
            row.transit_in += effect.transit_in
            row.transit_out += effect.transit_out
            row.reserved += effect.reserved
            if isinstance(event, ev.ObligationSet) and (
                row.obligation_at is None or event.occurred_at >= row.obligation_at
            ):  # the one dated last is in force; its min_days is None on annual_average
                row.min_days, row.obligation_at = effect.min_days, event.occurred_at
            if type(event).__name__ == CONSUMPTION:
                self.changes.consumption.append(
                    ConsumptionRow(
                        depot.code, depot.region, effect.item, event.occurred_at, position, line, -effect.delta
                    )
                )
        match event:
            case ev.TransferDispatched():
                self.changes.transfers[event.transfer_id] = TransferRow(
                    event.transfer_id,
                    depot.code,
                    event.counterpart,
                    list(event.lines),
                    allocation_id=event.allocation_id,
                )
            case ev.AllocationDecided():
                self.changes.allocations[event.allocation_id] = AllocationRow(event.allocation_id, depot.code)
            case ev.AllocationRevoked():
                allocation = self._allocation(event.allocation_id)
                if allocation is not None:
                    allocation.revoked = True
            case ev.TransferReceived() | ev.TransferDelivered():
                self._close(event.transfer_id, "received")
            case ev.TransferCancelled():
                self._close(event.transfer_id, "cancelled")

    def _close(self, transfer_id: str, status: str) -> None:
        """The lines stay: the other depot's half of a receipt or cancellation still needs them."""
        transfer = self._transfer(transfer_id)
        if transfer is not None:
            transfer.status = status
