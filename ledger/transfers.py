"""Transfers in the service layer: dispatch (a decision on the source's stock), receipt and
cancellation (facts naming only the transfer, which the transfers index resolves to both depots).

A dispatch commits stock at its business time: a backdated dispatch may not take what later
movements already relied on (`domain.stock.dispatchable`), nor more of a named lot than the
source holds of it then; it records the lots it draws, which the destination receives and a
cancellation returns. Both depots are saved in one
transaction, so a transfer is never in one depot's books and missing from the other's.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from domain import commands as cmd
from domain import events as ev
from domain.depot import Depot, LotsAvailable
from domain.exceptions import TransferClosed, UnknownTransfer
from domain.stock import dispatchable
from ledger.outcomes import ShortfallLine, TransferOutcome
from projections.cut import Cut
from projections.fold import ItemFold
from projections.history import History

if TYPE_CHECKING:
    from ledger.application import Context
    from ledger.host import LedgerHost
else:
    LedgerHost = object


class TransferCommands(LedgerHost):
    """Mixed into `Ledger`: dispatch, receive and cancel transfers."""

    def _dispatchable(self, depot: Depot, item: str, at: datetime, drawn: int = 0) -> int:
        """What `depot` can commit of `item` at `at`; `drawn` is what an allocation reserved for this use."""
        available_now = depot.available(item) + drawn
        if not depot.book(item).is_backdated(at):
            return available_now
        later, reaches_now = self.journal.movements_after(depot.code, item, at)
        return dispatchable(self.journal.book_at(depot.code, item, at), later, reaches_now, available_now)

    def _source_lots(self, source: str, items: set[str], at: datetime) -> dict[str, ItemFold]:
        """The source's fold of each item as of a dispatch's time `at`, as known now."""
        cut = Cut(as_of=at, known_position=self.position(), known_at=None, asked_at=at)
        return History(self.index_store).depot_folds(source, sorted(items), cut)

    def _lots_drawn(self, source: str, lines: tuple[ev.TransferLine, ...], at: datetime) -> LotsAvailable:
        return lots_drawn(self._source_lots(source, {line.item for line in lines}, at), lines)

    def dispatch_transfer(self, command: cmd.DispatchTransfer, ctx: Context) -> tuple[TransferOutcome, bool]:
        transfer_id = f"T-{uuid.uuid4().hex[:12]}"

        def decide() -> tuple[list[Any], TransferOutcome]:
            if command.allocation_id is not None:
                source = self._allocation_source(command.allocation_id, ctx, command.source)
            else:
                source = self._writable_depot(command.source, ctx)
            destination = self.depot(command.destination)
            for asked in command.lines:
                self.require_item(asked.item)
            stamp = self._stamp(ctx, command.occurred_at, command.note)
            lines = tuple(
                ev.TransferLine(item=asked.item, quantity=asked.quantity, lot=asked.lot) for asked in command.lines
            )
            wanted: dict[str, int] = {}
            for line in lines:
                wanted[line.item] = wanted.get(line.item, 0) + line.quantity
            available = {
                item: self._dispatchable(
                    source,
                    item,
                    stamp.occurred_at,
                    source.drawn_from_allocation(command.allocation_id, destination.code, item, quantity),
                )
                for item, quantity in wanted.items()
            }
            dispatched = source.dispatch(
                transfer_id,
                destination.code,
                lines,
                available,
                stamp,
                allocation_id=command.allocation_id,
                reference=command.reference,
                lots=self._lots_drawn(source.code, lines, stamp.occurred_at),
            )
            destination.expect(dispatched, source.code)
            return [source, destination], TransferOutcome(transfer_id=transfer_id, status="in_transit")

        return self._execute(ctx, TransferOutcome, decide)

    def _open_transfer(self, transfer_id: str) -> dict[str, Any]:
        transfer = self.journal.transfer(transfer_id)
        if transfer is None:
            raise UnknownTransfer(f"no transfer {transfer_id}", transfer_id=transfer_id)
        if transfer["status"] != "in_transit":
            raise TransferClosed(
                f"transfer {transfer_id} is already {transfer['status']}",
                transfer_id=transfer_id,
                transfer_status=transfer["status"],
            )
        return transfer

    def _still_open(self, transfer_id: str, *depots: Depot) -> None:
        """The index said open, but a receipt or cancellation may have won the race since."""
        if any(transfer_id not in depot.open_transfers for depot in depots):
            status = (self.journal.transfer(transfer_id) or {}).get("status", "closed")
            raise TransferClosed(
                f"transfer {transfer_id} is already {status}", transfer_id=transfer_id, transfer_status=status
            )

    def receive_transfer(
        self, transfer_id: str, command: cmd.ReceiveTransfer, ctx: Context
    ) -> tuple[TransferOutcome, bool]:
        def decide() -> tuple[list[Any], TransferOutcome]:
            transfer = self._open_transfer(transfer_id)
            destination = self._writable_depot(transfer["destination"], ctx)
            source = self.depot(transfer["source"])
            self._still_open(transfer_id, destination, source)
            received: dict[str, int] | None = None
            if command.lines is not None:
                received = {}
                for line in command.lines:
                    received[line.item] = received.get(line.item, 0) + line.quantity_received
            event = destination.receive(transfer_id, received, self._stamp(ctx, command.occurred_at, command.note))
            source.deliver(event)
            return [destination, source], TransferOutcome(
                transfer_id=transfer_id,
                status="received",
                shortfall=shortfall(event.lines),
            )

        return self._execute(ctx, TransferOutcome, decide)

    def cancel_transfer(
        self, transfer_id: str, command: cmd.CancelTransfer, ctx: Context
    ) -> tuple[TransferOutcome, bool]:
        def decide() -> tuple[list[Any], TransferOutcome]:
            transfer = self._open_transfer(transfer_id)
            source = self._writable_depot(transfer["source"], ctx)
            destination = self.depot(transfer["destination"])
            stamp = self._stamp(ctx, command.occurred_at, command.note)
            source.cancel(transfer_id, command.reason, stamp)
            destination.cancel(transfer_id, command.reason, stamp)
            return [source, destination], TransferOutcome(transfer_id=transfer_id, status="cancelled")

        return self._execute(ctx, TransferOutcome, decide)


def shortfall(lines: Any) -> list[ShortfallLine]:
    """Received lines that fell short: the difference is a loss in transit."""
    return [
        ShortfallLine(
            item=line.item,
            quantity_dispatched=line.quantity_dispatched,
            quantity_received=line.quantity_received,
            shortfall=line.quantity_dispatched - line.quantity_received,
        )
        for line in lines
        if line.quantity_received < line.quantity_dispatched
    ]


def lots_drawn(folds: dict[str, ItemFold], lines: tuple[ev.TransferLine, ...]) -> LotsAvailable:
    """What a dispatch of `lines` takes from the source's lots (`folds`, as of its time, as known
    now; drawn from, so that several dispatches of one decision draw one after the other): what
    each named lot holds, and the lots taken in the order the fold takes them. Lines naming a lot
    take that lot, and are drawn first; the others draw first-expiry-first-out from what is left.
    A backdated dispatch is read at its own time, so what it records is what the fold draws at its
    place in business order (later draws that name no lot follow it there)."""
    held: dict[tuple[str, str], int] = {}
    for line in lines:
        if line.lot is not None:
            fold = folds.get(line.item)
            held[line.item, line.lot] = fold.state.lots.held(line.lot) if fold else 0
    taken: dict[tuple[str, str | None], int] = {}
    for line in sorted(lines, key=lambda line: line.lot is None):  # named lots first (a stable sort)
        fold = folds.get(line.item)
        parts = fold.state.lots.take(line.quantity, line.lot, fold.expiries) if fold else [(None, line.quantity)]
        for lot, quantity in parts:
            taken[line.item, lot] = taken.get((line.item, lot), 0) + quantity
    drawn = tuple(ev.DrawnLot(item=item, lot=lot, quantity=quantity) for (item, lot), quantity in taken.items())
    return LotsAvailable(held=held, drawn=drawn)
