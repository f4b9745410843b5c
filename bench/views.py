#!/usr/bin/env python3
"""Views on a long history, on PostgreSQL: historical depot stock, the national view,
projection catch-up and command latency, each beside the naive way measured in the same run.

What it does, in one run:

1. creates a fresh PostgreSQL database (`supply_ledger_bench_views_<random>`, `bench/scratch.py`) on
   `--server-url`;
2. generates a history through the domain and `Ledger.save` in large batches (no HTTP;
   the ledger writes the movement journal and the other index rows in the same
   transaction as the events, and takes its snapshots every 100 events per depot), all
   simulations day by day on one timeline, each day recorded shortly after it ends
   (`domain.events.recorded_by`), so recorded times follow positions:
   - a regional warehouse (`HIST-LONG`) with `--depot-events` events: ten-odd years of
     8 items, three consumption reports a day per item (one per shift), weekly receipts
     with lots and expiry dates, counts every four weeks, write-offs, transfers to and
     from two neighbouring depots (received, short, or cancelled) and about 2% of the
     consumption reports recorded 1-6 days late, after later-dated events;
   - a depot with about 100 events (`HIST-SHORT`), the same kind of history over three weeks;
   - a national ledger of `--depots` depots x `--items` items in 20 regions over six
     weeks: an opening receipt (with a lot) per depot and item, a second one for half of
     them, consumption every other day over the last four weeks, obligations on a quarter,
     counts on a tenth, transfers within regions, 1% late reports;
3. projection catch-up: the naive way (one view transaction per event, `Projector(batch=1)`)
   over the first `--naive-projection-events` events, the batched way over the same
   events, then `Projector.rebuild()` over the whole ledger (events/s), which writes fold
   checkpoints ahead of the questions (`projections.checkpoints`), beside the same rebuild
   writing none;
4. the national view: `Views.stock()` and `GET /v1/stock` (by region, and by depot for
   one item) from the caught-up projection, beside the on-demand fold of the whole ledger
   (`Views.stock(as_of=now)`);
5. historical stock of the long-history depot at random `as_of` (across its history) and
   `known_at` (across its history: half `pos:N`, half a recorded time), through
   `Views.depot_stock` and over HTTP.
   Fold checkpoints are a cache filled by earlier queries, so the first query and the
   first pass (from an empty cache) are reported apart from the warm passes. Naive
   baselines: every journal row of the depot folded without checkpoints
   (`projections.fold.fold_item`), and the whole event stream read, decoded and folded.
   Every naive answer is compared with the view's. Then every checkpoint is deleted, the
   projection rebuilt (writing its checkpoints ahead), and pass 1's cuts asked again:
   the cold figure with checkpoints written ahead, beside pass 1 without them, each
   answer compared with pass 1's;
6. command latency (`Ledger.report_consumption`, service layer) on the ~100-event depot
   and on the long-history depot, with the aggregate cache and with an empty cache before
   every command, beside a ledger without snapshots or cache (the whole stream replayed);
7. prints every figure with its baseline, ratio and target, how busy the machine was in
   each phase, and drops the database, also on failure (`--keep` keeps it). With
   `--profile`, whatever missed its target is run again under cProfile after it has been
   measured.

    .venv/bin/python bench/views.py                       # the full run (about 4-5 min here)
    .venv/bin/python bench/views.py --depot-events 5000 --depots 50 --queries 30   # a quick one
"""

from __future__ import annotations

import argparse
import cProfile
import io
import math
import os
import platform
import pstats
import random
import statistics
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import psycopg
from scratch import DEFAULT_SERVER_URL, scratch_database

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
os.environ.setdefault("SUPPLY_LEDGER_LOG_LEVEL", "WARNING")  # no request log line per request

from domain import commands as cmd
from domain import events as ev
from domain.depot import Depot, Stamp
from domain.events import recorded_by
from domain.ids import depot_id
from ledger.application import Context, Ledger
from ledger.settings import Database
from projections.checkpoints import CheckpointsAhead
from projections.fold import fold_item
from projections.history import ROW_COLUMNS, History
from projections.runner import Projector

ITEMS = (
    # code, name, unit, category, ATC code
    ("FFP2", "FFP2 respirator", "piece", "ppe", None),
    ("FFP3", "FFP3 respirator", "piece", "ppe", None),
    ("MASK-IIR", "Surgical mask type IIR", "piece", "ppe", None),
    ("GLOVE-NIT-M", "Nitrile examination glove size M", "piece", "ppe", None),
    ("GOWN-ISO", "Fluid-resistant isolation gown", "piece", "ppe", None),
    ("VISOR", "Face visor", "piece", "ppe", None),
    ("PROPOFOL-20", "Propofol 10 mg/ml 20 ml", "vial", "medicine", "N01AX10"),
    ("NORADR-4", "Noradrenaline 1 mg/ml 4 ml", "ampoule", "medicine", "C01CA03"),
    ("GLOVE-NIT-S", "Nitrile examination glove size S", "piece", "ppe", None),
    ("GLOVE-NIT-L", "Nitrile examination glove size L", "piece", "ppe", None),
    ("APRON", "Disposable plastic apron", "piece", "ppe", None),
    ("HAND-DISINF", "Hand disinfectant 500 ml", "bottle", "consumable", None),
    ("SWAB-NP", "Nasopharyngeal swab", "piece", "consumable", None),
    ("SYRINGE-10", "Syringe 10 ml", "piece", "consumable", None),
    ("IV-SET", "Infusion set", "piece", "consumable", None),
    ("CATH-IV-20G", "Peripheral IV catheter 20G", "piece", "consumable", None),
    ("MIDAZOLAM-5", "Midazolam 5 mg/ml 1 ml", "ampoule", "medicine", "N05CD08"),
    ("PARACET-IV", "Paracetamol 10 mg/ml 100 ml", "vial", "medicine", "N02BE01"),
    ("AMOXI-1G", "Amoxicillin 1 g", "vial", "medicine", "J01CA04"),
    ("OXYGEN-MASK", "Oxygen mask with reservoir", "piece", "equipment", None),
)
LONG = "HIST-LONG"
SHORT = "HIST-SHORT"
PARTNERS = ("HIST-AID-A", "HIST-AID-B")
HOME_REGION = "R01"
REGIONS = 20
LONG_ITEMS = 8
LONG_WARDS = 3  # consumption reports per item and day (one per shift)
SHORT_ITEMS, SHORT_WARDS = 4, 1
NATIONAL_DAYS = 42
CONSUMPTION_DAYS = 28
ACTOR = "bench-loader"

TARGET_DEPOT_P95_MS = 50.0
TARGET_NATIONAL_MS = 200.0
TARGET_CATCH_UP = 5000.0
TARGET_FLAT = 2.0


# --- small helpers ---------------------------------------------------------------------------


def define_items(ledger: Ledger, items: list[str]) -> None:
    """The catalogue: the demo's items by their codes, a generic consumable for any other code."""
    ctx = Context(actor="bench", source="import")
    names = {code: (name, unit, category, atc) for code, name, unit, category, atc in ITEMS}
    for code in items:
        name, unit, category, atc = names.get(code, (f"Bench item {code}", "piece", "consumable", None))
        ledger.define_item(cmd.DefineItem(code=code, name=name, unit=unit, category=category, atc_code=atc), ctx)


