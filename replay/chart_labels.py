"""Where a chart's labels go so that none covers another.

The server has no font metrics, so a label's box is estimated generously from its length
(`text_width`); two labels whose boxes overlap would print over each other, so a label that
cannot be placed clear of the others is left out (its figure stays in the mark's tooltip
and in the chart's caption).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass


def text_width(text: str, size: float = 12) -> float:
    """A generous estimate of a sans-serif label's width in pixels (no font metrics on the server)."""
    return len(text) * size * 0.6


@dataclass(frozen=True)
class LabelBox:
    """The box a text drawn at (x, y) (its baseline) with `anchor` covers, by estimate."""

    left: float
    top: float
    right: float
    bottom: float

    @classmethod
    def of(cls, text: str, x: float, y: float, anchor: str = "start", size: float = 11) -> LabelBox:
        width = text_width(text, size)
        left = x - width if anchor == "end" else x - width / 2 if anchor == "middle" else x
        return cls(left=left, top=y - size, right=left + width, bottom=y + size * 0.25)

    def overlaps(self, other: LabelBox) -> bool:
        return (
            self.left < other.right and other.left < self.right and self.top < other.bottom and other.top < self.bottom
        )

    def inside(self, left: float, top: float, right: float, bottom: float) -> bool:
        return self.left >= left and self.right <= right and self.top >= top and self.bottom <= bottom


def place(
    text: str,
    x: float,
    candidates: Sequence[float],
    anchor: str,
    taken: list[LabelBox],
    bounds: tuple[float, float, float, float],
    size: float = 11,
) -> float | None:
    """The first baseline y in `candidates` where `text` at `x` is inside `bounds` and clear of
    every box in `taken` (which it then joins); None if there is none."""
    for y in candidates:
        box = LabelBox.of(text, x, y, anchor, size)
        if box.inside(*bounds) and not any(box.overlaps(other) for other in taken):
            taken.append(box)
            return y
    return None


def clear_of_each_other(labels: Iterable[tuple[float, str]], anchor: str = "middle", size: float = 11) -> list[bool]:
    """For labels on one line (x, text) in order, whether each is drawn: one that would touch the
    last drawn one is left out."""
    drawn: list[bool] = []
    last: LabelBox | None = None
    for x, text in labels:
        box = LabelBox.of(text, x, 0, anchor, size)
        keep = bool(text) and (last is None or box.left >= last.right + 4)
        drawn.append(keep)
        if keep:
            last = box
    return drawn
