"""Chart geometry for the after-action report: pure functions from review data to pixels.

Nothing here writes markup. Each function returns a small frozen description of a
picture (scales already applied, coordinates rounded to 0.1 px) that the template draws
as inline SVG, so what a chart shows can be tested without a browser and every text in
it goes through the template's autoescaping. A chart with nothing to draw says so
(`no_data`) instead of dividing by an empty range.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from replay.chart_labels import LabelBox, clear_of_each_other, place, text_width
from replay.review_model import Latency, RegionCurve, Stockout

# One colour per region, the same in every chart of a report (Dark2: distinct in print and
# for the common colour-vision deficiencies); played and counterfactual bars.
REGION_COLOURS: tuple[str, ...] = (
    "#1b9e77",
    "#d95f02",
    "#7570b3",
    "#e7298a",
    "#66a61e",
    "#e6ab02",
    "#a6761d",
    "#666666",
)
PLAYED_COLOUR = "#2f6fb0"
COUNTERFACTUAL_COLOUR = "#e8a33d"
DASH = "6 4"


# --- scales and ticks -------------------------------------------------------------------


@dataclass(frozen=True)
class LinearScale:
    """Maps [domain_start, domain_end] onto [range_start, range_end] (either may be reversed).

    An empty domain (start == end) maps everything to the middle of the range."""

    domain_start: float
    domain_end: float
    range_start: float
    range_end: float

    def __call__(self, value: float) -> float:
        span = self.domain_end - self.domain_start
        if span == 0:
            return (self.range_start + self.range_end) / 2
        return self.range_start + (value - self.domain_start) / span * (self.range_end - self.range_start)


@dataclass(frozen=True)
class TimeScale:
    """A `LinearScale` over aware datetimes (seconds since the epoch)."""

    start: datetime
    end: datetime
    range_start: float
    range_end: float

    def __call__(self, value: datetime) -> float:
        linear = LinearScale(self.start.timestamp(), self.end.timestamp(), self.range_start, self.range_end)
        return linear(value.timestamp())


def nice_step(span: float, count: int) -> float:
    """A 1, 2 or 5 × 10ⁿ step that cuts `span` into about `count` intervals."""
    if span <= 0 or count < 1:
        return 1.0
    raw = span / count
    magnitude = 10 ** math.floor(math.log10(raw))
    for multiple in (1, 2, 5, 10):
        if raw <= multiple * magnitude:
            return multiple * magnitude
    return 10 * magnitude  # pragma: no cover - the loop always returns


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high]; the first and last are the axis ends.

    Always includes 0 when low is 0; [0, 0] becomes [0, 1] so a flat zero line still has an axis."""
    if high < low:
        low, high = high, low
    if high == low:
        high = low + 1
    step = nice_step(high - low, count)
    first = math.floor(low / step + 1e-9)
    last = math.ceil(high / step - 1e-9)
    return [_clean(n * step) for n in range(first, last + 1)]


def _clean(value: float) -> float:
    return float(round(value, 10))


def number_text(value: float) -> str:
    return f"{value:g}" if abs(value) < 1e6 else f"{value:.3g}"


def date_ticks(start: datetime, end: datetime, count: int = 6) -> list[datetime]:
    """Midnights (UTC) from `start` to `end` every whole number of days, at most about `count`
    of them; spans under two days get hourly ticks (1, 2, 3, 6 or 12 h)."""
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    if end <= start:
        return [start]
    span = end - start
    if span < timedelta(days=2):
        hours = span.total_seconds() / 3600
        step_hours = next((s for s in (1, 2, 3, 6, 12, 24) if hours / s <= count), 24)
        step = timedelta(hours=step_hours)
        first = start.replace(minute=0, second=0, microsecond=0)
    else:
        step = timedelta(days=max(1, math.ceil(span.days / count)))
        first = start.replace(hour=0, minute=0, second=0, microsecond=0)
    if first < start:
        first += timedelta(hours=1) if step < timedelta(days=1) else timedelta(days=1)
    ticks = []
    at = first
    while at <= end:
        ticks.append(at)
        at += step
    return ticks or [start]


def date_text(value: datetime, with_time: bool = False) -> str:
    value = value.astimezone(UTC)
    return value.strftime("%d %b %H:%M") if with_time else value.strftime("%d %b")


def points_text(points: Iterable[tuple[float, float]]) -> str:
    """SVG `points` attribute: "x,y x,y …" with 0.1 px precision."""
    return " ".join(f"{x:.1f},{y:.1f}" for x, y in points)


# --- shared pieces ----------------------------------------------------------------------


