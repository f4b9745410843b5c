"""The depot: one event stream per depot holds every movement of its stock.

Its state is the fold of its events in business order (`occurred_at`), as DESIGN.md
defines it, kept small enough to snapshot: one book per item, plus the transfers and
supply requests still open. Nothing here reads the database; whatever a decision needs
from the past (the book at a backdated time) the service layer passes in.

A count is ground truth. A movement dated before the latest count leaves `on_hand`
alone (the count already saw it). A count dated at or after the latest count resets the
book at its time: the movements dated after it still apply, so `on_hand` moves by the
count's variance, `counted - book_at_recording`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Self
from uuid import UUID

from pydantic import BaseModel

from domain import events as ev
from domain.aggregate import Aggregate
from domain.effects import Direction, Effect, InTransit, effects_of
from domain.exceptions import (
    AllocationClosed,
    AllocationExceeded,
    InsufficientStock,
    InvalidCommand,
    RequestClosed,
    TransferClosed,
    UnknownTransfer,
)
from domain.stock import count_disagrees


@dataclass(frozen=True)
class Stamp:
    """The envelope every event of one command carries."""

    occurred_at: datetime
    actor: str
    source: ev.Source
    command_id: str
    note: str | None = None

    def fields(self) -> dict[str, Any]:
        return {
            "occurred_at": self.occurred_at,
            "actor": self.actor,
            "source": self.source,
            "command_id": self.command_id,
            "note": self.note,
        }


@dataclass(frozen=True)
class Corrected:
    """A stored event that an adjustment corrects: its id, ledger position, aggregate, business
    time and the items it is about (empty when it is about none)."""

    event_id: str
    position: int
    originator_id: UUID
    occurred_at: datetime
    items: tuple[str, ...] = ()


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


@dataclass(frozen=True)
class LotsAvailable:
    """What the service layer read of the source's lots for a dispatch: per (item, lot) named by
    a line, what that lot holds at the dispatch's time, and the lots the dispatch draws."""

    held: dict[tuple[str, str], int]
    drawn: tuple[ev.DrawnLot, ...]


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


