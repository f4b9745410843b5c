"""The after-action report page and its chart geometry, without a browser.

The review is built by hand (`exercise_review_sample`), so every figure on the page and
every polyline coordinate is known in advance.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import pytest

from replay.bar_charts import latency_chart, stockout_chart
from replay.chart_palette import COUNTERFACTUAL_COLOUR, PLAYED_COLOUR, REGION_COLOURS, region_colours
from replay.chart_scales import LinearScale, TimeScale, date_ticks, nice_ticks, points_text
from replay.exercise_report import exercise_review_html
from replay.line_charts import days_of_supply_chart
from replay.review_model import CurvePoint, ExerciseReview, FillRate, Latency, Measures, RegionCurve
from tests.exercise_review_sample import (
    DAYS,
    HOSTILE,
    NORTH_MASKS_POINTS,
    POLICY,
    START,
    curve,
    overlapping,
    sample_review,
)

LINK_OUT = re.compile(r"\b(src|href|xlink:href)\s*=\s*(?![\"']?#)")  # any reference but an in-page anchor

SECTIONS = [
    ("overview", "Overview"),
    ("objectives", "Objectives and capabilities"),
    ("timeline", "Timeline"),
    ("measures", "Key measures"),
    ("stockouts", "Stockouts"),
    ("departures", "Decisions that departed from the recommendation"),
    ("observations", "Observations"),
    ("improvement", "Improvement plan"),
]


class _Tables(HTMLParser):
    """Cell texts of every table row, by the class of the table they are in."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._table: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._table = dict(attrs).get("class") or ""
            self.tables.setdefault(self._table, [])
        elif tag == "tr" and self._table is not None:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None and self._table is not None:
            self.tables[self._table].append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def tables(page: str) -> dict[str, list[list[str]]]:
    parser = _Tables()
    parser.feed(page)
    return parser.tables


def svg_of(page: str, label: str) -> str:
    """The inline <svg> element whose aria-label is `label`."""
    match = re.search(r'<svg role="img" aria-label="' + re.escape(label) + r'".*?</svg>', page, re.S)
    assert match, f"no chart labelled {label!r}"
    return match.group(0)


@pytest.fixture(scope="module")
def page() -> str:
    return exercise_review_html(sample_review())


def empty_review() -> ExerciseReview:
    """The sample with nothing measured: no curves, no stockouts, no latencies, no counterfactual."""
    review = sample_review(with_counterfactual=False)
    nothing = Measures(
        stockout_depot_days=0,
        stockouts=[],
        days_of_supply=[],
        request_to_allocation=Latency(count=0, median_hours=None, worst_hours=None, pending=0),
        dispatch_to_receipt=Latency(count=0, median_hours=None, worst_hours=None, pending=0),
        fill_rate=FillRate(requested=0, filled=0, rate=None),
        losses_in_transit=0,
        losses=[],
        departures=[],
        decisions=0,
        transfers=0,
    )
    return review.model_copy(update={"measures": nothing, "timeline": [], "observations": [], "improvement_plan": []})


# --- the page -------------------------------------------------------------------------------


def test_every_section_is_there_in_order(page: str) -> None:
    assert page.startswith("<!DOCTYPE html>")
    positions = [page.index(f'<h2 id="{anchor}">{title}</h2>') for anchor, title in SECTIONS]
    assert positions == sorted(positions)
    assert "<title>Exercise PPE-2020: after-action review</title>" in page


