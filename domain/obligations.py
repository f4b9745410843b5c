"""Preparedness obligations as the regulations write them (DESIGN.md, "Obligation bases").

An obligation says how much of an item a depot must hold. The 14-day rate answers "how long
will it last", but a regulation states its own basis: Norway a share of the average annual
use over the last complete calendar years, abnormal years replaced; Denmark six weeks of a
stated expected use. These are the terms and the one formula for `required`; the views feed
it the figures they folded (`projections.obligations`).

`required` is in whole units, rounded up from the exact fraction: a regulator asks for at
least the share, never a unit less.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from math import ceil
from typing import Literal

from domain.stock import CONSUMPTION_WINDOW

Basis = Literal["recent_consumption", "annual_average", "fixed_daily"]
BASES: tuple[Basis, ...] = ("recent_consumption", "annual_average", "fixed_daily")
RECENT: Basis = "recent_consumption"
ANNUAL: Basis = "annual_average"
FIXED: Basis = "fixed_daily"

DEFAULT_YEARS = 3
"""The Norwegian rule's three calendar years."""
MAX_YEARS = 50
"""No regulation averages over more years than this."""

OBLIGATION_FIELDS = ("min_days", "share_of_year", "years", "exclude_years", "daily_quantity")
BASIS_FIELDS: dict[str, tuple[set[str], set[str]]] = {
    "recent_consumption": ({"min_days"}, set()),
    "annual_average": ({"share_of_year"}, {"years", "exclude_years"}),
    "fixed_daily": ({"min_days", "daily_quantity"}, set()),
}
"""What each basis needs, and what else it takes; any other of `OBLIGATION_FIELDS` is refused."""

WINDOW_DAYS = CONSUMPTION_WINDOW.days


def exact(value: float | int) -> Fraction:
    """A stated share or daily quantity as the decimal it was written as (0.1 is one tenth)."""
    return Fraction(str(value))


@dataclass(frozen=True)
class ObligationTerms:
    """One obligation's terms as set: its basis and the parameters that basis reads.

    recent_consumption: `min_days` × the 14-day average; annual_average: `share_of_year` × the
    average annual consumption over the last `years` complete calendar years before the cut's
    year, excluded years replaced by earlier ones; fixed_daily: `min_days` × `daily_quantity`."""

    basis: Basis = RECENT
    min_days: int | None = None
    share_of_year: float | None = None
    years: int | None = None
    exclude_years: tuple[int, ...] = ()
    daily_quantity: float | None = None

    def counted_years(self, year: int) -> list[int]:
        """The complete calendar years an annual average as of a date in `year` is taken over:
        the last `years` before `year` that are not excluded (an excluded year is replaced by
        the one before the earliest counted), newest first. Empty for the other bases."""
        if self.basis != ANNUAL:
            return []
        wanted, excluded = self.years or DEFAULT_YEARS, set(self.exclude_years)
        counted: list[int] = []
        candidate = year - 1
        while len(counted) < wanted and candidate > year - 1 - wanted - len(excluded):
            if candidate not in excluded:
                counted.append(candidate)
            candidate -= 1
        return counted

    def required(self, consumed_14d: int, annual: Mapping[int, int], year: int) -> int:
        """Units the depot must hold. `consumed_14d` is the consumption of the 14 days up to the
        cut; `annual` the consumption per calendar year (years missing from it count as none);
        `year` the cut's calendar year (UTC)."""
        if self.basis == ANNUAL:
            years = self.counted_years(year)
            total = sum(annual.get(y, 0) for y in years)
            return ceil(exact(self.share_of_year or 0) * Fraction(total, len(years)))
        if self.basis == FIXED:
            return ceil((self.min_days or 0) * exact(self.daily_quantity or 0))
        return ceil(Fraction((self.min_days or 0) * consumed_14d, WINDOW_DAYS))


@dataclass(frozen=True)
class ObligationFigures:
    """What a view reports of an obligation: the basis and `min_days` it was set with, the units
    required, whether the depot meets it and by how many units it falls short."""

    basis: Basis
    min_days: int | None
    required: int
    meets: bool | None
    shortfall: int


def obligation_figures(
    terms: ObligationTerms,
    on_hand: int,
    days_of_supply: float | None,
    consumed_14d: int,
    annual: Mapping[int, int],
    year: int,
) -> ObligationFigures:
    """The one place the obligation arithmetic is done, for every view.

    recent_consumption keeps the rule views always had: met when days of supply (one decimal)
    is at least `min_days`, unknown without consumption. The other bases: met when on hand is at
    least `required`. The shortfall is `required - on_hand` when that is positive and the
    obligation is not met; it is 0 when met, so a depot whose days of supply round up to
    `min_days` is never reported both compliant and short."""
    required = terms.required(consumed_14d, annual, year)
    if terms.basis == RECENT:
        meets = None if terms.min_days is None or days_of_supply is None else days_of_supply >= terms.min_days
    else:
        meets = on_hand >= required
    return ObligationFigures(terms.basis, terms.min_days, required, meets, shortfall(required, on_hand, meets))


def shortfall(required: int, on_hand: int, meets: bool | None) -> int:
    """Units missing to meet an obligation: none when it is met."""
    return 0 if meets else max(0, required - on_hand)
