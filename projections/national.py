"""Regional and national stock (API.md `GET /v1/stock`).

Rows sum `on_hand`, `in_transit_*`, `reserved`, `available` and the consumption of the
last 14 days over depots; `avg_daily_consumption` and `days_of_supply` are computed from
the sums (DESIGN.md), so a region's days of supply is its stock over its consumption,
not an average of its depots' figures. The national total (`region: "national"`) is the
same sum over every depot of every region, the national stockpile's included. The
current picture comes from the materialised view; any other cut from the on-demand fold
of each depot in scope.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any, Literal

from pydantic import BaseModel

from domain.commands import NATIONAL_TOTAL
from ledger.journal import filters
from ledger.persistence import IndexStore
from projections.cut import Cut
from projections.fold import CONSUMPTION, window_start
from projections.stock import StockFigures
from projections.stock_view import StockView

GroupBy = Literal["region", "depot", "national"]
NATIONAL = NATIONAL_TOTAL


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

    @classmethod
    def of_row(cls, row: Mapping[str, Any], depot: str | None, consumed: int) -> Figures:
        """A view or fold row's figures (their stock columns are named alike in every query)."""
        return cls(
            row["region"],
            depot,
            row["item"],
            int(row["on_hand"]),
            int(row["transit_in"]),
            int(row["transit_out"]),
            int(row["reserved"]),
            consumed,
        )

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
            **StockFigures.of(self.on_hand, self.transit_in, self.transit_out, self.reserved, self.consumed),
        )


def grouped(figures: Iterable[Figures], group_by: GroupBy, region: str | None = None) -> list[StockRowView]:
    """Rows per depot, or per region followed by the national total of each item (only the
    total for `national`; no total when the rows are of one `region`, which is no nation)."""
    if group_by == "depot":
        return [f.view() for f in sorted(figures, key=lambda f: (f.region, f.depot or "", f.item))]
    regions = _summed(figures, lambda f: f.region)
    totals = _summed(regions, lambda _: NATIONAL) if region is None else []
    return [f.view() for f in (totals if group_by == NATIONAL else regions + totals)]


def _summed(figures: Iterable[Figures], where: Callable[[Figures], str]) -> list[Figures]:
    """One row per place and item, in that order: the sums every total is derived from."""
    sums: dict[tuple[str, str], Figures] = {}
    for f in figures:
        sums.setdefault((where(f), f.item), Figures(where(f), None, f.item)).add(f)
    return [sums[key] for key in sorted(sums)]


def current_figures(
    view: StockView, cut: Cut, group_by: GroupBy, region: str | None, item: str | None
) -> list[Figures]:
    """The materialised view's figures, with consumption in the 14 days ending now."""
    where, params = filters(region=region, item=item)
    if group_by == "depot":
        stock = view.query(
            "SELECT depot, region, item, on_hand, transit_in, transit_out, reserved FROM {t}stock WHERE 1 = 1" + where,
            **params,
        )
        consumed = _window_sum(view, cut, "depot", where, params)
        return [Figures.of_row(row, row["depot"], consumed.get((row["depot"], row["item"]), 0)) for row in stock]
    stock = view.query(
        "SELECT region, item, SUM(on_hand) AS on_hand, SUM(transit_in) AS transit_in, SUM(transit_out) AS transit_out,"
        " SUM(reserved) AS reserved FROM {t}stock WHERE 1 = 1" + where + " GROUP BY region, item",
        **params,
    )
    consumed = _window_sum(view, cut, "region", where, params)
    return [Figures.of_row(row, None, consumed.get((row["region"], row["item"]), 0)) for row in stock]