@dataclass(frozen=True)
class Box:
    """The plotting area inside a chart, in pixels."""

    left: float
    top: float
    right: float
    bottom: float

    @property
    def width(self) -> float:
        return self.right - self.left

    @property
    def height(self) -> float:
        return self.bottom - self.top


@dataclass(frozen=True)
class Tick:
    position: float  # x for a horizontal axis, y for a vertical one
    label: str


@dataclass(frozen=True)
class LegendEntry:
    x: float
    y: float
    label: str
    colour: str
    dashed: bool = False
    swatch: str = "line"  # "line" or "box"


def legend_layout(
    entries: Sequence[tuple[str, str, bool, str]], top: float, width: float, left: float = 8
) -> list[LegendEntry]:
    """Swatch + label entries left to right, wrapping onto 18 px rows within `width`."""
    laid: list[LegendEntry] = []
    x, y = left, top
    for label, colour, dashed, swatch in entries:
        advance = 28 + text_width(label) + 18
        if x > left and x + advance > width:
            x, y = left, y + 18
        laid.append(LegendEntry(x=x, y=y, label=label, colour=colour, dashed=dashed, swatch=swatch))
        x += advance
    return laid


# --- (a) days of supply over time, one chart per item -----------------------------------


@dataclass(frozen=True)
class Series:
    region: str
    colour: str
    dashed: bool  # the counterfactual's curve
    lines: list[str]  # one `points` attribute per run of consecutive known values
    dots: list[tuple[float, float]]  # known values with no known neighbour: a polyline of one point draws nothing

    @property
    def label(self) -> str:
        return self.region


@dataclass(frozen=True)
class Marker:
    x: float
    y: float
    colour: str
    hollow: bool  # the counterfactual's minimum
    label: str  # drawn next to the played minimum
    label_x: float
    label_y: float
    anchor: str  # text-anchor of the label
    title: str


@dataclass(frozen=True)
class LineChart:
    item: str
    title: str
    caption: str
    width: int
    height: int
    plot: Box
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    series: list[Series]
    markers: list[Marker]
    legend: list[LegendEntry]
    no_data: bool
    x: TimeScale | None = field(default=None, repr=False)
    y: LinearScale | None = field(default=None, repr=False)


def region_colours(regions: Iterable[str]) -> dict[str, str]:
    """A stable colour per region: sorted by name, the palette repeats after eight."""
    return {region: REGION_COLOURS[n % len(REGION_COLOURS)] for n, region in enumerate(sorted(set(regions)))}


def days_of_supply_chart(
    item: str,
    played: Sequence[RegionCurve],
    counterfactual: Sequence[RegionCurve] | None = None,
    policy: str | None = None,
    colours: dict[str, str] | None = None,
    width: int = 520,
    plot_height: int = 160,
) -> LineChart:
    """Days of supply per region over simulated time for one item.

    A solid polyline per region as played and, with a counterfactual, a dashed one per
    region in the same colour. Days with no consumption (None) break a line. The played
    minimum of each region is marked and labelled; the counterfactual's with a hollow ring."""
    played = [c for c in played if c.item == item]
    others = [c for c in (counterfactual or []) if c.item == item]
    colours = colours or region_colours([c.region for c in [*played, *others]])
    alternative = (policy or "the policy").replace("_", " ")
    known = [(p.at, p.days_of_supply) for c in [*played, *others] for p in c.points if p.days_of_supply is not None]
    regions = sorted({c.region for c in [*played, *others]})
    entries = [(r, colours.get(r, REGION_COLOURS[0]), False, "line") for r in regions]
    if others:
        entries += [("as played", "#56616d", False, "line"), (f"had {alternative} decided", "#56616d", True, "line")]
    plot = Box(left=48, top=24, right=width - 28, bottom=24 + plot_height)
    legend = legend_layout(entries[: len(regions)], plot.bottom + 40, width)
    if others:  # the line styles on a row of their own
        legend += legend_layout(entries[len(regions) :], legend[-1].y + 18 if legend else plot.bottom + 40, width)
    height = int((legend[-1].y if legend else plot.bottom + 22) + 14)
    title = f"Days of supply of {item} per region"
    if not known:
        return LineChart(
            item=item,
            title=title,
            caption=f"{title}: no data (no region consumed {item} on any simulated day).",
            width=width,
            height=int(plot.bottom + 20),
            plot=plot,
            x_ticks=[],
            y_ticks=[],
            series=[],
            markers=[],
            legend=[],
            no_data=True,
        )

    times = [p.at for c in [*played, *others] for p in c.points]  # the whole simulated period, unknown days too
    start, end = min(times), max(times)
    values = [v for _, v in known]
    y_values = nice_ticks(min(0.0, min(values)), max(values), 4)
    y = LinearScale(y_values[0], y_values[-1], plot.bottom, plot.top)
    y_ticks = [Tick(round(y(v), 1), number_text(v)) for v in y_values]
    if start == end:
        return _one_day_chart(
            item, title, played, others, alternative, colours, width, height, plot, y, y_ticks, legend
        )
    x = TimeScale(start, end, plot.left, plot.right)
    with_time = end - start < timedelta(days=2)
    x_ticks = _readable([Tick(round(x(at), 1), date_text(at, with_time)) for at in date_ticks(start, end)])

    series = [_series(c, colours, x, y, dashed=False) for c in played] + [
        _series(c, colours, x, y, dashed=True) for c in others
    ]
    markers = [m for c in played if (m := _minimum(c, colours, x, y, plot, hollow=False))]
    markers += [m for c in others if (m := _minimum(c, colours, x, y, plot, hollow=True))]
    markers = _unclutter(markers, (0, 0, width, plot.bottom + 5))

    lowest = _lowest(played)
    caption = f"{title}, {date_text(start)} to {date_text(end)}."
    if lowest:
        caption += f" Lowest as played: {lowest[0]}, {lowest[1]:.1f} days on {date_text(lowest[2], True)}."
    if others:
        other_lowest = _lowest(others)
        caption += f" Dashed: had {alternative} decided"
        caption += f" (lowest {other_lowest[0]}, {other_lowest[1]:.1f} days)." if other_lowest else "."
    return LineChart(
        item=item,
        title=title,
        caption=caption,
        width=width,
        height=height,
        plot=plot,
        x_ticks=x_ticks,
        y_ticks=y_ticks,
        series=series,
        markers=markers,
        legend=legend,
        no_data=False,
        x=x,
        y=y,
    )