def test_key_measures_table_shows_the_exact_figures_as_played_and_had_the_policy_decided(page: str) -> None:
    assert tables(page)["measures"] == [
        ["Measure", "As played", "Had equal days of supply decided"],
        ["Stockout depot-days", "5", "1"],
        [
            "Lowest regional days of supply",
            "0.5 days (South, masks, 2020-03-06 00:00Z)",
            "4.0 days (South, masks, 2020-03-06 00:00Z)",
        ],
        ["Request to allocation, median", "6.5 h", "2.0 h"],
        ["Request to allocation, worst", "30.0 h", "4.0 h"],
        ["Requests allocated", "3 allocated, 1 pending", "4 allocated, 0 pending"],
        ["Dispatch to receipt, median", "20.0 h", "20.0 h"],
        ["Dispatch to receipt, worst", "26.0 h", "24.0 h"],
        ["Transfers received", "2 received, 0 pending", "3 received, 0 pending"],
        ["Fill rate of requests", "87.5 % (350 of 400 units)", "100.0 % (400 of 400 units)"],
        ["Losses in transit", "10 units", "0 units"],
        ["Allocation decisions", "4", "4"],
        ["Departures from the recommendation", "2", "0"],
    ]
    summary = "Had the coordinators followed equal days of supply, stockout depot-days would have been 1 instead of 5."
    measures = page[page.index('<h2 id="measures">') : page.index('<h2 id="stockouts">')]
    assert summary in measures
    assert "<li>Each request was allocated by equal days of supply at the time it was made.</li>" in measures
    assert "<li>Transfers took as long as the median transfer as played (20 h).</li>" in measures


def test_without_a_counterfactual_there_is_no_counterfactual_column_or_curve() -> None:
    page = exercise_review_html(sample_review(with_counterfactual=False))
    rows = tables(page)["measures"]
    assert rows[0] == ["Measure", "As played"]
    assert rows[1] == ["Stockout depot-days", "5"]
    assert all(len(row) == 2 for row in rows)
    assert "stroke-dasharray" not in page
    assert "had equal days" not in page


def test_capabilities_are_rated_and_colour_coded(page: str) -> None:
    rows = tables(page)["capabilities"]
    assert rows[1] == [
        "Keep every region above 3 days of masks",
        "Logistics and supply chain management",
        "M Performed with major challenges",
        "2",
    ]
    assert rows[2] == ["", "Situational assessment", "S Performed with some challenges", "1"]
    assert rows[3] == [
        "Tell the public what is available",
        "Operational communications",
        "P Performed without challenges",
        "1",
    ]
    assert rows[4] == ["not under an objective", "Public information", "– not rated", "0"]
    for code in "PSMU":
        assert f'<span class="rating r-{code}">{code}</span>' in page  # the key
        assert f".r-{code} {{ background:" in page  # each rating its own colour


def test_timeline_is_in_time_order(page: str) -> None:
    rows = tables(page)["timeline"][1:]
    times = [row[0] for row in rows]
    assert times == sorted(times)
    assert [row[1] for row in rows] == [
        "consumption surge",
        "request",
        "delivery failure",
        "allocation",
        "transfer",
        "receipt",
        "observation",
        "message",
    ]


def test_stockouts_departures_observations_and_improvement_plan(page: str) -> None:
    t = tables(page)
    assert t["stockouts"][1:] == [
        ["S-CLINIC", "South", "masks", "2020-03-03 00:00Z", "2020-03-06 00:00Z", "3", "140", "still short"],
        ["N-HOSP", "North", "gloves", "2020-03-03 00:00Z", "2020-03-05 00:00Z", "2", "60", "ended"],
    ]
    departures = page[page.index('<h2 id="departures">') : page.index('<h2 id="observations">')]
    assert "Allocation A-1" in departures and "Allocation A-2" in departures
    assert re.search(r"<td class=\"text\">N-HOSP</td><td>300</td><td>100</td><td>-200</td>", departures)
    assert re.search(r"<td class=\"text\">S-CLINIC</td><td>0</td><td>30</td><td>\+30</td>", departures)
    assert '<span class="none-given">none given</span>' in departures
    assert [row[1] for row in t["observations"][1:]] == ["eva", "olle", "eva", "olle"]  # by time
    assert t["improvement"][1][0:2] == ["Logistics and supply chain management", "M"]


