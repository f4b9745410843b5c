"""The event catalogue: the permanent contract of what the ledger stores.

Events are frozen pydantic models so that they are typed and validated when they
are written and when they are read back, whatever the backend. Names and fields are
stored forever: change them only with an upcaster.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal
from uuid import UUID

from eventsourcing.domain import datetime_now_with_tzinfo
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from domain.obligations import Basis, ObligationTerms
from domain.policies import AnyPolicy, Policy

Source = Literal["api", "import", "inject", "demo", "console"]
DepotKind = Literal["national", "regional", "municipal", "hospital", "wholesaler", "pharmacy", "other"]
ItemCategory = Literal["ppe", "medicine", "consumable", "equipment"]
AdjustmentReason = Literal["damaged", "expired", "lost", "found", "correction", "other"]
Priority = Literal["critical", "high", "normal"]
RequestOutcome = Literal["fulfilled", "withdrawn"]


class Immutable(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


_recording_clock: ContextVar[Callable[[], datetime]] = ContextVar("recording_clock", default=datetime_now_with_tzinfo)


def recording_time() -> datetime:
    """When a new event is recorded: now, except inside `recorded_by` (a simulated history)."""
    return _recording_clock.get()()


@contextmanager
def recorded_by(clock: Callable[[], datetime]) -> Iterator[None]:
    """Stamp the events created inside with `clock` instead of the wall clock: the demo
    replays six weeks as if each day had been entered shortly after it happened."""
    token = _recording_clock.set(clock)
    try:
        yield
    finally:
        _recording_clock.reset(token)


class StoredEvent(Immutable):
    """What the library needs of every event: whose it is, in which order, and when it was recorded."""

    originator_id: UUID
    originator_version: int
    timestamp: datetime = Field(default_factory=recording_time)

    @property
    def recorded_at(self) -> datetime:
        return self.timestamp


LATE_AFTER = timedelta(hours=24)
"""A report recorded more than this after it happened is late: the ledger did not know it in time."""


def delay_hours(occurred_at: datetime, recorded_at: datetime) -> float:
    """How long after it happened a report was recorded, in hours to one decimal, as reports show it."""
    return round((recorded_at - occurred_at).total_seconds() / 3600, 1)


class LedgerEvent(StoredEvent):
    """The common envelope: when it happened in the world, who recorded it, from where, under which command."""

    occurred_at: AwareDatetime
    actor: str
    source: Source
    command_id: str
    note: str | None = None

    @property
    def is_late(self) -> bool:
        return self.timestamp - self.occurred_at > LATE_AFTER


class Snapshot(StoredEvent):
    """The library's snapshot of an aggregate: its state dumped as JSON-able data."""

    topic: str
    state: dict[str, Any]

    @classmethod
    def take(cls, aggregate: Any) -> Snapshot:
        from eventsourcing.utils import get_topic

        return cls(
            originator_id=aggregate.id,
            originator_version=aggregate.version,
            topic=get_topic(type(aggregate)),
            state=aggregate.model_dump(mode="json"),
        )


# --- Item catalogue -------------------------------------------------------------------


class ItemDefined(LedgerEvent):
    code: str
    name: str
    unit: str
    category: ItemCategory
    atc_code: str | None = None
    gtins: tuple[str, ...] = ()
    """The item's GS1 trade item numbers, each as GTIN-14 (`domain.gs1`); none before they existed."""


class ItemGtinsSet(LedgerEvent):
    """On the item: from now on its GTINs (each a GTIN-14) are these, and only these."""

    gtins: tuple[str, ...]


# --- Depot ------------------------------------------------------------------------------


class DepotRegistered(LedgerEvent):
    code: str
    name: str
    region: str
    organisation: str
    kind: DepotKind
    population_served: int | None = None


class ObligationSet(LedgerEvent):
    """An item's obligation at the depot, on one basis (`domain.obligations`). Events stored before
    bases existed hold only `min_days`: the defaults read them as recent_consumption, as they meant."""

    item: str
    min_days: int | None = None  # None only on annual_average, which counts in years
    basis: Basis = "recent_consumption"
    share_of_year: float | None = None  # annual_average
    years: int | None = None  # annual_average
    exclude_years: tuple[int, ...] = ()  # annual_average: abnormal years, replaced by earlier ones
    daily_quantity: float | None = None  # fixed_daily

    @property
    def terms(self) -> ObligationTerms:
        return ObligationTerms(
            self.basis, self.min_days, self.share_of_year, self.years, self.exclude_years, self.daily_quantity
        )


