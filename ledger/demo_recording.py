"""What the demo scenario keeps as it plays (the physical stock, lots, shipments on the road,
requests, reservations) and the steps it records through `Ledger` commands, each keeping that
state in line with what was recorded. The days themselves are `ledger.demo`'s."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from domain import commands as cmd
from ledger.application import Context, Ledger
from ledger.demo_world import (
    ACTOR,
    ARRIVAL_AT,
    CANCEL_AT,
    DISPATCH_AT,
    LOCAL_ARRIVAL_AT,
    NATIONAL,
    SEED,
    SHELF_LIFE,
    SUPPLIER_AT,
    SURGE,
    SURGE_REGIONS,
    DepotSpec,
    all_depots,
)
from ledger.outcomes import AllocationOutcome


@dataclass
class Transit:
    transfer_id: str
    source: str
    destination: str
    lines: dict[str, int]
    arrive_day: int | None  # None: still on its way when the demo ends
    arrive_at: time = ARRIVAL_AT
    received: dict[str, int] | None = None  # None: everything arrives
    note: str | None = None


@dataclass
class Lot:
    lot: str
    expires_on: date
    quantity: int


@dataclass
class ScenarioRecorder:
    ledger: Ledger
    start: datetime
    progress: Callable[[str], None]
    rng: random.Random = field(default_factory=lambda: random.Random(SEED))
    depots: dict[str, DepotSpec] = field(default_factory=dict)
    stock: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    """Physical stock: what a count would find. The book is never lower (use not yet reported)."""
    national_lots: dict[str, list[Lot]] = field(default_factory=dict)
    transits: list[Transit] = field(default_factory=list)
    requests: dict[str, tuple[str, str]] = field(default_factory=dict)
    late: list[tuple[str, str, int, int, str]] = field(default_factory=list)
    reserved: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    """National stock reserved by allocations and not yet dispatched, per item."""
    revoking: AllocationOutcome | None = None
    receipts: dict[tuple[str, str], cmd.RecordReceipt] = field(default_factory=dict)
    """The last receipt recorded per depot and item (so one can be entered twice by mistake)."""
    duplicate: int | None = None
    entered: datetime = field(init=False)
    """When the day being played is entered (see `recording_clock`); set by `run`."""
    recorded: datetime = field(init=False)
    """When the last event was recorded; set by `run`."""

    def __post_init__(self) -> None:
        self.depots = {depot.code: depot for depot in all_depots()}

    # --- helpers ---------------------------------------------------------------------------

    @staticmethod
    def ctx(actor: str = ACTOR) -> Context:
        """A fresh context per command, so every command has its own command id."""
        return Context(actor=actor, source="demo")

    def at(self, day: int, when: time) -> datetime:
        return datetime.combine((self.start + timedelta(days=day)).date(), when, UTC)

    def regional(self, region: str) -> DepotSpec:
        return self.depots[f"{region}-CENTRAL"]

    def local_depots(self, region: str) -> list[DepotSpec]:
        return [d for d in self.depots.values() if d.region == region and d.kind in ("hospital", "municipal")]

    def consumers(self) -> list[DepotSpec]:
        return [d for d in self.depots.values() if d.kind != "national"]

    def surge(self, region: str, day: int) -> float:
        if region not in SURGE_REGIONS:
            return 1.0
        return next(factor for days, factor in SURGE.items() if day in days)

    def rate(self, depot: DepotSpec, item: str, day: int) -> float:
        return depot.base_rate(item) * self.surge(depot.region, day)

    def region_rate(self, region: str, item: str, day: int) -> float:
        """What a regional warehouse must cover: its own issues and its local depots'."""
        return sum(self.rate(d, item, day) for d in [self.regional(region), *self.local_depots(region)])

    def in_transit_to(self, code: str, item: str) -> int:
        return sum(t.lines.get(item, 0) for t in self.transits if t.destination == code)

    def new_lot(self, item: str, day: int, months_old: int = 0) -> tuple[str, date]:
        received = self.at(day, SUPPLIER_AT).date()
        made = received - timedelta(days=30 * months_old + self.rng.randint(20, 120))
        return f"{item}-{made:%y%m}-{self.rng.randint(100, 999)}", made + timedelta(days=SHELF_LIFE[item])

    # --- recording ---------------------------------------------------------------------------

    def receipt(
        self,
        code: str,
        item: str,
        quantity: int,
        day: int,
        lot: str,
        expires_on: date,
        supplier: str,
        reference: str,
        note: str | None = None,
    ) -> None:
        command = cmd.RecordReceipt(
            item=item,
            quantity=quantity,
            lot=lot,
            expires_on=expires_on,
            supplier=supplier,
            reference=reference,
            occurred_at=self.at(day, SUPPLIER_AT),
            note=note,
        )
        self.ledger.record_receipt(code, command, self.ctx())
        self.receipts[code, item] = command
        self.stock[code, item] += quantity
        if code == NATIONAL:
            self.national_lots.setdefault(item, []).append(Lot(lot, expires_on, quantity))

    def report(self, code: str, item: str, quantity: int, day: int, note: str | None = None) -> None:
        period_end = self.at(day + 1, time(0))
        self.ledger.report_consumption(
            code,
            cmd.ReportConsumption(
                item=item,
                quantity=quantity,
                period_start=period_end - timedelta(days=1),
                period_end=period_end,
                note=note,
            ),
            self.ctx(),
        )

    def dispatch(
        self,
        source: str,
        destination: str,
        lines: dict[str, int],
        day: int,
        arrive_day: int | None,
        *,
        reference: str,
        note: str | None = None,
        national_lots: bool = False,
        allocation_id: str | None = None,
    ) -> Transit:
        """Send stock the simulation knows is physically there, so the service never refuses it."""
        lines = {item: quantity for item, quantity in lines.items() if quantity > 0}
        for item, quantity in lines.items():
            assert quantity <= self.stock[source, item], (source, item, quantity, self.stock[source, item])
        line_rows = []
        for item, quantity in sorted(lines.items()):
            if national_lots:
                picked = self.pick_lots(item, quantity, day)
                line_rows += [{"item": item, "quantity": q, "lot": lot} for lot, q in picked]
            else:
                line_rows.append({"item": item, "quantity": quantity})
            self.stock[source, item] -= quantity
        command = cmd.DispatchTransfer.model_validate(
            {
                "from": source,
                "to": destination,
                "lines": line_rows,
                "reference": reference,
                "occurred_at": self.at(day, DISPATCH_AT),
                "note": note,
                "allocation_id": allocation_id,
            }
        )
        outcome, _ = self.ledger.dispatch_transfer(command, self.ctx())
        same_region = self.depots[source].region == self.depots[destination].region
        transit = Transit(
            outcome.transfer_id, source, destination, lines, arrive_day, LOCAL_ARRIVAL_AT if same_region else ARRIVAL_AT
        )
        self.transits.append(transit)
        return transit

    def pick_lots(self, item: str, quantity: int, day: int) -> list[tuple[str, int]]:
        """First expiry first out, but never a lot that expires within 60 days of shipping."""
        usable_from = self.at(day, DISPATCH_AT).date() + timedelta(days=60)
        picked = []
        for lot in sorted(self.national_lots[item], key=lambda lot: lot.expires_on):
            if quantity == 0:
                break
            if lot.expires_on < usable_from or lot.quantity == 0:
                continue
            take = min(lot.quantity, quantity)
            lot.quantity -= take
            quantity -= take
            picked.append((lot.lot, take))
        assert quantity == 0, f"the national stockpile has no usable {item} left"
        return picked

    def usable_national(self, item: str, day: int) -> int:
        """What national releases may take: usable lots, less what allocations reserved."""
        usable_from = self.at(day, DISPATCH_AT).date() + timedelta(days=60)
        usable = sum(lot.quantity for lot in self.national_lots[item] if lot.expires_on >= usable_from)
        return usable - self.reserved[item]

    def receive(self, transit: Transit, day: int) -> None:
        lines = None
        if transit.received is not None:
            lines = [{"item": item, "quantity_received": q} for item, q in sorted(transit.received.items())]
        self.ledger.receive_transfer(
            transit.transfer_id,
            cmd.ReceiveTransfer(lines=lines, occurred_at=self.at(day, transit.arrive_at), note=transit.note),
            self.ctx(),
        )
        for item, quantity in (transit.received or transit.lines).items():
            self.stock[transit.destination, item] += quantity
        self.transits.remove(transit)

    def cancel(self, transit: Transit, day: int, reason: str) -> None:
        self.ledger.cancel_transfer(
            transit.transfer_id, cmd.CancelTransfer(reason=reason, occurred_at=self.at(day, CANCEL_AT)), self.ctx()
        )
        for item, quantity in transit.lines.items():
            self.stock[transit.source, item] += quantity
        self.transits.remove(transit)

    def adjust(self, code: str, item: str, quantity: int, reason: str, day: int, when: time, note: str) -> None:
        self.ledger.adjust_stock(
            code,
            cmd.AdjustStock(item=item, quantity=quantity, reason=reason, occurred_at=self.at(day, when), note=note),
            self.ctx(),
        )
        self.stock[code, item] += quantity