def _series(curve: RegionCurve, colours: dict[str, str], x: TimeScale, y: LinearScale, dashed: bool) -> Series:
    runs: list[list[tuple[float, float]]] = [[]]
    for point in sorted(curve.points, key=lambda p: p.at):
        if point.days_of_supply is None:
            if runs[-1]:
                runs.append([])
            continue
        runs[-1].append((x(point.at), y(point.days_of_supply)))
    return Series(
        region=curve.region,
        colour=colours.get(curve.region, REGION_COLOURS[0]),
        dashed=dashed,
        lines=[points_text(run) for run in runs if len(run) > 1],
        dots=[(round(run[0][0], 1), round(run[0][1], 1)) for run in runs if len(run) == 1],
    )


def _minimum(
    curve: RegionCurve, colours: dict[str, str], x: TimeScale, y: LinearScale, plot: Box, hollow: bool
) -> Marker | None:
    if curve.minimum is None or curve.minimum_at is None:
        return None
    px, py = round(x(curve.minimum_at), 1), round(y(curve.minimum), 1)
    anchor = "start" if px < plot.left + 40 else "end" if px > plot.right - 40 else "middle"
    label_y = py + 16 if py + 16 < plot.bottom - 2 else py - 8  # below the dot, away from the lines above it
    text = f"min {curve.minimum:.1f}"
    return Marker(
        x=px,
        y=py,
        colour=colours.get(curve.region, REGION_COLOURS[0]),
        hollow=hollow,
        label="" if hollow else text,
        label_x=px,
        label_y=label_y,
        anchor=anchor,
        title=f"{curve.region}: {text} days on {date_text(curve.minimum_at, True)}",
    )


def _readable(ticks: list[Tick]) -> list[Tick]:
    """Axis ticks whose labels would touch the previous one's lose their label (keep their mark)."""
    drawn = clear_of_each_other((t.position, t.label) for t in ticks)
    return [t if keep else Tick(t.position, "") for t, keep in zip(ticks, drawn, strict=True)]


def _unclutter(markers: list[Marker], bounds: tuple[float, float, float, float]) -> list[Marker]:
    """Each labelled marker keeps its label where it was put if that is clear of the labels placed
    before it; else above or below its dot, further out; else it loses the label (its tooltip stays)."""
    taken: list[LabelBox] = []
    placed = []
    for m in markers:
        if not m.label:
            placed.append(m)
            continue
        candidates = [m.label_y, m.y - 8, m.y + 16, m.y - 21, m.y + 29, m.y - 34, m.y + 42]
        y = place(m.label, m.label_x, list(dict.fromkeys(candidates)), m.anchor, taken, bounds)
        placed.append(Marker(**{**m.__dict__, "label": m.label if y is not None else "", "label_y": y or m.label_y}))
    return placed


