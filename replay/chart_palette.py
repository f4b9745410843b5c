"""The colours of the after-action report's charts: one per region, the same in every chart of a
report, and one per run (as played, had a policy decided)."""

from __future__ import annotations

from collections.abc import Iterable

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


def region_colours(regions: Iterable[str]) -> dict[str, str]:
    """A stable colour per region: sorted by name, the palette repeats after eight."""
    return {region: REGION_COLOURS[n % len(REGION_COLOURS)] for n, region in enumerate(sorted(set(regions)))}
