"""The depot: one event stream per depot holds every movement of its stock.

`Depot` decides: its commands check a movement or a decision against its books and
trigger the event. Its state, the fold of its events in business order (`occurred_at`) as
DESIGN.md defines it, and the count rule live in `domain.depot_books`. Nothing here reads
the database; whatever a decision needs from the past (the book at a backdated time) the
service layer passes in.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Self
from uuid import UUID

from domain import events as ev
from domain.depot_books import DepotBooks, OpenAllocation, OpenTransfer
from domain.exceptions import (
    AllocationClosed,
    AllocationExceeded,
    InsufficientStock,
    InvalidCommand,
    RequestClosed,
    TransferClosed,
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


@dataclass(frozen=True)
class LotsAvailable:
    """What the service layer read of the source's lots for a dispatch: per (item, lot) named by
    a line, what that lot holds at the dispatch's time, and the lots the dispatch draws."""

    held: dict[tuple[str, str], int]
    drawn: tuple[ev.DrawnLot, ...]


class Depot(DepotBooks):
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

    def set_obligation(self, item: str, min_days: int | None, stamp: Stamp, **terms: Any) -> ev.ObligationSet:
        """`terms`: the basis and its parameters (`ev.ObligationSet`); none: recent_consumption.
        Abnormal years left out of an annual average are complete years before the setting's."""
        future = sorted(year for year in terms.get("exclude_years", ()) if year >= stamp.occurred_at.year)
        if future:
            raise InvalidCommand(
                f"exclude_years {', '.join(map(str, future))}: only complete years before "
                f"{stamp.occurred_at.year} can be left out",
                errors=[{"loc": ["body", "exclude_years"], "msg": "not a past year", "type": "value_error"}],
            )
        return self.trigger(ev.ObligationSet, item=item, min_days=min_days, **terms, **stamp.fields())

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

    def acknowledge_alert(self, alert_id: str, kind: str, item: str | None, stamp: Stamp) -> ev.AlertAcknowledged:
        return self.trigger(ev.AlertAcknowledged, alert_id=alert_id, kind=kind, item=item, **stamp.fields())

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
