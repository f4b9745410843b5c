"""Transfers in the service layer: dispatch (a decision on the source's stock), receipt and
cancellation (facts naming only the transfer, which the transfers index resolves to both depots).

A dispatch commits stock at its business time: a backdated dispatch may not take what later
movements already relied on (`domain.stock.dispatchable`). Both depots are saved in one
transaction, so a transfer is never in one depot's books and missing from the other's.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from domain import commands as cmd
from domain import events as ev
from domain.depot import Depot
from domain.exceptions import TransferClosed, UnknownTransfer
from domain.stock import dispatchable
from ledger.outcomes import ShortfallLine, TransferOutcome

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
                ev.TransferLine(
                    item=asked.item,
                    quantity=asked.quantity,
                    lot=asked.lot,
                    expires_on=self.journal.lot_expiry(source.code, asked.item, asked.lot) if asked.lot else None,
                )
                for asked in command.lines
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
