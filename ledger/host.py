"""What the command mixins (`DepotFactCommands`, `TransferCommands`, ...) use of the `Ledger` they
are mixed into, declared for the type checker only.

The mixins are based on `LedgerHost` while type checking and on `object` at run time, so they
read as parts of one class: `Ledger` defines every member here, and mypy checks that its
definitions still match these declarations.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from uuid import UUID

    from eventsourcing.persistence import ApplicationRecorder, EventStore, Mapper

    from domain.commands import RecordReceipt
    from domain.depot import Depot, Stamp
    from domain.distribution import CriticalRequest
    from domain.events import DistributionModelSet
    from domain.item import Item
    from ledger.application import Context
    from ledger.journal import Journal
    from ledger.outcomes import Outcome
    from ledger.persistence import IndexStore
    from ledger.repository import LedgerRepository
    from projections.fold import ItemFold

OutcomeT = TypeVar("OutcomeT", bound="Outcome")


class LedgerHost(Protocol):
    journal: Journal
    clock: Callable[[], datetime]
    recorder: ApplicationRecorder
    mapper: Mapper[UUID]
    events: EventStore[UUID]

    @property
    def index_store(self) -> IndexStore: ...

    @property
    def repository(self) -> LedgerRepository: ...

    def depot(self, code: str) -> Depot: ...

    def item(self, code: str) -> Item: ...

    def require_item(self, code: str) -> None: ...

    def position(self) -> int: ...

    def _execute(
        self, ctx: Context, outcome_type: type[OutcomeT], decide: Callable[[], tuple[list[Any], OutcomeT]]
    ) -> tuple[OutcomeT, bool]: ...

    def _replay(self, ctx: Context, outcome_type: type[OutcomeT]) -> OutcomeT | None: ...

    def _decide_in_time(self, decide: Callable[[], tuple[list[Any], OutcomeT]]) -> tuple[list[Any], OutcomeT]: ...

    def _stamp(self, ctx: Context, occurred_at: datetime | None, note: str | None = None) -> Stamp: ...

    def _writable_depot(self, code: str, ctx: Context) -> Depot: ...

    # one mixin's, used by another
    def _received_goods(self, command: RecordReceipt) -> tuple[str, str | None, date | None]: ...

    def _dispatchable(self, depot: Depot, item: str, at: datetime, drawn: int = 0) -> int: ...

    def _source_lots(self, source: str, items: set[str], at: datetime) -> dict[str, ItemFold]: ...

    def _allocation_source(self, allocation_id: str, ctx: Context, source: str | None = None) -> Depot: ...

    def model_for(self, policy: str, known: int) -> DistributionModelSet | None: ...

    def critical_requests(self, item: str, codes: Sequence[str], at: datetime, known: int) -> list[CriticalRequest]: ...
