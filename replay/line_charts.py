"""Chart geometry for the after-action report: pure functions from review data to pixels.

Nothing here writes markup. Each function returns a small frozen description of a
picture (scales already applied, coordinates rounded to 0.1 px) that the template draws
as inline SVG, so what a chart shows can be tested without a browser and every text in
it goes through the template's autoescaping. A chart with nothing to draw says so
(`no_data`) instead of dividing by an empty range.

This module draws the days of supply over time; the bars are `replay.bar_charts`, the
scales, ticks and legend every chart shares `replay.chart_scales`, the colours
`replay.chart_palette`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from replay.chart_labels import LabelBox, clear_of_each_other, place, text_width
from replay.chart_palette import REGION_COLOURS, region_colours
from replay.chart_scales import (
    Box,
    LegendEntry,
    LinearScale,
    Tick,
    TimeScale,
    date_text,
    date_ticks,
    legend_layout,
    nice_ticks,
    number_text,
    points_text,
)
from replay.review_model import RegionCurve


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
