"""What each depot event does to one item's figures at that depot.

One function, used by the depot aggregate (its books), by the write path (the movement
journal that historical views fold) and by the materialised stock projection, so the
three can only differ in the order they fold effects in, never in what an event means.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from domain import events as ev

Direction = Literal["out", "in"]


@dataclass(frozen=True, slots=True)
class Effect:
    """A change to one item at one depot.

    `delta` moves on_hand (a count instead resets it to `counted`; `book_at` is the book
    the count was compared with when recorded); `transit_in`/`transit_out`/`reserved`
    move those figures; `min_days` sets the stock obligation; `backdated` says the event
    is dated before an entry the item already had at this depot.
    """

    item: str
    delta: int = 0
    counted: int | None = None
    book_at: int | None = None
    lot: str | None = None
    expires_on: date | None = None
    transit_in: int = 0
    transit_out: int = 0
    reserved: int = 0
    min_days: int | None = None
    backdated: bool = False

    @property
    def moves_stock(self) -> bool:
        return self.delta != 0 or self.counted is not None


@dataclass(frozen=True, slots=True)
class InTransit:
    """A transfer still in transit at a depot: which way it goes there, its dispatched lines, the
    lots it drew at the source (empty: each line's own lot), and whether cancelling it reserves its
    lines again (it was dispatched against an allocation that is still in force)."""

    direction: Direction
    lines: Sequence[ev.TransferLine]
    reserved_again: bool = False
    drawn: Sequence[ev.DrawnLot] = ()

    def lots(self) -> Sequence[ev.DrawnLot]:
        return self.drawn or [ev.DrawnLot(item=line.item, lot=line.lot, quantity=line.quantity) for line in self.lines]


# Finds a transfer still in transit at this depot (receipt and cancellation events do not repeat its lines).
OpenLines = Callable[[str], InTransit | None]


def effects_of(event: Any, open_lines: OpenLines) -> list[Effect]:
    """The effects of `event` on its depot.

    A transfer moves lots, not only items: the dispatch takes the lots it drew (`ev.drawn_lots`),
    the destination receives them, and a cancellation returns them. A lot's expiry is not carried:
    views look it up for their own cut (`projections.history`), from the receipts that state it."""
    match event:
        case ev.ReceiptRecorded():
            return [Effect(event.item, event.quantity, lot=event.lot, expires_on=event.expires_on)]
        case ev.ConsumptionReported():
            return [Effect(event.item, -event.quantity)]
        case ev.StockAdjusted():
            return [Effect(event.item, event.quantity)]
        case ev.StockCounted():
            return [Effect(event.item, counted=event.counted, book_at=event.book_at_recording)]
        case ev.ObligationSet():
            return [Effect(event.item, min_days=event.min_days)]
        case ev.AllocationDecided():
            return [Effect(event.item, reserved=event.quantity)]
        case ev.AllocationRevoked():
            return [Effect(event.item, reserved=-event.released)]
        case ev.TransferDispatched():
            drawn = event.allocation_id is not None  # a dispatch against an allocation takes what it reserved
            return [
                Effect(
                    taken.item,
                    -taken.quantity,
                    lot=taken.lot,
                    transit_out=taken.quantity,
                    reserved=-taken.quantity if drawn else 0,
                )
                for taken in ev.drawn_lots(event)
            ]
        case ev.TransferExpected():
            return [Effect(line.item, transit_in=line.quantity) for line in event.lines]
        case ev.TransferReceived():
            transit = open_lines(event.transfer_id)
            lots = transit.lots() if transit else ()
            return [effect for line in event.lines for effect in _arrivals(lots, line)]
        case ev.TransferDelivered():
            return [Effect(line.item, transit_out=-line.quantity_dispatched) for line in event.lines]
        case ev.TransferCancelled():
            transit = open_lines(event.transfer_id)
            if transit is None:
                return []
            if transit.direction == "out":
                return [
                    Effect(
                        taken.item,
                        taken.quantity,
                        lot=taken.lot,
                        transit_out=-taken.quantity,
                        reserved=taken.quantity if transit.reserved_again else 0,
                    )
                    for taken in transit.lots()
                ]
            return [Effect(line.item, transit_in=-line.quantity) for line in transit.lines]
    return []


def _arrivals(lots: Sequence[ev.DrawnLot], received: ev.ReceivedLine) -> list[Effect]:
    """What arrived of one item lands in the lots the dispatch drew, in the order drawn (first
    expiry first); a shortfall is lost from the last of them."""
    left = received.quantity_received
    effects = []
    for taken in lots:
        if taken.item == received.item:
            arrived = min(left, taken.quantity)
            left -= arrived
            effects.append(Effect(taken.item, arrived, lot=taken.lot, transit_in=-taken.quantity))
    return effects or [Effect(received.item, received.quantity_received, transit_in=-received.quantity_dispatched)]
