"""The exercise's simulated world: daily demand from the forked rate, and the order things happen in.

Pure arithmetic, shared by the service (when the scenario clock advances it writes what
this computes) and by the counterfactual (which recomputes it in memory), so both see the
same demand to the unit. Demand is exact: a rate of 7/14 a day is 0, 1, 0, 1, ... units,
never a rounded 0 or 1 every day, because each day's integer demand is the step of the
floor of the exact running total.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction
from math import floor, prod

from domain.scenario import ConsumptionSurge, Delivery, DeliveryFailure, Inject

DAY = timedelta(days=1)
"""A simulated day: day n covers (start + (n-1) days, start + n days]."""


@dataclass(frozen=True)
class Baseline:
    """A depot's forked consumption of an item: `consumed_14d` units in the 14 days before the start."""

    depot: str
    region: str
    item: str
    consumed_14d: int

    @property
    def rate(self) -> Fraction:
        """Units a day, exactly: what the depot was using when the exercise forked."""
        return Fraction(self.consumed_14d, 14)


def day_ends(start: datetime, after: datetime, until: datetime) -> list[tuple[int, datetime]]:
    """The simulated days n >= 1 whose end `start + n*DAY` lies in (after, until], as (n, end)."""
    first = max(1, (after - start) // DAY + 1)
    last = (until - start) // DAY
    return [(n, start + n * DAY) for n in range(first, last + 1)]


def surge_factor(surges: Iterable[Inject], day_end: datetime, depot: str, region: str, item: str) -> Fraction:
    """How many times the usual demand the day ending at `day_end` sees: surges covering it multiply.

    Anything that is not a consumption surge is ignored, so a whole scenario can be passed."""
    return prod(
        (s.exact_factor for s in surges if isinstance(s, ConsumptionSurge) and s.covers(day_end, depot, region, item)),
        start=Fraction(1),
    )


def demands(baseline: Baseline, surges: Iterable[Inject], start: datetime, n: int) -> list[int]:
    """Integer demand on days 1..n: day j's is floor(C_j) - floor(C_{j-1}), C the exact running total.

    The running total of the integers is floor(C_n), so it never drifts a unit from the exact demand."""
    surges = list(surges)
    rate = baseline.rate
    total = Fraction(0)
    met = 0
    result = []
    for j in range(1, n + 1):
        day_end = start + j * DAY
        total += rate * surge_factor(surges, day_end, baseline.depot, baseline.region, baseline.item)
        whole = floor(total)
        result.append(whole - met)
        met = whole
    return result


def demand(baseline: Baseline, surges: Iterable[Inject], start: datetime, n: int) -> int:
    """Integer demand on simulated day n (n >= 1); see `demands`."""
    if n < 1:
        raise ValueError("simulated days are numbered from 1")
    return demands(baseline, surges, start, n)[-1]


def consumed(demand: int, on_hand: int) -> int:
    """What a depot can actually use of a day's demand: no more than it holds."""
    return min(demand, max(0, on_hand))


def lost(on_hand: int, fraction: Fraction) -> int:
    """Units a depot loss (fire, flood) destroys: whole units of the stock present, rounded down."""
    return floor(max(0, on_hand) * fraction)


def failed_deliveries(injects: Sequence[tuple[str, Inject]], at_clock: Mapping[str, int] | None = None) -> set[str]:
    """Ids of the scheduled deliveries that a delivery failure stops: they never arrive.

    `at_clock`: the injects scheduled at the time the clock already stood at, with the number
    of advances before them (`Exercise.at_clock`). Such a failure cannot stop a delivery at
    that same time that an earlier advance already applied."""
    at_clock = at_clock or {}
    failures = [(i, inject) for i, inject in injects if isinstance(inject, DeliveryFailure)]

    def applied_first(delivery_id: str, delivery: Delivery, failure_id: str, failure: DeliveryFailure) -> bool:
        if failure_id not in at_clock or delivery.at != failure.at:
            return False
        return delivery_id not in at_clock or at_clock[delivery_id] < at_clock[failure_id]

    return {
        inject_id
        for inject_id, inject in injects
        if isinstance(inject, Delivery)
        and any(f.stops(inject) and not applied_first(inject_id, inject, i, f) for i, f in failures)
    }


@dataclass(frozen=True)
class Step:
    """One thing the scenario clock passes: an inject falling due, or the end of simulated day `day`."""

    at: datetime
    day: int | None = None
    inject_id: str | None = None
    inject: Inject | None = None

    @property
    def is_day_end(self) -> bool:
        return self.day is not None


def steps(injects: Sequence[tuple[str, Inject]], start: datetime, after: datetime, until: datetime) -> list[Step]:
    """What happens when the clock moves from `after` to `until`, in order.

    Injects due in (after, until] and day ends in (after, until], by time; at equal times
    the injects come first (a fire at midnight burns stock before that day's consumption),
    and injects due together keep their id order ("I-0001" before "I-0002")."""
    due = [
        Step(at=inject.at, inject_id=inject_id, inject=inject)
        for inject_id, inject in injects
        if after < inject.at <= until
    ]
    ends = [Step(at=end, day=n) for n, end in day_ends(start, after, until)]
    return sorted(due + ends, key=lambda s: (s.at, s.is_day_end, s.inject_id or ""))
