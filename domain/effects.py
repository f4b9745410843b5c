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


# The lines of a transfer still in transit at this depot, and which way it goes there.
OpenLines = Callable[[str], tuple[Direction, Sequence[ev.TransferLine]] | None]


def effects_of(event: Any, open_lines: OpenLines) -> list[Effect]:
    """The effects of `event` on its depot; `open_lines` finds a transfer's dispatched lines,
    which receipt and cancellation events do not repeat."""
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
        case ev.TransferDispatched():
            return [
                Effect(line.item, -line.quantity, lot=line.lot, expires_on=line.expires_on, transit_out=line.quantity)
                for line in event.lines
            ]
        case ev.TransferExpected():
            return [Effect(line.item, transit_in=line.quantity) for line in event.lines]
        case ev.TransferReceived():
            open_transfer = open_lines(event.transfer_id)
            lots = _single_lots(open_transfer[1] if open_transfer else ())
            return [
                Effect(
                    line.item,
                    line.quantity_received,
                    lot=lots.get(line.item, (None, None))[0],
                    expires_on=lots.get(line.item, (None, None))[1],
                    transit_in=-line.quantity_dispatched,
                )
                for line in event.lines
            ]
        case ev.TransferDelivered():
            return [Effect(line.item, transit_out=-line.quantity_dispatched) for line in event.lines]
        case ev.TransferCancelled():
            open_transfer = open_lines(event.transfer_id)
            if open_transfer is None:
                return []
            direction, lines = open_transfer
            if direction == "out":
                return [
                    Effect(line.item, line.quantity, lot=line.lot, expires_on=line.expires_on, transit_out=-line.quantity)
                    for line in lines
                ]
            return [Effect(line.item, transit_in=-line.quantity) for line in lines]
    return []


def _single_lots(lines: Sequence[ev.TransferLine]) -> dict[str, tuple[str, Any]]:
    """The lot (and its expiry) a received item came from, when the dispatch named exactly one."""
    lots: dict[str, set[tuple[str | None, Any]]] = {}
    for line in lines:
        lots.setdefault(line.item, set()).add((line.lot, line.expires_on))
    return {
        item: next(iter(named))  # type: ignore[misc]
        for item, named in lots.items()
        if len(named) == 1 and next(iter(named))[0] is not None
    }
