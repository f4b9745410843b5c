"""The after-action review as a page reviewers read without any tool: one self-contained
HTML file (inline CSS, inline SVG charts, no scripts, nothing fetched), rendered from the
same `ExerciseReview` as `GET /v1/exercises/{code}/review`.

Chart geometry lives in `replay.line_charts` and `replay.bar_charts` (pure, tested
without a browser); this module only picks what to draw and formats the figures, and the
template draws it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from replay.bar_charts import BarChart, latency_chart, stockout_chart
from replay.chart_palette import COUNTERFACTUAL_COLOUR, PLAYED_COLOUR, region_colours
from replay.line_charts import LineChart, days_of_supply_chart
from replay.report import environment, units_text
from replay.review_model import RATING_NAMES, ExerciseReview, Latency, Measures, RegionCurve

_environment = environment()
_environment.filters["when"] = lambda value: "" if value is None else when_text(value)
_environment.filters["policy_name"] = lambda value: "" if value is None else policy_name(value)


def when_text(value: datetime) -> str:
    """A scenario moment as reviewers read it: "2020-03-05 08:00Z"."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%MZ")


def policy_name(policy: str) -> str:
    return policy.replace("_", " ")


def hours_text(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f} h"


def lowest_text(curves: list[RegionCurve]) -> str:
    known = [(c.minimum, c.minimum_at, c) for c in curves if c.minimum is not None and c.minimum_at is not None]
    if not known:
        return "no consumption"
    minimum, at, lowest = min(known, key=lambda entry: (entry[0], entry[1]))
    return f"{minimum:.1f} days ({lowest.region}, {lowest.item}, {when_text(at)})"


def fill_text(measures: Measures) -> str:
    fill = measures.fill_rate
    if fill.rate is None:
        return "no requests"
    return f"{fill.rate * 100:.1f} % ({units_text(fill.filled)} of {units_text(fill.requested)} units)"


def pending_text(latency: Latency, done: str) -> str:
    return f"{latency.count} {done}, {latency.pending} pending"


@dataclass(frozen=True)
class MeasureRow:
    measure: str
    played: str
    counterfactual: str | None


def measure_rows(played: Measures, counterfactual: Measures | None) -> list[MeasureRow]:
    """The key measures table: one formatted row per measure, the same formatting for both runs."""
    rows: list[tuple[str, Callable[[Measures], str]]] = [
        ("Stockout depot-days", lambda m: str(m.stockout_depot_days)),
        ("Lowest regional days of supply", lambda m: lowest_text(m.days_of_supply)),
        ("Request to allocation, median", lambda m: hours_text(m.request_to_allocation.median_hours)),
        ("Request to allocation, worst", lambda m: hours_text(m.request_to_allocation.worst_hours)),
        ("Requests allocated", lambda m: pending_text(m.request_to_allocation, "allocated")),
        ("Dispatch to receipt, median", lambda m: hours_text(m.dispatch_to_receipt.median_hours)),
        ("Dispatch to receipt, worst", lambda m: hours_text(m.dispatch_to_receipt.worst_hours)),
        ("Transfers received", lambda m: pending_text(m.dispatch_to_receipt, "received")),
        ("Fill rate of requests", fill_text),
        ("Losses in transit", lambda m: f"{units_text(m.losses_in_transit)} units"),
        ("Allocation decisions", lambda m: str(m.decisions)),
        ("Departures from the recommendation", lambda m: str(len(m.departures))),
    ]
    return [
        MeasureRow(name, text(played), None if counterfactual is None else text(counterfactual)) for name, text in rows
    ]


def day_charts(review: ExerciseReview) -> list[LineChart]:
    """One days-of-supply chart per item, regions in the same colour in every chart."""
    played = review.measures.days_of_supply
    other = review.counterfactual.measures.days_of_supply if review.counterfactual else None
    curves = [*played, *(other or [])]
    colours = region_colours(c.region for c in curves)
    items = list(dict.fromkeys(c.item for c in curves))
    policy = review.counterfactual.policy if review.counterfactual else None
    return [days_of_supply_chart(item, played, other, policy, colours) for item in items]


def bar_charts(review: ExerciseReview) -> tuple[BarChart, BarChart]:
    m, cf = review.measures, review.counterfactual
    policy = cf.policy if cf else None
    stockouts = stockout_chart(m.stockouts, cf.measures.stockouts if cf else None, policy)
    latencies = latency_chart(
        (m.request_to_allocation, m.dispatch_to_receipt),
        (cf.measures.request_to_allocation, cf.measures.dispatch_to_receipt) if cf else None,
        policy,
    )
    return stockouts, latencies


def exercise_review_html(review: ExerciseReview) -> str:
    nothing_to_compare = None
    if review.counterfactual is not None and review.measures.decisions == 0:
        # no allocation decided: the policy's run is the played one, so the page shows it once
        nothing_to_compare = review.counterfactual.summary
        review = review.model_copy(update={"counterfactual": None})
    stockouts, latencies = bar_charts(review)
    cf = review.counterfactual
    under_objectives = {c.capability for o in review.objectives for c in o.capabilities}
    return _environment.get_template("exercise_review.html").render(
        r=review,
        o=review.overview,
        m=review.measures,
        cf=cf,
        nothing_to_compare=nothing_to_compare,
        rating_names=RATING_NAMES,
        other_capabilities=[c for c in review.capabilities if c.capability not in under_objectives],
        timeline=sorted(review.timeline, key=lambda e: e.at),
        observations=sorted(review.observations, key=lambda e: e.at),
        measure_rows=measure_rows(review.measures, cf.measures if cf else None),
        day_charts=day_charts(review),
        stockout_chart=stockouts,
        latency_chart=latencies,
        played_colour=PLAYED_COLOUR,
        counterfactual_colour=COUNTERFACTUAL_COLOUR,
    )
