"""The depot's books: what one depot keeps of its stock, and how its events fold into them.

The state is the fold of the depot's events in business order (`occurred_at`), as DESIGN.md
defines it, kept small enough to snapshot: one book per item, plus the transfers, supply
requests and allocations still open. `Depot` (`domain.depot`) adds the commands that decide.

A count is ground truth. A movement dated before the latest count leaves `on_hand`
alone (the count already saw it). A count dated at or after the latest count resets the
book at its time: the movements dated after it still apply, so `on_hand` moves by the
count's variance, `counted - book_at_recording`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from domain import events as ev
from domain.aggregate import Aggregate
from domain.effects import Direction, Effect, InTransit, effects_of
from domain.exceptions import UnknownTransfer
from domain.obligations import Basis


class ItemBook(BaseModel):
    """The book of one item at one depot, at "now" in business time."""

    on_hand: int = 0
    last_count_at: datetime | None = None
    last_movement_at: datetime | None = None
    last_dated: datetime | None = None  # the latest business time of any entry, stock or not

    def counts_after(self, at: datetime) -> bool:
        """Whether a movement dated `at` still changes on_hand (no later count saw it)."""
        return self.last_count_at is None or at >= self.last_count_at

    def apply(self, effect: Effect, at: datetime) -> None:
        if self.last_dated is None or at > self.last_dated:
            self.last_dated = at
        if not effect.moves_stock:
            return
        if self.counts_after(at):
            if effect.counted is None:
                self.on_hand += effect.delta
            else:
                self.on_hand += effect.counted - (effect.book_at or 0)
                self.last_count_at = at
        if self.last_movement_at is None or at > self.last_movement_at:
            self.last_movement_at = at

    def is_backdated(self, at: datetime) -> bool:
        """Whether a movement dated `at` lands before movements already in the book."""
        return self.last_movement_at is not None and at < self.last_movement_at


class OpenTransfer(BaseModel):
    transfer_id: str
    direction: Direction
    counterpart: str
    lines: list[ev.TransferLine]
    drawn: list[ev.DrawnLot] = []  # the lots it took at the source (empty in older snapshots: the lines' lots)
    allocation_id: str | None = None
    dispatched_at: datetime

    def quantities(self) -> Counter[str]:
        totals: Counter[str] = Counter()
        for line in self.lines:
            totals[line.item] += line.quantity
        return totals


class OpenAllocation(BaseModel):
    """An allocation decided at this depot (its source) that still binds stock: reserved
    lines not yet dispatched, or transfers against it still in transit (a cancelled one
    gives its lines back to the allocation, unless it was revoked meanwhile)."""

    allocation_id: str
    item: str
    lines: dict[str, int]  # recipient -> allocated
    dispatched: dict[str, int] = {}  # recipient -> dispatched against it, not cancelled
    decided_at: datetime
    last_dated: datetime  # the latest business time of the decision and the dispatches against it
    revoked: bool = False

    def remaining(self, recipient: str) -> int:
        return 0 if self.revoked else self.lines.get(recipient, 0) - self.dispatched.get(recipient, 0)

    @property
    def reserved(self) -> int:
        return sum(self.remaining(recipient) for recipient in self.lines)


class OpenRequest(BaseModel):
    request_id: str
    item: str
    quantity: int
    priority: ev.Priority
    needed_by: datetime | None = None
    requested_at: datetime


class DepotBooks(Aggregate):
    """A depot's state and how each event changes it; the commands are `Depot`'s."""

    code: str
    name: str
    region: str
    organisation: str
    kind: ev.DepotKind
    population_served: int | None = None
    obligations: dict[str, int | None] = {}  # min_days of the obligation in force (None: annual_average)
    obligation_bases: dict[str, Basis] = {}  # its basis (missing in older snapshots: recent_consumption)
    obligations_dated: dict[str, datetime] = {}  # the business time of the obligation in force
    books: dict[str, ItemBook] = {}
    open_transfers: dict[str, OpenTransfer] = {}
    open_requests: dict[str, OpenRequest] = {}
    open_allocations: dict[str, OpenAllocation] = {}

    # --- reading ---------------------------------------------------------------------

    def book(self, item: str) -> ItemBook:
        return self.books.get(item) or ItemBook()

    def on_hand(self, item: str) -> int:
        return self.book(item).on_hand

    def in_transit(self, item: str, direction: Direction) -> int:
        return sum(t.quantities()[item] for t in self.open_transfers.values() if t.direction == direction)

    def reserved(self, item: str) -> int:
        """Allocated here and not yet dispatched against its allocation, not revoked."""
        return sum(a.reserved for a in self.open_allocations.values() if a.item == item)

    def available(self, item: str) -> int:
        return self.on_hand(item) - self.reserved(item)

    def stocked_items(self) -> list[str]:
        items = set(self.books) | set(self.obligations)
        for transfer in self.open_transfers.values():
            items.update(line.item for line in transfer.lines)
        return sorted(items)

    def open_transfer(self, transfer_id: str, direction: Direction) -> OpenTransfer:
        transfer = self.open_transfers.get(transfer_id)
        if transfer is None or transfer.direction != direction:
            raise UnknownTransfer(f"transfer {transfer_id} is not open at depot {self.code}")
        return transfer

    # --- applying events -----------------------------------------------------------------

    def effects(self, event: Any) -> list[Effect]:
        """Each effect marked `backdated` when it is dated before an entry the item already has:
        only such entries can change a fold that was already computed (`projections.history`)."""
        return [
            replace(effect, backdated=True) if self._dated_before_latest(effect.item, event.occurred_at) else effect
            for effect in effects_of(event, self._open_lines)
        ]

    def _dated_before_latest(self, item: str, at: datetime) -> bool:
        latest = self.book(item).last_dated
        return latest is not None and at < latest

    def _open_lines(self, transfer_id: str) -> InTransit | None:
        transfer = self.open_transfers.get(transfer_id)
        if transfer is None:
            return None
        allocation = self.open_allocations.get(transfer.allocation_id or "")
        reserved_again = transfer.direction == "out" and allocation is not None and not allocation.revoked
        return InTransit(transfer.direction, transfer.lines, reserved_again, transfer.drawn)

    def mutate(self, event: Any) -> None:
        recorded = self._effects.get(event.originator_version)  # set when this depot triggered it
        for effect in self.effects(event) if recorded is None else recorded:
            self._book(effect.item).apply(effect, event.occurred_at)
        match event:
            case ev.ObligationSet():
                # The obligation in force is the one dated last (DESIGN.md folds in business
                # order), not the one recorded last: a backdated setting does not override.
                dated = self.obligations_dated.get(event.item)
                if dated is None or event.occurred_at >= dated:
                    self.obligations[event.item] = event.min_days
                    self.obligation_bases[event.item] = event.basis
                    self.obligations_dated[event.item] = event.occurred_at
            case ev.SupplyRequested():
                self.open_requests[event.request_id] = OpenRequest(
                    request_id=event.request_id,
                    item=event.item,
                    quantity=event.quantity,
                    priority=event.priority,
                    needed_by=event.needed_by,
                    requested_at=event.occurred_at,
                )
            case ev.SupplyRequestClosed():
                self.open_requests.pop(event.request_id, None)
            case ev.TransferDispatched() | ev.TransferExpected():
                self.open_transfers[event.transfer_id] = OpenTransfer(
                    transfer_id=event.transfer_id,
                    direction="out" if isinstance(event, ev.TransferDispatched) else "in",
                    counterpart=event.counterpart,
                    lines=list(event.lines),
                    drawn=list(event.drawn),
                    allocation_id=event.allocation_id,
                    dispatched_at=event.occurred_at,
                )
                if isinstance(event, ev.TransferDispatched):
                    self._draw(event.allocation_id, event.counterpart, event.lines, event.occurred_at)
            case ev.TransferReceived() | ev.TransferDelivered() | ev.TransferCancelled():
                transfer = self.open_transfers.pop(event.transfer_id, None)
                if transfer is not None and transfer.allocation_id is not None:
                    if isinstance(event, ev.TransferCancelled) and transfer.direction == "out":
                        self._draw(transfer.allocation_id, transfer.counterpart, transfer.lines, event.occurred_at, -1)
                    self._settle(transfer.allocation_id)
            case ev.AllocationDecided():
                self.open_allocations[event.allocation_id] = OpenAllocation(
                    allocation_id=event.allocation_id,
                    item=event.item,
                    lines={line.to: line.quantity for line in event.lines},
                    decided_at=event.occurred_at,
                    last_dated=event.occurred_at,
                )
                self._settle(event.allocation_id)
            case ev.AllocationRevoked():
                if event.allocation_id in self.open_allocations:
                    self.open_allocations[event.allocation_id].revoked = True
                    self._settle(event.allocation_id)
            case ev.ReceiptRecorded() | ev.ConsumptionReported() | ev.StockAdjusted() | ev.StockCounted():
                pass
            case ev.AlertAcknowledged():
                pass  # a note in the depot's timeline: it changes no book
            case _:
                raise TypeError(f"Depot cannot apply {type(event).__name__}")

    def _draw(self, allocation_id: str | None, to: str, lines: Any, at: datetime, sign: int = 1) -> None:
        allocation = self.open_allocations.get(allocation_id or "")
        if allocation is None:
            return
        quantity = sum(line.quantity for line in lines if line.item == allocation.item)
        allocation.dispatched[to] = allocation.dispatched.get(to, 0) + sign * quantity
        allocation.last_dated = max(allocation.last_dated, at)
        self._settle(allocation.allocation_id)

    def _settle(self, allocation_id: str) -> None:
        """An allocation that binds nothing any more leaves the depot (its snapshot stays small):
        revoked or fully dispatched, with no transfer against it still in transit."""
        allocation = self.open_allocations.get(allocation_id)
        if allocation is None:  # the destination's side of a transfer against an allocation
            return
        in_transit = any(t.allocation_id == allocation_id for t in self.open_transfers.values())
        if not in_transit and allocation.reserved == 0:
            del self.open_allocations[allocation_id]

    def _book(self, item: str) -> ItemBook:
        if item not in self.books:
            self.books[item] = ItemBook()
        return self.books[item]
