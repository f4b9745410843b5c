"""The demo's world: the items, regions and depots of the scenario, how fast each kind of
depot uses what, the surge, the late reports and counts it scripts, its suppliers, and the
times of day at which each kind of step is recorded. `ledger.demo` plays it."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import time

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
GTINS = {
    # GS1 Denmark prefixes (57...), made up but with valid check digits, as GTIN-14: the
    # piece (indicator 0) and, for FFP2, also the carton of 400 (indicator 1), so a demo
    # user can scan e.g. (01)05712345678909(17)271231(10)LOT42 into a receipt (docs/gs1.md)
    "FFP2": ("05712345678909", "15712345678906"),
    "FFP3": ("05712345678916",),
    "MASK-IIR": ("05712345678923",),
    "GLOVE-NIT-M": ("05712345678930",),
    "GOWN-ISO": ("05712345678947",),
    "PROPOFOL-20": ("05702389012340",),
}

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
    # depot, items (None: all it stocks), days whose reports arrive late, why, days late (None: at the end)
    ("DK-81-AALBORG", None, (11, 12), "home-care system offline; reported after the count of day 14", None),
    ("DK-85-SUH", None, (38, 39), "ward reports delayed during the surge", 2),
    ("DK-83-OUH", ("PROPOFOL-20",), (40,), "ICU pharmacy report entered late", None),
)
LAST_FFP3 = ("DK-85-SUH", "FFP3", 39)
"""Sjællands Universitetshospital's ICU uses its last FFP3 on day 39, a day whose report arrives two
days late: a stockout the shortage watch learns of two days after it happened."""

"""Sjællands Universitetshospital's surge reports arrive two days late: the shortage watch shows
its alerts two days after they became true (GET /v1/alerts/history: the detection delay)."""

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


def all_depots() -> list[DepotSpec]:
    national_population = sum(population for *_, population, _ in REGIONS)
    national = "National stockpile, Danish Medicines Agency"
    depots = [DepotSpec(NATIONAL, national, "DK", NATIONAL_ORGANISATION, "national", national_population)]
    for code, name, population, _ in REGIONS:
        depots.append(DepotSpec(f"{code}-CENTRAL", f"{name}, central warehouse", code, code, "regional", population))
    depots.extend(DepotSpec(*row) for row in LOCAL_DEPOTS)
    return depots


def round_up(quantity: float, pack: int) -> int:
    return max(pack, math.ceil(quantity / pack) * pack)


def round_down(quantity: float, pack: int) -> int:
    return max(0, math.floor(quantity / pack) * pack)
