"""Depot facts in the service layer: receipts, consumption, counts, adjustments (which may
correct a stored event, found by its id or position) and supply requests.

Each loads the depot, lets it decide, and is saved by the command loop (`Ledger._execute`),
like every other command: a race is decided again, never refused.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from eventsourcing.persistence import StoredEvent

from domain import commands as cmd
from domain import events as ev
from domain.depot import Corrected, Depot
from domain.exceptions import InvalidCommand, UnknownEvent, UnknownRequest
from domain.ids import depot_id, event_id, parse_event_id
from ledger.outcomes import DepotCommandOutcome, EventLink

if TYPE_CHECKING:
    from ledger.application import Context
    from ledger.host import LedgerHost
else:
    LedgerHost = object


class DepotFactCommands(LedgerHost):
    """Mixed into `Ledger`: the commands that record what happened at a depot."""

    def _depot_command(
        self,
        code: str,
        item: str,
        ctx: Context,
        act: Callable[[Depot], tuple[ev.LedgerEvent, list[str], dict[str, Any]]],
    ) -> tuple[DepotCommandOutcome, bool]:
        def decide() -> tuple[list[Any], DepotCommandOutcome]:
            depot = self._writable_depot(code, ctx)
            self.require_item(item)
            event, warnings, extra = act(depot)
            return [depot], DepotCommandOutcome(
                event_id=event_id(event.originator_id, event.originator_version),
                depot=code,
                version=event.originator_version,
                warnings=warnings,
                **extra,
            )

        return self._execute(ctx, DepotCommandOutcome, decide)

    def record_receipt(self, code: str, command: cmd.RecordReceipt, ctx: Context) -> tuple[DepotCommandOutcome, bool]:
        item, lot, expires_on = self._received_goods(command)  # as typed, or from the scanned label

        def act(depot: Depot) -> tuple[ev.LedgerEvent, list[str], dict[str, Any]]:
            stamp = self._stamp(ctx, command.occurred_at, command.note)
            fields = command.model_dump(include={"quantity", "supplier", "reference"})
            return depot.record_receipt(stamp, item=item, lot=lot, expires_on=expires_on, **fields), [], {}

        return self._depot_command(code, item, ctx, act)

    def report_consumption(
        self, code: str, command: cmd.ReportConsumption, ctx: Context
    ) -> tuple[DepotCommandOutcome, bool]:
        def act(depot: Depot) -> tuple[ev.LedgerEvent, list[str], dict[str, Any]]:
            stamp = self._stamp(ctx, command.period_end or command.occurred_at, command.note)
            period_start = command.period_start or stamp.occurred_at - timedelta(days=1)
            if period_start > stamp.occurred_at:
                raise InvalidCommand("period_start is after the end of the period")
            event, warnings = depot.report_consumption(command.item, command.quantity, period_start, stamp)
            return event, warnings, {}

        return self._depot_command(code, command.item, ctx, act)

    def count_stock(self, code: str, command: cmd.CountStock, ctx: Context) -> tuple[DepotCommandOutcome, bool]:
        def act(depot: Depot) -> tuple[ev.LedgerEvent, list[str], dict[str, Any]]:
            stamp = self._stamp(ctx, command.occurred_at, command.note)
            book_at = self._book_at(depot, command.item, stamp.occurred_at)
            event, warnings = depot.count(command.item, command.counted, book_at, stamp)
            return event, warnings, {"variance": command.counted - book_at}

        return self._depot_command(code, command.item, ctx, act)

    def adjust_stock(self, code: str, command: cmd.AdjustStock, ctx: Context) -> tuple[DepotCommandOutcome, bool]:
        def act(depot: Depot) -> tuple[ev.LedgerEvent, list[str], dict[str, Any]]:
            corrected = self.find_event(command.corrects) if command.corrects is not None else None
            # A correction is, by default, dated when the corrected event happened: the
            # corrected picture of that moment is then right from that moment on.
            occurred_at = command.occurred_at
            if occurred_at is None and corrected is not None:
                occurred_at = corrected.occurred_at
            stamp = self._stamp(ctx, occurred_at, command.note)
            event, warnings = depot.adjust(command.item, command.quantity, command.reason, corrected, stamp)
            link = EventLink(event_id=corrected.event_id, position=corrected.position) if corrected else None
            return event, warnings, {"corrects": link}

        return self._depot_command(code, command.item, ctx, act)

    def find_event(self, reference: str) -> Corrected:
        """The stored event named by an event id (`<uuid>:<version>`) or a ledger position (`pos:N`)."""
        reference = reference.strip()
        if reference.startswith("pos:"):
            position = int(reference.removeprefix("pos:"))
            found = self.recorder.select_notifications(position, 1, stop=position) if position >= 1 else []
            if not found or found[0].id != position:
                raise UnknownEvent(f"no event at ledger position {position}", corrects=reference)
            stored: StoredEvent = found[0]
        else:
            parsed = parse_event_id(reference)
            if parsed is None:
                raise InvalidCommand(
                    f"{reference!r} is neither an event id nor a ledger position pos:N",
                    errors=[
                        {"loc": ["body", "corrects"], "msg": "not an event reference", "type": "invalid_reference"}
                    ],
                )
            originator_id, version = parsed
            at = self.index_store.event_position(originator_id, version)
            stored_events = (
                self.recorder.select_events(originator_id, gt=version - 1, lte=version) if at is not None else []
            )
            if at is None or not stored_events:
                raise UnknownEvent(f"no event {reference}", corrects=reference)
            position, stored = at, stored_events[0]
        event = self.mapper.to_domain_event(stored)
        if not isinstance(event, ev.LedgerEvent):  # every event of the ledger's own store is one
            raise UnknownEvent(f"no ledger event {reference}", corrects=reference)
        item = getattr(event, "item", None)
        items = (item,) if isinstance(item, str) else ()
        if not items and hasattr(event, "lines"):
            items = tuple(sorted({line.item for line in event.lines if hasattr(line, "item")}))
        return Corrected(
            event_id=event_id(event.originator_id, event.originator_version),
            position=position,
            originator_id=event.originator_id,
            occurred_at=event.occurred_at,
            items=items,
        )

    def corrected_position(self, reference: str) -> int | None:
        """The ledger position of a stored event id (written with a correction's index row)."""
        parsed = parse_event_id(reference)
        return None if parsed is None else self.index_store.event_position(*parsed)

    def request_supply(self, code: str, command: cmd.RequestSupply, ctx: Context) -> tuple[DepotCommandOutcome, bool]:
        def act(depot: Depot) -> tuple[ev.LedgerEvent, list[str], dict[str, Any]]:
            stamp = self._stamp(ctx, command.occurred_at, command.note)
            request_id = f"R-{uuid.uuid4().hex[:12]}"
            fields = command.model_dump(include={"item", "quantity", "needed_by", "priority"})
            return depot.request_supply(request_id, stamp, **fields), [], {"request_id": request_id}

        return self._depot_command(code, command.item, ctx, act)

    def close_request(
        self, code: str, request_id: str, command: cmd.CloseRequest, ctx: Context
    ) -> tuple[DepotCommandOutcome, bool]:
        def decide() -> tuple[list[Any], DepotCommandOutcome]:
            depot = self._writable_depot(code, ctx)
            if request_id not in depot.open_requests:
                if not self._request_was_made(code, request_id):
                    raise UnknownRequest(f"no supply request {request_id} at {code}", request_id=request_id)
            event = depot.close_request(
                request_id, command.outcome, self._stamp(ctx, command.occurred_at, command.note)
            )
            return [depot], DepotCommandOutcome(
                event_id=event_id(event.originator_id, event.originator_version),
                depot=code,
                version=event.originator_version,
                request_id=request_id,
            )

        return self._execute(ctx, DepotCommandOutcome, decide)

    def _request_was_made(self, code: str, request_id: str) -> bool:
        """Only on the refusal path: tells a closed request (409) from an unknown one (404)."""
        return any(
            isinstance(event, ev.SupplyRequested) and event.request_id == request_id
            for event in self.events.get(depot_id(code))
        )

    def _book_at(self, depot: Depot, item: str, at: datetime) -> int:
        """The book at a business time: the aggregate's when nothing is dated later, else the journal's."""
        if not depot.book(item).is_backdated(at):
            return depot.on_hand(item)
        return self.journal.book_at(depot.code, item, at)
