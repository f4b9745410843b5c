"""The demo scenario: six weeks of a respiratory-epidemic surge in Denmark, loaded through
the public service layer exactly as operators would have recorded it.

`supply-ledger demo` and `supply-ledger serve --demo` call `load_demo`. The scenario is a
simulation run forward one day at a time: it keeps its own physical stock per depot and
item, decides deliveries from that stock, and records every step with `Ledger` commands.
Recording in business-time order means no decision is backdated, and because every
dispatch is capped by the simulated physical stock (never more than the book) the
service never refuses one. The stories a demo should show are scripted on top:

- a national stockpile, five regional warehouses, five university hospitals and five
  municipal home-care depots (Region Hovedstaden and Region Sjælland surge);
- consumption tripling in weeks 3-5 in the two surge regions, emergency deliveries from
  the national stockpile and mutual aid between regions;
- late consumption reports (recorded after later days, one of them before a count, so
  the count already absorbed it), counts with small variances, an expired lot;
- a transfer received with a loss in transit, a cancelled one, some still in transit;
- a delivery note entered twice, corrected the next day by an adjustment that names it;
- supply requests (fulfilled, withdrawn, open) and 90-day PPE obligations on regions;
- allocation decisions: emergency FFP2 shared by equal days of supply, gloves split by a
  region with a rationale that departs from the recommendation (dispatched in the same
  call), a propofol allocation later revoked, and an FFP3 allocation made while one
  hospital's reports were late, partly dispatched and still reserved at the end.

Everything is deterministic for a given `today`: a seeded RNG, dates relative to it.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from domain import commands as cmd
from domain import events as ev
from ledger import clock
from ledger.application import Context, Ledger
from ledger.outcomes import AllocationOutcome

ACTOR = "demo-loader"
COORDINATOR = "demo-coordinator"
"""Allocation decisions are the national logistics centre's, not the loader's."""
SEED = 2020
DAYS = 42
"""Six weeks of daily consumption, day 0 .. day 41; day 41 ends at midnight UTC of `today`."""

# --- reference data (names, units, categories and ATC codes from shared/data/items.csv) ----

ITEMS = (
    # code, name, unit, category, atc_code, pack (carton size for deliveries), shelf life in days
    ("FFP2", "FFP2 respirator", "piece", "ppe", None, 400, 5 * 365),
    ("FFP3", "FFP3 respirator", "piece", "ppe", None, 200, 5 * 365),
    ("MASK-IIR", "Surgical mask type IIR", "piece", "ppe", None, 2000, 5 * 365),
    ("GLOVE-NIT-M", "Nitrile examination glove size M", "piece", "ppe", None, 1000, 5 * 365),
    ("GOWN-ISO", "Fluid-resistant isolation gown", "piece", "ppe", None, 100, 5 * 365),
    ("PROPOFOL-20", "Propofol 10 mg/ml 20 ml", "vial", "medicine", "N01AX10", 50, 2 * 365),
)
PPE = tuple(code for code, _, _, category, *_ in ITEMS if category == "ppe")
PACK = {code: pack for code, *_, pack, _ in ITEMS}
SHELF_LIFE = {code: days for code, *_, days in ITEMS}

REGIONS = (
    # code, name, population (shared/data/regions.csv), days of total demand held at the start
    ("DK-84", "Region Hovedstaden", 1_880_000, 40),
    ("DK-85", "Region Sjælland", 850_000, 40),
    ("DK-83", "Region Syddanmark", 1_230_000, 50),
    ("DK-82", "Region Midtjylland", 1_350_000, 55),
    ("DK-81", "Region Nordjylland", 595_000, 45),
)

NATIONAL = "DK-NATIONAL"
NATIONAL_ORGANISATION = "NATIONAL"
OPERATOR_ORGANISATION = "DK-84"
"""The demo operator works for Region Hovedstaden: its warehouse and Rigshospitalet."""

LOCAL_DEPOTS = (
    # code, name, region, organisation, kind, population served (plausible catchments)
    ("DK-84-RH", "Rigshospitalet", "DK-84", "DK-84", "hospital", 560_000),
    ("DK-84-KBH", "Københavns Kommune, home care and nursing homes", "DK-84", "KOMMUNE-KBH", "municipal", 650_000),
    ("DK-85-SUH", "Sjællands Universitetshospital, Roskilde", "DK-85", "DK-85", "hospital", 300_000),
    (
        "DK-85-ROSKILDE",
        "Roskilde Kommune, home care and nursing homes",
        "DK-85",
        "KOMMUNE-ROSKILDE",
        "municipal",
        90_000,
    ),
    ("DK-83-OUH", "Odense Universitetshospital", "DK-83", "DK-83", "hospital", 420_000),
    ("DK-83-ODENSE", "Odense Kommune, home care and nursing homes", "DK-83", "KOMMUNE-ODENSE", "municipal", 205_000),
    ("DK-82-AUH", "Aarhus Universitetshospital", "DK-82", "DK-82", "hospital", 480_000),
    ("DK-82-AARHUS", "Aarhus Kommune, home care and nursing homes", "DK-82", "KOMMUNE-AARHUS", "municipal", 355_000),
    ("DK-81-AAUH", "Aalborg Universitetshospital", "DK-81", "DK-81", "hospital", 310_000),
    ("DK-81-AALBORG", "Aalborg Kommune, home care and nursing homes", "DK-81", "KOMMUNE-AALBORG", "municipal", 220_000),
)

DAILY_USE_PER_1000 = {
    # units used per day per 1,000 people served, by depot kind; the national stockpile uses none.
    # A regional warehouse issues to the wards and smaller hospitals that are not depots here.
    "regional": {"FFP2": 0.6, "FFP3": 0.2, "MASK-IIR": 4, "GLOVE-NIT-M": 30, "GOWN-ISO": 1.0, "PROPOFOL-20": 0.04},
    "hospital": {"FFP2": 1.5, "FFP3": 0.6, "MASK-IIR": 8, "GLOVE-NIT-M": 60, "GOWN-ISO": 3.0, "PROPOFOL-20": 0.25},
    "municipal": {"FFP2": 0.5, "MASK-IIR": 8, "GLOVE-NIT-M": 50, "GOWN-ISO": 1.0},
}
OBLIGATION_DAYS = 90
"""Regions must hold three months of PPE (the Norwegian rule from 2026, adopted here)."""

SURGE_REGIONS = ("DK-84", "DK-85")
SURGE = {range(0, 12): 1.0, range(12, 14): 1.8, range(14, 35): 3.0, range(35, 38): 2.0, range(38, DAYS): 1.5}
"""Consumption multiplier by day in the surge regions: it triples in weeks 3-5."""

LATE_REPORTS = (
    # depot, items (None: all it stocks), days whose reports arrive at the end, why
    ("DK-81-AALBORG", None, (11, 12), "home-care system offline; reported after the count of day 14"),
    ("DK-85-SUH", None, (38, 39), "ward reports delayed during the surge"),
    ("DK-83-OUH", ("PROPOFOL-20",), (40,), "ICU pharmacy report entered late"),
)

COUNT_DAYS = (14, 28)
"""Fortnightly counts, at 06:00, at every depot that holds the item."""

SUPPLIERS = {
    "FFP2": "Nordic Respiratory Protection A/S",
    "FFP3": "Nordic Respiratory Protection A/S",
    "MASK-IIR": "Scandinavian Medical Textiles ApS",
    "GLOVE-NIT-M": "Baltic Glove Trading Ltd",
    "GOWN-ISO": "Scandinavian Medical Textiles ApS",
    "PROPOFOL-20": "Pharma Nord Distribution A/S",
}

# Times of day (UTC) at which each kind of step happens; the order is the order of recording.
COUNT_AT = time(6)
SUPPLIER_AT = time(7, 30)
ARRIVAL_AT = time(8, 30)  # transfers dispatched on an earlier day
REQUEST_AT = time(9)
DISPATCH_AT = time(10)
CANCEL_AT = time(13)
LOCAL_ARRIVAL_AT = time(15)  # transfers within a region arrive the same afternoon
CLOSE_AT = time(16)


class DemoAlreadyLoaded(ValueError):
    """The demo only goes into an empty ledger: loading it twice would double every stock."""


@dataclass(frozen=True)
class DemoSummary:
    depots: int
    items: int
    events: int  # the ledger position after loading
    operator_organisation: str  # an organisation an operator demo token should get


def load_demo(
    ledger: Ledger, today: datetime | None = None, progress: Callable[[str], None] | None = None
) -> DemoSummary:
    """Load the scenario ending at `today` (default now) into an empty ledger."""
    if ledger.journal.depots():
        raise DemoAlreadyLoaded("the ledger already has depots: the demo is only loaded into an empty ledger")
    today = clock.now() if today is None else today
    if today.tzinfo is None:
        raise ValueError("today must be timezone-aware")
    if today > clock.now() + clock.FUTURE_TOLERANCE:
        raise ValueError("today may not be in the future: the ledger refuses events dated ahead")
    end = datetime.combine(today.astimezone(UTC).date(), time(0), UTC)
    scenario = _Scenario(ledger, start=end - timedelta(days=DAYS), progress=progress or (lambda _: None))
    scenario.run()
    return DemoSummary(
        depots=len(ledger.journal.depots()),
        items=len(ledger.journal.items()),
        events=ledger.position(),
        operator_organisation=OPERATOR_ORGANISATION,
    )


# --- the simulation ------------------------------------------------------------------------


@dataclass(frozen=True)
class DepotSpec:
    code: str
    name: str
    region: str
    organisation: str
    kind: str
    population: int

    @property
    def items(self) -> tuple[str, ...]:
        """What it holds: everything, except municipal home care (no FFP3, no anaesthetics)."""
        if self.kind == "municipal":
            return tuple(DAILY_USE_PER_1000["municipal"])
        return tuple(code for code, *_ in ITEMS)

    def base_rate(self, item: str) -> float:
        """Normal daily use before any surge."""
        return DAILY_USE_PER_1000.get(self.kind, {}).get(item, 0.0) * self.population / 1000


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


def _all_depots() -> list[DepotSpec]:
    national_population = sum(population for *_, population, _ in REGIONS)
    national = "National stockpile, Danish Medicines Agency"
    depots = [DepotSpec(NATIONAL, national, "DK", NATIONAL_ORGANISATION, "national", national_population)]
    for code, name, population, _ in REGIONS:
        depots.append(DepotSpec(f"{code}-CENTRAL", f"{name}, central warehouse", code, code, "regional", population))
    depots.extend(DepotSpec(*row) for row in LOCAL_DEPOTS)
    return depots


def _round_up(quantity: float, pack: int) -> int:
    return max(pack, math.ceil(quantity / pack) * pack)


def _round_down(quantity: float, pack: int) -> int:
    return max(0, math.floor(quantity / pack) * pack)


@dataclass
class _Scenario:
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
        self.depots = {depot.code: depot for depot in _all_depots()}

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

    # --- phases ------------------------------------------------------------------------------

    def recording_clock(self) -> datetime:
        """Each day is entered shortly after it ends (so it is not late), never ahead of the
        wall clock, and always after what was recorded before (positions keep time order)."""
        self.recorded = max(self.recorded + timedelta(microseconds=1), min(self.entered, clock.now()))
        return self.recorded

    def run(self) -> None:
        self.entered = self.recorded = self.at(0, time(0, 30))
        with ev.recorded_by(self.recording_clock):
            self._run()

    def _run(self) -> None:
        self.progress("reference data")
        self.reference_data()
        for day in range(DAYS):
            self.entered = self.at(day + 1, time(1))
            if day % 7 == 0:
                self.progress(f"week {day // 7 + 1} of {DAYS // 7}")
            if day in COUNT_DAYS:
                self.counts(day)
            self.supplier_receipts(day)
            self.scripted_correction(day)
            self.arrivals(day, ARRIVAL_AT)
            self.scripted_requests(day)
            self.scripted_transfers(day)
            self.scripted_allocations(day)
            self.national_deliveries(day)
            self.regional_deliveries(day)
            self.arrivals(day, LOCAL_ARRIVAL_AT)
            self.scripted_closures(day)
            self.daily_consumption(day)
        self.progress("late reports")
        self.entered = clock.now()  # they arrive today, days or weeks after they happened
        self.late_reports()

    def reference_data(self) -> None:
        """Items, depots and the regions' 90-day PPE obligations, in place before the first day."""
        before_day_0 = self.at(0, time(0))
        for code, name, unit, category, atc_code, *_ in ITEMS:
            self.ledger.define_item(
                cmd.DefineItem(code=code, name=name, unit=unit, category=category, atc_code=atc_code), self.ctx()
            )
        for depot in self.depots.values():
            self.ledger.register_depot(
                cmd.RegisterDepot(
                    code=depot.code,
                    name=depot.name,
                    region=depot.region,
                    organisation=depot.organisation,
                    kind=depot.kind,
                    population_served=depot.population,
                    occurred_at=before_day_0,
                ),
                self.ctx(),
            )
        for region, *_ in REGIONS:
            for item in PPE:
                self.ledger.set_obligation(
                    self.regional(region).code,
                    item,
                    cmd.SetObligation(min_days=OBLIGATION_DAYS, occurred_at=before_day_0),
                    self.ctx(),
                )

    def opening_stock(self) -> None:
        """Day 0: what each depot held when the scenario starts, as lots from earlier deliveries."""
        national_rate = {item: sum(d.base_rate(item) for d in self.consumers()) for item in PACK}
        for item, pack in PACK.items():
            total = _round_up(120 * national_rate[item], pack)
            old = _round_up(total * 0.2, pack)
            if item == "FFP2":  # bought in 2017 for a pandemic; expires during the scenario
                lot, expires_on = f"FFP2-1702-NS{self.rng.randint(10, 99)}", self.at(DAYS - 12, time(0)).date()
            else:
                lot, expires_on = self.new_lot(item, 0, months_old=SHELF_LIFE[item] // 30 - 9)
            self.receipt(
                NATIONAL,
                item,
                old,
                0,
                lot,
                expires_on,
                "Danish Medicines Agency (legacy stock)",
                "OPENING-BALANCE",
                note="Opening balance migrated from the previous stock system",
            )
            lot, expires_on = self.new_lot(item, 0, months_old=6)
            self.receipt(
                NATIONAL,
                item,
                total - old,
                0,
                lot,
                expires_on,
                SUPPLIERS[item],
                "OPENING-BALANCE",
                note="Opening balance migrated from the previous stock system",
            )
        for region, _, _, days in REGIONS:
            depot = self.regional(region)
            for item in depot.items:
                lot, expires_on = self.new_lot(item, 0, months_old=self.rng.randint(3, 18))
                self.receipt(
                    depot.code,
                    item,
                    _round_up(days * self.region_rate(region, item, 0), PACK[item]),
                    0,
                    lot,
                    expires_on,
                    SUPPLIERS[item],
                    "OPENING-BALANCE",
                )
            for local in self.local_depots(region):
                for item in local.items:
                    lot, expires_on = self.new_lot(item, 0, months_old=self.rng.randint(3, 18))
                    self.receipt(
                        local.code,
                        item,
                        _round_up(21 * local.base_rate(item), PACK[item]),
                        0,
                        lot,
                        expires_on,
                        SUPPLIERS[item],
                        "OPENING-BALANCE",
                    )

    def supplier_receipts(self, day: int) -> None:
        """Contracted weekly deliveries to the regions (normal demand only: the surge is not in
        the contracts), and two emergency purchases landing at the national stockpile."""
        if day == 0:
            self.opening_stock()
            return
        if day % 7 == 3:
            for region, *_ in REGIONS:
                for item in self.regional(region).items:
                    weekly = 7 * self.region_rate(region, item, 0)
                    quantity = _round_up(weekly * self.rng.uniform(0.9, 1.05), PACK[item])
                    lot, expires_on = self.new_lot(item, day, months_old=self.rng.randint(1, 6))
                    self.receipt(
                        self.regional(region).code,
                        item,
                        quantity,
                        day,
                        lot,
                        expires_on,
                        SUPPLIERS[item],
                        f"PO-{region}-{self.at(day, SUPPLIER_AT):%Y%m%d}-{item}",
                    )
        emergency = {19: ("FFP2", 1_200_000), 24: ("GLOVE-NIT-M", 30_000_000)}
        if day in emergency:
            item, quantity = emergency[day]
            lot, expires_on = self.new_lot(item, day, months_old=2)
            self.receipt(
                NATIONAL,
                item,
                quantity,
                day,
                lot,
                expires_on,
                "Overseas emergency procurement (air freight)",
                f"EMERGENCY-{self.at(day, SUPPLIER_AT):%Y%m%d}",
                note="Emergency purchase during the surge",
            )

    def scripted_correction(self, day: int) -> None:
        """A delivery note entered twice at Region Midtjylland's warehouse (the book shows stock
        that never arrived); the next day the duplicate is corrected by an adjustment that names
        it, dated when the duplicate was (so the book was never right in between)."""
        code, item = self.regional("DK-82").code, "FFP2"
        if day == 10:
            original = self.receipts[code, item]
            self.ledger.record_receipt(code, original.model_copy(update={"note": None}), self.ctx())
            self.duplicate = self.ledger.position()  # the physical stock does not change
        elif day == 11 and self.duplicate is not None:
            quantity = self.receipts[code, item].quantity
            self.ledger.adjust_stock(
                code,
                cmd.AdjustStock(
                    item=item,
                    quantity=-quantity,
                    reason="correction",
                    corrects=f"pos:{self.duplicate}",
                    note=f"Delivery note {self.receipts[code, item].reference} was entered twice",
                ),
                self.ctx(),
            )

    def arrivals(self, day: int, when: time) -> None:
        for transit in [t for t in self.transits if t.arrive_day == day and t.arrive_at == when]:
            self.receive(transit, day)

    def national_deliveries(self, day: int) -> None:
        """The national stockpile tops a region up to five weeks of its current demand when
        the region's warehouse (with what is on its way) falls below three weeks."""
        for region, *_ in REGIONS:
            warehouse = self.regional(region)
            lines = {}
            for item in warehouse.items:
                demand = self.region_rate(region, item, day)
                position = self.stock[warehouse.code, item] + self.in_transit_to(warehouse.code, item)
                if position < 21 * demand:
                    want = _round_up(35 * demand - position, PACK[item])
                    lines[item] = min(want, _round_down(self.usable_national(item, day), PACK[item]))
            if any(lines.values()):
                self.dispatch(
                    NATIONAL,
                    warehouse.code,
                    lines,
                    day,
                    day + 1,
                    national_lots=True,
                    reference=f"NATIONAL-{region}-{self.at(day, DISPATCH_AT):%Y%m%d}",
                    note="National stockpile release: regional stock under three weeks",
                )

    def regional_deliveries(self, day: int) -> None:
        """Each warehouse tops its hospital and municipality up to two weeks of current use:
        weekly, and on any day one of them drops under four days."""
        for region, *_ in REGIONS:
            warehouse = self.regional(region)
            for local in self.local_depots(region):
                lines = {}
                for item in local.items:
                    use = self.rate(local, item, day)
                    position = self.stock[local.code, item] + self.in_transit_to(local.code, item)
                    if (day % 7 == 0 and position < 14 * use) or position < 4 * use:
                        spare = self.stock[warehouse.code, item] - 2 * self.rate(warehouse, item, day)
                        lines[item] = min(_round_up(14 * use - position, PACK[item]), _round_down(spare, PACK[item]))
                if any(lines.values()):
                    kind = "WEEKLY" if day % 7 == 0 else "URGENT"
                    self.dispatch(
                        warehouse.code,
                        local.code,
                        lines,
                        day,
                        day,
                        reference=f"{kind}-{local.code}-{self.at(day, DISPATCH_AT):%Y%m%d}",
                    )

    def daily_consumption(self, day: int) -> None:
        """One report per depot and item for the day, dated at midnight; some arrive late."""
        weekend = self.at(day, time(12)).weekday() >= 5
        for depot in self.consumers():
            for item in depot.items:
                demand = self.rate(depot, item, day) * self.rng.uniform(0.85, 1.15)
                if weekend and depot.kind != "municipal":  # fewer planned procedures at weekends
                    demand *= 0.75
                quantity = min(round(demand), self.stock[depot.code, item])
                if quantity <= 0:
                    continue
                self.stock[depot.code, item] -= quantity
                why = self.late_reason(depot.code, item, day)
                if why is None:
                    self.report(depot.code, item, quantity, day)
                else:
                    self.late.append((depot.code, item, quantity, day, why))

    def late_reason(self, code: str, item: str, day: int) -> str | None:
        for depot, items, days, why in LATE_REPORTS:
            if depot == code and day in days and (items is None or item in items):
                return why
        return None

    def late_reports(self) -> None:
        """Recorded last: their days are before events already in the ledger."""
        for code, item, quantity, day, why in self.late:
            self.report(code, item, quantity, day, note=f"Late report: {why}")

    def counts(self, day: int) -> None:
        """Fortnightly counts find a little less than the book (breakage, unrecorded use)."""
        for depot in self.depots.values():
            if depot.kind == "national" and day != COUNT_DAYS[-1]:
                continue
            for item in depot.items:
                physical = self.stock[depot.code, item]
                if depot.kind != "national":
                    physical = max(0, physical - round(physical * self.rng.uniform(-0.001, 0.004)))
                    self.stock[depot.code, item] = physical
                self.ledger.count_stock(
                    depot.code,
                    cmd.CountStock(item=item, counted=physical, occurred_at=self.at(day, COUNT_AT)),
                    self.ctx(),
                )

    # --- scripted stories --------------------------------------------------------------------

    def scripted_requests(self, day: int) -> None:
        """A hospital's critical FFP3 request (fulfilled), a municipality's gown request (later
        withdrawn), and a region asking the nation for FFP2 (still open)."""
        requests = {
            15: ("rh-ffp3", "DK-84-RH", "FFP3", "critical", 2, "ICU expansion: FFP3 for two new cohort wards"),
            20: ("odense-gowns", "DK-83-ODENSE", "GOWN-ISO", "normal", 7, "Nursing homes: outbreak isolation"),
            33: ("dk85-ffp2", "DK-85-CENTRAL", "FFP2", "high", 10, "Rebuild the 90-day obligation after the surge"),
        }
        if day not in requests:
            return
        label, code, item, priority, days_needed, note = requests[day]
        quantity = _round_up(10 * self.rate(self.depots[code], item, day), PACK[item])
        outcome, _ = self.ledger.request_supply(
            code,
            cmd.RequestSupply(
                item=item,
                quantity=quantity,
                priority=priority,
                needed_by=self.at(day + days_needed, time(12)),
                occurred_at=self.at(day, REQUEST_AT),
                note=note,
            ),
            self.ctx(),
        )
        request_id = outcome.request_id
        assert request_id is not None, "a supply request's outcome names the request"
        self.requests[label] = (code, request_id)
        if label == "rh-ffp3":  # Region Hovedstaden answers at once from its warehouse
            spare = _round_down(self.stock["DK-84-CENTRAL", item] * 0.4, PACK[item])
            self.dispatch(
                "DK-84-CENTRAL",
                code,
                {item: min(quantity, spare)},
                day,
                day,
                reference=request_id,
                note="Answer to the critical FFP3 request",
            )

    def scripted_closures(self, day: int) -> None:
        closures = {15: ("rh-ffp3", "fulfilled", None), 24: ("odense-gowns", "withdrawn", "Covered by weekly delivery")}
        if day in closures:
            label, outcome, note = closures[day]
            code, request_id = self.requests[label]
            self.ledger.close_request(
                code,
                request_id,
                cmd.CloseRequest(outcome=outcome, occurred_at=self.at(day, CLOSE_AT), note=note),
                self.ctx(),
            )

    def allocate(
        self, source: str, item: str, quantity: int, recipients: list[str], policy: str, day: int, **choices: object
    ) -> AllocationOutcome:
        """A coordinator's decision at 09:30, on the ledger as it is known then."""
        body = {
            "from": source,
            "item": item,
            "quantity": quantity,
            "recipients": recipients,
            "policy": policy,
            "occurred_at": self.at(day, time(9, 30)),
            **choices,
        }
        outcome, _ = self.ledger.decide_allocation(cmd.DecideAllocation.model_validate(body), self.ctx(COORDINATOR))
        if source == NATIONAL and not choices.get("dispatch"):
            self.reserved[item] += quantity
        return outcome

    def dispatch_allocated(
        self, allocation: AllocationOutcome, recipients: list[str], day: int, reference: str
    ) -> None:
        """The stockpile ships these recipients' lines of an allocation, lot by lot, against it."""
        for line in allocation.lines:
            if line.to in recipients and line.quantity:
                self.reserved[allocation.item] -= line.quantity
                self.dispatch(
                    NATIONAL,
                    line.to,
                    {allocation.item: line.quantity},
                    day,
                    day + 1,
                    national_lots=True,
                    allocation_id=allocation.allocation_id,
                    reference=f"{reference}-{line.to}",
                )

    def scripted_allocations(self, day: int) -> None:
        """The national logistics centre's decisions, and one region's."""
        if day == 20:  # the emergency FFP2 (landed yesterday) shared by equal days of supply
            regions = [self.regional(region).code for region, *_ in REGIONS]
            allocation = self.allocate(NATIONAL, "FFP2", 300_000, regions, "equal_days_of_supply", day)
            self.dispatch_allocated(allocation, regions, day, "ALLOC-FFP2")
        elif day == 30:  # Hovedstaden's warehouse splits gloves, favouring the ICU, and ships at once
            central, item = "DK-84-CENTRAL", "GLOVE-NIT-M"
            quantity = _round_down(self.stock[central, item] * 0.1, 10 * PACK[item])
            chosen = [
                {"to": "DK-84-RH", "quantity": quantity * 6 // 10},
                {"to": "DK-84-KBH", "quantity": quantity * 4 // 10},
            ]
            allocation = self.allocate(
                central,
                item,
                quantity,
                ["DK-84-RH", "DK-84-KBH"],
                "proportional_to_population",
                day,
                lines=chosen,
                dispatch=True,
                rationale="Cohort wards at Rigshospitalet use far more gloves per patient than home "
                "care; Copenhagen's home care has a supplier delivery due on Monday",
            )
            for transfer in allocation.transfers or []:
                self.stock[central, item] -= transfer.quantity
                self.transits.append(
                    Transit(
                        transfer.transfer_id, central, transfer.to, {item: transfer.quantity}, day, LOCAL_ARRIVAL_AT
                    )
                )
        elif day == 36:  # propofol for the ICUs by population, revoked the next day
            hospitals = sorted(d.code for d in self.depots.values() if d.kind == "hospital")
            self.revoking = self.allocate(NATIONAL, "PROPOFOL-20", 2_000, hospitals, "proportional_to_population", day)
        elif day == 37 and self.revoking is not None:
            self.ledger.revoke_allocation(
                self.revoking.allocation_id,
                cmd.RevokeAllocation(
                    reason="ICU admissions fell; the wholesaler now delivers to the hospitals directly",
                    occurred_at=self.at(day, time(11)),
                ),
                self.ctx(COORDINATOR),
            )
            self.reserved[self.revoking.item] -= self.revoking.quantity
        elif day == 39:  # FFP3 for three ICUs while Sjællands Universitetshospital's reports are late
            allocation = self.allocate(
                NATIONAL, "FFP3", 6_000, ["DK-83-OUH", "DK-84-RH", "DK-85-SUH"], "equal_days_of_supply", day
            )
            self.dispatch_allocated(allocation, ["DK-84-RH"], day, "ALLOC-FFP3")  # the rest stays reserved

    def scripted_transfers(self, day: int) -> None:
        """Mutual aid between regions (one loses a carton in transit, one is cancelled),
        a damaged-goods write-off, and deliveries still on the road when the demo ends."""
        if day == 18:  # Midtjylland helps Hovedstaden; two cartons of FFP2 go missing on the way
            transit = self.dispatch(
                "DK-82-CENTRAL",
                "DK-84-CENTRAL",
                {
                    "FFP2": _round_down(self.stock["DK-82-CENTRAL", "FFP2"] * 0.2, PACK["FFP2"]),
                    "GOWN-ISO": _round_down(self.stock["DK-82-CENTRAL", "GOWN-ISO"] * 0.15, PACK["GOWN-ISO"]),
                },
                day,
                day + 1,
                reference="MUTUAL-AID-DK82-DK84",
                note="Mutual aid agreed by the regional crisis staffs",
            )
            transit.received = dict(transit.lines, FFP2=transit.lines["FFP2"] - 2 * PACK["FFP2"])
            transit.note = "Two cartons of FFP2 missing on arrival; reported to the carrier"
        elif day == 22:  # Syddanmark offers masks to Sjælland, then the truck is needed at home
            transit = self.dispatch(
                "DK-83-CENTRAL",
                "DK-85-CENTRAL",
                {
                    "MASK-IIR": _round_down(self.stock["DK-83-CENTRAL", "MASK-IIR"] * 0.15, PACK["MASK-IIR"]),
                },
                day,
                None,
                reference="MUTUAL-AID-DK83-DK85",
            )
            self.cancel(transit, day, "Recalled before departure: outbreak in Odense nursing homes")
        elif day == 24:
            self.adjust(
                "DK-83-OUH",
                "GOWN-ISO",
                -min(300, self.stock["DK-83-OUH", "GOWN-ISO"]),
                "damaged",
                day,
                time(11),
                "Water leak in basement store: three cartons destroyed",
            )
        elif day == 26:  # Nordjylland sends gloves to Sjælland: two days by road
            self.dispatch(
                "DK-81-CENTRAL",
                "DK-85-CENTRAL",
                {
                    "GLOVE-NIT-M": _round_down(self.stock["DK-81-CENTRAL", "GLOVE-NIT-M"] * 0.2, PACK["GLOVE-NIT-M"]),
                },
                day,
                day + 2,
                reference="MUTUAL-AID-DK81-DK85",
            )
        elif day == DAYS - 11:  # the expired 2017 FFP2 lot: part fails inspection and is destroyed
            lot = min(self.national_lots["FFP2"], key=lambda lot: lot.expires_on)
            destroyed = _round_down(lot.quantity * 0.1, PACK["FFP2"])
            lot.quantity -= destroyed
            self.adjust(
                NATIONAL,
                "FFP2",
                -destroyed,
                "expired",
                day,
                time(11),
                f"Lot {lot.lot} expired on {lot.expires_on}: straps perished in samples; cartons destroyed, "
                "the rest held for shelf-life extension testing",
            )
        elif day == DAYS - 1:  # on the road tonight: national gowns for Sjælland, aid for Hovedstaden
            self.dispatch(
                NATIONAL,
                "DK-85-CENTRAL",
                {"GOWN-ISO": 20_000, "FFP2": 40_000},
                day,
                None,
                national_lots=True,
                reference="NATIONAL-DK-85-REBUILD",
                note="Rebuilding Region Sjælland's obligation stock",
            )
            self.dispatch(
                "DK-83-CENTRAL",
                "DK-84-CENTRAL",
                {
                    "FFP3": _round_down(self.stock["DK-83-CENTRAL", "FFP3"] * 0.1, PACK["FFP3"]),
                },
                day,
                None,
                reference="MUTUAL-AID-DK83-DK84",
            )
