"""The service layer: one `Ledger` application per event store (live, or an exercise).

Each command loads the aggregates it touches, lets the domain decide, and saves every
resulting event in one transaction. Two guarantees live here:

- Optimistic concurrency: a save that lost a race (another command changed one of its
  depots first) stores nothing; the command is decided again on fresh state, so stock
  is never committed twice. With `If-Match` the race is a refusal instead.
- Idempotency: a command with a key stores the key, its request fingerprint and its
  outcome in the same transaction as its events; a retry gets the stored outcome back.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar, TypeVar

import structlog
from eventsourcing.application import (
    AggregateNotFoundError,
    Application,
    ProcessingEvent,
)
from eventsourcing.persistence import IntegrityError, Recording

from domain import commands as cmd
from domain import events as ev
from domain.aggregate import projector
from domain.depot import Corrected, Depot, Stamp
from domain.events import Snapshot
from domain.exceptions import (
    ConcurrentUpdate,
    DuplicateCode,
    Forbidden,
    InvalidCommand,
    TransferClosed,
    UnknownDepot,
    UnknownEvent,
    UnknownItem,
    UnknownRequest,
    UnknownTransfer,
    VersionMismatch,
)
from domain.ids import depot_id, event_id, item_id, parse_event_id
from domain.item import Item
from domain.stock import dispatchable
from ledger import clock
from ledger.allocations import AllocationCommands
from ledger.backfill import backfill_late_events
from ledger.indexes import index_rows
from ledger.journal import Journal
from ledger.outcomes import (
    DepotCommandOutcome,
    DepotOutcome,
    EventLink,
    ItemOutcome,
    ObligationOutcome,
    Outcome,
    ShortfallLine,
    TransferOutcome,
)
from ledger.persistence import IndexStore

O = TypeVar("O", bound=Outcome)
log = structlog.get_logger("supply_ledger.ledger")

project_depot = projector(Depot)
project_item = projector(Item)

SAVE_ATTEMPTS = 8


@dataclass(frozen=True)
class Context:
    """Who asks, and how: the principal, the idempotency key and the version it expects."""

    actor: str  # the principal's unique name, recorded on its events
    organisations: frozenset[str] | None = None  # None: every depot
    source: ev.Source = "api"
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    idempotency_key: str | None = None
    fingerprint: str | None = None
    expected_version: int | None = None
    principal_id: str | None = None  # a token's stable id; callers without a token (CLI, demo) go by actor

    @property
    def idempotency_scope(self) -> str:
        """Whose keys these are: a key belongs to one principal, never to a display name."""
        return self.principal_id or self.actor

    @property
    def command_id(self) -> str:
        return self.idempotency_key or self.request_id

    def may_write(self, depot: Depot) -> None:
        if self.organisations is not None and depot.organisation not in self.organisations:
            raise Forbidden(
                f"{self.actor} may not write to depot {depot.code} of organisation {depot.organisation}",
                depot=depot.code,
            )


class Ledger(AllocationCommands, Application):
    name = "SupplyLedger"
    # Cached depots are fast-forwarded from the store on every read (the library's
    # default), so the cache saves replaying since the snapshot, never correctness,
    # and several processes can share one database.
    env: ClassVar[dict[str, str]] = {"AGGREGATE_CACHE_MAXSIZE": "10000"}
    snapshotting_intervals: ClassVar[dict[type, int]] = {Depot: 100}
    snapshotting_projectors: ClassVar[dict[type, Any]] = {Depot: project_depot}
    snapshot_class = Snapshot

    def __init__(self, env: dict[str, str] | None = None, name: str | None = None) -> None:
        if name is not None:
            self.name = name
        super().__init__(env)
        self.journal = Journal(self.index_store)
        self.index_store.check_schema()
        backfill_late_events(self)
        self.listeners: list[Callable[[], None]] = []  # told after each command is stored (wakes projections)
        # The time commands default to and are checked against, and views' "now". An
        # exercise ledger runs on its scenario clock and also records its events in
        # scenario time (`in_scenario_time`), so late reports and latencies read in it.
        self.clock: Callable[[], datetime] = clock.now
        self.in_scenario_time = False
        self._known_items: set[str] = set()

    @property
    def index_store(self) -> IndexStore:
        assert isinstance(self.recorder, IndexStore), "the ledger needs its own recorder (see ledger.settings)"
        return self.recorder

    def _record(self, processing_event: ProcessingEvent) -> list[Recording]:
        """Every save writes its index rows in the same transaction as its events."""
        processing_event.saved_kwargs["index"] = index_rows(
            processing_event.events, processing_event.aggregates, self.corrected_position
        )
        idempotency = processing_event.saved_kwargs.pop("idempotency", None)
        if idempotency is not None:
            processing_event.saved_kwargs["index"].idempotency = idempotency
        return super()._record(processing_event)

    def _take_snapshots(self, processing_event: ProcessingEvent) -> None:
        """Snapshots only speed up loading: once the events are committed, failing to
        snapshot must not turn a stored command into an error."""
        try:
            super()._take_snapshots(processing_event)
        except Exception:
            log.warning("snapshot_failed", exc_info=True)

    # --- loading -------------------------------------------------------------------------

    def depot(self, code: str) -> Depot:
        try:
            return self.repository.get(depot_id(code), projector_func=project_depot)
        except AggregateNotFoundError:
            raise UnknownDepot(f"no depot {code}", depot=code) from None

    def item(self, code: str) -> Item:
        try:
            return self.repository.get(item_id(code), projector_func=project_item)
        except AggregateNotFoundError:
            raise UnknownItem(f"no item {code} in the catalogue", item=code) from None

    def require_item(self, code: str) -> None:
        """Items are never removed, so once seen an item is known for the life of the process."""
        if code not in self._known_items:
            self.item(code)
            self._known_items.add(code)

    def position(self) -> int:
        return self.recorder.max_notification_id() or 0

    # --- the command loop -------------------------------------------------------------------

    def _execute(self, ctx: Context, outcome_type: type[O], decide: Callable[[], tuple[list[Any], O]]) -> tuple[O, bool]:
        """Decide and save, retrying lost races; returns the outcome and whether it is a replay."""
        replayed = self._replay(ctx, outcome_type)
        if replayed is not None:
            return replayed, True
        for _ in range(SAVE_ATTEMPTS):
            aggregates, outcome = self._decide_in_time(decide)
            last_event = [event for aggregate in aggregates for event in aggregate.pending_events][-1]
            outcome = outcome.model_copy(update={"recorded_at": last_event.timestamp})  # what the response reports
            idempotency = None
            if ctx.idempotency_key is not None:
                idempotency = {
                    "scope": ctx.idempotency_scope,
                    "key": ctx.idempotency_key,
                    "fingerprint": ctx.fingerprint or "",
                    "outcome": outcome.model_dump(mode="json"),
                }
            try:
                recordings = self.save(*aggregates, idempotency=idempotency)
            except IntegrityError:
                replayed = self._replay(ctx, outcome_type)
                if replayed is not None:
                    return replayed, True
                if ctx.expected_version is not None:
                    raise VersionMismatch(
                        "the depot changed while this command was decided", expected=ctx.expected_version
                    ) from None
                continue
            for listener in self.listeners:
                listener()
            return outcome.model_copy(update={"position": recordings[-1].notification.id}), False
        raise ConcurrentUpdate("too many concurrent changes to the same depots; retry")

    def _decide_in_time(self, decide: Callable[[], tuple[list[Any], O]]) -> tuple[list[Any], O]:
        if not self.in_scenario_time:
            return decide()
        recorded = self.clock()
        with ev.recorded_by(lambda: recorded):
            return decide()

    def _replay(self, ctx: Context, outcome_type: type[O]) -> O | None:
        if ctx.idempotency_key is None:
            return None
        stored = self.journal.stored_answer(ctx.idempotency_scope, ctx.idempotency_key, ctx.fingerprint or "")
        if stored is None:
            return None
        outcome, position = stored
        return outcome_type.model_validate({**outcome, "position": position})  # filled in by the write transaction

    def _stamp(self, ctx: Context, occurred_at: datetime | None, note: str | None = None) -> Stamp:
        now = self.clock()
        if occurred_at is None:
            occurred_at = now
        elif occurred_at > now + clock.FUTURE_TOLERANCE:
            raise InvalidCommand(
                f"occurred_at {clock.utc_text(occurred_at)} is in the future (now {clock.utc_text(now)})",
                errors=[{"loc": ["body", "occurred_at"], "msg": "more than 5 minutes in the future"}],
            )
        return Stamp(occurred_at=occurred_at, actor=ctx.actor, source=ctx.source, command_id=ctx.command_id, note=note)

    def _writable_depot(self, code: str, ctx: Context) -> Depot:
        depot = self.depot(code)
        ctx.may_write(depot)
        if ctx.expected_version is not None and depot.version != ctx.expected_version:
            raise VersionMismatch(
                f"depot {code} is at version {depot.version}, not {ctx.expected_version}",
                expected=ctx.expected_version,
                actual=depot.version,
            )
        return depot

    # --- reference data -------------------------------------------------------------------

    def define_item(self, command: cmd.DefineItem, ctx: Context) -> tuple[ItemOutcome, bool]:
        def decide() -> tuple[list[Any], ItemOutcome]:
            try:
                self.item(command.code)
            except UnknownItem:
                pass
            else:
                raise DuplicateCode(f"item {command.code} is already defined", code=command.code)
            stamp = self._stamp(ctx, None)
            item = Item.start(ev.ItemDefined, item_id(command.code), **command.model_dump(), **stamp.fields())
            return [item], ItemOutcome(**command.model_dump())

        return self._execute(ctx, ItemOutcome, decide)

    def register_depot(self, command: cmd.RegisterDepot, ctx: Context) -> tuple[DepotOutcome, bool]:
        def decide() -> tuple[list[Any], DepotOutcome]:
            try:
                self.depot(command.code)
            except UnknownDepot:
                pass
            else:
                raise DuplicateCode(f"depot {command.code} is already registered", code=command.code)
            stamp = self._stamp(ctx, command.occurred_at)
            registration = command.model_dump(exclude={"occurred_at"})
            depot = Depot.start(ev.DepotRegistered, depot_id(command.code), **registration, **stamp.fields())
            return [depot], DepotOutcome(version=depot.version, **registration)

        return self._execute(ctx, DepotOutcome, decide)

    def set_obligation(
        self, code: str, item: str, command: cmd.SetObligation, ctx: Context
    ) -> tuple[ObligationOutcome, bool]:
        def decide() -> tuple[list[Any], ObligationOutcome]:
            depot = self._writable_depot(code, ctx)
            self.require_item(item)
            depot.set_obligation(item, command.min_days, self._stamp(ctx, command.occurred_at, command.note))
            return [depot], ObligationOutcome(depot=code, item=item, min_days=command.min_days, version=depot.version)

        return self._execute(ctx, ObligationOutcome, decide)

    # --- depot commands: facts ----------------------------------------------------------------

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
        def act(depot: Depot) -> tuple[ev.LedgerEvent, list[str], dict[str, Any]]:
            stamp = self._stamp(ctx, command.occurred_at, command.note)
            fields = command.model_dump(include={"item", "quantity", "lot", "expires_on", "supplier", "reference"})
            return depot.record_receipt(stamp, **fields), [], {}

        return self._depot_command(code, command.item, ctx, act)

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
            stored = found[0]
        else:
            parsed = parse_event_id(reference)
            if parsed is None:
                raise InvalidCommand(
                    f"{reference!r} is neither an event id nor a ledger position pos:N",
                    errors=[{"loc": ["body", "corrects"], "msg": "not an event reference", "type": "invalid_reference"}],
                )
            originator_id, version = parsed
            position = self.index_store.event_position(originator_id, version)
            stored_events = (
                self.recorder.select_events(originator_id, gt=version - 1, lte=version) if position is not None else []
            )
            if not stored_events:
                raise UnknownEvent(f"no event {reference}", corrects=reference)
            stored = stored_events[0]
        event = self.mapper.to_domain_event(stored)
        items = (event.item,) if isinstance(getattr(event, "item", None), str) else ()
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
            event = depot.close_request(request_id, command.outcome, self._stamp(ctx, command.occurred_at, command.note))
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

    # --- transfers: decisions ---------------------------------------------------------------

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
            for line in command.lines:
                self.require_item(line.item)
            stamp = self._stamp(ctx, command.occurred_at, command.note)
            lines = tuple(
                ev.TransferLine(
                    item=l.item,
                    quantity=l.quantity,
                    lot=l.lot,
                    expires_on=self.journal.lot_expiry(source.code, l.item, l.lot) if l.lot else None,
                )
                for l in command.lines
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
            received = None
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

    def cancel_transfer(self, transfer_id: str, command: cmd.CancelTransfer, ctx: Context) -> tuple[TransferOutcome, bool]:
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