def percentile(values: Iterable[float], p: float) -> float:
    """Nearest-rank percentile (nan when empty)."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), math.ceil(p / 100.0 * len(ordered))))
    return ordered[rank - 1]


def ms(seconds: float) -> float:
    return seconds * 1000.0


def timed(call: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = call()
    return time.perf_counter() - started, result


def say(text: str) -> None:
    print(text, flush=True)


class Clock:
    def __init__(self) -> None:
        self.started = time.perf_counter()

    def __str__(self) -> str:
        return f"{time.perf_counter() - self.started:6.1f} s"


@dataclass
class Stamper:
    """A fresh envelope per event (each its own command id), as an importer would write it."""

    counter: int = 0

    def __call__(self, occurred_at: datetime, note: str | None = None) -> Stamp:
        self.counter += 1
        return Stamp(occurred_at=occurred_at, actor=ACTOR, source="import", command_id=f"gen-{self.counter}", note=note)


def register(code: str, name: str, region: str, kind: str, population: int, at: datetime, stamp: Stamper) -> Depot:
    return Depot.start(
        ev.DepotRegistered,
        depot_id(code),
        code=code,
        name=name,
        region=region,
        organisation=f"ORG-{region}",
        kind=kind,
        population_served=population,
        **stamp(at).fields(),
    )


def new_lot(item: str, received: date, rng: random.Random) -> tuple[str, date]:
    made = received - timedelta(days=rng.randint(20, 150))
    return f"{item}-{made:%y%m%d}-{rng.randint(100, 999)}", made + timedelta(days=rng.choice((365, 730, 1095, 1825)))


# --- generating the history --------------------------------------------------------------------


@dataclass
class DepotHistory:
    """What the generator knows about a simulated depot's history."""

    code: str
    items: list[str]
    start: datetime
    end: datetime
    events: int = 0
    late_reports: int = 0
    transfers: int = 0


@dataclass
class Transit:
    transfer_id: str
    source: Depot
    destination: Depot
    item: str
    quantity: int
    arrive_day: int
    outcome: str  # received, short, cancelled


class RecordingClock:
    """When the generated events are recorded: each simulated day is entered shortly after it
    ends, never ahead of the wall clock, and always after what was recorded before, so
    recorded_at follows ledger positions and `known_at` times mean something."""

    def __init__(self, first: datetime) -> None:
        self.entered = self.recorded = first

    def __call__(self) -> datetime:
        self.recorded = max(self.recorded + timedelta(microseconds=1), min(self.entered, datetime.now(UTC)))
        return self.recorded


