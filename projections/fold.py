"""The fold every view computes the same way (DESIGN.md, "Derived figures").

Input: one depot's journal rows for one item, in business order (`occurred_at`, then
ledger position, then line), and the lots' expiries as known at the cut. Counts reset the
balance (and flag a discrepancy when they differ from it by more than the count variance
share); lots are drawn first-expiry-first-out; the figures are exact integers, and days of supply is rounded
half up to one decimal. The state after any prefix of the rows is plain data, so it can
be stored as a checkpoint and folding resumed from it (`projections.history`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from domain.stock import CONSUMPTION_WINDOW, count_disagrees

CONSUMPTION = "ConsumptionReported"
OBLIGATION = "ObligationSet"


Expiries = Mapping[str, date]
"""A lot's expiry by lot name, as known at a cut: a fact about the lot, learnt from the first
receipt that states it anywhere in the ledger (`projections.history`), not from the depot's rows."""

STATE_FORMAT = 2
"""Bumped when what a saved fold state means changes; a checkpoint of another format is not resumed."""


def as_date(value: Any) -> date | None:
    """A stored date: SQLite gives ISO text, PostgreSQL a date."""
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(value)


@dataclass
class Lots:
    """Stock by lot. A named lot holds a quantity; stock of no known lot (`unknown`) is drawn after
    every named lot, and it is what goes negative when more is drawn than the books hold.

    A named lot's expiry is not part of the state: draws and listings look it up in the cut's
    `Expiries`, so a receipt stating it that is recorded late changes the views from when it is
    known. `seen` keeps the expiry each lot entering the state was folded with, so a saved state is
    resumed only by a cut that knows the same expiries (`agrees`). A named lot that runs empty
    leaves `by_lot` (ten years of deliveries do not slow every later draw). Stock of no known lot
    keeps the first expiry a receipt without a lot gave it at this depot."""

    by_lot: dict[str, int] = field(default_factory=dict)
    unknown: int = 0
    unknown_expires_on: date | None = None
    seen: dict[str, date | None] = field(default_factory=dict)

    def add(self, quantity: int, lot: str | None, expiries: Expiries, expires_on: date | None = None) -> None:
        if lot is None:
            if self.unknown_expires_on is None:
                self.unknown_expires_on = expires_on
            self.unknown += quantity
            return
        self.seen.setdefault(lot, expiries.get(lot))
        self.by_lot[lot] = self.by_lot.get(lot, 0) + quantity

    def take(self, quantity: int, lot: str | None, expiries: Expiries) -> list[tuple[str | None, int]]:
        """Draw `quantity`: the named lot first, then first-expiry-first-out over the named lots
        (undated ones after dated ones, by name), then stock of no known lot. Returns what was
        taken from which lot (None: no known lot)."""
        taken: list[tuple[str | None, int]] = []
        remaining = quantity
        order = sorted(
            (name for name, held in self.by_lot.items() if held > 0),
            key=lambda name: (expiries.get(name) is None, expiries.get(name) or date.max, name),
        )
        if lot is not None and lot in self.by_lot:
            order = [lot, *(name for name in order if name != lot)]
        for name in order:
            if remaining == 0:
                break
            part = max(0, min(self.by_lot[name], remaining))
            if part:
                taken.append((name, part))
                remaining -= part
                self.by_lot[name] -= part
            if self.by_lot[name] == 0:
                del self.by_lot[name]
        if remaining:
            taken.append((None, remaining))
            self.unknown -= remaining  # more drawn than known: the unknown lot goes negative
        return taken

    def draw(self, quantity: int, lot: str | None, expiries: Expiries) -> None:
        self.take(quantity, lot, expiries)

    def agrees(self, expiries: Expiries) -> bool:
        """Whether this state was folded with the same expiries as `expiries` gives its lots."""
        return all(expiries.get(lot) == expires_on for lot, expires_on in self.seen.items())

    def held(self, lot: str) -> int:
        return self.by_lot.get(lot, 0)

    def _entries(self, expiries: Expiries) -> list[tuple[str | None, date | None, int]]:
        entries: list[tuple[str | None, date | None, int]] = [
            (lot, expiries.get(lot), quantity) for lot, quantity in self.by_lot.items()
        ]
        return [*entries, (None, self.unknown_expires_on, self.unknown)]

    def expired(self, on: date, expiries: Expiries) -> int:
        return sum(q for _, exp, q in self._entries(expiries) if exp is not None and exp < on and q > 0)

    def listing(self, expiries: Expiries) -> list[dict[str, Any]]:
        return [
            {"lot": lot, "expires_on": exp.isoformat() if exp else None, "quantity": q}
            for lot, exp, q in sorted(
                self._entries(expiries), key=lambda e: (e[0] is None, e[1] or date.max, e[0] or "")
            )
            if q != 0
        ]

    def dump(self) -> dict[str, Any]:
        return {
            "lots": self.by_lot,
            "unknown": [self.unknown_expires_on.isoformat() if self.unknown_expires_on else None, self.unknown],
            "seen": {lot: exp.isoformat() if exp else None for lot, exp in self.seen.items()},
        }

    @classmethod
    def load(cls, dumped: dict[str, Any]) -> Lots:
        unknown_expires_on, unknown = dumped["unknown"]
        return cls(
            dict(dumped["lots"]),
            unknown,
            as_date(unknown_expires_on),
            {lot: as_date(exp) for lot, exp in dumped["seen"].items()},
        )