def _window_sum(
    view: StockView, cut: Cut, key: str, where: str, params: dict[str, object]
) -> dict[tuple[str, str], int]:
    """Consumption dated in (T - 14 days, T] by depot or by region. By region, the whole days
    inside the window come from per-day sums and only the two part days from the rows."""
    end = cut.business_time
    start = window_start(end)
    if key == "depot":
        rows = view.query(
            "SELECT depot AS k, item, SUM(quantity) AS consumed FROM {t}consumption "
            "WHERE occurred_at > :start AND occurred_at <= :end" + where + " GROUP BY depot, item",
            start=start,
            end=end,
            **params,
        )
        return {(row["k"], row["item"]): int(row["consumed"]) for row in rows}
    first_midnight = datetime.combine(start.date() + timedelta(days=1), time(0), UTC)
    last_midnight = datetime.combine(end.date(), time(0), UTC)
    totals: dict[tuple[str, str], int] = {}
    for rows in (
        view.query(
            "SELECT region AS k, item, SUM(quantity) AS consumed FROM {t}region_consumption "
            "WHERE day > :first AND day < :last" + where + " GROUP BY region, item",
            first=start.date().isoformat(),
            last=end.date().isoformat(),
            **params,
        ),
        view.query(
            "SELECT region AS k, item, SUM(quantity) AS consumed FROM {t}consumption "
            "WHERE ((occurred_at > :start AND occurred_at < :first_midnight) "
            "OR (occurred_at >= :last_midnight AND occurred_at <= :end))" + where + " GROUP BY region, item",
            start=start,
            end=end,
            first_midnight=min(first_midnight, end),
            last_midnight=max(last_midnight, start),
            **params,
        ),
    ):
        for row in rows:
            totals[row["k"], row["item"]] = totals.get((row["k"], row["item"]), 0) + int(row["consumed"])
    return totals


EVERYTHING = datetime(9999, 12, 31, tzinfo=UTC)
LEDGER_FOLD = """
WITH known AS (
    SELECT m.depot, d.region, m.item, m.occurred_at, m.position, m.line, m.delta, m.counted, m.transit_in,
           m.transit_out, m.reserved, m.event_type
    FROM {t}movements m JOIN {t}depots d ON d.code = m.depot
    WHERE m.position <= :known{where}
),
last_count AS (
    SELECT depot, item, occurred_at, position, line, counted FROM (
        SELECT depot, item, occurred_at, position, line, counted, ROW_NUMBER() OVER (
            PARTITION BY depot, item ORDER BY occurred_at DESC, position DESC, line DESC) AS latest
        FROM known WHERE counted IS NOT NULL AND occurred_at <= :as_of) counts
    WHERE latest = 1
)
SELECT k.depot, k.region, k.item,
    COALESCE(MAX(c.counted), 0) + COALESCE(SUM(CASE WHEN k.occurred_at <= :as_of AND (c.depot IS NULL
        OR k.occurred_at > c.occurred_at OR (k.occurred_at = c.occurred_at AND (k.position > c.position
        OR (k.position = c.position AND k.line > c.line)))) THEN k.delta ELSE 0 END), 0) AS on_hand,
    COALESCE(SUM(CASE WHEN k.occurred_at <= :as_of THEN k.transit_in ELSE 0 END), 0) AS transit_in,
    COALESCE(SUM(CASE WHEN k.occurred_at <= :as_of THEN k.transit_out ELSE 0 END), 0) AS transit_out,
    COALESCE(SUM(CASE WHEN k.occurred_at <= :as_of THEN k.reserved ELSE 0 END), 0) AS reserved,
    COALESCE(SUM(CASE WHEN k.event_type = :consumption AND k.occurred_at > :start AND k.occurred_at <= :end
        THEN -k.delta ELSE 0 END), 0) AS consumed
FROM known k LEFT JOIN last_count c ON c.depot = k.depot AND c.item = k.item
GROUP BY k.depot, k.region, k.item
"""


def historical_figures(
    store: IndexStore, cut: Cut, region: str | None, item: str | None, organisation: str | None = None
) -> list[Figures]:
    """Every depot and item in scope at the cut, in one pass over the journal rows known then.

    The same arithmetic as the fold (the last count dated at or before `as_of`, plus every
    movement after it), written as one query because a national question is about every
    depot: its cost grows with the journal, not with thousands of separate folds. Lots and
    discrepancies, which need the rows one by one, are only in the depot view."""
    where, params = filters(d__region=region, m__item=item, d__organisation=organisation)
    rows = store.query(
        LEDGER_FOLD.replace("{where}", where),
        known=cut.known_position,
        as_of=cut.as_of or EVERYTHING,  # the current picture includes events dated a little ahead
        start=window_start(cut.business_time),
        end=cut.business_time,
        consumption=CONSUMPTION,
        **params,
    )
    return [Figures.of_row(row, row["depot"], int(row["consumed"])) for row in rows]
