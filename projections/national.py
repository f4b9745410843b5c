"""Regional and national stock (API.md `GET /v1/stock`).

Rows sum `on_hand`, `in_transit_*`, `reserved`, `available` and the consumption of the
last 14 days over depots; `avg_daily_consumption` and `days_of_supply` are computed from
the sums (DESIGN.md), so a region's days of supply is its stock over its consumption,
not an average of its depots' figures. The current picture comes from the materialised
view; any other cut from the on-demand fold of each depot in scope.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel

from projections.cut import Cut
from projections.fold import window_start
from projections.history import History
from projections.stock import StockFigures
from projections.stock_view import StockView

GroupBy = Literal["region", "depot"]


class _Where(BaseModel):
    region: str
    depot: str | None = None
    item: str


class StockRowView(StockFigures, _Where):  # region, depot and item first in the JSON
    pass


class NationalStock(BaseModel):
    as_of: str
    known_at: str
    position: int
    group_by: GroupBy
    source: Literal["view", "fold"]
    rows: list[StockRowView]


@dataclass
class Figures:
    region: str
    depot: str | None
    item: str
    on_hand: int = 0
    transit_in: int = 0
    transit_out: int = 0
    reserved: int = 0
    consumed: int = 0

    def add(self, other: Figures) -> None:
        self.on_hand += other.on_hand
        self.transit_in += other.transit_in
        self.transit_out += other.transit_out
        self.reserved += other.reserved
        self.consumed += other.consumed

    def view(self) -> StockRowView:
        return StockRowView(
            region=self.region,
            depot=self.depot,
            item=self.item,
            **StockFigures.of(self.on_hand, self.transit_in, self.transit_out, self.reserved, self.consumed),  # type: ignore[arg-type]
        )


def grouped(figures: Iterable[Figures], group_by: GroupBy) -> list[StockRowView]:
    if group_by == "depot":
        return [f.view() for f in sorted(figures, key=lambda f: (f.region, f.depot or "", f.item))]
    sums: dict[tuple[str, str], Figures] = {}
    for f in figures:
        sums.setdefault((f.region, f.item), Figures(f.region, None, f.item)).add(f)
    return [sums[key].view() for key in sorted(sums)]


def current_figures(view: StockView, cut: Cut, region: str | None, item: str | None) -> list[Figures]:
    """Every depot and item from the materialised view, with consumption in the window ending now."""
    where = ""
    params: dict[str, object] = {"start": window_start(cut.business_time), "end": cut.business_time}
    for name, value in (("region", region), ("item", item)):
        if value is not None:
            where += f" AND {name} = :{name}"
            params[name] = value
    stock = view.query(
        "SELECT depot, region, item, on_hand, transit_in, transit_out, reserved FROM {t}stock WHERE 1 = 1" + where,
        **params,
    )
    consumed = {
        (row["depot"], row["item"]): int(row["consumed"])
        for row in view.query(
            "SELECT depot, item, SUM(quantity) AS consumed FROM {t}consumption "
            "WHERE occurred_at > :start AND occurred_at <= :end" + where + " GROUP BY depot, item",
            **params,
        )
    }
    return [
        Figures(
            row["region"],
            row["depot"],
            row["item"],
            int(row["on_hand"]),
            int(row["transit_in"]),
            int(row["transit_out"]),
            int(row["reserved"]),
            consumed.get((row["depot"], row["item"]), 0),
        )
        for row in stock
    ]


def historical_figures(
    history: History, depots: Iterable[tuple[str, str, list[str]]], cut: Cut, item: str | None
) -> list[Figures]:
    """Each (depot, region, items) folded on demand at the cut: cost grows with the depots in scope."""
    figures = []
    for code, region, items in depots:
        for each in [item] if item else items:
            if not history.has_rows(code, each, cut.known_position):
                continue
            fold = history.item_fold(code, each, cut)
            state = fold.state
            figures.append(
                Figures(region, code, each, state.on_hand, state.transit_in, state.transit_out, state.reserved, fold.consumed_14d)
            )
    return figures
