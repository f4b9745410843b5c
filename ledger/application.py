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

from collections.abc import Callable
from datetime import datetime
from typing import Any, ClassVar, TypeVar
from uuid import UUID

import structlog
from eventsourcing.application import (
    AggregateNotFoundError,
    Application,
    ProcessingEvent,
)
from eventsourcing.persistence import ApplicationRecorder, EventStore, IntegrityError, Mapper, Recording

from domain import commands as cmd
from domain import events as ev
from domain.aggregate import projector
from domain.depot import Depot, Stamp
from domain.events import Snapshot
from domain.exceptions import (
    ConcurrentUpdate,
    DuplicateCode,
    InvalidCommand,
    LedgerError,
    UnknownDepot,
    UnknownItem,
    VersionMismatch,
)
from domain.ids import depot_id, item_id
from domain.item import Item
from ledger import clock
from ledger.alerts import AlertCommands
from ledger.allocations import AllocationCommands
from ledger.backfill import backfill_late_events, backfill_obligations
from ledger.catalogue import CatalogueCommands
from ledger.context import Context
from ledger.depot_facts import DepotFactCommands
from ledger.distribution_models import DistributionModelCommands
from ledger.imports import ImportCommands
from ledger.indexes import index_rows
from ledger.journal import Journal
from ledger.outcomes import (
    DepotOutcome,
    ItemOutcome,
    ObligationOutcome,
    Outcome,
)
from ledger.persistence import IndexStore
from ledger.races import Attempts, turn_of
from ledger.repository import LedgerRepository
from ledger.transfers import TransferCommands

OutcomeT = TypeVar("OutcomeT", bound=Outcome)
log = structlog.get_logger("supply_ledger.ledger")

project_depot = projector(Depot)
project_item = projector(Item)


class Ledger(
    DepotFactCommands,
    TransferCommands,
    AllocationCommands,
    AlertCommands,
    ImportCommands,
    DistributionModelCommands,
    CatalogueCommands,
    Application,
):
    name = "SupplyLedger"
    # The library's, set by Application.__init__; declared here because the mixins' LedgerHost
    # (before Application in the MRO, for the type checker) declares them too.
    recorder: ApplicationRecorder
    mapper: Mapper[UUID]
    events: EventStore[UUID]
    # Cached depots save replaying since the snapshot, never correctness: a read brings its
    # copy up to date from the store, and a command that trusted a stale copy fails its save
    # and is decided again (`ledger.repository`), so several processes can share one database.
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
        backfill_obligations(self)
        self.listeners: list[Callable[[], None]] = []  # told after each command is stored (wakes projections)
        # The time commands default to and are checked against, and views' "now". An
        # exercise ledger runs on its scenario clock and also records its events in
        # scenario time (`in_scenario_time`), so late reports and latencies read in it.
        self.clock: Callable[[], datetime] = clock.now
        self.in_scenario_time = False
        self._known_items: set[str] = set()

    def construct_repository(self) -> LedgerRepository:
        """The library's repository, with a cache that many threads may read at once."""
        maxsize = self.env.get(self.AGGREGATE_CACHE_MAXSIZE)
        return LedgerRepository(
            event_store=self.events, snapshot_store=self.snapshots, cache_maxsize=int(maxsize) if maxsize else None
        )

    @property
    def repository(self) -> LedgerRepository:
        """The library's repository, as `construct_repository` built it."""
        assert isinstance(self._repository, LedgerRepository)
        return self._repository

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

    def _execute(
        self, ctx: Context, outcome_type: type[OutcomeT], decide: Callable[[], tuple[list[Any], OutcomeT]]
    ) -> tuple[OutcomeT, bool]:
        """Decide and save; a save that lost a race is decided again on fresh state until it
        is stored (see `ledger.races`), so a race never refuses a command: only the domain
        does (e.g. insufficient stock, judged on the state it is saved against).
        Returns the outcome and whether it is a replay of a stored answer."""
        replayed = self._replay(ctx, outcome_type)
        if replayed is not None:
            return replayed, True
        attempts = Attempts()
        contended: list[Any] = []  # what the last try touched, once a try lost
        while True:
            with turn_of(contended):
                aggregates, outcome = self._decide(decide, trusting=not contended and ctx.expected_version is None)
                contended = [aggregate.id for aggregate in aggregates]
                last_event = [event for aggregate in aggregates for event in aggregate.pending_events][-1]
                outcome = outcome.model_copy(update={"recorded_at": last_event.timestamp})  # what the response reports
                try:
                    recordings = self.save(*aggregates, idempotency=self._idempotency(ctx, outcome))
                except IntegrityError:
                    recordings = None
            if recordings is not None:
                self.repository.offer(aggregates)  # saved: the newest state
                for listener in self.listeners:
                    listener()
                return outcome.model_copy(update={"position": recordings[-1].notification.id}), False
            # Another command stored first: one of our depots moved on, or it stored our key.
            replayed = self._replay(ctx, outcome_type)
            if replayed is not None:
                return replayed, True
            if ctx.expected_version is not None:
                raise VersionMismatch("the depot changed while this command was decided", expected=ctx.expected_version)
            if attempts.expired():
                raise ConcurrentUpdate("the depots kept changing for too long; retry")
            attempts.pause()

    def _decide(self, decide: Callable[[], tuple[list[Any], OutcomeT]], trusting: bool) -> tuple[list[Any], OutcomeT]:
        """`trusting`: first on the cached depots as they are (see `ledger.repository`); if
        that refuses, or read a depot the command does not write (nothing would catch it
        being stale), decide again on the depots as stored."""
        if trusting:
            try:
                with self.repository.trusting() as read:
                    aggregates, outcome = self._decide_in_time(decide)
                if set(read) <= {aggregate.id for aggregate in aggregates}:
                    return aggregates, outcome
            except LedgerError:
                pass
        return self._decide_in_time(decide)

    def _idempotency(self, ctx: Context, outcome: Outcome) -> dict[str, Any] | None:
        """The key's row, stored with the events: the answer a retry of this command gets."""
        if ctx.idempotency_key is None:
            return None
        return {
            "scope": ctx.idempotency_scope,
            "key": ctx.idempotency_key,
            "fingerprint": ctx.fingerprint or "",
            "outcome": outcome.model_dump(mode="json"),
        }

    def _decide_in_time(self, decide: Callable[[], tuple[list[Any], OutcomeT]]) -> tuple[list[Any], OutcomeT]:
        if not self.in_scenario_time:
            return decide()
        recorded = self.clock()
        with ev.recorded_by(lambda: recorded):
            return decide()

    def _replay(self, ctx: Context, outcome_type: type[OutcomeT]) -> OutcomeT | None:
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
            self._refuse_taken_gtins(command.code, definition["gtins"])
            stamp = self._stamp(ctx, None)
            item = Item.start(ev.ItemDefined, item_id(command.code), **definition, **stamp.fields())
            return [item], ItemOutcome(**definition)

        definition = {**command.model_dump(), "gtins": sorted(command.gtins)}

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
            terms = command.terms()
            stamp = self._stamp(ctx, command.occurred_at, command.note)
            depot.set_obligation(item, terms.pop("min_days"), stamp, **terms)
            return [depot], ObligationOutcome(depot=code, item=item, **command.terms(), version=depot.version)

        return self._execute(ctx, ObligationOutcome, decide)
