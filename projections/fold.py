"""The fold every view computes the same way (DESIGN.md, "Derived figures").

Input: one depot's journal rows for one item, in business order (`occurred_at`, then
ledger position, then line). Counts reset the balance; lots are drawn
first-expiry-first-out; the figures are exact integers, and days of supply is rounded
half up to one decimal. The state after any prefix of the rows is plain data, so it can
be stored as a checkpoint and folding resumed from it (`projections.history`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from domain.stock import CONSUMPTION_WINDOW

CONSUMPTION = "ConsumptionReported"


@dataclass
class Lot:
    lot: str | None
    expires_on: date | None
    quantity: int = 0


@dataclass
class Lots:
    """Stock by lot; stock of no known lot is the `None` lot, drawn after every dated lot.

    A named lot that runs empty leaves `by_lot` (so ten years of deliveries do not slow
    every later draw), and its expiry is remembered in `emptied`, so stock of that lot
    arriving again without an expiry date still carries the one first recorded."""

    by_lot: dict[str | None, Lot] = field(default_factory=dict)
    emptied: dict[str, date] = field(default_factory=dict)

    def add(self, quantity: int, lot: str | None = None, expires_on: date | None = None) -> None:
        entry = self.by_lot.get(lot)
        if entry is None:
            if expires_on is None and lot is not None:
                expires_on = self.emptied.get(lot)
            entry = self.by_lot[lot] = Lot(lot, expires_on)
        if entry.expires_on is None and expires_on is not None:
            entry.expires_on = expires_on
        entry.quantity += quantity

    def draw(self, quantity: int, lot: str | None = None) -> None:
        remaining = quantity
        if lot is not None and lot in self.by_lot:
            remaining -= self._take(self.by_lot[lot], remaining)
        if remaining:
            for entry in sorted(
                (e for e in self.by_lot.values() if e.lot is not None and e.quantity > 0),
                key=lambda e: (e.expires_on is None, e.expires_on or date.max, e.lot),
            ):
                remaining -= self._take(entry, remaining)
                if remaining == 0:
                    break
        if remaining:
            self.add(-remaining)  # more drawn than known: the unknown lot goes negative

    def _take(self, entry: Lot, wanted: int) -> int:
        """Take what the lot has; an emptied named lot is forgotten, so ten years of deliveries
        do not slow every later draw (a receipt into it again brings its expiry back)."""
        taken = max(0, min(entry.quantity, wanted))
        entry.quantity -= taken
        if entry.quantity == 0 and entry.lot is not None:
            del self.by_lot[entry.lot]
            if entry.expires_on is not None:
                self.emptied[entry.lot] = entry.expires_on
        return taken

    def expired(self, on: date) -> int:
        return sum(e.quantity for e in self.by_lot.values() if e.expires_on and e.expires_on < on and e.quantity > 0)

    def listing(self) -> list[dict[str, Any]]:
        return [
            {"lot": e.lot, "expires_on": e.expires_on.isoformat() if e.expires_on else None, "quantity": e.quantity}
            for e in sorted(self.by_lot.values(), key=lambda e: (e.lot is None, e.expires_on or date.max, e.lot or ""))
            if e.quantity != 0
        ]

    def dump(self) -> dict[str, Any]:
        return {
            "lots": [
                [e.lot, e.expires_on.isoformat() if e.expires_on else None, e.quantity] for e in self.by_lot.values()
            ],
            "emptied": {lot: expires_on.isoformat() for lot, expires_on in self.emptied.items()},
        }

    @classmethod
    def load(cls, dumped: dict[str, Any]) -> Lots:
        return cls(
            {lot: Lot(lot, date.fromisoformat(exp) if exp else None, q) for lot, exp, q in dumped["lots"]},
            {lot: date.fromisoformat(expires_on) for lot, expires_on in dumped["emptied"].items()},
        )


@dataclass
class ItemState:
    """One item at one depot after folding a prefix of its rows in business order."""

    on_hand: int = 0
    transit_in: int = 0
    transit_out: int = 0
    reserved: int = 0
    min_days: int | None = None
    discrepancy: bool = False
    lots: Lots = field(default_factory=Lots)

    def apply(self, row: Mapping[str, Any]) -> None:
        counted, delta = row["counted"], row["delta"]
        if counted is not None:
            variance = counted - self.on_hand
            self.on_hand = counted
            self.discrepancy = False  # a count is ground truth and settles it
            if variance < 0:
                self.lots.draw(-variance)
            elif variance > 0:
                self.lots.add(variance)
        elif delta:
            self.on_hand += delta
            if delta > 0:
                self.lots.add(delta, row.get("lot"), _as_date(row.get("expires_on")))
            else:
                self.lots.draw(-delta, row.get("lot"))
        if self.on_hand < 0:
            self.discrepancy = True
        self.transit_in += row.get("transit_in") or 0
        self.transit_out += row.get("transit_out") or 0
        self.reserved += row.get("reserved") or 0
        if row.get("min_days") is not None:
            self.min_days = row["min_days"]

    def dump(self) -> dict[str, Any]:
        return {
            "on_hand": self.on_hand,
            "transit_in": self.transit_in,
            "transit_out": self.transit_out,
            "reserved": self.reserved,
            "min_days": self.min_days,
            "discrepancy": self.discrepancy,
            "lots": self.lots.dump(),
        }

    @classmethod
    def load(cls, dumped: Mapping[str, Any]) -> ItemState:
        return cls(**{**dumped, "lots": Lots.load(dumped["lots"])})


@dataclass
class ItemFold:
    """The state at `as_of` plus the consumption in the 14 days up to it."""

    state: ItemState
    consumed_14d: int = 0


def window_start(as_of: datetime) -> datetime:
    return as_of - CONSUMPTION_WINDOW


def fold_item(rows: Iterable[Mapping[str, Any]], as_of: datetime | None, now: datetime | None = None) -> ItemFold:
    """Fold one item's rows (business order) dated at or before `as_of` (None: every row, with
    the consumption window ending at `now`). The reference every faster path must equal."""
    end = as_of if as_of is not None else now
    start = window_start(end) if end is not None else None
    result = ItemFold(ItemState())
    for row in rows:
        at = row["occurred_at"]
        if as_of is not None and at > as_of:
            continue
        result.state.apply(row)
        if row["event_type"] == CONSUMPTION and start is not None and start < at <= end:
            result.consumed_14d += -row["delta"]
    return result


def _as_date(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(value)


def avg_daily_consumption(consumed_14d: int) -> float:
    return round(consumed_14d / CONSUMPTION_WINDOW.days, 2)


def days_of_supply(on_hand: int, consumed_14d: int) -> float | None:
    """on_hand / (consumed over 14 days / 14), one decimal, half up; none without consumption."""
    if consumed_14d <= 0:
        return None
    exact = Decimal(on_hand) * CONSUMPTION_WINDOW.days / Decimal(consumed_14d)
    return float(exact.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))


def meets_obligation(days: float | None, min_days: int | None) -> bool | None:
    """Unknown (None) without an obligation or without consumption to measure days of supply by."""
    if min_days is None or days is None:
        return None
    return days >= min_days