def test_user_text_is_escaped(page: str) -> None:
    assert HOSTILE not in page
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page
    review = sample_review()
    hostile = review.model_copy(
        update={"overview": review.overview.model_copy(update={"name": '<img src=x onerror="alert(1)">'})}
    )
    assert "<img" not in exercise_review_html(hostile)


def test_the_link_check_catches_references_out_of_the_page() -> None:
    assert (
        LINK_OUT.search('<a href="https://x">')
        and LINK_OUT.search("<img src=x>")
        and LINK_OUT.search("<use xlink:href='f.svg#a'>")
    )
    assert not LINK_OUT.search('<a href="#measures">')


@pytest.mark.parametrize(
    "review",
    [sample_review(), sample_review(with_counterfactual=False), empty_review()],
    ids=["full", "played", "empty"],
)
def test_the_page_is_self_contained(review: ExerciseReview) -> None:
    page = exercise_review_html(review)
    assert "<script" not in page.lower()
    assert "http://" not in page and "https://" not in page
    assert not LINK_OUT.search(page), "only in-page links"
    assert "url(" not in page and "@import" not in page and "<link" not in page and "<img" not in page


# --- charts on the page ---------------------------------------------------------------------


def test_the_masks_chart_draws_each_region_at_the_exact_pixels(page: str) -> None:
    svg = svg_of(page, "Days of supply of masks per region")
    north, south = region_colours(["North", "South"]).values()
    assert (north, south) == REGION_COLOURS[:2]
    # North as played: 8, 6, 4, 2, 3 days → y = 184 − 20·days; one day = 111 px from x = 48
    assert f'<polyline points="{NORTH_MASKS_POINTS}" fill="none" stroke="{north}" stroke-width="2.5"' in svg
    # South as played has no consumption on 4 Mar: two separate lines
    assert f'points="48.0,84.0 159.0,104.0" fill="none" stroke="{south}" stroke-width="2.5"' in svg
    assert f'points="381.0,164.0 492.0,174.0" fill="none" stroke="{south}" stroke-width="2.5"' in svg
    # the minima: North 2.0 on 5 Mar, South 0.5 on 6 Mar
    assert '<circle cx="381.0" cy="144.0" r="4.5"' in svg and ">min 2.0</text>" in svg
    assert '<circle cx="492.0" cy="174.0" r="4.5"' in svg and ">min 0.5</text>" in svg
    # axes: value ticks every 2 days of supply, a date tick per day
    for days in range(0, 10, 2):
        assert f'text-anchor="end">{days}</text>' in svg
    for day in ("02 Mar", "03 Mar", "04 Mar", "05 Mar", "06 Mar"):
        assert f">{day}</text>" in svg


def test_counterfactual_curves_are_dashed_in_the_same_chart(page: str) -> None:
    svg = svg_of(page, "Days of supply of masks per region")
    dashed = re.findall(
        r'<polyline points="([^"]+)" fill="none" stroke="(#[0-9a-f]{6})" stroke-width="2"[^>]*stroke-dasharray="6 4"',
        svg,
    )
    north, south = REGION_COLOURS[:2]
    # North had the policy decided: 8, 7, 6, 5, 5.5; South: 6, 5.5, 5, 4.5, 4
    assert dashed == [
        ("48.0,24.0 159.0,44.0 270.0,64.0 381.0,84.0 492.0,74.0", north),
        ("48.0,64.0 159.0,74.0 270.0,84.0 381.0,94.0 492.0,104.0", south),
    ]
    assert len(re.findall(r"<polyline ", svg)) == 5  # 3 played (South in two pieces) + 2 counterfactual
    assert "had equal days of supply decided" in svg  # the legend says which is which
    # one per item
    assert len(re.findall(r'<svg role="img" aria-label="Days of supply of [a-z]+ per region"', page)) == 2