class Depot(Aggregate):
    code: str
    name: str
    region: str
    organisation: str
    kind: ev.DepotKind
    population_served: int | None = None
    obligations: dict[str, int] = {}
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

    # --- creation ----------------------------------------------------------------------

    @classmethod
    def created(cls, event: ev.DepotRegistered) -> Self:
        return cls(
            **cls.born(event),
            code=event.code,
            name=event.name,
            region=event.region,
            organisation=event.organisation,
            kind=event.kind,
            population_served=event.population_served,
        )

    # --- commands: facts are accepted, with a warning when the book disagrees -----------

    def set_obligation(self, item: str, min_days: int, stamp: Stamp) -> ev.ObligationSet:
        return self.trigger(ev.ObligationSet, item=item, min_days=min_days, **stamp.fields())

    def record_receipt(self, stamp: Stamp, **fields: Any) -> ev.ReceiptRecorded:
        return self.trigger(ev.ReceiptRecorded, **fields, **stamp.fields())

    def report_consumption(
        self, item: str, quantity: int, period_start: datetime, stamp: Stamp
    ) -> tuple[ev.ConsumptionReported, list[str]]:
        warnings = self._shortfall_warning(item, quantity, stamp.occurred_at, "consumption")
        event = self.trigger(
            ev.ConsumptionReported,
            item=item,
            quantity=quantity,
            period_start=period_start,
            period_end=stamp.occurred_at,
            **stamp.fields(),
        )
        return event, warnings

    def count(self, item: str, counted: int, book_at: int, stamp: Stamp) -> tuple[ev.StockCounted, list[str]]:
        """`book_at` is the book balance at the count's time, as the ledger knows it now."""
        warnings = []
        if counted != book_at:
            flagged = (
                ": beyond the count variance share, the stock view flags a discrepancy until the next count"
                if count_disagrees(book_at, counted)
                else ""
            )
            warnings.append(
                f"count of {item} differs from the book: counted {counted}, book {book_at}, "
                f"variance {counted - book_at:+d}{flagged}"
            )
        if not self.book(item).counts_after(stamp.occurred_at):
            warnings.append(f"a later count of {item} exists: this count does not change the current balance")
        event = self.trigger(ev.StockCounted, item=item, counted=counted, book_at_recording=book_at, **stamp.fields())
        return event, warnings

    def adjust(
        self,
        item: str,
        quantity: int,
        reason: ev.AdjustmentReason,
        corrected: Corrected | None,
        stamp: Stamp,
    ) -> tuple[ev.StockAdjusted, list[str]]:
        """`corrected` is the stored event this adjustment corrects (the service layer finds it)."""
        if corrected is not None:
            self._check_correction(item, corrected, stamp.occurred_at)
        warnings = self._shortfall_warning(item, -quantity, stamp.occurred_at, "adjustment") if quantity < 0 else []
        event = self.trigger(
            ev.StockAdjusted,
            item=item,
            quantity=quantity,
            reason=reason,
            corrects=corrected.event_id if corrected else None,
            **stamp.fields(),
        )
        return event, warnings

    def _check_correction(self, item: str, corrected: Corrected, at: datetime) -> None:
        """A correction corrects an event of this depot, about the same item, and is not dated before it."""
        where = {"loc": ["body", "corrects"], "type": "invalid_correction"}
        if corrected.originator_id != self.id:
            raise InvalidCommand(
                f"event {corrected.event_id} (position {corrected.position}) is not an event of depot {self.code}",
                errors=[{**where, "msg": "the corrected event belongs to another depot"}],
                corrects=corrected.event_id,
            )
        if corrected.items and item not in corrected.items:
            raise InvalidCommand(
                f"event {corrected.event_id} (position {corrected.position}) is about {', '.join(corrected.items)}, "
                f"not {item}",
                errors=[{**where, "loc": ["body", "item"], "msg": "the corrected event is about another item"}],
                corrects=corrected.event_id,
            )
        if at < corrected.occurred_at:
            raise InvalidCommand(
                f"a correction cannot be dated before the event it corrects ({corrected.occurred_at.isoformat()})",
                errors=[{**where, "loc": ["body", "occurred_at"], "msg": "before the corrected event"}],
                corrects=corrected.event_id,
            )

    def _shortfall_warning(self, item: str, quantity: int, at: datetime, what: str) -> list[str]:
        book = self.book(item)
        if book.counts_after(at) and quantity > book.on_hand:
            return [
                f"{what} of {quantity} {item} exceeds the book balance of {book.on_hand}: "
                "recorded, and the balance is flagged as a discrepancy"
            ]
        return []

    def request_supply(self, request_id: str, stamp: Stamp, **fields: Any) -> ev.SupplyRequested:
        return self.trigger(ev.SupplyRequested, request_id=request_id, **fields, **stamp.fields())

    def close_request(self, request_id: str, outcome: ev.RequestOutcome, stamp: Stamp) -> ev.SupplyRequestClosed:
        if request_id not in self.open_requests:
            raise RequestClosed(f"supply request {request_id} at {self.code} is not open", request_id=request_id)
        return self.trigger(ev.SupplyRequestClosed, request_id=request_id, outcome=outcome, **stamp.fields())

    # --- commands: transfers are decisions, validated against available stock ----------

    def dispatch(
        self,
        transfer_id: str,
        destination: str,
        lines: tuple[ev.TransferLine, ...],
        available: dict[str, int],
        stamp: Stamp,
        allocation_id: str | None = None,
        reference: str | None = None,
        lots: LotsAvailable | None = None,
    ) -> ev.TransferDispatched:
        """`available` is, per item, the stock the source can give up at the dispatch's time
        without any later balance going negative (see `domain.stock.dispatchable`); for a
        dispatch against an allocation it counts what that allocation reserved for it.
        `lots` (from the service layer) is what each named lot holds at the dispatch's time and
        which lots the dispatch draws; without it the lines' own lots are recorded."""
        wanted: Counter[str] = Counter()
        for line in lines:
            wanted[line.item] += line.quantity
        if allocation_id is not None:
            self._check_draw(allocation_id, destination, wanted, stamp.occurred_at)
        for item, quantity in sorted(wanted.items()):
            self._within_available("dispatch", item, quantity, available[item])
        named: Counter[tuple[str, str]] = Counter()
        for line in lines:
            if line.lot is not None:
                named[line.item, line.lot] += line.quantity
        for (item, lot), quantity in sorted(named.items()):
            held = lots.held.get((item, lot), 0) if lots is not None else quantity
            if quantity > held:
                can_give = max(0, held)
                raise InsufficientStock(
                    f"{self.code} cannot dispatch {quantity} {item} of lot {lot}: only {can_give} of it available",
                    depot=self.code,
                    item=item,
                    lot=lot,
                    available=can_give,
                    requested=quantity,
                )
        return self.trigger(
            ev.TransferDispatched,
            transfer_id=transfer_id,
            counterpart=destination,
            lines=lines,
            allocation_id=allocation_id,
            reference=reference,
            drawn=lots.drawn if lots is not None else (),
            **stamp.fields(),
        )

    def _within_available(self, action: str, item: str, quantity: int, available: int) -> None:
        """A decision never commits more than the depot can give (409 with what it can)."""
        if quantity > available:
            can_give = max(0, available)  # below zero the book already disagrees with the world
            raise InsufficientStock(
                f"{self.code} cannot {action} {quantity} {item}: only {can_give} available",
                depot=self.code,
                item=item,
                available=can_give,
                requested=quantity,
            )

    def _check_draw(self, allocation_id: str, destination: str, wanted: Counter[str], at: datetime) -> None:
        allocation = self.open_allocation(allocation_id)
        other = sorted(set(wanted) - {allocation.item})
        if other:
            raise InvalidCommand(
                f"allocation {allocation_id} allocates {allocation.item}, not {', '.join(other)}",
                errors=[{"loc": ["body", "lines"], "msg": f"every line must be {allocation.item}"}],
            )
        if at < allocation.decided_at:
            raise InvalidCommand(
                f"a transfer against allocation {allocation_id} cannot be dated before the decision "
                f"({allocation.decided_at.isoformat()})"
            )
        remaining = allocation.remaining(destination)
        if wanted[allocation.item] > remaining:
            raise AllocationExceeded(
                f"allocation {allocation_id} has {remaining} {allocation.item} left for {destination}, "
                f"not {wanted[allocation.item]}",
                allocation_id=allocation_id,
                destination=destination,
                remaining=remaining,
                requested=wanted[allocation.item],
            )

    def drawn_from_allocation(self, allocation_id: str | None, destination: str, item: str, quantity: int) -> int:
        """How much of a dispatch its allocation had reserved (so it may use that stock)."""
        if allocation_id is None or allocation_id not in self.open_allocations:
            return 0
        allocation = self.open_allocations[allocation_id]
        return min(quantity, max(0, allocation.remaining(destination))) if allocation.item == item else 0

    def expect(self, dispatched: ev.TransferDispatched, source: str) -> ev.TransferExpected:
        return self.trigger(
            ev.TransferExpected,
            transfer_id=dispatched.transfer_id,
            counterpart=source,
            lines=dispatched.lines,
            allocation_id=dispatched.allocation_id,
            reference=dispatched.reference,
            drawn=dispatched.drawn,
            occurred_at=dispatched.occurred_at,
            actor=dispatched.actor,
            source=dispatched.source,
            command_id=dispatched.command_id,
            note=dispatched.note,
        )

    def receive(self, transfer_id: str, received: dict[str, int] | None, stamp: Stamp) -> ev.TransferReceived:
        transfer = self.open_transfer(transfer_id, "in")
        self._after_dispatch(transfer, stamp, "received")
        dispatched = transfer.quantities()
        received = dict(dispatched) if received is None else received
        unknown = sorted(set(received) - set(dispatched))
        if unknown:
            raise InvalidCommand(f"transfer {transfer_id} carries no {', '.join(unknown)}", items=unknown)
        too_many = sorted(item for item, q in received.items() if q > dispatched[item])
        if too_many:
            raise InvalidCommand(
                f"more received than dispatched for {', '.join(too_many)}",
                items=too_many,
            )
        lines = tuple(
            ev.ReceivedLine(item=item, quantity_dispatched=q, quantity_received=received.get(item, 0))
            for item, q in sorted(dispatched.items())
        )
        return self.trigger(ev.TransferReceived, transfer_id=transfer_id, lines=lines, **stamp.fields())

    def deliver(self, received: ev.TransferReceived) -> ev.TransferDelivered:
        self.open_transfer(received.transfer_id, "out")
        return self.trigger(
            ev.TransferDelivered,
            transfer_id=received.transfer_id,
            lines=received.lines,
            occurred_at=received.occurred_at,
            actor=received.actor,
            source=received.source,
            command_id=received.command_id,
            note=received.note,
        )

    def cancel(self, transfer_id: str, reason: str, stamp: Stamp) -> ev.TransferCancelled:
        transfer = self.open_transfers.get(transfer_id)
        if transfer is None:
            raise TransferClosed(f"transfer {transfer_id} is not in transit", transfer_id=transfer_id)
        self._after_dispatch(transfer, stamp, "cancelled")
        return self.trigger(ev.TransferCancelled, transfer_id=transfer_id, reason=reason, **stamp.fields())

    # --- commands: allocation decisions ----------------------------------------------------

    def decide_allocation(
        self,
        allocation_id: str,
        item: str,
        lines: dict[str, int],
        available: int,
        stamp: Stamp,
        **decision: Any,
    ) -> ev.AllocationDecided:
        """Reserve `lines` (recipient -> units) of `item` here; `available` is what this depot
        can commit at the decision's time (as for a dispatch)."""
        quantity = sum(lines.values())
        self._within_available("allocate", item, quantity, available)
        return self.trigger(
            ev.AllocationDecided,
            allocation_id=allocation_id,
            item=item,
            quantity=quantity,
            lines=tuple(ev.AllocationLine(to=to, quantity=q) for to, q in sorted(lines.items())),
            **decision,
            **stamp.fields(),
        )

    def open_allocation(self, allocation_id: str) -> OpenAllocation:
        allocation = self.open_allocations.get(allocation_id)
        if allocation is None or allocation.revoked:
            raise AllocationClosed(
                f"allocation {allocation_id} at {self.code} is revoked or fully dispatched", allocation_id=allocation_id
            )
        return allocation

    def revoke_allocation(self, allocation_id: str, reason: str, stamp: Stamp) -> ev.AllocationRevoked:
        allocation = self.open_allocation(allocation_id)
        if stamp.occurred_at < allocation.last_dated:
            raise InvalidCommand(
                f"allocation {allocation_id} cannot be revoked before its decision or its latest dispatch "
                f"({allocation.last_dated.isoformat()})"
            )
        return self.trigger(
            ev.AllocationRevoked,
            allocation_id=allocation_id,
            reason=reason,
            item=allocation.item,
            released=allocation.reserved,
            **stamp.fields(),
        )

    @staticmethod
    def _after_dispatch(transfer: OpenTransfer, stamp: Stamp, what: str) -> None:
        if stamp.occurred_at < transfer.dispatched_at:
            raise InvalidCommand(
                f"a transfer cannot be {what} before it was dispatched ({transfer.dispatched_at.isoformat()})"
            )

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