@dataclass
class DepotSimulation:
    """A depot's daily life over `days` days from `start`, recorded as an operator would record it."""

    ledger: Ledger
    code: str
    name: str
    items: list[str]
    wards: int
    start: datetime
    days: int
    rng: random.Random
    stamp: Stamper
    partner_codes: tuple[str, ...] = ()
    save_every: int = 2000
    progress: Callable[[int], None] = lambda _: None
    depot: Depot | None = None
    partners: list[Depot] = field(default_factory=list)
    physical: dict[str, int] = field(default_factory=dict)
    rate: dict[str, float] = field(default_factory=dict)
    held: list[tuple[int, datetime, str, int]] = field(default_factory=list)
    transits: list[Transit] = field(default_factory=list)
    late_reports: int = 0
    transfers: int = 0

    @classmethod
    def sized(
        cls, target: int, end: datetime, items: list[str], wards: int, partners: tuple[str, ...] = (), **fields: Any
    ) -> DepotSimulation:
        """Long enough for about `target` events, ending at `end`."""
        fixed = 1 + 2 * len(items)  # registration, obligations, opening receipts
        per_day = len(items) * wards + len(items) / 7 + len(items) / 28 + len(items) / 45 + (4 / 28 if partners else 0)
        days = max(1, round((target - fixed) / per_day))
        return cls(
            items=items, wards=wards, start=end - timedelta(days=days), days=days, partner_codes=partners, **fields
        )

    def history(self) -> DepotHistory:
        assert self.depot is not None
        return DepotHistory(
            self.code,
            self.items,
            self.start - timedelta(days=1),
            self.start + timedelta(days=self.days),
            self.depot.version,
            self.late_reports,
            self.transfers,
        )

    def at(self, day: int, hours: float) -> datetime:
        return self.start + timedelta(days=day, hours=hours)

    def save(self, force: bool = False) -> None:
        assert self.depot is not None
        pending = len(self.depot.pending_events) + sum(len(p.pending_events) for p in self.partners)
        if pending and (force or pending >= self.save_every):
            self.ledger.save(self.depot, *self.partners)
            self.progress(self.depot.version)

    def register(self) -> None:
        at = self.start - timedelta(days=1)
        self.depot = register(self.code, self.name, HOME_REGION, "regional", 400_000, at, self.stamp)
        self.partners = [
            register(code, f"Neighbour of {self.code}", HOME_REGION, "hospital", 90_000, at, self.stamp)
            for code in self.partner_codes
        ]
        self.save(force=True)

    def begin(self) -> None:
        assert self.depot is not None
        for item in self.items:
            # units a day: at least a few per shift, so what is reported is what was used
            self.rate[item] = self.rng.choice((6, 15, 40, 120, 400, 1200)) * self.rng.uniform(0.7, 1.4)
            self.depot.set_obligation(item, self.rng.choice((30, 60, 90)), self.stamp(self.at(0, 0)))
            self.receipt(item, 0, 40)

    def finish(self) -> None:
        for _, occurred_at, item, quantity in self.held:  # anything still held comes in at the end
            self.report(item, quantity, occurred_at, late=True)
        self.held.clear()
        self.save(force=True)

    def one_day(self, day: int) -> None:
        depot = self.depot
        assert depot is not None
        # Late reports due today are recorded first thing, dated days ago.
        due = [h for h in self.held if h[0] <= day]
        self.held = [h for h in self.held if h[0] > day]
        for _, occurred_at, item, quantity in due:
            self.report(item, quantity, occurred_at, late=True)
        for index, item in enumerate(self.items):
            if (day + 3 * index) % 28 == 27:  # counts every four weeks, 06:00
                shrink = round(self.physical[item] * self.rng.uniform(0, 0.003))
                self.physical[item] = max(0, self.physical[item] - shrink)
                depot.count(item, self.physical[item], depot.on_hand(item), self.stamp(self.at(day, 6)))
            if (day + index) % 7 == 3:  # weekly supplier receipts, 07:30
                self.receipt(item, day, 35)
            if (day + 5 * index) % 45 == 44:  # a write-off now and then, 11:00
                quantity = min(self.physical[item], max(1, round(self.rate[item] * self.rng.uniform(0.1, 1))))
                if quantity > 0:
                    self.physical[item] -= quantity
                    depot.adjust(
                        item,
                        -quantity,
                        self.rng.choice(("damaged", "expired")),
                        None,
                        self.stamp(self.at(day, 11), "written off at inspection"),
                    )
        self.arrivals(day)
        if self.partners and day % 14 == 10:
            self.dispatch(day)
        if self.partners and day % 28 == 24:
            self.aid_back(day)
        for ward in range(self.wards):  # consumption per shift, dated at the end of the shift
            ends = self.at(day, 24 * (ward + 1) / self.wards)
            for item in self.items:
                quantity = max(1, round(self.rate[item] / self.wards * self.rng.uniform(0.6, 1.4)))
                self.physical[item] = max(0, self.physical[item] - quantity)
                if self.rng.random() < 0.02:  # recorded 1-6 days later, after later-dated events
                    self.held.append((day + self.rng.randint(1, 6), ends, item, quantity))
                else:
                    self.report(item, quantity, ends)

    def report(self, item: str, quantity: int, ends: datetime, late: bool = False) -> None:
        assert self.depot is not None
        note = "late report: ward system offline" if late else None
        self.late_reports += late
        self.depot.report_consumption(item, quantity, ends - timedelta(hours=24 / self.wards), self.stamp(ends, note))

    def receipt(self, item: str, day: int, days_of_stock: int) -> None:
        assert self.depot is not None
        wanted = days_of_stock * self.rate[item] - self.physical.get(item, 0)
        pack = max(1, round(self.rate[item]))
        quantity = max(pack, math.ceil(max(wanted, 0) / pack) * pack)
        at = self.at(day, 7.5)
        lot, expires_on = new_lot(item, at.date(), self.rng)
        self.depot.record_receipt(
            self.stamp(at),
            item=item,
            quantity=quantity,
            lot=lot,
            expires_on=expires_on,
            supplier="Nordic Medical Supply A/S",
            reference=f"PO-{at:%Y%m%d}-{item}",
        )
        self.physical[item] = self.physical.get(item, 0) + quantity

    def dispatch(self, day: int) -> None:
        assert self.depot is not None
        item = self.items[(day // 14) % len(self.items)]
        quantity = min(self.physical[item], self.depot.available(item)) // 10
        if quantity <= 0:
            return
        destination = self.partners[(day // 14) % len(self.partners)]
        outcome = self.rng.choices(("received", "short", "cancelled"), (8, 1, 1))[0]
        self._send(self.depot, destination, item, quantity, day, outcome)
        self.physical[item] -= quantity

    def aid_back(self, day: int) -> None:
        """A neighbour returns some of what it holds: stock in transit into this depot."""
        assert self.depot is not None
        source = self.partners[(day // 28) % len(self.partners)]
        held = [(item, source.available(item)) for item in self.items if source.available(item) > 1]
        if not held:
            return
        item, available = held[self.rng.randrange(len(held))]
        self._send(source, self.depot, item, available // 2, day, "received")

    def _send(self, source: Depot, destination: Depot, item: str, quantity: int, day: int, outcome: str) -> None:
        transfer_id = f"T-{uuid.UUID(int=self.rng.getrandbits(128)).hex[:16]}"
        stamp = self.stamp(self.at(day, 10))
        lines = (ev.TransferLine(item=item, quantity=quantity),)
        dispatched = source.dispatch(
            transfer_id,
            destination.code,
            lines,
            {item: source.available(item)},
            stamp,
            reference=f"AID-{source.code}-{destination.code}-{day}",
        )
        destination.expect(dispatched, source.code)
        self.transfers += 1
        if outcome == "cancelled":
            cancel = self.stamp(self.at(day, 13))
            source.cancel(transfer_id, "truck needed elsewhere", cancel)
            destination.cancel(transfer_id, "truck needed elsewhere", cancel)
            return
        self.transits.append(Transit(transfer_id, source, destination, item, quantity, day + 1, outcome))

    def arrivals(self, day: int) -> None:
        for transit in [t for t in self.transits if t.arrive_day <= day]:
            received = None
            if transit.outcome == "short":
                received = {transit.item: max(0, transit.quantity - max(1, transit.quantity // 20))}
            event = transit.destination.receive(transit.transfer_id, received, self.stamp(self.at(day, 8.5)))
            transit.source.deliver(event)
            if transit.destination is self.depot:
                self.physical[transit.item] += received[transit.item] if received else transit.quantity
            self.transits.remove(transit)


@dataclass
class NationalSimulation:
    """`depots` depots x `items` items in 20 regions over six weeks: an opening receipt per depot
    and item, a second for half of them, consumption every other day over the last four weeks,
    obligations on a quarter, counts on a tenth, transfers within regions, 1% late reports."""

    ledger: Ledger
    depots: int
    items: list[str]
    start: datetime
    rng: random.Random
    stamp: Stamper
    chunk: int = 100
    days: int = NATIONAL_DAYS
    aggregates: list[Depot] = field(default_factory=list)
    rate: dict[tuple[str, str], float] = field(default_factory=dict)
    held: dict[int, list[tuple[int, Depot, str, int, datetime]]] = field(default_factory=lambda: defaultdict(list))
    transits: dict[int, list[tuple[int, Depot, Depot, str]]] = field(default_factory=lambda: defaultdict(list))
    events: int = 0

    def save(self, group: list[Depot]) -> None:
        before = self.ledger.position()
        self.ledger.save(*group)
        self.events += self.ledger.position() - before

    def groups(self) -> Iterable[tuple[int, list[Depot]]]:
        for first in range(0, self.depots, self.chunk):
            yield first, self.aggregates[first : first + self.chunk]

    def register(self) -> None:
        kinds = ("hospital", "municipal", "municipal", "regional", "pharmacy", "wholesaler")
        for number in range(self.depots):
            code = f"D{number + 1:04d}"
            region = f"R{number % REGIONS + 1:02d}"
            kind = kinds[number % len(kinds)]
            self.aggregates.append(
                register(
                    code,
                    f"{kind.title()} {code}",
                    region,
                    kind,
                    self.rng.randint(5_000, 600_000),
                    self.start - timedelta(days=1),
                    self.stamp,
                )
            )
            for item in self.items:
                self.rate[code, item] = self.rng.choice((0.5, 2, 8, 30, 120)) * self.rng.uniform(0.7, 1.4)
        for _, group in self.groups():
            self.save(group)

    def at(self, day: int, hours: float) -> datetime:
        return self.start + timedelta(days=day, hours=hours)

    def one_day(self, day: int) -> None:
        rng, stamp, items = self.rng, self.stamp, self.items
        for first, group in self.groups():
            # what arrives today (08:30) and the late reports recorded today come in first
            due = [t for t in self.transits[first] if t[0] <= day]
            self.transits[first] = [t for t in self.transits[first] if t[0] > day]
            for _, source, destination, transfer_id in due:
                source.deliver(destination.receive(transfer_id, None, stamp(self.at(day, 8.5))))
            late = [h for h in self.held[first] if h[0] <= day]
            self.held[first] = [h for h in self.held[first] if h[0] > day]
            for _, depot, item, quantity, ends in late:
                depot.report_consumption(
                    item, quantity, ends - timedelta(days=2), stamp(ends, "late report: ward system offline")
                )
            for offset, depot in enumerate(group):
                number = first + offset
                for index, item in enumerate(items):
                    rate = self.rate[depot.code, item]
                    if day == 0:
                        if (number + index) % 4 == 0:
                            depot.set_obligation(item, rng.choice((30, 60, 90)), stamp(self.at(0, 0)))
                        self.receipt(depot, item, round(45 * rate), day, "OPENING")
                    elif day == self.days // 2 and (number + index) % 2 == 0:
                        self.receipt(depot, item, round(21 * rate), day, "PO")
                    elif day == self.days - 7 and (number * len(items) + index) % 10 == 0:
                        counted = max(0, depot.on_hand(item) - rng.randint(0, 3))
                        depot.count(item, counted, depot.on_hand(item), stamp(self.at(day, 6)))
                    if day >= self.days - CONSUMPTION_DAYS and (day + number + index) % 2 == 0:
                        ends = self.at(day + 1, 0)
                        quantity = max(1, round(2 * rate * rng.uniform(0.6, 1.4)))
                        if rng.random() < 0.01:  # recorded 1-3 days late
                            self.held[first].append((day + rng.randint(1, 3), depot, item, quantity, ends))
                        else:
                            depot.report_consumption(item, quantity, ends - timedelta(days=2), stamp(ends))
                # a transfer within the region (to the depot 20 numbers on, in the same chunk), 10:00
                if offset + REGIONS < len(group) and (day + number) % 14 == 5:
                    destination = group[offset + REGIONS]
                    item = items[(day + number) % len(items)]
                    quantity = depot.available(item) // 10
                    if quantity > 0:
                        transfer_id = f"T-{uuid.UUID(int=rng.getrandbits(128)).hex[:16]}"
                        dispatched = depot.dispatch(
                            transfer_id,
                            destination.code,
                            (ev.TransferLine(item=item, quantity=quantity),),
                            {item: depot.available(item)},
                            stamp(self.at(day, 10)),
                        )
                        destination.expect(dispatched, depot.code)
                        self.transits[first].append((day + 1, depot, destination, transfer_id))
            self.save(group)

    def receipt(self, depot: Depot, item: str, quantity: int, day: int, kind: str) -> None:
        at = self.at(day, 7.5)
        lot, expires_on = new_lot(item, at.date(), self.rng)
        depot.record_receipt(
            self.stamp(at),
            item=item,
            quantity=max(1, quantity),
            lot=lot,
            expires_on=expires_on,
            supplier="Nordic Medical Supply A/S",
            reference=f"{kind}-{depot.code}-{item}-{day}",
        )

    def finish(self) -> None:
        for first, group in self.groups():  # late reports still held come in at the end
            for _, depot, item, quantity, ends in self.held[first]:
                depot.report_consumption(item, quantity, ends - timedelta(days=2), self.stamp(ends, "late report"))
            self.save(group)


@dataclass
class Generated:
    long: DepotHistory
    short: DepotHistory
    national_events: int
    seconds: float


def generate(
    ledger: Ledger, args: argparse.Namespace, items: list[str], end: datetime, rng: random.Random, clock: Clock
) -> Generated:
    """Every simulation day by day on one timeline, each day recorded shortly after it ends.
    While only the long-history depot is active its events are saved 2,000 at a time;
    once others are active, every simulation saves its day before the next one starts."""
    stamp = Stamper()
    said = [0]

    def long_progress(version: int) -> None:
        if version - said[0] >= 10_000:
            said[0] = version
            say(f"[{clock}]   {LONG}: {version:,} events")

    long = DepotSimulation.sized(
        args.depot_events,
        end,
        items[:LONG_ITEMS],
        LONG_WARDS,
        PARTNERS,
        ledger=ledger,
        code=LONG,
        name="Regional warehouse with ten years of history",
        rng=rng,
        stamp=stamp,
        progress=long_progress,
    )
    short = DepotSimulation.sized(
        100,
        end,
        items[:SHORT_ITEMS],
        SHORT_WARDS,
        ledger=ledger,
        code=SHORT,
        name="Municipal depot with three weeks of history",
        rng=rng,
        stamp=stamp,
    )
    national = NationalSimulation(ledger, args.depots, items, end - timedelta(days=NATIONAL_DAYS), rng, stamp)
    first = long.start - timedelta(days=1)
    overlap = min(short.start, national.start) - timedelta(days=1)
    recording = RecordingClock(first)
    started = time.perf_counter()
    with recorded_by(recording):
        for number in range((end - first).days):
            day = first + timedelta(days=number)
            recording.entered = day + timedelta(days=1, hours=1)
            for simulation in (long, short):
                local = (day - simulation.start).days
                if local == -1:
                    simulation.register()
                if local == 0:
                    simulation.begin()
                if 0 <= local < simulation.days:
                    simulation.one_day(local)
                    simulation.save(force=day >= overlap)
            local = (day - national.start).days
            if local == -1:
                say(
                    f"[{clock}] {LONG} at {long.depot.version:,} events; the national ledger starts: "  # type: ignore[union-attr]
                    f"{args.depots:,} depots x {len(items)} items, {REGIONS} regions, {NATIONAL_DAYS} days"
                )
                national.register()
            if local >= 0:
                national.one_day(local)
                say(
                    f"[{clock}]   day {local + 1}/{NATIONAL_DAYS}: {national.events:,} national events, "
                    f"ledger at {ledger.position():,}"
                )
        recording.entered = datetime.now(UTC)
        long.finish()
        short.finish()
        national.finish()
    return Generated(long.history(), short.history(), national.events, time.perf_counter() - started)


# --- measuring ---------------------------------------------------------------------------------


@dataclass
class Figure:
    name: str
    value: str
    baseline: str
    ratio: str
    target: str = ""
    met: str = ""


@dataclass
class Report:
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)

    def add(self, *args: str) -> None:
        self.figures.append(Figure(*args))
        figure = self.figures[-1]
        say(
            f"  => {figure.name}: {figure.value} | baseline {figure.baseline} | ratio {figure.ratio}"
            + (f" | target {figure.target}: {figure.met}" if figure.target else "")
        )


def stats_text(samples: list[float]) -> str:
    return f"p50 {ms(percentile(samples, 50)):.1f} ms, p95 {ms(percentile(samples, 95)):.1f} ms"


def times(ratio: float) -> str:
    return f"{ratio:.1f}x" if ratio < 10 else f"{ratio:,.0f}x"


def met(ok: bool) -> str:
    return "met" if ok else "**not met**"


@dataclass
class Cut:
    """A random question: business time `as_of`, and what was known, as a position or a time
    (`known` is the position either way, for the naive folds)."""

    as_of: datetime
    known: int
    known_at: str

    @property
    def params(self) -> dict[str, str]:
        return {"as_of": self.as_of.isoformat(), "known_at": self.known_at}


def random_cuts(
    rng: random.Random, history: DepotHistory, positions: list[int], count: int, position_at: Callable[[datetime], int]
) -> list[Cut]:
    """as_of anywhere in the depot's history; known_at independently anywhere in it, half of them
    as the position `pos:N` of one of the depot's events, half as a recorded time."""
    span = (history.end - history.start).total_seconds()
    cuts = []
    for number in range(count):
        as_of = (history.start + timedelta(seconds=rng.uniform(0, span))).replace(microsecond=0)
        if number % 2 == 0:
            known = rng.choice(positions)
            cuts.append(Cut(as_of, known, f"pos:{known}"))
        else:
            at = (history.start + timedelta(seconds=rng.uniform(0, span))).replace(microsecond=0)
            cuts.append(Cut(as_of, position_at(at), at.isoformat()))
    return cuts


def view_figures(stock: Any) -> dict[str, tuple[Any, ...]]:
    return {
        line.item: (
            line.on_hand,
            line.in_transit_in,
            line.in_transit_out,
            line.reserved,
            line.avg_daily_consumption,
            line.expired,
            line.min_days,
        )
        for line in stock.items
    }


def fold_figures(item_fold: Any, as_of: datetime) -> tuple[Any, ...]:
    from projections.fold import avg_daily_consumption

    state = item_fold.state
    return (
        state.on_hand,
        state.transit_in,
        state.transit_out,
        state.reserved,
        avg_daily_consumption(item_fold.consumed_14d),
        state.lots.expired(as_of.date(), item_fold.expiries),
        state.min_days,
    )


def naive_journal_fold(ledger: Ledger, code: str, cut: Cut) -> dict[str, tuple[Any, ...]]:
    """Every journal row of the depot up to the cut's position, folded per item from the start."""
    rows = ledger.index_store.query(
        f"SELECT item, {ROW_COLUMNS} FROM {{t}}movements WHERE depot = :depot AND position <= :known "
        "ORDER BY item, occurred_at, position, line",
        depot=code,
        known=cut.known,
    )
    by_item: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_item[row["item"]].append(row)
    expiries = lot_expiries(ledger, by_item, cut)
    return {
        item: fold_figures(fold_item(item_rows, cut.as_of, expiries=expiries[item]), cut.as_of)
        for item, item_rows in by_item.items()
    }


def lot_expiries(ledger: Ledger, by_item: dict[str, list[dict[str, Any]]], cut: Cut) -> dict[str, dict[str, Any]]:
    """The expiries of the lots in these rows as known at the cut (a lot's expiry is resolved per cut)."""
    lots = {item: {row["lot"] for row in rows if row["lot"] is not None} for item, rows in by_item.items()}
    return History(ledger.index_store).expiries(lots, cut.known)


def naive_stream_replay(ledger: Ledger, code: str, cut: Cut) -> dict[str, tuple[Any, ...]]:
    """The depot's whole event stream up to the cut's position, decoded and replayed (each event's
    effects judged on the state before it, as the journal records them), then folded per item."""
    stream = ledger.index_store.stream(depot_id(code), cut.known)
    depot: Depot | None = None
    by_item: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for position, stored in stream:
        event = ledger.mapper.to_domain_event(stored)
        if depot is None:
            depot = Depot.created(event)
            continue
        for line, effect in enumerate(depot.effects(event)):
            by_item[effect.item].append(
                {
                    "occurred_at": event.occurred_at,
                    "position": position,
                    "line": line,
                    "event_type": type(event).__name__,
                    "delta": effect.delta,
                    "counted": effect.counted,
                    "lot": effect.lot,
                    "expires_on": effect.expires_on,
                    "transit_in": effect.transit_in,
                    "transit_out": effect.transit_out,
                    "reserved": effect.reserved,
                    "min_days": effect.min_days,
                }
            )
        depot.apply(event)
    figures = {}
    expiries = lot_expiries(ledger, by_item, cut)
    for item, rows in by_item.items():
        rows.sort(key=lambda r: (r["occurred_at"], r["position"], r["line"]))
        figures[item] = fold_figures(fold_item(rows, cut.as_of, expiries=expiries[item]), cut.as_of)
    return figures


def compare(
    report: Report, what: str, cut: Cut, view: dict[str, tuple[Any, ...]], naive: dict[str, tuple[Any, ...]]
) -> None:
    if view != naive:
        diff = {
            item: (view.get(item), naive.get(item))
            for item in set(view) | set(naive)
            if view.get(item) != naive.get(item)
        }
        report.mismatches.append(
            f"{what} at as_of={cut.as_of.isoformat()} known_at={cut.known_at} (pos:{cut.known}): {diff}"
        )


def profile_call(call: Callable[[], Any], title: str, limit: int = 25) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    call()
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.sort_stats("cumulative").print_stats(limit)
    text = out.getvalue()
    say(f"\n--- profile: {title} ---\n{text}")
    return text


@contextmanager
def time_spent(obj: Any, method: str) -> Iterator[list[float]]:
    """Seconds spent in `obj.method` while inside (summed into the list's one element)."""
    spent = [0.0]
    original = getattr(obj, method)

    def timed_call(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spent[0] += time.perf_counter() - started

    setattr(obj, method, timed_call)
    try:
        yield spent
    finally:
        delattr(obj, method)


def count_checkpoints(ledger: Ledger) -> int:
    return int(ledger.index_store.query("SELECT COUNT(*) AS n FROM {t}fold_checkpoints")[0]["n"])


@dataclass
class AheadPass:
    samples: list[float]
    whole: float
    checkpoints: int


def cold_pass_with_checkpoints_ahead(
    report: Report,
    ledger: Ledger,
    views: Any,
    projector: Projector,
    cuts: list[Cut],
    answers: dict[int, dict[str, tuple[Any, ...]]],
    long: DepotHistory,
    clock: Clock,
) -> AheadPass:
    """Every checkpoint deleted, the projection rebuilt (writing its checkpoints ahead), then the
    whole history and pass 1's cuts asked again: questions nobody asked since the cache was
    emptied. Each answer must equal pass 1's."""
    ledger.index_store.write("DELETE FROM {t}fold_checkpoints", [{}])
    seconds, _ = timed(projector.rebuild)
    written = count_checkpoints(ledger)
    say(
        f"[{clock}] checkpoints deleted, projection rebuilt in {seconds:.1f} s writing {written:,} checkpoints ahead "
        f"({count_checkpoints_of(ledger, LONG):,} of them for {LONG})"
    )
    whole = Cut(long.end, ledger.position(), f"pos:{ledger.position()}")
    whole_seconds, _ = timed(lambda: views.depot_stock(LONG, **whole.params))
    samples = []
    for number, cut in enumerate(cuts):
        seconds, stock = timed(lambda cut=cut: views.depot_stock(LONG, **cut.params))
        samples.append(seconds)
        compare(
            report, "depot stock from checkpoints written ahead vs pass 1", cut, view_figures(stock), answers[number]
        )
    say(
        f"[{clock}]   whole history {ms(whole_seconds):.0f} ms; pass 1's cuts again: {stats_text(samples)}, "
        f"max {ms(max(samples)):.0f} ms, first query {ms(samples[0]):.0f} ms; "
        f"{count_checkpoints(ledger):,} checkpoints stored after it"
    )
    return AheadPass(samples, whole_seconds, written)


def count_checkpoints_of(ledger: Ledger, depot: str) -> int:
    return int(
        ledger.index_store.query("SELECT COUNT(*) AS n FROM {t}fold_checkpoints WHERE depot = :depot", depot=depot)[0][
            "n"
        ]
    )


# --- the run -----------------------------------------------------------------------------------


def machine() -> list[str]:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        kib = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {kib / 1024 / 1024:.1f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    git = ["git", "-C", str(REPO)]
    try:
        commit = subprocess.run(
            [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
        ).stdout.strip()
        changed = subprocess.run(
            [*git, "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, check=False
        ).stdout.splitlines()
    except OSError:
        commit, changed = "?", []
    dirty = f" with uncommitted changes to {len(changed)} tracked files" if changed else ""
    return [
        f"{os.cpu_count()} CPUs ({cpu}){memory}, Linux {platform.release()}; Python {platform.python_version()}",
        f"commit {commit or '?'}{dirty}",
    ]


class CpuMeter:
    """How busy the machine was over a phase, beside this process's own share (100% = one core)."""

    def __init__(self) -> None:
        self.ticks = os.sysconf("SC_CLK_TCK")
        self.start = self._read()

    def _read(self) -> tuple[float, float, float]:
        try:
            fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
            busy = sum(fields) - fields[3] - (fields[4] if len(fields) > 4 else 0)  # minus idle and iowait
        except (OSError, ValueError, IndexError):
            busy = 0
        own = os.times()
        return time.perf_counter(), busy / self.ticks, own.user + own.system

    def lap(self) -> str:
        now = self._read()
        wall = now[0] - self.start[0]
        machine, own = (now[1] - self.start[1]) / wall * 100, (now[2] - self.start[2]) / wall * 100
        self.start = now
        return f"machine {machine:.0f}% busy of {100 * (os.cpu_count() or 1)}%, this process {own:.0f}%"


def print_report(title: str, lines: list[str], started: float) -> None:
    """A run's figures as docs/benchmarks.md records them: a heading, one bullet a line (lines
    starting with two spaces continue the bullet above), the command and the total runtime."""
    print()
    print(f"### {title}, {datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}")
    print()
    for line in lines:
        print(line if line.startswith("  ") else f"- {line}")
    command = f"python bench/{Path(sys.argv[0]).name} " + " ".join(sys.argv[1:])
    print(f"- Command: `{command.strip()}`; total runtime {(time.perf_counter() - started) / 60:.1f} min.")


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def run(args: argparse.Namespace, url: str, report: Report) -> None:
    from fastapi.testclient import TestClient

    from api.app import Stores, create_app

    rng = random.Random(args.seed)
    clock = Clock()
    meter = CpuMeter()
    cpu: dict[str, str] = {}

    def lap(phase: str) -> None:
        cpu[phase] = meter.lap()
        say(f"[{clock}]   CPU during {phase}: {cpu[phase]}")

    with psycopg.connect(url.split("?")[0], autocommit=True) as conn:
        version = conn.execute("SHOW server_version").fetchone()[0]
        fsync = conn.execute("SHOW fsync").fetchone()[0]
        sync = conn.execute("SHOW synchronous_commit").fetchone()[0]
    report.notes.extend(machine())
    report.notes.append(f"Load average at the start: {load_average()}")
    report.notes.append(f"PostgreSQL {version}, fsync={fsync}, synchronous_commit={sync}")
    stores = Stores.open(Database(url))
    ledger, views, projector = stores.ledger, stores.views, stores.projector
    try:
        items = [code for code, *_ in ITEMS][: args.items]
        items += [f"ITEM-{n:03d}" for n in range(len(items) + 1, args.items + 1)]
        define_items(ledger, items)
        end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)

        # 1. the history ---------------------------------------------------------------------
        say(f"[{clock}] generating the history: {LONG} with ~{args.depot_events:,} events, then the national ledger")
        generated = generate(ledger, args, items, end, rng, clock)
        long, short, national_events = generated.long, generated.short, generated.national_events
        total_events = ledger.position()
        say(
            f"[{clock}] {LONG}: {long.events:,} events from {long.start:%Y-%m-%d} to {long.end:%Y-%m-%d}, "
            f"{long.late_reports:,} late reports, {long.transfers} transfers; {SHORT}: {short.events} events; "
            f"national: {national_events:,} events; ledger {total_events:,} events in {generated.seconds:.0f} s "
            f"({total_events / generated.seconds:,.0f} events/s)"
        )
        lap("generation")
        report.notes.append(
            f"History: `{LONG}` {long.events:,} events over {(long.end - long.start).days:,} days "
            f"({LONG_ITEMS} items, {LONG_WARDS} consumption reports per item a day, weekly receipts with lots, "
            f"counts every 4 weeks, write-offs, {long.transfers} transfers, {long.late_reports:,} reports recorded "
            f"1-6 days late); `{SHORT}` {short.events} events; national ledger {args.depots:,} depots x "
            f"{len(items)} items in {REGIONS} regions over {NATIONAL_DAYS} days ({national_events:,} events). "
            f"Ledger total {total_events:,} events, generated in {generated.seconds:.0f} s, each day recorded "
            "shortly after it ended."
        )
        with psycopg.connect(url.split("?")[0], autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")

        # 2. projection catch-up -----------------------------------------------------------------
        sample = min(args.naive_projection_events, total_events)
        meter.lap()
        say(f"[{clock}] projection, naive: one view transaction per event over the first {sample:,} events")
        projector.view.reset(ledger.name)
        naive_projector = Projector(
            ledger, projector.view, batch=1, checkpoints=CheckpointsAhead(ledger.index_store, None)
        )
        seconds, covered = timed(lambda: naive_projector.catch_up(until=sample))
        naive_rate = covered / seconds
        say(f"[{clock}]   {covered:,} events in {seconds:.1f} s: {naive_rate:,.0f} events/s")
        projector.view.reset(ledger.name)
        seconds, covered = timed(lambda: projector.catch_up(until=sample))
        sample_rate = covered / seconds
        say(f"[{clock}]   batched ({projector.batch}) over the same events: {sample_rate:,.0f} events/s")
        say(f"[{clock}] projection rebuild over the whole ledger ({total_events:,} events)")
        marks: list[tuple[float, int]] = []
        rebuild_started = time.perf_counter()

        def rebuild_progress(position: int) -> None:
            marks.append((time.perf_counter(), position))
            if len(marks) % 50 == 0:
                say(f"[{clock}]   view at {position:,}")

        checkpoints_before = count_checkpoints(ledger)
        with time_spent(projector.checkpoints, "advance") as ahead_seconds:
            covered = projector.rebuild(progress=rebuild_progress)
        rebuild_seconds = time.perf_counter() - rebuild_started
        written_ahead = count_checkpoints(ledger) - checkpoints_before
        rebuild_rate = covered / rebuild_seconds
        boundary = next((i for i, (_, p) in enumerate(marks) if p >= total_events - national_events), None)
        segments = ""
        if boundary:
            t_boundary, p_boundary = marks[boundary]
            first_rate = p_boundary / (t_boundary - rebuild_started)
            second_rate = (total_events - p_boundary) / (rebuild_started + rebuild_seconds - t_boundary)
            segments = (
                f" (the long-history depot's events {first_rate:,.0f}/s; the national ledger's {second_rate:,.0f}/s)"
            )
        say(f"[{clock}]   {covered:,} events in {rebuild_seconds:.1f} s: {rebuild_rate:,.0f} events/s{segments}")
        lap("the projection runs")
        report.add(
            "Projection catch-up, `Projector.rebuild()`, whole ledger",
            f"{rebuild_rate:,.0f} events/s{segments}",
            f"{naive_rate:,.0f} events/s (one transaction per event, first {sample:,} events)",
            f"{rebuild_rate / naive_rate:.1f}x",
            f">= {TARGET_CATCH_UP:,.0f} events/s",
            met(rebuild_rate >= TARGET_CATCH_UP),
        )
        report.add(
            f"Projection catch-up, batched, first {sample:,} events",
            f"{sample_rate:,.0f} events/s",
            f"{naive_rate:,.0f} events/s",
            f"{sample_rate / naive_rate:.1f}x",
        )
        say(
            f"[{clock}]   the rebuild wrote {written_ahead:,} fold checkpoints ahead; the same rebuild without "
            "writing them:"
        )
        plain_projector = Projector(ledger, projector.view, checkpoints=CheckpointsAhead(ledger.index_store, None))
        plain_seconds, plain_covered = timed(plain_projector.rebuild)
        plain_rate = plain_covered / plain_seconds
        say(f"[{clock}]   {plain_covered:,} events in {plain_seconds:.1f} s: {plain_rate:,.0f} events/s")
        report.add(
            "Projection rebuild writing fold checkpoints ahead (included in the catch-up above)",
            f"{rebuild_rate:,.0f} events/s, {written_ahead:,} checkpoints written; {ahead_seconds[0]:.1f} s of "
            f"the {rebuild_seconds:.1f} s spent writing them ({ahead_seconds[0] / rebuild_seconds:.0%})",
            f"{plain_rate:,.0f} events/s (the same rebuild writing none)",
            f"{rebuild_rate / plain_rate:.2f}x",
        )
        if args.profile and rebuild_rate < TARGET_CATCH_UP:
            national_first = total_events - national_events
            projector.view.reset(ledger.name)
            profile_call(
                lambda: projector.catch_up(until=min(national_first, 30_000)),
                "projection catch-up, the long-history depot's first events",
            )
            projector.catch_up(until=national_first)
            profile_call(lambda: [projector.step() for _ in range(30)], "projection catch-up, 30 national batches")
            projector.catch_up()

        auditor = stores.access.issue("bench", "auditor")
        headers = {"Authorization": f"Bearer {auditor}"}
        with TestClient(create_app(stores=stores, projections=False), raise_server_exceptions=True) as client:
            # 3. the national view ---------------------------------------------------------------
            say(f"[{clock}] national view from the projection ({args.national_queries} requests each)")
            views.stock()  # warm-up
            samples = []
            for _ in range(args.national_queries):
                seconds, answer = timed(lambda: views.stock())
                samples.append(seconds)
            assert answer.source == "view", answer.source
            service_national = samples
            http_region, http_depot = [], []
            item = items[0]
            client.get("/v1/stock", headers=headers)
            for _ in range(args.national_queries):
                seconds, response = timed(lambda: client.get("/v1/stock", headers=headers))
                assert response.status_code == 200, response.text
                http_region.append(seconds)
                seconds, response = timed(
                    lambda: client.get("/v1/stock", params={"group_by": "depot", "item": item}, headers=headers)
                )
                assert response.status_code == 200, response.text
                http_depot.append(seconds)
            rows_region = len(client.get("/v1/stock", headers=headers).json()["rows"])
            rows_depot = len(response.json()["rows"])
            say(
                f"[{clock}]   Views.stock(): {stats_text(service_national)}; GET /v1/stock ({rows_region} rows): "
                f"{stats_text(http_region)}; group_by=depot&item={item} ({rows_depot} rows): {stats_text(http_depot)}"
            )
            lap("the national view requests")
            say(f"[{clock}] national view, naive: the on-demand fold of every depot (Views.stock(as_of=now))")
            naive_national = []
            for _ in range(args.naive_national):
                now_text = datetime.now(UTC).replace(microsecond=0).isoformat()
                seconds, folded = timed(lambda now_text=now_text: views.stock(as_of=now_text))
                assert folded.source == "fold"
                naive_national.append(seconds)
                say(f"[{clock}]   {seconds:.2f} s")
            naive_national_s = statistics.median(naive_national)
            viewed = {(r.region, r.item): (r.on_hand, r.in_transit_in, r.in_transit_out) for r in views.stock().rows}
            refolded = {(r.region, r.item): (r.on_hand, r.in_transit_in, r.in_transit_out) for r in folded.rows}
            if viewed != refolded:
                report.mismatches.append(
                    "national: the projection and the on-demand fold disagree on "
                    f"{sum(viewed.get(k) != refolded.get(k) for k in set(viewed) | set(refolded))} region-item rows"
                )
            naive_text = f"{naive_national_s * 1000:,.0f} ms (on-demand fold, {len(naive_national)} run(s))"
            p95 = percentile(http_region, 95)
            report.add(
                "National `GET /v1/stock` (by region), HTTP",
                stats_text(http_region),
                naive_text,
                f"{naive_national_s / p95:,.0f}x faster (p95)",
                f"< {TARGET_NATIONAL_MS:.0f} ms",
                met(p95 * 1000 < TARGET_NATIONAL_MS),
            )
            report.add(
                f"National `GET /v1/stock?group_by=depot&item={item}`, HTTP",
                stats_text(http_depot),
                naive_text,
                f"{naive_national_s / percentile(http_depot, 95):,.0f}x faster (p95)",
                f"< {TARGET_NATIONAL_MS:.0f} ms",
                met(percentile(http_depot, 95) * 1000 < TARGET_NATIONAL_MS),
            )
            report.add(
                "National `Views.stock()`, service call",
                stats_text(service_national),
                naive_text,
                f"{naive_national_s / percentile(service_national, 95):,.0f}x faster (p95)",
            )
            if args.profile and p95 * 1000 >= TARGET_NATIONAL_MS:
                # the request's work runs on the TestClient's thread, so profile the service call it makes
                profile_call(
                    lambda: [views.stock() for _ in range(3)], "Views.stock(), what GET /v1/stock calls (3 calls)"
                )

            # 4. historical stock of the long-history depot ------------------------------------------
            positions = sorted(
                {
                    int(row["position"])
                    for row in ledger.index_store.query(
                        "SELECT position FROM {t}movements WHERE depot = :depot", depot=LONG
                    )
                }
            )
            say(
                f"[{clock}] historical stock of {LONG}: random as_of in {long.start:%Y-%m-%d}..{long.end:%Y-%m-%d}, "
                f"known_at the position of one of its {len(positions):,} events (pos:{positions[0]:,}.."
                f"{positions[-1]:,}) or a recorded time; {args.queries} queries per pass"
            )
            ledger.index_store.write("DELETE FROM {t}fold_checkpoints", [{}])
            meter.lap()
            whole = Cut(long.end, ledger.position(), f"pos:{ledger.position()}")
            whole_cold, whole_stock = timed(lambda: views.depot_stock(LONG, **whole.params))
            whole_warm, _ = timed(lambda: views.depot_stock(LONG, **whole.params))
            whole_journal, figures = timed(lambda: naive_journal_fold(ledger, LONG, whole))
            compare(report, "whole-history depot stock vs journal fold", whole, view_figures(whole_stock), figures)
            whole_stream, figures = timed(lambda: naive_stream_replay(ledger, LONG, whole))
            compare(report, "whole-history depot stock vs stream replay", whole, view_figures(whole_stock), figures)
            say(
                f"[{clock}]   whole history (as_of {long.end:%Y-%m-%d}, latest position), empty checkpoint cache: "
                f"{ms(whole_cold):.0f} ms; again: {ms(whole_warm):.0f} ms; "
                f"naive: journal fold {ms(whole_journal):.0f} ms, "
                f"stream replay {ms(whole_stream):.0f} ms"
            )
            ledger.index_store.write("DELETE FROM {t}fold_checkpoints", [{}])
            passes: dict[str, list[float]] = {}
            cuts1 = random_cuts(rng, long, positions, args.queries, views.history.position_at)
            cuts2 = random_cuts(rng, long, positions, args.queries, views.history.position_at)
            answers: dict[int, dict[str, tuple[Any, ...]]] = {}
            cold_answers: dict[int, dict[str, tuple[Any, ...]]] = {}
            for label, cuts in (
                ("pass 1 (from an empty cache)", cuts1),
                ("pass 2 (new cuts)", cuts2),
                ("pass 3 (pass 2's cuts again)", cuts2),
            ):
                samples = []
                for number, cut in enumerate(cuts):
                    seconds, stock = timed(lambda cut=cut: views.depot_stock(LONG, **cut.params))
                    samples.append(seconds)
                    if label.startswith("pass 2"):
                        answers[number] = view_figures(stock)
                    if label.startswith("pass 1"):
                        cold_answers[number] = view_figures(stock)
                passes[label] = samples
                checkpoints = ledger.index_store.query("SELECT COUNT(*) AS n FROM {t}fold_checkpoints")[0]["n"]
                say(
                    f"[{clock}]   {label}: {stats_text(samples)}, max {ms(max(samples)):.0f} ms"
                    + (f", first query {ms(samples[0]):.0f} ms" if label.startswith("pass 1") else "")
                    + f"; {checkpoints:,} checkpoints stored"
                )
            lap("the depot-stock passes")
            http_cuts = random_cuts(rng, long, positions, args.http_queries, views.history.position_at)
            http_depot_stock = []
            for cut in http_cuts:
                seconds, response = timed(
                    lambda cut=cut: client.get(f"/v1/depots/{LONG}/stock", params=cut.params, headers=headers)
                )
                assert response.status_code == 200, response.text
                http_depot_stock.append(seconds)
            say(
                f"[{clock}]   HTTP GET /v1/depots/{LONG}/stock, {len(http_cuts)} new cuts: "
                f"{stats_text(http_depot_stock)}"
            )
            say(f"[{clock}]   naive: every journal row of the depot folded from the start, {args.naive_queries} cuts")
            naive_journal = []
            for number, cut in enumerate(cuts2[: args.naive_queries]):
                seconds, figures = timed(lambda cut=cut: naive_journal_fold(ledger, LONG, cut))
                naive_journal.append(seconds)
                compare(report, "depot stock vs journal fold", cut, answers[number], figures)
            say(f"[{clock}]   journal fold: {stats_text(naive_journal)}")
            naive_stream = []
            for number, cut in enumerate(cuts2[: args.naive_replays]):
                seconds, figures = timed(lambda cut=cut: naive_stream_replay(ledger, LONG, cut))
                naive_stream.append(seconds)
                compare(report, "depot stock vs stream replay", cut, answers[number], figures)
                say(f"[{clock}]   stream replay up to pos:{cut.known:,}: {seconds:.2f} s")
            ahead = cold_pass_with_checkpoints_ahead(report, ledger, views, projector, cuts1, cold_answers, long, clock)
            lap("the cold pass with checkpoints written ahead")
            journal_p50 = percentile(naive_journal, 50)
            stream_p50 = percentile(naive_stream, 50)
            baseline = f"journal fold p50 {ms(journal_p50):,.0f} ms; stream replay p50 {ms(stream_p50):,.0f} ms"
            warm = passes["pass 2 (new cuts)"]
            cold = passes["pass 1 (from an empty cache)"]
            hot = passes["pass 3 (pass 2's cuts again)"]
            report.add(
                f"Depot stock (`{LONG}`), warm cache, new random cuts",
                stats_text(warm),
                baseline,
                f"{times(journal_p50 / percentile(warm, 50))} / {times(stream_p50 / percentile(warm, 50))} (p50)",
                f"p95 < {TARGET_DEPOT_P95_MS:.0f} ms",
                met(ms(percentile(warm, 95)) < TARGET_DEPOT_P95_MS),
            )
            report.add(
                "Depot stock, pass 1 from an empty checkpoint cache",
                f"{stats_text(cold)}; first query {ms(cold[0]):.0f} ms",
                baseline,
                f"{times(journal_p50 / percentile(cold, 50))} / {times(stream_p50 / percentile(cold, 50))} (p50)",
                f"p95 < {TARGET_DEPOT_P95_MS:.0f} ms",
                met(ms(percentile(cold, 95)) < TARGET_DEPOT_P95_MS),
            )
            report.add(
                "Depot stock, cold: pass 1's cuts again from an empty cache, with the checkpoints the "
                f"projection wrote ahead ({ahead.checkpoints:,})",
                f"{stats_text(ahead.samples)}; first query {ms(ahead.samples[0]):.0f} ms",
                f"pass 1 without them, same cuts, same run: {stats_text(cold)}",
                f"{percentile(cold, 95) / percentile(ahead.samples, 95):.1f}x (p95), "
                f"{percentile(cold, 50) / percentile(ahead.samples, 50):.1f}x (p50)",
                f"p95 < {TARGET_DEPOT_P95_MS:.0f} ms",
                met(ms(percentile(ahead.samples, 95)) < TARGET_DEPOT_P95_MS),
            )
            report.add(
                "Depot stock, whole history (as_of today, latest position), checkpoints written ahead only",
                f"{ms(ahead.whole):,.0f} ms",
                f"empty cache without them: {ms(whole_cold):,.0f} ms",
                f"{whole_cold / ahead.whole:.1f}x",
            )
            report.add(
                "Depot stock, the same cuts again",
                stats_text(hot),
                baseline,
                f"{times(journal_p50 / percentile(hot, 50))} / {times(stream_p50 / percentile(hot, 50))} (p50)",
            )
            report.add(
                "Depot stock, whole history (as_of today, latest position): empty cache / again",
                f"{ms(whole_cold):,.0f} ms / {ms(whole_warm):,.0f} ms",
                f"journal fold {ms(whole_journal):,.0f} ms; stream replay {ms(whole_stream):,.0f} ms",
                f"{times(whole_journal / whole_cold)} / {times(whole_stream / whole_cold)} (empty cache); "
                f"{times(whole_journal / whole_warm)} / {times(whole_stream / whole_warm)} (again)",
            )
            report.add(
                f"Depot stock over HTTP `GET /v1/depots/{LONG}/stock`, warm, new cuts",
                stats_text(http_depot_stock),
                baseline,
                f"{times(journal_p50 / percentile(http_depot_stock, 50))} / "
                f"{times(stream_p50 / percentile(http_depot_stock, 50))} (p50)",
                f"p95 < {TARGET_DEPOT_P95_MS:.0f} ms",
                met(ms(percentile(http_depot_stock, 95)) < TARGET_DEPOT_P95_MS),
            )
            if args.profile and ms(percentile(warm, 95)) >= TARGET_DEPOT_P95_MS:
                slowest = sorted(range(len(warm)), key=lambda i: warm[i])[-max(1, len(warm) // 20) :]
                profile_call(
                    lambda: [views.depot_stock(LONG, **cuts2[i].params) for i in slowest],
                    f"depot stock, the slowest 5% of pass 2's cuts again ({len(slowest)} queries)",
                )
                fresh = random_cuts(rng, long, positions, 20, views.history.position_at)
                profile_call(
                    lambda: [views.depot_stock(LONG, **cut.params) for cut in fresh], "depot stock, 20 new random cuts"
                )

        # 5. command latency -------------------------------------------------------------------
        say(
            f"[{clock}] command latency: {args.commands} consumption reports each on {SHORT} ({short.events} events) "
            f"and {LONG} ({long.events:,} events), interleaved"
        )
        quantity = cmd.ReportConsumption(item=items[0], quantity=1)

        def command(on: Ledger, code: str) -> None:
            on.report_consumption(code, quantity, Context(actor="bench", source="api"))

        meter.lap()
        for code in (SHORT, LONG):  # warm-up: cache and prepared statements
            for _ in range(5):
                command(ledger, code)
        latencies: dict[str, list[float]] = {SHORT: [], LONG: []}
        for _ in range(args.commands):
            for code in (SHORT, LONG):
                seconds, _ = timed(lambda code=code: command(ledger, code))
                latencies[code].append(seconds)
        lap("the commands with the cache")
        cold_ledger = Ledger(Database(url).env("ledger"))
        cold_latencies: dict[str, list[float]] = {SHORT: [], LONG: []}
        try:
            for _ in range(args.cold_commands):
                for code in (SHORT, LONG):
                    cold_ledger.repository.cache.clear()  # type: ignore[union-attr]
                    seconds, _ = timed(lambda code=code: command(cold_ledger, code))
                    cold_latencies[code].append(seconds)
        finally:
            cold_ledger.close()

        class ReplayingLedger(Ledger):
            """The naive way: no snapshots and no cache, so every command replays the whole stream."""

            name = Ledger.name  # the same tables (the library would name them after this class)
            snapshotting_intervals: ClassVar[dict[type, int]] = {}

        naive_ledger = ReplayingLedger(
            Database(url).env("ledger") | {"AGGREGATE_CACHE_MAXSIZE": "", "IS_SNAPSHOTTING_ENABLED": "n"}
        )
        naive_latencies: dict[str, list[float]] = {SHORT: [], LONG: []}
        try:
            assert naive_ledger.snapshots is None and naive_ledger.repository.cache is None
            for code, runs in ((SHORT, 20), (LONG, args.naive_commands)):
                for _ in range(runs):
                    seconds, _ = timed(lambda code=code: command(naive_ledger, code))
                    naive_latencies[code].append(seconds)
        finally:
            naive_ledger.close()
        for label, data in (
            ("with the aggregate cache", latencies),
            ("empty cache before each", cold_latencies),
            ("naive: no snapshots, no cache", naive_latencies),
        ):
            say(f"[{clock}]   {label}: {SHORT} {stats_text(data[SHORT])}; {LONG} {stats_text(data[LONG])}")
        for label, data in (
            ("with the aggregate cache", latencies),
            ("empty aggregate cache before each command", cold_latencies),
        ):
            p50_ratio = percentile(data[LONG], 50) / percentile(data[SHORT], 50)
            p95_ratio = percentile(data[LONG], 95) / percentile(data[SHORT], 95)
            naive_p50 = percentile(naive_latencies[LONG], 50)
            report.add(
                f"Command latency {label}: {SHORT} ({short.events} events) vs {LONG} ({long.events:,} events)",
                f"{stats_text(data[SHORT])} vs {stats_text(data[LONG])}",
                f"{LONG} replayed without snapshots: p50 {ms(naive_p50):,.0f} ms ({SHORT}: "
                f"{ms(percentile(naive_latencies[SHORT], 50)):.1f} ms)",
                f"{LONG}/{SHORT} {p50_ratio:.2f}x (p50), {p95_ratio:.2f}x (p95); naive/{LONG} "
                f"{naive_p50 / percentile(data[LONG], 50):,.0f}x (p50)",
                f"within {TARGET_FLAT:.0f}x",
                met(p50_ratio <= TARGET_FLAT and p95_ratio <= TARGET_FLAT),
            )
        report.notes.append(f"Load average at the end: {load_average()}")
        report.notes.append("CPU (100% = one core): " + "; ".join(f"{phase}: {text}" for phase, text in cpu.items()))
    finally:
        stores.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--server-url", default=DEFAULT_SERVER_URL)
    parser.add_argument("--depot-events", type=int, default=100_000, help="events in the long-history depot")
    parser.add_argument("--depots", type=int, default=1000, help="depots in the national ledger")
    parser.add_argument("--items", type=int, default=20, help="items per depot in the national ledger")
    parser.add_argument("--queries", type=int, default=200, help="historical depot-stock queries per pass")
    parser.add_argument("--http-queries", type=int, default=50)
    parser.add_argument("--naive-queries", type=int, default=20, help="cuts for the journal-fold baseline")
    parser.add_argument("--naive-replays", type=int, default=5, help="cuts for the stream-replay baseline")
    parser.add_argument("--national-queries", type=int, default=30)
    parser.add_argument("--naive-national", type=int, default=1, help="runs of the whole-ledger on-demand fold")
    parser.add_argument("--naive-projection-events", type=int, default=5000)
    parser.add_argument("--commands", type=int, default=300, help="commands per depot, with the cache")
    parser.add_argument("--cold-commands", type=int, default=100, help="commands per depot, empty cache each")
    parser.add_argument("--naive-commands", type=int, default=3, help="commands on the long depot without snapshots")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--profile", action="store_true", help="cProfile whatever misses its target")
    parser.add_argument("--keep", action="store_true", help="do not drop the database (prints its URL)")
    args = parser.parse_args()
    if args.items < LONG_ITEMS:
        parser.error(f"--items must be at least {LONG_ITEMS}")
    for option in (
        "depots",
        "queries",
        "http_queries",
        "naive_queries",
        "naive_replays",
        "national_queries",
        "naive_national",
        "naive_projection_events",
        "commands",
        "cold_commands",
        "naive_commands",
    ):
        if getattr(args, option) < 1:
            parser.error(f"--{option.replace('_', '-')} must be at least 1")
    if args.naive_replays > args.naive_queries or args.naive_queries > args.queries:
        parser.error("need --naive-replays <= --naive-queries <= --queries")

    started = time.perf_counter()
    report = Report()
    with scratch_database(args.server_url, "supply_ledger_bench_views", "pool_size=4&max_overflow=8", args.keep) as url:
        run(args, url, report)
    elapsed = time.perf_counter() - started
    command_line = "python bench/views.py " + " ".join(sys.argv[1:])
    print()
    print(f"### Views, {datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}")
    print()
    for note in report.notes:
        print(f"- {note}")
    print(f"- Command: `{command_line.strip()}`; total runtime {elapsed / 60:.1f} min.")
    print()
    print("| figure | measured | baseline, same run | ratio | target | |")
    print("| --- | --- | --- | --- | --- | --- |")
    for f in report.figures:
        print(f"| {f.name} | {f.value} | {f.baseline} | {f.ratio} | {f.target} | {f.met} |")
    print()
    if report.mismatches:
        print(f"**{len(report.mismatches)} answers differ from the naive fold:**")
        for mismatch in report.mismatches[:20]:
            print(f"- {mismatch}")
    else:
        print("Every naive answer equals the view's.")


if __name__ == "__main__":
    main()