def test_bar_charts_on_the_page(page: str) -> None:
    stockouts = svg_of(page, "Stockout depot-days per depot")
    # S-CLINIC 3 vs 1, N-HOSP 2 vs 0 on a 0…3 scale over x 150…464 (314 px)
    assert f'width="314.0" height="11" fill="{PLAYED_COLOUR}"' in stockouts
    assert f'width="104.7" height="11" fill="{COUNTERFACTUAL_COLOUR}"' in stockouts
    assert f'width="209.3" height="11" fill="{PLAYED_COLOUR}"' in stockouts
    latencies = svg_of(page, "Latencies in hours")
    assert ">30.0 h</text>" in latencies and ">24.0 h</text>" in latencies
    for label in ("Stockout depot-days per depot", "Latencies in hours"):
        assert f"<title>{label}</title>" in page
    assert page.count("<figcaption>") == 4


# --- geometry ---------------------------------------------------------------------------------


def test_scales_map_data_to_pixels() -> None:
    y = LinearScale(0, 8, 184, 24)
    assert [y(v) for v in (0, 2, 4, 8, 0.5)] == [184.0, 144.0, 104.0, 24.0, 174.0]
    assert LinearScale(5, 5, 10, 30)(5) == 20.0  # an empty domain: the middle, no division by zero
    x = TimeScale(DAYS[0], DAYS[-1], 48, 492)
    assert [x(d) for d in DAYS] == [48.0, 159.0, 270.0, 381.0, 492.0]
    assert x(DAYS[0] + timedelta(hours=12)) == 103.5
    assert points_text([(x(DAYS[0]), y(8.0)), (x(DAYS[1]), y(6.0))]) == "48.0,24.0 159.0,64.0"


def test_the_chart_uses_those_scales() -> None:
    review = sample_review()
    chart = days_of_supply_chart(
        "masks", review.measures.days_of_supply, review.counterfactual.measures.days_of_supply, POLICY
    )  # type: ignore[union-attr]
    assert (chart.plot.left, chart.plot.top, chart.plot.right, chart.plot.bottom) == (48, 24, 492, 184)
    assert chart.x == TimeScale(DAYS[0], DAYS[-1], 48, 492) and chart.y == LinearScale(0, 8, 184, 24)
    north = next(s for s in chart.series if s.region == "North" and not s.dashed)
    assert north.lines == [NORTH_MASKS_POINTS]
    assert [t.label for t in chart.y_ticks] == ["0", "2", "4", "6", "8"]
    assert [t.position for t in chart.y_ticks] == [184.0, 144.0, 104.0, 64.0, 24.0]
    assert [t.position for t in chart.x_ticks] == [48.0, 159.0, 270.0, 381.0, 492.0]


def test_ticks() -> None:
    assert nice_ticks(0, 8, 4) == [0, 2, 4, 6, 8]
    assert nice_ticks(0, 12, 4) == [0, 5, 10, 15]
    assert nice_ticks(0, 0.7, 4) == [0, 0.2, 0.4, 0.6, 0.8]
    assert nice_ticks(0, 0)[0] == 0 and nice_ticks(0, 0)[-1] == 1
    assert nice_ticks(-3, 10, 4) == [-5, 0, 5, 10]
    assert date_ticks(DAYS[0], DAYS[-1]) == DAYS
    month = date_ticks(START, START + timedelta(days=30), 6)
    assert month[0] == START and (month[1] - month[0]) == timedelta(days=5) and len(month) == 7
    assert date_ticks(START, START) == [START]
    hours = date_ticks(START + timedelta(hours=1, minutes=30), START + timedelta(hours=13))
    assert hours[0] == START + timedelta(hours=2) and hours[1] - hours[0] == timedelta(hours=2)


# --- empty data -----------------------------------------------------------------------------


