"""The exercise's simulated demand and timetable (domain/simulation.py), checked by hand and by property.

Each hand-computed case shows its arithmetic: demand on day n is floor(C_n) - floor(C_{n-1})
where C_n is the exact running total of rate x surge factor.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from domain.scenario import Inject
from domain.simulation import (
    DAY,
    Baseline,
    consumed,
    day_ends,
    demand,
    demands,
    failed_deliveries,
    lost,
    steps,
    surge_factor,
)

START = datetime(2026, 3, 1, tzinfo=UTC)
INJECT: TypeAdapter[Inject] = TypeAdapter(Inject)


def inject(**fields: object) -> Inject:
    return INJECT.validate_python(fields)


def day(n: float) -> datetime:
    return START + n * DAY


def surge(at: datetime, days: int, factor: float, **where: object) -> Inject:
    return inject(kind="consumption_surge", at=at, days=days, factor=factor, **where)


ward = Baseline(depot="DK-H1", region="Hovedstaden", item="FFP2", consumed_14d=140)  # 10 a day


# --- demand ----------------------------------------------------------------------------


def test_a_surge_over_days_three_and_four_multiplies_only_those_days() -> None:
    # the surge starts at the end of day 2 and lasts 2 days: it covers the days ending at
    # day 3 and day 4 (at < end <= at + 2 days); 10 x 2.5 = 25 on each
    surges = [surge(day(2), 2, 2.5, region="Hovedstaden", item="FFP2")]
    assert demands(ward, surges, START, 5) == [10, 10, 25, 25, 10]
    assert [demand(ward, surges, START, n) for n in range(1, 6)] == [10, 10, 25, 25, 10]


def test_half_a_unit_a_day_alternates_zero_and_one() -> None:
    # 7 / 14 = 0.5 a day: C = 0.5, 1, 1.5, 2, ... floors 0, 1, 1, 2 -> steps 0, 1, 0, 1
    slow = Baseline("M1", "Sjaelland", "GLOVE", 7)
    assert demands(slow, [], START, 6) == [0, 1, 0, 1, 0, 1]


def test_five_fourteenths_a_day_never_drifts() -> None:
    # 5 / 14 a day: C = 5/14, 10/14, 15/14, 20/14, 25/14, 30/14 -> floors 0, 0, 1, 1, 1, 2
    slow = Baseline("M1", "Sjaelland", "GLOVE", 5)
    assert demands(slow, [], START, 6) == [0, 0, 1, 0, 0, 1]


def test_fractional_surge_keeps_the_running_total_exact() -> None:
    # 3 a day (42 / 14) x 1.5 over days 1-3 = 4.5 a day: C = 4.5, 9, 13.5, 16.5 -> 4, 5, 4, 3
    depot = Baseline("D", "R", "I", 42)
    assert demands(depot, [surge(START, 3, 1.5, depot="D")], START, 4) == [4, 5, 4, 3]


def test_overlapping_surges_multiply_and_others_do_not_apply() -> None:
    surges = [
        surge(day(0), 2, 2, region="Hovedstaden"),  # days 1-2, every item
        surge(day(1), 2, 3, depot="DK-H1", item="FFP2"),  # days 2-3
        surge(day(0), 5, 100, region="Syddanmark"),  # another region
        surge(day(0), 5, 100, depot="DK-H1", item="GOWN"),  # another item
        inject(kind="message", at=day(0), text="not a surge"),
    ]
    assert surge_factor(surges, day(1), "DK-H1", "Hovedstaden", "FFP2") == 2
    assert surge_factor(surges, day(2), "DK-H1", "Hovedstaden", "FFP2") == 6
    assert surge_factor(surges, day(3), "DK-H1", "Hovedstaden", "FFP2") == 3
    assert surge_factor(surges, day(4), "DK-H1", "Hovedstaden", "FFP2") == 1
    assert demands(ward, surges, START, 4) == [20, 60, 30, 10]


def test_no_baseline_consumption_means_no_demand() -> None:
    idle = Baseline("D", "R", "I", 0)
    assert demands(idle, [surge(START, 5, 10, depot="D")], START, 5) == [0] * 5
    assert demands(ward, [], START, 0) == []


# --- consumption and losses ------------------------------------------------------------


def test_consumption_is_capped_by_stock_and_never_negative() -> None:
    assert consumed(10, 25) == 10
    assert consumed(10, 4) == 4
    assert consumed(10, 0) == 0
    assert consumed(10, -3) == 0


def test_a_loss_destroys_whole_units_of_what_is_there() -> None:
    assert lost(101, Fraction(1, 2)) == 50
    assert lost(100, Fraction(1)) == 100
    assert lost(-5, Fraction(1, 2)) == 0
    assert lost(7, Fraction(3, 10)) == 2


# --- the clock -------------------------------------------------------------------------


def test_day_ends_are_those_after_the_last_step_up_to_the_new_clock() -> None:
    assert day_ends(START, START, day(3)) == [(1, day(1)), (2, day(2)), (3, day(3))]
    # half-day steps: the end of day 2 falls in (1.5, 2.5]
    assert day_ends(START, day(1.5), day(2.5)) == [(2, day(2))]
    assert day_ends(START, day(2), day(2)) == []
    assert day_ends(START, day(2) - timedelta(seconds=1), day(2)) == [(2, day(2))]
    # never a day 0 or earlier, even if asked from before the start
    assert day_ends(START, day(-3), day(1)) == [(1, day(1))]


def test_failures_stop_deliveries_in_their_window_only() -> None:
    injects = [
        ("I-0001", inject(kind="delivery_failure", at=day(2), days=3, supplier="Acme")),
        (
            "I-0002",
            inject(kind="delivery", at=day(2), depot="A", item="FFP2", quantity=100, supplier="Acme"),
        ),  # window starts
        (
            "I-0003",
            inject(
                kind="delivery", at=day(5) - timedelta(seconds=1), depot="B", item="FFP2", quantity=1, supplier="Acme"
            ),
        ),
        (
            "I-0004",
            inject(kind="delivery", at=day(5), depot="A", item="FFP2", quantity=100, supplier="Acme"),
        ),  # window over
        ("I-0005", inject(kind="delivery", at=day(1), depot="A", item="FFP2", quantity=100, supplier="Acme")),  # before
        ("I-0006", inject(kind="delivery", at=day(3), depot="A", item="FFP2", quantity=100, supplier="Other")),
        ("I-0007", inject(kind="delivery_failure", at=day(3), days=1, depot="C", item="GOWN")),
        ("I-0008", inject(kind="delivery", at=day(3), depot="C", item="GOWN", quantity=5)),
        ("I-0009", inject(kind="delivery", at=day(3), depot="C", item="FFP2", quantity=5)),  # other item
    ]
    assert failed_deliveries(injects) == {"I-0002", "I-0003", "I-0008"}


def test_steps_put_injects_before_the_day_end_at_the_same_time_in_id_order() -> None:
    fire = inject(kind="depot_loss", at=day(2), depot="A", fraction=0.5)
    note = inject(kind="message", at=day(2), text="smoke")
    early = inject(kind="message", at=day(1.5), text="noon")
    injects = [
        ("I-0003", fire),
        ("I-0002", note),
        ("I-0001", early),
        ("I-0004", inject(kind="message", at=day(9), text="later")),
    ]
    got = steps(injects, START, day(1), day(3))
    assert [(s.at, s.inject_id, s.day) for s in got] == [
        (day(1.5), "I-0001", None),
        (day(2), "I-0002", None),
        (day(2), "I-0003", None),
        (day(2), None, 2),
        (day(3), None, 3),
    ]
    assert got[2].inject is fire and got[3].is_day_end and not got[2].is_day_end


def test_steps_leave_out_what_was_due_at_the_previous_clock() -> None:
    injects = [("I-0001", inject(kind="message", at=day(1), text="already applied"))]
    assert [s.day for s in steps(injects, START, day(1), day(2))] == [2]


# --- properties ------------------------------------------------------------------------

surges_strategy = st.lists(
    st.builds(
        lambda start, days, factor, here: surge(
            day(start), days, factor, **({"depot": "D"} if here else {"region": "R"})
        ),
        st.integers(-3, 20),
        st.integers(1, 10),
        st.one_of(st.integers(1, 5), st.sampled_from([0.1, 0.25, 0.5, 1.5, 2.5, 3.3])),
        st.booleans(),
    ),
    max_size=4,
)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 10_000), surges_strategy, st.integers(1, 30))
def test_demand_adds_up_to_the_floor_of_the_exact_total(consumed_14d: int, surges: list[Inject], n: int) -> None:
    baseline = Baseline("D", "R", "I", consumed_14d)
    got = demands(baseline, surges, START, n)
    exact = sum(
        (Fraction(consumed_14d, 14) * surge_factor(surges, day(j), "D", "R", "I") for j in range(1, n + 1)),
        Fraction(0),
    )
    assert sum(got) == int(exact // 1)
    assert all(units >= 0 for units in got)
    assert got[-1] == demand(baseline, surges, START, n)


@settings(max_examples=100, deadline=None)
@given(st.integers(0, 10_000), st.integers(-3, 20), st.integers(1, 10), st.integers(1, 30))
def test_a_surge_of_factor_one_is_no_surge(consumed_14d: int, start: int, days: int, n: int) -> None:
    baseline = Baseline("D", "R", "I", consumed_14d)
    assert demands(baseline, [surge(day(start), days, 1, depot="D")], START, n) == demands(baseline, [], START, n)
