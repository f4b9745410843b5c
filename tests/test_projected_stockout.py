"""The projected stockout day, solved a stretch between arrivals at a time, equals the day-by-day
reading of DESIGN.md ("Shortage watch") in exact fractions."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from projections.alerts.conditions import stockout_day


def day_by_day(on_hand: int, consumed_14d: int, arriving_on: dict[int, int], horizon: int) -> int | None:
    daily = Fraction(consumed_14d, 14)
    for day in range(horizon + 1):
        arrived = sum(quantity for due, quantity in arriving_on.items() if due <= day)
        if on_hand + arrived - daily * day <= 0:
            return day
    return None


@given(
    on_hand=st.integers(-100, 5_000),
    consumed=st.integers(1, 3_000),
    arriving=st.dictionaries(st.integers(0, 40), st.integers(0, 2_000), max_size=5),
    horizon=st.integers(0, 45),
)
def test_the_stretch_solution_equals_the_day_by_day_reading(
    on_hand: int, consumed: int, arriving: dict[int, int], horizon: int
) -> None:
    assert stockout_day(on_hand, consumed, arriving, horizon) == day_by_day(on_hand, consumed, arriving, horizon)


def test_hand_computed_days() -> None:
    assert stockout_day(100, 140, {}, 21) == 10  # 10 a day: 100 last exactly 10 days
    assert stockout_day(101, 140, {}, 21) == 11
    assert stockout_day(100, 140, {5: 50}, 21) == 15  # 50 more on day 5: five more days
    assert stockout_day(100, 140, {12: 50}, 21) == 10  # arrives after the stock ran out
    assert stockout_day(0, 14, {}, 21) == 0
    assert stockout_day(300, 140, {}, 21) is None  # 30 days: beyond the 21-day horizon