def test_no_points_and_all_unknown_are_no_data() -> None:
    assert days_of_supply_chart("masks", []).no_data
    unknown = curve("North", "masks", [None] * 5)
    chart = days_of_supply_chart("masks", [unknown], [unknown], POLICY)
    assert chart.no_data and chart.series == [] and "no data" in chart.caption
    assert stockout_chart([], [], POLICY).no_data
    nothing = Latency(count=0, median_hours=None, worst_hours=None, pending=2)
    assert latency_chart((nothing, nothing), (nothing, nothing), POLICY).no_data


def test_a_single_point_is_drawn_as_a_dot_in_the_middle() -> None:
    one = RegionCurve(
        region="North",
        item="masks",
        minimum=3.0,
        minimum_at=DAYS[0],
        points=[CurvePoint(at=DAYS[0], days_of_supply=3.0)],
    )
    chart = days_of_supply_chart("masks", [one])
    assert not chart.no_data
    (series,) = chart.series
    middle = (chart.plot.left + chart.plot.right) / 2
    assert series.lines == [] and series.dots == [(middle, chart.y(3.0))]  # type: ignore[misc]
    assert [t.position for t in chart.x_ticks] == [middle]
    flat = curve("North", "masks", [0.0] * 5)
    assert days_of_supply_chart("masks", [flat]).y_ticks[-1].label == "1"  # a zero line still has a scale


def test_an_isolated_known_day_between_unknown_ones_is_a_dot() -> None:
    chart = days_of_supply_chart("masks", [curve("South", "masks", [None, 2.0, None, 4.0, 4.0])])
    (series,) = chart.series
    assert chart.x == TimeScale(DAYS[0], DAYS[-1], 48, 492)  # the axis covers the unknown first day too
    assert series.dots == [(159.0, chart.y(2.0))]  # type: ignore[misc]
    assert series.lines == ["381.0,24.0 492.0,24.0"]


def test_empty_review_page_says_no_data() -> None:
    page = exercise_review_html(empty_review())
    assert page.count(">no data</text>") == 3  # days of supply, latencies, stockouts
    assert "<polyline" not in page
    assert tables(page)["measures"][1:3] == [
        ["Stockout depot-days", "0"],
        ["Lowest regional days of supply", "no consumption"],
    ]
    assert ["Fill rate of requests", "no requests"] in tables(page)["measures"]
    for _, title in SECTIONS:
        assert f">{title}</h2>" in page


def test_days_of_supply_timestamps_may_be_unordered() -> None:
    shuffled = RegionCurve(
        region="North",
        item="masks",
        minimum=1.0,
        minimum_at=DAYS[2],
        points=[
            CurvePoint(at=DAYS[2], days_of_supply=1.0),
            CurvePoint(at=DAYS[0], days_of_supply=2.0),
            CurvePoint(at=DAYS[4], days_of_supply=3.0),
        ],
    )
    chart = days_of_supply_chart("masks", [shuffled])
    xs = [float(p.split(",")[0]) for p in chart.series[0].lines[0].split()]
    assert xs == sorted(xs)
    assert chart.x_ticks[0].label == "02 Mar" and chart.x_ticks[-1].label == "06 Mar"
    assert chart.markers[0].x == chart.x(datetime(2020, 3, 4, tzinfo=UTC))  # type: ignore[misc]


# --- short exercises ----------------------------------------------------------------------------


def one_day(region: str, value: float) -> RegionCurve:
    return RegionCurve(
        region=region,
        item="masks",
        minimum=value,
        minimum_at=DAYS[0],
        points=[CurvePoint(at=DAYS[0], days_of_supply=value)],
    )


def chart_svg(review: ExerciseReview, item: str = "masks") -> str:
    return svg_of(exercise_review_html(review), f"Days of supply of {item} per region")


