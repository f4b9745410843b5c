"""The fold every view computes the same way (DESIGN.md, "Derived figures").

Input: one depot's journal rows for one item, in business order (`occurred_at`, then
ledger position). Counts reset the balance; lots are drawn first-expiry-first-out; the
figures are exact integers, and days of supply is rounded half up to one decimal.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

CONSUMPTION_WINDOW = timedelta(days=14)
CONSUMPTION = "ConsumptionReported"


@dataclass
class Lot:
    lot: str | None
    expires_on: date | None
    quantity: int = 0


@dataclass
class Lots:
    """Stock by lot; stock of no known lot is the `None` lot, drawn after every dated lot."""

    by_lot: dict[str | None, Lot] = field(default_factory=dict)

    def add(self, quantity: int, lot: str | None = None, expires_on: date | None = None) -> None:
        entry = self.by_lot.setdefault(lot, Lot(lot, expires_on))
        if entry.expires_on is None and expires_on is not None:
            entry.expires_on = expires_on
        entry.quantity += quantity

    def draw(self, quantity: int, lot: str | None = None) -> None:
        remaining = quantity
        if lot is not None and lot in self.by_lot:
            remaining -= self._take(self.by_lot[lot], remaining)
        for entry in sorted(
            (e for e in self.by_lot.values() if e.lot is not None and e.quantity > 0),
            key=lambda e: (e.expires_on is None, e.expires_on or date.max, e.lot),
        ):
            if remaining == 0:
                break
            remaining -= self._take(entry, remaining)
        if remaining:
            self.add(-remaining)  # more drawn than known: the unknown lot goes negative

    @staticmethod
    def _take(entry: Lot, wanted: int) -> int:
        taken = max(0, min(entry.quantity, wanted))
        entry.quantity -= taken
        return taken

    def expired(self, on: date) -> int:
        return sum(e.quantity for e in self.by_lot.values() if e.expires_on and e.expires_on < on and e.quantity > 0)

    def listing(self) -> list[dict[str, Any]]:
        return [
            {"lot": e.lot, "expires_on": e.expires_on.isoformat() if e.expires_on else None, "quantity": e.quantity}
            for e in sorted(
                self.by_lot.values(), key=lambda e: (e.lot is None, e.expires_on or date.max, e.lot or "")
            )
            if e.quantity != 0
        ]


@dataclass
class ItemFold:
    on_hand: int = 0
    consumed_14d: int = 0
    discrepancy: bool = False
    lots: Lots = field(default_factory=Lots)


def fold_item(rows: Iterable[Mapping[str, Any]], as_of: datetime) -> ItemFold:
    """Fold one item's journal rows dated at or before `as_of`.

    `discrepancy` is true when the balance went below zero since the last count (a count
    is ground truth and settles it).
    """
    result = ItemFold()
    window_start = as_of - CONSUMPTION_WINDOW
    for row in rows:
        at = row["occurred_at"]
        if at > as_of:
            continue
        counted, delta = row["counted"], row["delta"]
        if counted is not None:
            variance = counted - result.on_hand
            result.on_hand = counted
            result.discrepancy = False
            if variance < 0:
                result.lots.draw(-variance)
            elif variance > 0:
                result.lots.add(variance)
        else:
            result.on_hand += delta
            if delta > 0:
                result.lots.add(delta, row.get("lot"), _as_date(row.get("expires_on")))
            elif delta < 0:
                result.lots.draw(-delta, row.get("lot"))
        if result.on_hand < 0:
            result.discrepancy = True
        if row["event_type"] == CONSUMPTION and window_start < at:
            result.consumed_14d += -delta
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
