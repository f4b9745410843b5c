"""What every chart of the after-action report shares: scales from review data to pixels, round
ticks, the texts of numbers and dates, the plotting box and the legend's layout."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from replay.chart_labels import text_width

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