def test_one_simulated_day_gives_each_region_a_slot_with_its_figure_and_no_label_covers_another() -> None:
    """Three regions at almost the same level on the only day: on a time axis all three dots
    and their "min" labels would sit on one spot."""
    played = [one_day("East", 3.1), one_day("North", 3.0), one_day("South", 3.2)]
    other = [one_day("East", 4.0), one_day("North", 4.1), one_day("South", 3.9)]
    chart = days_of_supply_chart("masks", played, other, POLICY)
    assert [(t.position, t.label) for t in chart.x_ticks] == [(122.0, "East"), (270.0, "North"), (418.0, "South")]
    dots = {(s.region, s.dashed): s.dots for s in chart.series}
    assert dots[("North", False)] == [(262.0, chart.y(3.0))] and dots[("North", True)] == [
        (278.0, round(chart.y(4.1), 1))
    ]  # type: ignore[misc]
    assert sorted((m.label_x, m.label) for m in chart.markers if m.label) == [
        (114.0, "3.1"),
        (262.0, "3.0"),
        (410.0, "3.2"),
    ]
    assert chart.caption == (
        "Days of supply of masks per region at the end of the one simulated day, 02 Mar 00:00: East 3.1, "
        "North 3.0, South 3.2 days; had equal days of supply decided East 4.0, North 4.1, South 3.9."
    )
    review = sample_review()
    measures = review.measures.model_copy(update={"days_of_supply": played})
    cf = review.counterfactual.model_copy(  # type: ignore[union-attr]
        update={"measures": review.counterfactual.measures.model_copy(update={"days_of_supply": other})}  # type: ignore[union-attr]
    )
    svg = chart_svg(review.model_copy(update={"measures": measures, "counterfactual": cf}))
    assert overlapping(svg) == []
    assert ">3.1</text>" in svg and ">3.0</text>" in svg and ">3.2</text>" in svg and "min " not in svg


def test_a_region_name_too_wide_for_its_slot_is_left_to_the_legend() -> None:
    regions = [one_day(f"Region number {n}", 1.0 + n / 10) for n in range(8)]
    chart = days_of_supply_chart("masks", regions)
    assert all(t.label == "" for t in chart.x_ticks)  # 55.5 px a slot: the names are in the legend
    assert all(m.label for m in chart.markers)  # "1.3" fits
    review = sample_review(with_counterfactual=False)
    svg = chart_svg(
        review.model_copy(update={"measures": review.measures.model_copy(update={"days_of_supply": regions})})
    )
    assert overlapping(svg) == []


def test_minimum_labels_that_would_print_over_each_other_move_or_give_way() -> None:
    """North and South reach the same low on the same day: their labels would be one on the other."""
    north = curve("North", "masks", [8.0, 6.0, 4.0, 2.0, 3.0])
    south = curve("South", "masks", [5.0, 4.0, 3.0, 2.0, 2.5])
    chart = days_of_supply_chart("masks", [north, south])
    labelled = [(m.label_x, m.label_y, m.label) for m in chart.markers]
    assert labelled == [(381.0, 160.0, "min 2.0"), (381.0, 136.0, "min 2.0")]  # below the dot, then above it
    review = sample_review(with_counterfactual=False)
    svg = chart_svg(
        review.model_copy(update={"measures": review.measures.model_copy(update={"days_of_supply": [north, south]})})
    )
    assert overlapping(svg) == []


def test_with_no_allocation_decided_the_review_says_there_is_nothing_to_compare() -> None:
    review = sample_review()
    nothing = review.measures.model_copy(update={"decisions": 0, "departures": []})
    summary = (
        "No allocation was decided in this exercise, so there is no decision equal days of supply could have "
        "taken instead: nothing to compare."
    )
    cf = review.counterfactual.model_copy(update={"summary": summary})  # type: ignore[union-attr]
    page = exercise_review_html(review.model_copy(update={"measures": nothing, "counterfactual": cf}))
    assert f'<div class="verdict">{summary}</div>' in page
    assert f'<p class="no-comparison"><strong>{summary}</strong></p>' in page
    assert all(len(row) == 2 for row in tables(page)["measures"])  # no second column repeating the first
    assert "stroke-dasharray" not in page and "(as played)" not in page
