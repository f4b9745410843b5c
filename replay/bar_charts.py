"""Horizontal bar charts of the after-action report: stockout depot-days per depot, and latencies,
as played and had a policy decided.

Like the days-of-supply curves (`replay.line_charts`), a chart here is a small frozen
description of a picture that the template draws as inline SVG; one with nothing to draw
says so (`no_data`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from replay.chart_palette import COUNTERFACTUAL_COLOUR, PLAYED_COLOUR
from replay.chart_scales import Box, LegendEntry, LinearScale, Tick, legend_layout, nice_ticks, number_text
from replay.review_model import Latency, Stockout


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