class ReceiptRecorded(LedgerEvent):
    item: str
    quantity: int
    lot: str | None = None
    expires_on: date | None = None
    supplier: str | None = None
    reference: str | None = None


class ConsumptionReported(LedgerEvent):
    item: str
    quantity: int
    period_start: AwareDatetime
    period_end: AwareDatetime


class StockCounted(LedgerEvent):
    item: str
    counted: int
    book_at_recording: int


class StockAdjusted(LedgerEvent):
    item: str
    quantity: int
    reason: AdjustmentReason
    corrects: str | None = None


class SupplyRequested(LedgerEvent):
    request_id: str
    item: str
    quantity: int
    needed_by: AwareDatetime | None = None
    priority: Priority = "normal"


class SupplyRequestClosed(LedgerEvent):
    request_id: str
    outcome: RequestOutcome


class TransferLine(Immutable):
    item: str
    quantity: int
    lot: str | None = None
    # The lot's expiry as the source knew it at dispatch: written by events stored before views
    # resolved a lot's expiry for their own cut (from the receipts that state it); read by nothing.
    expires_on: date | None = None


class DrawnLot(Immutable):
    """What a dispatch took from one lot at the source (`lot` None: stock of no known lot):
    the named lots, and for lines naming none what first-expiry-first-out drew, as the source's
    fold stood at the dispatch's time when it was recorded. The destination receives these lots,
    and a cancellation returns them."""

    item: str
    lot: str | None
    quantity: int


class ReceivedLine(Immutable):
    item: str
    quantity_dispatched: int
    quantity_received: int

    @property
    def shortfall(self) -> int:
        return self.quantity_dispatched - self.quantity_received


class TransferDispatched(LedgerEvent):
    """On the source: stock leaves on_hand and is in transit."""

    transfer_id: str
    counterpart: str
    lines: tuple[TransferLine, ...]
    allocation_id: str | None = None
    reference: str | None = None
    drawn: tuple[DrawnLot, ...] = ()  # empty in events stored before it was recorded: see `drawn_lots`


class TransferExpected(LedgerEvent):
    """On the destination, in the same transaction as the dispatch: stock is on its way."""

    transfer_id: str
    counterpart: str
    lines: tuple[TransferLine, ...]
    allocation_id: str | None = None
    reference: str | None = None
    drawn: tuple[DrawnLot, ...] = ()  # empty in events stored before it was recorded: see `drawn_lots`


def drawn_lots(event: TransferDispatched | TransferExpected) -> tuple[DrawnLot, ...]:
    """The lots a dispatch drew; for an event stored before they were recorded, each line's
    own lot (None where it named none: stock of no known lot)."""
    return event.drawn or tuple(DrawnLot(item=line.item, lot=line.lot, quantity=line.quantity) for line in event.lines)


class TransferReceived(LedgerEvent):
    """On the destination: what arrived lands on hand."""

    transfer_id: str
    lines: tuple[ReceivedLine, ...]


class TransferDelivered(LedgerEvent):
    """On the source, with the receipt: closes its side; any shortfall is a loss in transit."""

    transfer_id: str
    lines: tuple[ReceivedLine, ...]


class TransferCancelled(LedgerEvent):
    """On both depots: nothing arrives, the stock returns to the source."""

    transfer_id: str
    reason: str


class AllocationLine(Immutable):
    to: str
    quantity: int


class AllocationInput(Immutable):
    """A recipient's figures as the policy read them at the decision's cut: stored with the
    decision, so an auditor sees what the coordinator saw without recomputing anything."""

    depot: str
    on_hand: int
    consumed_14d: int
    population_served: int | None = None


class RequestFill(Immutable):
    """Units of a decision under a distribution model that went to a critical request first."""

    request_id: str
    to: str
    quantity: int


