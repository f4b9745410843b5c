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

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from domain import commands as cmd
from domain import events as ev
from ledger import clock
from ledger.application import Ledger
from ledger.demo_stories import ScriptedStories
from ledger.demo_world import (
    ARRIVAL_AT,
    COUNT_AT,
    COUNT_DAYS,
    DAYS,
    DISPATCH_AT,
    GTINS,
    ITEMS,
    LAST_FFP3,
    LATE_REPORTS,
    LOCAL_ARRIVAL_AT,
    NATIONAL,
    OBLIGATION_DAYS,
    OPERATOR_ORGANISATION,
    PACK,
    PPE,
    REGIONS,
    SHELF_LIFE,
    SUPPLIER_AT,
    SUPPLIERS,
    round_down,
    round_up,
)


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


class _Scenario(ScriptedStories):
    """The six weeks played day by day: routine receipts, deliveries, consumption and counts,
    with the scripted stories on top."""

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
            self.reports_arriving(day)
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
                cmd.DefineItem(
                    code=code, name=name, unit=unit, category=category, atc_code=atc_code, gtins=list(GTINS[code])
                ),
                self.ctx(),
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
            total = round_up(120 * national_rate[item], pack)
            old = round_up(total * 0.2, pack)
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
                    round_up(days * self.region_rate(region, item, 0), PACK[item]),
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
                        round_up(21 * local.base_rate(item), PACK[item]),
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
                    quantity = round_up(weekly * self.rng.uniform(0.9, 1.05), PACK[item])
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
                    want = round_up(35 * demand - position, PACK[item])
                    lines[item] = min(want, round_down(self.usable_national(item, day), PACK[item]))
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
                        lines[item] = min(round_up(14 * use - position, PACK[item]), round_down(spare, PACK[item]))
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
                if (depot.code, item, day) == LAST_FFP3:
                    quantity = self.stock[depot.code, item]  # the ICU's cohort wards use all that is left
                if quantity <= 0:
                    continue
                self.stock[depot.code, item] -= quantity
                why = self.late_reason(depot.code, item, day)
                if why is None:
                    self.report(depot.code, item, quantity, day)
                else:
                    self.late.append((depot.code, item, quantity, day, why))

    def late_reason(self, code: str, item: str, day: int) -> str | None:
        for depot, items, days, why, _ in LATE_REPORTS:
            if depot == code and day in days and (items is None or item in items):
                return why
        return None

    def days_late(self, code: str) -> int | None:
        return next((late for depot, _, _, _, late in LATE_REPORTS if depot == code), None)

    def reports_arriving(self, day: int) -> None:
        """The late reports due to arrive with this day's entries (their days are before events
        already in the ledger)."""
        for code, item, quantity, reported_day, why in self.late:
            if reported_day + (self.days_late(code) or DAYS) == day:
                self.report(code, item, quantity, reported_day, note=f"Late report: {why}")

    def late_reports(self) -> None:
        """Recorded last: the late reports no day of the six weeks brought."""
        for code, item, quantity, day, why in self.late:
            late = self.days_late(code)
            if late is None or day + late >= DAYS:
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