NO_EXPIRIES: Expiries = {}


@dataclass
class ItemState:
    """One item at one depot after folding a prefix of its rows in business order.

    `discrepancy` says the book disagrees with the world since the last count: that count
    differed from the balance just before it by more than the count variance share
    (`domain.stock.count_disagrees`), or on hand went below zero after it."""

    on_hand: int = 0
    transit_in: int = 0
    transit_out: int = 0
    reserved: int = 0
    min_days: int | None = None
    discrepancy: bool = False
    lots: Lots = field(default_factory=Lots)

    def apply(self, row: Mapping[str, Any], expiries: Expiries = NO_EXPIRIES) -> None:
        counted, delta = row["counted"], row["delta"]
        if counted is not None:
            book, variance = self.on_hand, counted - self.on_hand
            self.on_hand = counted
            self.discrepancy = count_disagrees(book, counted)  # a count is ground truth: it settles or raises it
            if variance < 0:
                self.lots.draw(-variance, None, expiries)
            elif variance > 0:
                self.lots.add(variance, None, expiries)
        elif delta:
            self.on_hand += delta
            if delta > 0:
                self.lots.add(delta, row.get("lot"), expiries, as_date(row.get("expires_on")))
            else:
                self.lots.draw(-delta, row.get("lot"), expiries)
        if self.on_hand < 0:
            self.discrepancy = True
        self.transit_in += row.get("transit_in") or 0
        self.transit_out += row.get("transit_out") or 0
        self.reserved += row.get("reserved") or 0
        if row.get("event_type") == OBLIGATION or row.get("min_days") is not None:
            self.min_days = row["min_days"]  # the obligation in force; None on annual_average

    def dump(self) -> dict[str, Any]:
        return {
            "format": STATE_FORMAT,
            "on_hand": self.on_hand,
            "transit_in": self.transit_in,
            "transit_out": self.transit_out,
            "reserved": self.reserved,
            "min_days": self.min_days,
            "discrepancy": self.discrepancy,
            "lots": self.lots.dump(),
        }

    @classmethod
    def load(cls, dumped: Mapping[str, Any]) -> ItemState | None:
        """None for a state saved in another format (a checkpoint written by an earlier version)."""
        if dumped.get("format") != STATE_FORMAT:
            return None
        fields = {k: v for k, v in dumped.items() if k != "format"}
        return cls(**{**fields, "lots": Lots.load(dumped["lots"])})


@dataclass
class ItemFold:
    """The state at `as_of` plus the consumption in the 14 days up to it, and the lots'
    expiries as known at the cut (what its listing and expired stock read)."""

    state: ItemState
    consumed_14d: int = 0
    expiries: Expiries = field(default_factory=dict)


def window_start(as_of: datetime) -> datetime:
    return as_of - CONSUMPTION_WINDOW


def fold_item(
    rows: Iterable[Mapping[str, Any]],
    as_of: datetime | None,
    now: datetime | None = None,
    expiries: Expiries = NO_EXPIRIES,
) -> ItemFold:
    """Fold one item's rows (business order) dated at or before `as_of` (None: every row, with
    the consumption window ending at `now`). The reference every faster path must equal."""
    end = as_of if as_of is not None else now
    start = window_start(end) if end is not None else None
    result = ItemFold(ItemState(), expiries=expiries)
    for row in rows:
        at = row["occurred_at"]
        if as_of is not None and at > as_of:
            continue
        result.state.apply(row, expiries)
        if row["event_type"] == CONSUMPTION and start is not None and start < at <= end:
            result.consumed_14d += -row["delta"]
    return result


def avg_daily_consumption(consumed_14d: int) -> float:
    return round(consumed_14d / CONSUMPTION_WINDOW.days, 2)


def days_of_supply(on_hand: int, consumed_14d: int) -> float | None:
    """on_hand / (consumed over 14 days / 14), one decimal, half up; none without consumption."""
    if consumed_14d <= 0:
        return None
    exact = Decimal(on_hand) * CONSUMPTION_WINDOW.days / Decimal(consumed_14d)
    return float(exact.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))