class AllocationDecided(LedgerEvent):
    """On the source: the quantity is reserved there until dispatched against it or revoked.

    Under a distribution model (`policy` = `model:NAME@VERSION`) `quantity` is what the lines
    allocate, and `reserve` what the model kept at the source out of the quantity asked for
    (so the replay splits `quantity + reserve` again); `requests_filled` are the critical
    requests it served first, which later decisions no longer count as open."""

    allocation_id: str
    item: str
    quantity: int
    policy: AnyPolicy
    basis_position: int
    basis_known_at: AwareDatetime | None = None
    recipients: tuple[str, ...]
    recommended_lines: tuple[AllocationLine, ...]
    lines: tuple[AllocationLine, ...]
    rationale: str | None = None
    inputs: tuple[AllocationInput, ...] = ()
    reserve: int | None = None
    requests_filled: tuple[RequestFill, ...] = ()


class AllocationRevoked(LedgerEvent):
    """On the source: what was still reserved (`released`) is available again."""

    allocation_id: str
    reason: str
    item: str
    released: int


# --- Shortage watch (alerts) -------------------------------------------------------------


class AlertScope(Immutable):
    """Where an alert rule applies: every given member must match (none given: everywhere).
    The most specific rule wins: depot, then region, then item, then category."""

    category: ItemCategory | None = None
    item: str | None = None
    region: str | None = None
    depot: str | None = None


class AlertRuleSet(LedgerEvent):
    """On the alert rules aggregate: from `occurred_at` on, `kind` alerts within `scope` use
    `threshold` (days, hours or a share, as the kind measures it) instead of the default."""

    kind: str
    threshold: float
    scope: AlertScope = AlertScope()


class AlertAcknowledged(LedgerEvent):
    """On the depot: someone saw an open alert (its episode's `alert_id`) and says what is being done."""

    alert_id: str
    kind: str
    item: str | None = None


# --- Imports -------------------------------------------------------------------------------------


class ImportRecorded(LedgerEvent):
    """On the import's own aggregate (its id derived from who imported and the file's content,
    so the same file again collides with it), saved in the same transaction as the events
    its rows became: who imported which file, when, and how many rows and events it held."""

    kind: str
    file_name: str | None = None
    content_hash: str
    rows: int
    events: int


# --- Distribution models -----------------------------------------------------------------


class ModelSector(Immutable):
    """A sector of a distribution model: the depot kinds it holds and its share of the quantity."""

    name: str
    kinds: tuple[DepotKind, ...]
    share: Decimal


class DistributionModelSet(LedgerEvent):
    """A version of a distribution model (DESIGN.md, "Distribution models") on the ledger's one
    distribution models aggregate (`domain.ids.distribution_models_id`). Shares and reserve are
    exact decimals summing to 1; `within` splits each sector among its recipients."""

    name: str
    version: int
    sectors: tuple[ModelSector, ...]
    reserve: Decimal
    within: Policy
    requests_first: bool = False

    @property
    def policy(self) -> str:
        """What a decision under this version stores as its policy."""
        return f"model:{self.name}@{self.version}"


class DistributionModelDefined(DistributionModelSet):
    """Version 1 of a model."""


class DistributionModelRevised(DistributionModelSet):
    """A later version of a model: decisions taken under earlier versions keep theirs."""


# --- The catalogue: every event a ledger stores, by name ----------------------------------

DEPOT_EVENTS: tuple[type[LedgerEvent], ...] = (
    DepotRegistered,
    ObligationSet,
    ReceiptRecorded,
    ConsumptionReported,
    StockCounted,
    StockAdjusted,
    SupplyRequested,
    SupplyRequestClosed,
    TransferDispatched,
    TransferExpected,
    TransferReceived,
    TransferDelivered,
    TransferCancelled,
    AllocationDecided,
    AllocationRevoked,
    AlertAcknowledged,
)
ALL_EVENTS: tuple[type[LedgerEvent], ...] = (
    ItemDefined,
    ItemGtinsSet,
    *DEPOT_EVENTS,
    AlertRuleSet,
    ImportRecorded,
    DistributionModelDefined,
    DistributionModelRevised,
)
EVENTS_BY_NAME: dict[str, type[LedgerEvent]] = {cls.__name__: cls for cls in ALL_EVENTS}
