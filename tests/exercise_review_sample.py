"""A small after-action review built by hand, shared by the report tests.

Two regions (North, South), two items (masks, gloves), five simulated days ending at
midnight 2 to 6 March 2020, a counterfactual under equal days of supply.

Masks, days of supply at each day's end (the exact-pixel case of the tests):

    region   2 Mar  3 Mar  4 Mar  5 Mar  6 Mar
    North      8.0    6.0    4.0    2.0    3.0     as played, minimum 2.0 on 5 Mar
    South      5.0    4.0      –    1.0    0.5     as played (4 Mar: no consumption)
    North      8.0    7.0    6.0    5.0    5.5     had equal days of supply decided
    South      6.0    5.5    5.0    4.5    4.0     had equal days of supply decided

On the 520 px chart the plot runs x 48…492 and y 184 (0 days)…24 (8 days): one day is
111 px and one day of supply 20 px, so North as played is
48.0,24.0 159.0,64.0 270.0,104.0 381.0,144.0 492.0,124.0.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from itertools import combinations

from replay.review_model import (
    CapabilityRating,
    Counterfactual,
    CurvePoint,
    Departure,
    ExerciseReview,
    FillRate,
    ImprovementItem,
    Latency,
    Loss,
    Measures,
    Objective,
    Observation,
    Overview,
    RegionCurve,
    ReviewTimelineEntry,
    Stockout,
)

START = datetime(2020, 3, 1, tzinfo=UTC)
DAYS = [START + timedelta(days=n) for n in range(1, 6)]  # 2 … 6 March, midnight
POLICY = "equal_days_of_supply"
NORTH_MASKS_POINTS = "48.0,24.0 159.0,64.0 270.0,104.0 381.0,144.0 492.0,124.0"
HOSTILE = "<script>alert('x')</script>"


def at(day: int, hour: int = 0) -> datetime:
    return START + timedelta(days=day, hours=hour)


def curve(region: str, item: str, values: list[float | None]) -> RegionCurve:
    known = [(v, d) for v, d in zip(values, DAYS, strict=True) if v is not None]
    minimum = min(known, key=lambda k: k[0]) if known else None
    return RegionCurve(
        region=region,
        item=item,
        minimum=minimum[0] if minimum else None,
        minimum_at=minimum[1] if minimum else None,
        points=[CurvePoint(at=d, days_of_supply=v) for v, d in zip(values, DAYS, strict=True)],
    )


def measures(
    *,
    stockouts: list[Stockout],
    curves: list[RegionCurve],
    request_to_allocation: Latency,
    dispatch_to_receipt: Latency,
    fill: FillRate,
    losses: list[Loss],
    departures: list[Departure],
    decisions: int,
    transfers: int,
) -> Measures:
    return Measures(
        stockout_depot_days=sum(s.days for s in stockouts),
        stockouts=stockouts,
        days_of_supply=curves,
        request_to_allocation=request_to_allocation,
        dispatch_to_receipt=dispatch_to_receipt,
        fill_rate=fill,
        losses_in_transit=sum(loss.lost for loss in losses),
        losses=losses,
        departures=departures,
        decisions=decisions,
        transfers=transfers,
    )


def played_measures() -> Measures:
    return measures(
        stockouts=[
            Stockout(
                depot="S-CLINIC", region="South", item="masks", start=at(2), end=at(5), days=3, unmet=140, ongoing=True
            ),
            Stockout(
                depot="N-HOSP", region="North", item="gloves", start=at(2), end=at(4), days=2, unmet=60, ongoing=False
            ),
        ],
        curves=[
            curve("North", "masks", [8.0, 6.0, 4.0, 2.0, 3.0]),
            curve("South", "masks", [5.0, 4.0, None, 1.0, 0.5]),
            curve("North", "gloves", [12.0, 9.0, 6.5, 7.0, 8.0]),
            curve("South", "gloves", [10.0, 10.5, 11.0, 9.0, 8.5]),
        ],
        request_to_allocation=Latency(count=3, median_hours=6.5, worst_hours=30.0, pending=1),
        dispatch_to_receipt=Latency(count=2, median_hours=20.0, worst_hours=26.0, pending=0),
        fill=FillRate(requested=400, filled=350, rate=0.875),
        losses=[
            Loss(
                transfer_id="T-7",
                source="NAT",
                destination="S-CLINIC",
                item="masks",
                dispatched=200,
                received=190,
                lost=10,
            )
        ],
        departures=[
            Departure(
                allocation_id="A-1",
                decided_at=at(2, 9),
                source="NAT",
                item="masks",
                policy=POLICY,
                recommended={"N-HOSP": 300, "S-CLINIC": 200},
                chosen={"N-HOSP": 100, "S-CLINIC": 400},
                rationale=f"South's clinic was about to run out {HOSTILE}",
            ),
            Departure(
                allocation_id="A-2",
                decided_at=at(3, 15),
                source="NAT",
                item="gloves",
                policy=POLICY,
                recommended={"N-HOSP": 50},
                chosen={"N-HOSP": 20, "S-CLINIC": 30},
                rationale=None,
            ),
        ],
        decisions=4,
        transfers=3,
    )


def counterfactual_measures() -> Measures:
    return measures(
        stockouts=[
            Stockout(
                depot="S-CLINIC", region="South", item="masks", start=at(4), end=at(5), days=1, unmet=20, ongoing=True
            )
        ],
        curves=[
            curve("North", "masks", [8.0, 7.0, 6.0, 5.0, 5.5]),
            curve("South", "masks", [6.0, 5.5, 5.0, 4.5, 4.0]),
            curve("North", "gloves", [12.0, 10.0, 8.0, 8.0, 8.0]),
            curve("South", "gloves", [10.0, 9.5, 9.0, 8.5, 8.0]),
        ],
        request_to_allocation=Latency(count=4, median_hours=2.0, worst_hours=4.0, pending=0),
        dispatch_to_receipt=Latency(count=3, median_hours=20.0, worst_hours=24.0, pending=0),
        fill=FillRate(requested=400, filled=400, rate=1.0),
        losses=[],
        departures=[],
        decisions=4,
        transfers=4,
    )


def sample_review(*, with_counterfactual: bool = True) -> ExerciseReview:
    capabilities = [
        CapabilityRating(capability="Logistics and supply chain management", rating="M", observations=2),
        CapabilityRating(capability="Situational assessment", rating="S", observations=1),
        CapabilityRating(capability="Operational communications", rating="P", observations=1),
        CapabilityRating(capability="Public information", rating=None, observations=0),
    ]
    observations = [
        Observation(
            at=at(3, 10),
            recorded_at=at(3, 11),
            observer="eva",
            text="Allocation took a day and a half to decide",
            capability="Logistics and supply chain management",
            rating="M",
        ),
        Observation(
            at=at(1, 14),
            recorded_at=at(1, 15),
            observer="eva",
            text=f"Dashboard read correctly {HOSTILE}",
            capability="Situational assessment",
            rating="S",
        ),
        Observation(
            at=at(2, 8),
            recorded_at=at(2, 8),
            observer="olle",
            text="Clear hand-over at shift change",
            capability="Operational communications",
            rating="P",
        ),
        Observation(
            at=at(4, 12),
            recorded_at=at(4, 13),
            observer="olle",
            text="Transfer to South lost 10 masks",
            capability="Logistics and supply chain management",
            rating="S",
        ),
    ]
    timeline = [
        ReviewTimelineEntry(at=at(3, 10), kind="observation", title="eva: Allocation took a day and a half to decide"),
        ReviewTimelineEntry(
            at=at(0, 6), kind="consumption_surge", title="Mask demand ×3 in South for 5 days", ref="inj-1"
        ),
        ReviewTimelineEntry(at=at(1, 9), kind="request", title="S-CLINIC asks for 400 masks (critical)", ref="R-1"),
        ReviewTimelineEntry(
            at=at(2, 9), kind="allocation", title="NAT allocates 500 masks", detail=f"departed: {HOSTILE}", ref="A-1"
        ),
        ReviewTimelineEntry(at=at(2, 12), kind="transfer", title="NAT → S-CLINIC 200 masks dispatched", ref="T-7"),
        ReviewTimelineEntry(at=at(3, 8), kind="receipt", title="S-CLINIC received 190 of 200 masks", ref="T-7"),
        ReviewTimelineEntry(
            at=at(2, 0), kind="delivery_failure", title="Supplier Medix: no deliveries for 3 days", ref="inj-2"
        ),
        ReviewTimelineEntry(at=at(4, 0), kind="message", title="Press asks about mask shortages", ref="inj-3"),
    ]
    return ExerciseReview(
        overview=Overview(
            code="PPE-2020",
            name="Spring PPE surge",
            status="ended",
            scenario_start=START,
            scenario_clock=at(5),
            simulated_days=5,
            fork_known_at=datetime(2020, 2, 28, 12, tzinfo=UTC),
            fork_position=1234,
            depots=3,
            items=2,
            injects=4,
            injects_applied=3,
            deliveries_failed=1,
            description="A consumption surge of masks in the South, a failed supplier delivery and press interest.",
        ),
        objectives=[
            Objective(title="Keep every region above 3 days of masks", capabilities=capabilities[:2]),
            Objective(title="Tell the public what is available", capabilities=capabilities[2:3]),
        ],
        capabilities=capabilities,
        timeline=timeline,
        measures=played_measures(),
        counterfactual=Counterfactual(
            policy=POLICY,
            measures=counterfactual_measures(),
            assumptions=[
                "Each request was allocated by equal days of supply at the time it was made.",
                "Transfers took as long as the median transfer as played (20 h).",
            ],
            summary=(
                "Had the coordinators followed equal days of supply, "
                "stockout depot-days would have been 1 instead of 5."
            ),
        )
        if with_counterfactual
        else None,
        observations=observations,
        improvement_plan=[
            ImprovementItem(
                capability="Logistics and supply chain management",
                rating="M",
                observation="Allocation took a day and a half to decide",
                recommendation="Pre-agree an allocation rule for surges and delegate decisions under 500 units.",
            ),
            ImprovementItem(
                capability="Situational assessment",
                rating="S",
                observation="Dashboard read correctly",
                recommendation="Train duty officers on days of supply vs on hand.",
            ),
        ],
        generated_at=datetime(2020, 3, 7, 9, 30, tzinfo=UTC),
    )


# --- reading a chart's texts back ------------------------------------------------------------


def svg_texts(svg: str) -> list[tuple[float, float, str, float, str]]:
    """(x, y, anchor, size, text) of every non-empty <text> of an inline SVG."""
    found = []
    for attrs, text in re.findall(r"<text ([^>]*)>([^<]*)</text>", svg):
        values = dict(re.findall(r'([\w-]+)="([^"]*)"', attrs))
        if text.strip():
            size = float(values.get("font-size", 12))
            found.append((float(values["x"]), float(values["y"]), values.get("text-anchor", "start"), size, text))
    return found


def overlapping(svg: str) -> list[tuple[str, str]]:
    """Pairs of texts whose boxes (0.6 em a character, one em high) overlap."""
    boxes = []
    for x, y, anchor, size, text in svg_texts(svg):
        width = len(text) * size * 0.6
        left = x - width if anchor == "end" else x - width / 2 if anchor == "middle" else x
        boxes.append((left, y - size, left + width, y, text))
    return [
        (a[4], b[4]) for a, b in combinations(boxes, 2) if a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
    ]
