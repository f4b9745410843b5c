"""The counterfactual re-run (replay/counterfactual.py) on a small world computed by hand, and conservation.

The world: start S = 1 March, five simulated days, one item (FFP2), three depots:
N (region South, national stock, 1 a day), A (North, 10 a day, population 1000) and
B (North, 5 a day, population 3000). Opening stock N 100, A 15, B 20.

Scenario: a surge x2 over North from the end of day 1 for 3 days (days 2, 3, 4);
50 units delivered to N at 1d 12:00; a failure of supplier Bmed from 2d for 2 days stops
the 30 units due to B at 3d; a fire at N at 2d 06:00 destroys half its stock; A's urgent
request for 40 at 1d. Demand: A 10, 20, 20, 20, 10; B 5, 10, 10, 10, 5; N 1 a day.

The players: B writes off 3 damaged units at 0d 18:00; B requests 15 at 1d 01:00; at 1d
13:00 they allocate 60 from N to A and B, choosing A 50, B 10 (the recommendation was A 43,
B 17); both leave N at 1d 14:00; A's arrives at 2d 12:00 with 2 lost (48), B's at 3d sharp,
after that day's consumption had already been simulated.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter

from domain.policies import POLICIES
from domain.scenario import Delivery, Inject
from domain.simulation import Baseline, failed_deliveries
from replay.counterfactual import assumptions, counterfactual, play, simulate
from replay.counterfactual_world import Opening, OpeningDepot, OpeningStock
from replay.exercise_run import (
    DecisionRecord,
    MovementRecord,
    RegionPoint,
    RequestRecord,
    Run,
    SimulatedDay,
    TransferLineRecord,
    TransferRecord,
)
from replay.measures import measure

S = datetime(2026, 3, 1, tzinfo=UTC)
H = timedelta(hours=1)
INJECT: TypeAdapter[Inject] = TypeAdapter(Inject)


def day(n: float) -> datetime:
    return S + timedelta(days=n)


def inject(**fields: object) -> Inject:
    return INJECT.validate_python(fields)


OPENING = Opening(
    depots=[
        OpeningDepot(code="N", region="South"),
        OpeningDepot(code="A", region="North", population_served=1000),
        OpeningDepot(code="B", region="North", population_served=3000),
    ],
    stocks=[
        OpeningStock(
            depot="N", item="FFP2", on_hand=100, history=[(day(-3), 14)], baseline=Baseline("N", "South", "FFP2", 14)
        ),
        # the 28 of 13 1/2 days ago leave A's 14-day window before the first day ends
        OpeningStock(
            depot="A",
            item="FFP2",
            on_hand=15,
            history=[(day(-13.5), 28), (day(-1), 112)],
            baseline=Baseline("A", "North", "FFP2", 140),
        ),  # fmt: skip
        OpeningStock(
            depot="B", item="FFP2", on_hand=20, history=[(day(-2), 70)], baseline=Baseline("B", "North", "FFP2", 70)
        ),
    ],
)
INJECTS: list[tuple[str, Inject]] = [
    ("I-0001", inject(kind="consumption_surge", at=day(1), region="North", item="FFP2", factor=2, days=3)),
    ("I-0002", inject(kind="delivery", at=day(1.5), depot="N", item="FFP2", quantity=50, supplier="Acme")),
    ("I-0003", inject(kind="delivery_failure", at=day(2), supplier="Bmed", days=2)),
    ("I-0004", inject(kind="delivery", at=day(3), depot="B", item="FFP2", quantity=30, supplier="Bmed")),
    ("I-0005", inject(kind="depot_loss", at=day(2.25), depot="N", fraction=0.5)),
    ("I-0006", inject(kind="request", at=day(1), depot="A", item="FFP2", quantity=40)),
    ("I-0007", inject(kind="message", at=day(1), text="Hospitals report rising admissions")),
]


def days(depot: str, region: str, demand_consumed: list[tuple[int, int]]) -> list[SimulatedDay]:
    return [
        SimulatedDay(depot=depot, region=region, item="FFP2", day_end=day(n), demand=d, consumed=c)
        for n, (d, c) in enumerate(demand_consumed, start=1)
    ]


def points(region: str, figures: list[tuple[int, float]]) -> list[RegionPoint]:
    return [
        RegionPoint(
            region=region,
            item="FFP2",
            at=day(n),
            on_hand=on_hand,
            consumed_14d=round(avg * 14),
            avg_daily_consumption=avg,
        )
        for n, (on_hand, avg) in enumerate(figures, start=1)
    ]


def by_time(run_days: list[SimulatedDay]) -> list[SimulatedDay]:
    return sorted(run_days, key=lambda d: (d.day_end, d.depot, d.item))


def regions_by_time(run_points: list[RegionPoint]) -> list[RegionPoint]:
    return sorted(run_points, key=lambda p: (p.at, p.region, p.item))


# As played, by hand (on hand after each day's consumption; * = short):
#   day 1  A 15-10=5    B 20-3-5=12     N 100-1=99
#   1d12   N +50 = 149;  1d14 N -50 -10 = 89
#   day 2  A 5 of 20*=0 B 12-10=2       N 88;  2d06 fire: N 88 - 44 = 44;  2d12 A +48 = 48
#   day 3  A 48-20=28   B 2 of 10*=0    N 43;  then B's 10 arrive: B 10 (the 30 for B failed)
#   day 4  A 28-20=8    B 10-10=0       N 42
#   day 5  A 8 of 10*=0 B 0 of 5*=0     N 41
PLAYED_DAYS = by_time(
    days("A", "North", [(10, 10), (20, 5), (20, 20), (20, 20), (10, 8)])
    + days("B", "North", [(5, 5), (10, 10), (10, 2), (10, 10), (5, 0)])
    + days("N", "South", [(1, 1)] * 5)
)
# Region points: on hand summed; consumption in (t - 14 d, t] summed, over 14, two decimals.
#   North window sums: A 112 + simulated (A's 28 is out), B 70 + simulated
#     day 1: 122 + 75 = 197 -> 14.07; day 2: 127 + 85 = 212 -> 15.14; day 3: 147 + 87 = 234 -> 16.71
#     day 4: 167 + 97 = 264 -> 18.86; day 5: 175 + 97 = 272 -> 19.43
#   South: 14 + 1 a day: 15, 16, 17, 18, 19 -> 1.07, 1.14, 1.21, 1.29, 1.36
PLAYED_REGIONS = regions_by_time(
    points("North", [(17, 14.07), (2, 15.14), (38, 16.71), (8, 18.86), (0, 19.43)])
    + points("South", [(99, 1.07), (88, 1.14), (43, 1.21), (42, 1.29), (41, 1.36)])
)
PLAYED = Run(
    start=S,
    end=day(5),
    days=PLAYED_DAYS,
    requests=[
        RequestRecord(
            request_id="Q-A",
            depot="A",
            region="North",
            item="FFP2",
            quantity=40,
            priority="high",
            requested_at=day(1),
            source="inject",
        ),
        RequestRecord(
            request_id="Q-B",
            depot="B",
            region="North",
            item="FFP2",
            quantity=15,
            priority="normal",
            requested_at=day(1) + H,
            source="api",
        ),
    ],  # fmt: skip
    decisions=[
        # The recommendation at 1d13, by hand: A on hand 5, 14-day consumption 122; B 12 and 75.
        # L = (60 + 5 + 12) / (197/14) = 1078/197; A 77*122/197 - 5 = 42.69, B 77*75/197 - 12 = 17.31 -> 43, 17
        DecisionRecord(
            allocation_id="X1",
            source="N",
            item="FFP2",
            quantity=60,
            policy="equal_days_of_supply",
            decided_at=day(1) + 13 * H,
            recipients=["A", "B"],
            lines={"A": 50, "B": 10},
            recommended_lines={"A": 43, "B": 17},
            rationale="A runs the ICU",
        )
    ],  # fmt: skip
    transfers=[
        TransferRecord(
            transfer_id="T1",
            source="N",
            destination="A",
            allocation_id="X1",
            dispatched_at=day(1) + 14 * H,
            received_at=day(2.5),
            lines=[TransferLineRecord(item="FFP2", dispatched=50, received=48)],
        ),
        TransferRecord(
            transfer_id="T2",
            source="N",
            destination="B",
            allocation_id="X1",
            dispatched_at=day(1) + 14 * H,
            received_at=day(3),
            lines=[TransferLineRecord(item="FFP2", dispatched=10, received=10)],
        ),
    ],  # fmt: skip
    regions=PLAYED_REGIONS,
    movements=[MovementRecord(depot="B", item="FFP2", at=day(0.75), kind="adjustment", quantity=-3)],
)


def test_as_played_reproduces_the_exercise() -> None:
    again = simulate(OPENING, INJECTS, PLAYED, None)
    assert again.days == PLAYED_DAYS
    assert again.regions == PLAYED_REGIONS
    assert again.decisions == PLAYED.decisions
    assert again.transfers == PLAYED.transfers
    assert (again.requests, again.movements, again.start, again.end) == (PLAYED.requests, PLAYED.movements, S, day(5))
    assert measure(again) == measure(PLAYED)


def test_as_played_measures() -> None:
    m = measure(PLAYED)
    assert m.stockout_depot_days == 4  # A on days 2 and 5, B on days 3 and 5
    assert (m.fill_rate.filled, m.fill_rate.requested, m.fill_rate.rate) == (50, 55, 0.909)  # A's 40 of 48, B 10 of 15
    assert m.losses_in_transit == 2 and [d.allocation_id for d in m.departures] == ["X1"]


# Had equal days of supply decided: at 1d13 N holds 149, nothing reserved, so 60 as played,
# split as the recommendation was: A 43, B 17, sent at 1d14 and arriving whole when the players'
# transfers to A and B arrived (2d12, 3d).
#   day 1, 2 as played (N 89 after the dispatch either way)
#   2d12 A +43 = 43
#   day 3  A 43-20=23   B 2 of 10*=0    N 43;  then B's 17 arrive: B 17
#   day 4  A 23-20=3    B 17-10=7       N 42
#   day 5  A 3 of 10*=0 B 7-5=2         N 41
EQUAL_DAYS = by_time(
    days("A", "North", [(10, 10), (20, 5), (20, 20), (20, 20), (10, 3)])
    + days("B", "North", [(5, 5), (10, 10), (10, 2), (10, 10), (5, 5)])
    + days("N", "South", [(1, 1)] * 5)
)
#   North: day 3 23 + 17 = 40 (consumption as played, 234 -> 16.71); day 4 3 + 7 = 10 (264 -> 18.86);
#   day 5 0 + 2 = 2 (A 167 + 3, B 97 + 5: 272 -> 19.43).  South as played.
EQUAL_REGIONS = regions_by_time(
    points("North", [(17, 14.07), (2, 15.14), (40, 16.71), (10, 18.86), (2, 19.43)])
    + points("South", [(99, 1.07), (88, 1.14), (43, 1.21), (42, 1.29), (41, 1.36)])
)


def test_equal_days_of_supply_decides_and_carries_out_its_own_lines() -> None:
    run = simulate(OPENING, INJECTS, PLAYED, "equal_days_of_supply")
    (decision,) = run.decisions
    assert (decision.quantity, decision.lines, decision.recommended_lines) == (
        60,
        {"A": 43, "B": 17},
        {"A": 43, "B": 17},
    )
    assert (decision.policy, decision.rationale, decision.decided_at) == ("equal_days_of_supply", None, day(1) + 13 * H)
    assert [(t.transfer_id, t.destination, t.dispatched_at, t.received_at, t.lines) for t in run.transfers] == [
        ("X1->A", "A", day(1) + 14 * H, day(2.5), [TransferLineRecord(item="FFP2", dispatched=43, received=43)]),
        ("X1->B", "B", day(1) + 14 * H, day(3), [TransferLineRecord(item="FFP2", dispatched=17, received=17)]),
    ]
    assert run.days == EQUAL_DAYS
    assert run.regions == EQUAL_REGIONS
    assert run.requests == PLAYED.requests and run.movements == PLAYED.movements


def test_equal_days_of_supply_measures_and_summary() -> None:
    review = counterfactual(OPENING, INJECTS, PLAYED, "equal_days_of_supply")
    m = review.measures
    # A short on days 2 and 5, B on day 3: 3 depot-days instead of 4
    assert m.stockout_depot_days == 3
    # A's 43 fill its 40, B's 17 its 15: 55 of 55; nothing lost in transit, nothing departs
    assert (m.fill_rate.filled, m.fill_rate.rate, m.losses_in_transit, m.departures) == (55, 1.0, 0, [])
    # lowest North days of supply: played 0 / 19.43 = 0.0 on day 5; here 2 / 15.14 = 0.1 on day 2
    # (day 5: 2 / 19.43 = 0.1 too, later)
    north = next(c for c in m.days_of_supply if c.region == "North")
    assert (north.minimum, north.minimum_at) == (0.1, day(2))
    assert review.summary == (
        "Had the coordinators followed equal days of supply, stockout depot-days would have been 3 instead of 4, "
        "the lowest regional days of supply 0.1 instead of 0.0, and the fill rate 1.0 instead of 0.909."
    )
    assert review.assumptions == assumptions("equal_days_of_supply")


def test_population_splits_by_population() -> None:
    # 60 x 1000/4000 = 15, 60 x 3000/4000 = 45
    (decision,) = simulate(OPENING, INJECTS, PLAYED, "proportional_to_population").decisions
    assert decision.lines == {"A": 15, "B": 45}


def test_a_decision_cannot_commit_more_than_the_source_holds_unreserved() -> None:
    # a second allocation of 100 from N at 1d 13:30, while X1's 60 are still reserved: N holds
    # 149, so 89 are free; it is never dispatched, so it only reserves
    second = PLAYED.decisions[0].model_copy(
        update={"allocation_id": "X2", "quantity": 100, "decided_at": day(1) + 13.5 * H}
    )
    run = simulate(
        OPENING, INJECTS, PLAYED.model_copy(update={"decisions": [*PLAYED.decisions, second]}), "equal_days_of_supply"
    )
    assert [(d.allocation_id, d.quantity) for d in run.decisions] == [("X1", 60), ("X2", 89)]
    assert [t.transfer_id for t in run.transfers] == ["X1->A", "X1->B"]


def test_a_recipient_the_players_sent_nothing_to_receives_at_the_allocations_first_arrival() -> None:
    # the players cancel their transfer to B: the policy's 17 for B still leave at 1d14 (the
    # first dispatch not cancelled) and arrive with A's, at 2d12
    t2 = PLAYED.transfers[1].model_copy(update={"received_at": None, "cancelled_at": day(1) + 20 * H})
    run = simulate(
        OPENING, INJECTS, PLAYED.model_copy(update={"transfers": [PLAYED.transfers[0], t2]}), "equal_days_of_supply"
    )
    assert [(t.transfer_id, t.dispatched_at, t.received_at) for t in run.transfers] == [
        ("X1->A", day(1) + 14 * H, day(2.5)),
        ("X1->B", day(1) + 14 * H, day(2.5)),
    ]


def test_a_revoked_allocation_is_not_carried_out() -> None:
    revoked = PLAYED.decisions[0].model_copy(update={"revoked_at": day(1) + 13.5 * H})
    run = simulate(OPENING, INJECTS, PLAYED.model_copy(update={"decisions": [revoked]}), "equal_days_of_supply")
    assert run.transfers == [] and run.decisions[0].revoked_at == day(1) + 13.5 * H


def test_direct_transfers_are_capped_by_stock_and_keep_their_loss() -> None:
    # B sends 30 to A at 2d 01:00 when it holds only 2 (as played): 2 leave, the played loss of 5 takes them both
    direct = TransferRecord(
        transfer_id="T9", source="B", destination="A", dispatched_at=day(2) + H, received_at=day(2) + 2 * H,
        lines=[TransferLineRecord(item="FFP2", dispatched=30, received=25)],
    )  # fmt: skip
    run = simulate(OPENING, INJECTS, PLAYED.model_copy(update={"transfers": [*PLAYED.transfers, direct]}), None)
    (t9,) = [t for t in run.transfers if t.transfer_id == "T9"]
    assert t9.lines == [TransferLineRecord(item="FFP2", dispatched=2, received=0)]
    # B had 2 to consume on day 3 and now has none: 10 short that day
    assert next(d for d in run.days if d.depot == "B" and d.day_end == day(3)).consumed == 0


def test_unknown_policies_and_depots_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown policy"):
        simulate(OPENING, INJECTS, PLAYED, "first_come_first_served")
    stranger = MovementRecord(depot="Z", item="FFP2", at=day(1), kind="receipt", quantity=5)
    with pytest.raises(ValueError, match="not in the opening: Z"):
        simulate(OPENING, INJECTS, PLAYED.model_copy(update={"movements": [stranger]}), None)


def test_an_opening_survives_storage_and_refuses_contradictions() -> None:
    assert Opening.model_validate_json(OPENING.model_dump_json()) == OPENING
    with pytest.raises(ValueError, match="names another depot, item or region"):
        Opening(
            depots=[OpeningDepot(code="A", region="North")],
            stocks=[OpeningStock(depot="A", item="FFP2", on_hand=1, baseline=Baseline("A", "South", "FFP2", 14))],
        )
    with pytest.raises(ValueError, match="a depot not in the opening"):
        Opening(depots=[], stocks=[OpeningStock(depot="A", item="FFP2", on_hand=1)])


def test_assumptions_name_the_policy() -> None:
    assert any("equal days of supply" in line for line in assumptions("equal_days_of_supply"))
    assert any("players' own lines" in line for line in assumptions(None))


# --- conservation over random small worlds ---------------------------------------------

CODES = ["D0", "D1", "D2"]
ITEMS = ["I1", "I2"]
times = st.integers(0, 5 * 8).map(lambda k: day(k / 8))  # every 3 hours over the 5 days


@st.composite
def worlds(draw: st.DrawFn) -> tuple[Opening, list[tuple[str, Inject]], Run]:
    regions = {code: draw(st.sampled_from(["R1", "R2"])) for code in CODES}
    stocks = []
    for code in CODES:
        for item in ITEMS:
            rate = draw(st.one_of(st.none(), st.integers(0, 100)))
            stocks.append(
                OpeningStock(
                    depot=code, item=item, on_hand=draw(st.integers(0, 60)),
                    history=[(day(-1), rate)] if rate else [],
                    baseline=Baseline(code, regions[code], item, rate) if rate is not None else None,
                )
            )  # fmt: skip
    opening = Opening(
        depots=[
            OpeningDepot(code=c, region=regions[c], population_served=draw(st.one_of(st.none(), st.integers(0, 5000))))
            for c in CODES
        ],
        stocks=stocks,
    )
    rng = draw(st.randoms(use_true_random=False))
    injects: list[tuple[str, Inject]] = []
    for n in range(draw(st.integers(0, 6))):
        at, depot, item = draw(times), rng.choice(CODES), rng.choice(ITEMS)
        kind = rng.choice(["consumption_surge", "delivery", "delivery_failure", "depot_loss"])
        fields: dict[str, object] = {
            "consumption_surge": {
                "depot": depot,
                "item": item,
                "factor": rng.choice([0.5, 2, 3.5]),
                "days": rng.randint(1, 3),
            },
            "delivery": {
                "depot": depot,
                "item": item,
                "quantity": rng.randint(1, 80),
                "supplier": rng.choice(["S1", "S2"]),
            },
            "delivery_failure": {"supplier": rng.choice(["S1", "S2"]), "days": rng.randint(1, 3)},
            "depot_loss": {"depot": depot, "fraction": rng.choice([0.25, 0.5, 1]), "item": rng.choice([None, item])},
        }[kind]
        injects.append((f"I-{n:04d}", inject(kind=kind, at=at, **fields)))
    decisions = []
    for n in range(draw(st.integers(0, 3))):
        source = rng.choice(CODES)
        recipients = sorted(rng.sample([c for c in CODES if c != source], rng.randint(1, 2)))
        quantity = rng.randint(1, 60)
        cut = rng.randint(0, quantity)
        lines = dict(zip(recipients, [cut, quantity - cut] if len(recipients) == 2 else [quantity], strict=True))
        decided = draw(times)
        revoked = rng.choice([None, None, decided + rng.randint(0, 30) * H])
        decisions.append(
            DecisionRecord(
                allocation_id=f"X{n}", source=source, item=rng.choice(ITEMS), quantity=quantity,
                policy="equal_days_of_supply",
                decided_at=decided, recipients=recipients, lines=lines, recommended_lines=lines, revoked_at=revoked,
            )
        )  # fmt: skip
    transfers = []
    for n in range(draw(st.integers(0, 5))):
        decision = rng.choice([None, *decisions])
        if decision is None:
            source = rng.choice(CODES)
            destination, item, sent = rng.choice([c for c in CODES if c != source]), rng.choice(ITEMS), draw(times)
        else:
            source, destination, item = decision.source, rng.choice(decision.recipients), decision.item
            sent = decision.decided_at + rng.randint(0, 24) * H
        units = rng.randint(1, 50)
        outcome = rng.choice(["transit", "received", "cancelled"])
        later = sent + rng.randint(0, 48) * H
        transfers.append(
            TransferRecord(
                transfer_id=f"T{n}", source=source, destination=destination,
                allocation_id=decision.allocation_id if decision else None, dispatched_at=sent,
                received_at=later if outcome == "received" else None,
                cancelled_at=later if outcome == "cancelled" else None,
                lines=[TransferLineRecord(
                    item=item, dispatched=units, received=rng.randint(0, units) if outcome == "received" else None,
                )],
            )
        )  # fmt: skip
    movements = [
        MovementRecord(
            depot=rng.choice(CODES), item=rng.choice(ITEMS), at=draw(times),
            kind=rng.choice(["receipt", "consumption", "adjustment", "count"]), quantity=rng.randint(-20, 20),
        )
        for _ in range(draw(st.integers(0, 3)))
    ]  # fmt: skip
    played = Run(start=S, end=day(5), decisions=decisions, transfers=transfers, movements=movements)
    return opening, injects, played


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(worlds(), st.sampled_from([None, *POLICIES]))
def test_units_are_conserved(world: tuple[Opening, list[tuple[str, Inject]], Run], policy: str | None) -> None:
    opening, injects, played = world
    outcome = play(opening, injects, played, policy)
    run = outcome.run
    failed = failed_deliveries(injects)
    delivered = sum(
        i.quantity
        for n, i in injects
        if isinstance(i, Delivery)
        and n not in failed
        and S <= i.at <= run.end  # at the start too: the first advance applies it
    )
    reported = sum(m.quantity for m in played.movements if m.at <= run.end)
    lines = [(t, line) for t in run.transfers for line in t.lines]
    lost_on_the_way = sum(line.dispatched - line.received for _, line in lines if line.received is not None)
    in_transit = sum(line.dispatched for t, line in lines if t.received_at is None and t.cancelled_at is None)
    used = sum(d.consumed for d in run.days)
    opening_stock = sum(s.on_hand for s in opening.stocks)
    assert opening_stock + delivered + reported - used - outcome.lost_in_depots - lost_on_the_way - in_transit == sum(
        outcome.stock.values()
    )
    # what the region points say at the end is the stock left
    last = [p for p in run.regions if p.at == run.end]
    for p in last:
        depots = [d.code for d in opening.depots if d.region == p.region]
        assert p.on_hand == sum(outcome.stock.get((d, p.item), 0) for d in depots)
    # a policy's decisions never depart from themselves, and never commit more than was played
    if policy is not None:
        for mine in run.decisions:
            assert mine.lines == mine.recommended_lines and sum(mine.lines.values()) == mine.quantity
        played_quantity = {d.allocation_id: d.quantity for d in played.decisions}
        assert all(d.quantity <= played_quantity[d.allocation_id] for d in run.decisions)
    assert all(0 <= d.consumed <= d.demand for d in run.days)