def _one_day_chart(
    item: str,
    title: str,
    played: Sequence[RegionCurve],
    others: Sequence[RegionCurve],
    alternative: str,
    colours: dict[str, str],
    width: int,
    height: int,
    plot: Box,
    y: LinearScale,
    y_ticks: list[Tick],
    legend: list[LegendEntry],
) -> LineChart:
    """One simulated day has one point per region: a time axis would pile them on one line, so
    each region gets a slot of its own, named on the axis, with its figure written over its dot
    (the counterfactual's ring beside it). A name or figure too wide for its slot is left out."""
    regions = sorted({c.region for c in [*played, *others]})
    slot = plot.width / len(regions)
    centre = {r: plot.left + slot * (n + 0.5) for n, r in enumerate(regions)}
    shift = 8 if others else 0  # played left of the slot's centre, the counterfactual right of it
    day = next(p.at for c in [*played, *others] for p in c.points)
    series, markers = [], []
    for curves, dashed in ((played, False), (others, True)):
        for c in curves:
            value = next((p.days_of_supply for p in c.points if p.days_of_supply is not None), None)
            if value is None:
                continue
            px, py = round(centre[c.region] + (shift if dashed else -shift), 1), round(y(value), 1)
            colour = colours.get(c.region, REGION_COLOURS[0])
            series.append(Series(region=c.region, colour=colour, dashed=dashed, lines=[], dots=[(px, py)]))
            text = f"{value:.1f}"
            fits = not dashed and text_width(text, 11) <= slot - 4
            who = f"had {alternative} decided" if dashed else "as played"
            markers.append(
                Marker(
                    x=px,
                    y=py,
                    colour=colour,
                    hollow=dashed,
                    label=text if fits else "",
                    label_x=px,
                    label_y=py - 8,
                    anchor="middle",
                    title=f"{c.region}, {who}: {text} days on {date_text(day, True)}",
                )
            )
    x_ticks = [Tick(round(centre[r], 1), r if text_width(r, 11) <= slot - 4 else "") for r in regions]

    def figures(curves: Sequence[RegionCurve]) -> str:
        return ", ".join(f"{c.region} {c.minimum:.1f}" for c in curves if c.minimum is not None) or "no consumption"

    caption = f"{title} at the end of the one simulated day, {date_text(day, True)}: {figures(played)} days"
    caption += f"; had {alternative} decided {figures(others)}." if others else "."
    return LineChart(
        item=item,
        title=title,
        caption=caption,
        width=width,
        height=height,
        plot=plot,
        x_ticks=x_ticks,
        y_ticks=y_ticks,
        series=series,
        markers=_unclutter(markers, (0, 0, width, plot.bottom + 5)),
        legend=legend,
        no_data=False,
        y=y,
    )


def _lowest(curves: Sequence[RegionCurve]) -> tuple[str, float, datetime] | None:
    known = [(c.minimum, c.region, c.minimum_at) for c in curves if c.minimum is not None and c.minimum_at is not None]
    if not known:
        return None
    value, region, at = min(known, key=lambda k: (k[0], k[2]))
    return region, value, at


# --- (b), (c) horizontal bars ------------------------------------------------------------


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    colour: str
    text: str  # the value, drawn after the bar
    title: str


@dataclass(frozen=True)
class BarRow:
    label: str
    y: float  # top of the row's first bar
    label_y: float
    bars: list[Bar]


@dataclass(frozen=True)
class BarChart:
    title: str
    caption: str
    width: int
    height: int
    plot: Box
    ticks: list[Tick]
    rows: list[BarRow]
    legend: list[LegendEntry]
    no_data: bool
    unit: str
    x: LinearScale | None = field(default=None, repr=False)


BAR = 12
ROW_GAP = 12


