"""The after-action measures (replay/measures.py) on a small hand-built run, asserted exactly.

The run: five simulated days from 1 March; depots N (national), A, B (region R1) and C
(region R2). Comments show the arithmetic each assertion rests on.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from replay.exercise_run import (
    DecisionRecord,
    RegionPoint,
    RequestRecord,
    Run,
    SimulatedDay,
    TransferLineRecord,
    TransferRecord,
)
from replay.measures import compare, measure
from replay.review_model import CurvePoint, Departure, FillRate, Latency, Loss, Measures, RegionCurve, Stockout

START = datetime(2026, 3, 1, tzinfo=UTC)
H = timedelta(hours=1)


def day(n: float) -> datetime:
    return START + timedelta(days=n)


def sim(depot: str, item: str, n: int, demand: int, consumed: int, region: str = "R1") -> SimulatedDay:
    return SimulatedDay(depot=depot, region=region, item=item, day_end=day(n), demand=demand, consumed=consumed)


def request(rid: str, depot: str, quantity: int, at: datetime, item: str = "FFP2") -> RequestRecord:
    return RequestRecord(
        request_id=rid,
        depot=depot,
        region="R1",
        item=item,
        quantity=quantity,
        priority="high",
        requested_at=at,
        source="api",
    )


def decision(
    aid: str,
    at: datetime,
    lines: dict[str, int],
    recommended: dict[str, int],
    item: str = "FFP2",
    rationale: str | None = None,
) -> DecisionRecord:
    return DecisionRecord(
        allocation_id=aid, source="N", item=item, quantity=sum(lines.values()), policy="equal_days_of_supply",
        decided_at=at, recipients=sorted(recommended), lines=lines, recommended_lines=recommended, rationale=rationale,
    )  # fmt: skip


def transfer(
    tid: str, to: str, units: int, sent: datetime, received: int | None = None, at: datetime | None = None,
    allocation: str | None = None, item: str = "FFP2", source: str = "N", cancelled: datetime | None = None,
) -> TransferRecord:  # fmt: skip
    return TransferRecord(
        transfer_id=tid, source=source, destination=to, allocation_id=allocation, dispatched_at=sent, received_at=at,
        cancelled_at=cancelled, lines=[TransferLineRecord(item=item, dispatched=units, received=received)],
    )  # fmt: skip


def point(region: str, n: int, on_hand: int, avg: float) -> RegionPoint:
    return RegionPoint(
        region=region, item="FFP2", at=day(n), on_hand=on_hand, consumed_14d=round(avg * 14), avg_daily_consumption=avg
    )


DAYS = [
    # A/FFP2 short on days 2, 3 and 5: two stockouts, the second still going at the end
    *[sim("A", "FFP2", n, 10, c) for n, c in enumerate([10, 4, 0, 10, 7], start=1)],
    *[sim("B", "FFP2", n, 5, 5) for n in range(1, 6)],
    *[sim("C", "FFP2", n, 8, c, region="R2") for n, c in enumerate([8, 8, 2, 8, 8], start=1)],
    *[sim("A", "GOWN", n, 3, 0 if n == 4 else 3) for n in range(1, 6)],
]
REQUESTS = [
    request("Q1", "A", 20, day(1) + 2 * H + timedelta(minutes=20)),
    request("Q2", "C", 10, day(2) + timedelta(minutes=10)),
    request("Q3", "A", 10, day(3) + H),
    request("Q4", "B", 5, day(1)),  # nobody ever allocates to B
]
DECISIONS = [
    decision("X1", day(1) + 8 * H, {"A": 15, "C": 0}, {"A": 10, "C": 5}, rationale="A is the hospital"),
    decision("X2", day(3) + 12 * H, {"C": 10, "A": 5}, {"A": 5, "B": 0, "C": 10}),  # same, zeros aside
    decision("X3", day(1) + 4 * H, {"A": 3}, {"A": 3}, item="GOWN"),  # gowns answer no FFP2 request
]
TRANSFERS = [
    transfer("T1", "A", 15, day(1) + 10 * H, 13, day(2) + 4 * H, allocation="X1"),  # 18 h, 2 lost
    transfer("T2", "C", 10, day(3) + 13 * H, 10, day(4) + H, allocation="X2"),  # 12 h
    transfer("T3", "A", 5, day(3) + 13 * H, allocation="X2"),  # in transit at the end
    transfer("T4", "A", 4, day(1), source="B", cancelled=day(1) + H),  # cancelled: no latency
    transfer("T5", "A", 3, day(1) + 5 * H, 3, day(1) + 11 * H, allocation="X3", item="GOWN"),  # 6 h
    transfer("T6", "A", 12, day(3) + 2 * H, 12, day(4) + 2 * H),  # 24 h, direct
    transfer("T7", "A", 10, day(1), 8, day(5)),  # 96 h, 2 lost, sent before any request
]
REGIONS = [
    *[point("R1", n, oh, 15) for n, oh in [(1, 150), (2, 60), (3, 30), (4, 45), (5, 30)]],
    point("R2", 1, 24, 0),
    point("R2", 3, 4, 8),  # given out of order: the curve sorts by time
    point("R2", 2, 16, 8),
    point("R3", 1, 5, 0),
]
RUN = Run(
    start=START, end=day(5), days=DAYS, requests=REQUESTS, decisions=DECISIONS, transfers=TRANSFERS, regions=REGIONS
)


@pytest.fixture(scope="module")
def measures() -> Measures:
    return measure(RUN)


def test_stockouts_are_runs_of_consecutive_short_days(measures: Measures) -> None:
    # A/FFP2 short on days 2-3 (6 + 10 unmet) and day 5 (3); C on day 3 (6); A/GOWN on day 4 (3)
    assert measures.stockout_depot_days == 5
    assert measures.stockouts == [
        Stockout(depot="A", region="R1", item="FFP2", start=day(1), end=day(3), days=2, unmet=16, ongoing=False),
        Stockout(depot="C", region="R2", item="FFP2", start=day(2), end=day(3), days=1, unmet=6, ongoing=False),
        Stockout(depot="A", region="R1", item="GOWN", start=day(3), end=day(4), days=1, unmet=3, ongoing=False),
        Stockout(depot="A", region="R1", item="FFP2", start=day(4), end=day(5), days=1, unmet=3, ongoing=True),
    ]


def test_days_of_supply_curves_and_their_minimum(measures: Measures) -> None:
    # R1: 150/15 = 10, 60/15 = 4, 30/15 = 2, 45/15 = 3, 30/15 = 2 again: the minimum is first reached on day 3
    # R2: no consumption on day 1; 16/8 = 2, 4/8 = 0.5.  R3 never consumes: no minimum.
    r1 = RegionCurve(
        region="R1", item="FFP2", minimum=2.0, minimum_at=day(3),
        points=[
            CurvePoint(at=day(n), days_of_supply=d) for n, d in [(1, 10.0), (2, 4.0), (3, 2.0), (4, 3.0), (5, 2.0)]
        ],
    )  # fmt: skip
    r2 = RegionCurve(
        region="R2", item="FFP2", minimum=0.5, minimum_at=day(3),
        points=[
            CurvePoint(at=day(1), days_of_supply=None),
            CurvePoint(at=day(2), days_of_supply=2.0),
            CurvePoint(at=day(3), days_of_supply=0.5),
        ],
    )  # fmt: skip
    r3 = RegionCurve(
        region="R3", item="FFP2", minimum=None, minimum_at=None, points=[CurvePoint(at=day(1), days_of_supply=None)]
    )
    assert measures.days_of_supply == [r1, r2, r3]


def test_request_to_allocation_latency(measures: Measures) -> None:
    # Q1 (1d 02:20) answered by X1 (1d 08:00): 5 h 40 min = 5.67 h; the gowns decision X3 does not count
    # Q2 (2d 00:10) not by X1 (C got 0, and it came earlier) but by X2 (3d 12:00): 35 h 50 min = 35.83 h
    # Q3 (3d 01:00) answered by X2: 11 h.  Q4: nobody allocated to B.
    assert measures.request_to_allocation == Latency(count=3, median_hours=11.0, worst_hours=35.83, pending=1)


def test_dispatch_to_receipt_latency(measures: Measures) -> None:
    # received: 18, 12, 6, 24, 96 h -> median 18, worst 96; T3 in transit; T4 cancelled counts neither way
    assert measures.dispatch_to_receipt == Latency(count=5, median_hours=18.0, worst_hours=96.0, pending=1)


def test_fill_rate_first_come_first_filled(measures: Measures) -> None:
    # A/FFP2 requests: Q1 20 (1d 02:20), Q3 10 (3d 01:00).
    #   T1 13 received 2d 04:00, sent 1d 10:00: only Q1 was made by then -> Q1 13/20
    #   T6 12 received 4d 02:00, sent 3d 02:00: Q1 takes 7 (full), Q3 takes 5
    #   T7 8 received 5d, but sent on day 1 before any request: fills nothing
    # C/FFP2: T2 10 fills Q2.  B: nothing.  35 / (20 + 10 + 10 + 5) = 0.778
    assert measures.fill_rate == FillRate(requested=45, filled=35, rate=0.778)


def test_losses_in_transit(measures: Measures) -> None:
    assert measures.losses_in_transit == 4
    assert measures.losses == [
        Loss(transfer_id="T1", source="N", destination="A", item="FFP2", dispatched=15, received=13, lost=2),
        Loss(transfer_id="T7", source="N", destination="A", item="FFP2", dispatched=10, received=8, lost=2),
    ]


def test_departures_ignore_zero_lines(measures: Measures) -> None:
    assert measures.departures == [
        Departure(
            allocation_id="X1", decided_at=day(1) + 8 * H, source="N", item="FFP2", policy="equal_days_of_supply",
            recommended={"A": 10, "C": 5}, chosen={"A": 15, "C": 0}, rationale="A is the hospital",
        )
    ]  # fmt: skip
    assert (measures.decisions, measures.transfers) == (3, 7)


# --- edge cases ------------------------------------------------------------------------


def test_an_empty_run_measures_nothing() -> None:
    m = measure(Run(start=START, end=START))
    assert m.stockout_depot_days == 0 and m.stockouts == [] and m.days_of_supply == []
    assert m.request_to_allocation == Latency(count=0, median_hours=None, worst_hours=None, pending=0)
    assert m.dispatch_to_receipt == Latency(count=0, median_hours=None, worst_hours=None, pending=0)
    assert m.fill_rate == FillRate(requested=0, filled=0, rate=None)
    assert (m.losses_in_transit, m.losses, m.departures, m.decisions, m.transfers) == (0, [], [], 0, 0)


def test_no_requests_means_no_fill_rate_even_with_deliveries() -> None:
    run = RUN.model_copy(update={"requests": []})
    assert measure(run).fill_rate == FillRate(requested=0, filled=0, rate=None)
    assert measure(run).request_to_allocation == Latency(count=0, median_hours=None, worst_hours=None, pending=0)


def test_everything_in_transit_is_pending() -> None:
    run = Run(start=START, end=day(2), transfers=[transfer("T", "A", 5, day(1)), transfer("U", "B", 5, day(1) + H)])
    assert measure(run).dispatch_to_receipt == Latency(count=0, median_hours=None, worst_hours=None, pending=2)


def test_a_stockout_through_the_last_day_is_ongoing_and_the_median_of_two_is_their_mean() -> None:
    run = Run(
        start=START, end=day(3),
        days=[
            sim("A", "FFP2", 1, 5, 5), sim("A", "FFP2", 2, 5, 1), sim("A", "FFP2", 3, 5, 0), sim("B", "FFP2", 3, 1, 1),
        ],
        transfers=[
            transfer("T", "A", 5, day(1), 5, day(1) + H),
            transfer("U", "A", 5, day(1), 5, day(1) + 2 * H + timedelta(minutes=1)),
        ],
    )  # fmt: skip
    m = measure(run)
    assert m.stockouts == [
        Stockout(depot="A", region="R1", item="FFP2", start=day(1), end=day(3), days=2, unmet=9, ongoing=True)
    ]
    # 1 h and 2 h 1 min: median 1.5083 -> 1.51, worst 2.0167 -> 2.02
    assert m.dispatch_to_receipt == Latency(count=2, median_hours=1.51, worst_hours=2.02, pending=0)


def test_a_request_is_never_filled_beyond_its_quantity() -> None:
    run = Run(
        start=START, end=day(2),
        requests=[request("Q", "A", 5, day(0.5))],
        transfers=[transfer("T", "A", 50, day(1), 50, day(1) + H)],
    )  # fmt: skip
    assert measure(run).fill_rate == FillRate(requested=5, filled=5, rate=1.0)


@pytest.mark.parametrize("ids", [("T1", "T2"), ("T2", "T1")])
def test_receipts_at_one_time_fill_in_ledger_order_whatever_their_ids(ids: tuple[str, str]) -> None:
    """R1 (100) at 01:00 and R2 (100) at 03:00; 60 sent at 02:00 and 100 at 04:00, both received
    at 05:00, the second's receipt recorded first (position 8, then 9): it fills R1, and the
    first then fills nothing (R2 came after it left). Ids alone would fill 100 or 160."""
    early, late = ids
    sixty = transfer(early, "A", 60, day(0) + 2 * H, 60, day(0) + 5 * H).model_copy(update={"received_position": 9})
    hundred = transfer(late, "A", 100, day(0) + 4 * H, 100, day(0) + 5 * H).model_copy(update={"received_position": 8})
    run = Run(
        start=START, end=day(1),
        requests=[request("R1", "A", 100, day(0) + H), request("R2", "A", 100, day(0) + 3 * H)],
        transfers=[sixty, hundred],
    )  # fmt: skip
    assert measure(run).fill_rate == FillRate(requested=200, filled=100, rate=0.5)


# --- the comparison sentence -----------------------------------------------------------


def _with(m: Measures, depot_days: int, lowest: float | None, rate: float | None) -> Measures:
    curves = [] if lowest is None else [RegionCurve(region="R", item="I", minimum=lowest, minimum_at=START, points=[])]
    return m.model_copy(
        update={
            "stockout_depot_days": depot_days,
            "days_of_supply": curves,
            "fill_rate": FillRate(requested=10, filled=0, rate=rate),
        }
    )


def test_compare_says_what_the_policy_would_have_changed(measures: Measures) -> None:
    played, alternative = _with(measures, 7, 1.5, 0.6), _with(measures, 3, 4.2, 0.8)
    assert compare(played, alternative, "equal_days_of_supply") == (
        "Had the coordinators followed equal days of supply, stockout depot-days would have been 3 instead of 7, "
        "the lowest regional days of supply 4.2 instead of 1.5, and the fill rate 0.8 instead of 0.6."
    )


def test_compare_says_when_nothing_changed_and_leaves_out_what_neither_run_has(measures: Measures) -> None:
    played, alternative = _with(measures, 7, None, None), _with(measures, 7, 2.0, None)
    assert compare(played, alternative, "proportional_to_population") == (
        "Had the coordinators followed allocation in proportion to population, stockout depot-days would have been "
        "7 (as played) and the lowest regional days of supply 2.0 instead of not measurable."
    )


def test_with_no_allocation_decided_there_is_nothing_to_compare(measures: Measures) -> None:
    played = _with(measures, 785, 2.0, 0.5).model_copy(update={"decisions": 0})
    assert compare(played, played, "equal_days_of_supply") == (
        "No allocation was decided in this exercise, so there is no decision equal days of supply could have "
        "taken instead: nothing to compare."
    )