def bar_chart(
    title: str,
    rows: Sequence[tuple[str, Sequence[float | None]]],
    series: Sequence[tuple[str, str]],
    unit: str,
    caption: str,
    value_text: Callable[[float | None], str] = lambda v: "–" if v is None else number_text(v),
    width: int = 520,
    label_width: int = 150,
) -> BarChart:
    """Horizontal bars: one row per label, one bar per series in it (side by side, top to
    bottom), all on one scale from zero. A None value draws no bar and reads "–"."""
    values = [v for _, vs in rows for v in vs if v is not None]
    body = len(rows) * (len(series) * BAR + ROW_GAP)
    top = 22
    plot = Box(left=label_width, top=top, right=width - 56, bottom=top + body)
    if not rows or not values:
        return BarChart(
            title=title,
            caption=f"{title}: no data.",
            width=width,
            height=60,
            plot=Box(label_width, 22, width - 56, 22),
            ticks=[],
            rows=[],
            legend=[],
            no_data=True,
            unit=unit,
        )
    tick_values = nice_ticks(0.0, max(values), 4)
    x = LinearScale(0.0, tick_values[-1], plot.left, plot.right)
    chart_rows = []
    for n, (label, row_values) in enumerate(rows):
        row_top = plot.top + ROW_GAP / 2 + n * (len(series) * BAR + ROW_GAP)
        bars = []
        for k, ((name, colour), value) in enumerate(zip(series, row_values, strict=True)):
            length = 0.0 if value is None else max(0.0, x(value) - plot.left)
            bars.append(
                Bar(
                    x=plot.left,
                    y=row_top + k * BAR,
                    width=round(length, 1),
                    height=BAR - 1,
                    colour=colour,
                    text=value_text(value),
                    title=f"{label}, {name}: {value_text(value)}",
                )
            )
        chart_rows.append(BarRow(label=label, y=row_top, label_y=row_top + len(series) * BAR / 2 + 4, bars=bars))
    legend = (
        legend_layout([(name, colour, False, "box") for name, colour in series], plot.bottom + 16, width)
        if len(series) > 1
        else []
    )
    height = int((legend[-1].y if legend else plot.bottom) + 14)
    return BarChart(
        title=title,
        caption=caption,
        width=width,
        height=height,
        plot=plot,
        ticks=[Tick(round(x(v), 1), number_text(v)) for v in tick_values],
        rows=chart_rows,
        legend=legend,
        no_data=False,
        unit=unit,
        x=x,
    )


def _series_names(policy: str | None) -> list[tuple[str, str]]:
    names = [("as played", PLAYED_COLOUR)]
    if policy is not None:
        names.append((f"had {policy.replace('_', ' ')} decided", COUNTERFACTUAL_COLOUR))
    return names


def stockout_chart(
    played: Sequence[Stockout], counterfactual: Sequence[Stockout] | None = None, policy: str | None = None
) -> BarChart:
    """Stockout depot-days per depot (all items), as played and, with a counterfactual, had
    the policy decided. Depots short in neither run are left out."""

    def per_depot(stockouts: Sequence[Stockout]) -> dict[str, int]:
        days: dict[str, int] = {}
        for s in stockouts:
            days[s.depot] = days.get(s.depot, 0) + s.days
        return days

    played_days = per_depot(played)
    other_days = per_depot(counterfactual or [])
    depots = sorted(
        set(played_days) | set(other_days), key=lambda d: (-played_days.get(d, 0), -other_days.get(d, 0), d)
    )
    with_other = counterfactual is not None
    rows = [(d, [played_days.get(d, 0), *([other_days.get(d, 0)] if with_other else [])]) for d in depots]
    title = "Stockout depot-days per depot"
    total = sum(played_days.values())
    caption = f"{title}: {total} as played"
    if with_other:
        caption += f", {sum(other_days.values())} had {(policy or 'the policy').replace('_', ' ')} decided"
    caption += "."
    chart = bar_chart(
        title,
        rows,
        _series_names(policy if with_other else None),
        "depot-days",
        caption,
        value_text=lambda v: "–" if v is None else f"{v:g}",
    )
    if chart.no_data:
        return BarChart(**{**chart.__dict__, "caption": f"{title}: no data, no depot ran short."})
    return chart


def latency_chart(
    played: tuple[Latency, Latency], counterfactual: tuple[Latency, Latency] | None = None, policy: str | None = None
) -> BarChart:
    """Median and worst hours of request → allocation and dispatch → receipt, as played and,
    with a counterfactual, had the policy decided."""
    names = ("Request → allocation", "Dispatch → receipt")
    rows = []
    for n, name in enumerate(names):
        for stat in ("median", "worst"):
            value = getattr(played[n], f"{stat}_hours")
            row = [value]
            if counterfactual is not None:
                row.append(getattr(counterfactual[n], f"{stat}_hours"))
            rows.append((f"{name}, {stat}", row))
    title = "Latencies in hours"
    caption = (
        "Hours from a request to the allocation that served it, and from dispatch to receipt of a transfer; "
        "median and worst case."
    )
    chart = bar_chart(
        title,
        rows,
        _series_names(policy if counterfactual is not None else None),
        "hours",
        caption,
        value_text=lambda v: "–" if v is None else f"{v:.1f} h",
        label_width=200,
    )
    if chart.no_data:
        return BarChart(
            **{**chart.__dict__, "caption": f"{title}: no data, no request was allocated and no transfer received."}
        )
    return chart
