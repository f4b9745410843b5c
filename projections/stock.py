"""Stock of one depot at any cut: the fold of its journal, per item (API.md, "Views")."""

from __future__ import annotations

from typing import TypedDict

from pydantic import BaseModel, Field

from domain.depot import Depot
from domain.obligations import Basis, ObligationFigures, ObligationTerms, obligation_figures
from projections.cut import Cut
from projections.fold import ItemFold, avg_daily_consumption, days_of_supply
from projections.history import History
from projections.obligations import ObligationsAt, obligations_at


class LotLine(BaseModel):
    lot: str | None
    expires_on: str | None
    quantity: int


class FigureFields(TypedDict):
    """`StockFigures`' fields, as derived from the sums (typed, so a caller can read one)."""

    on_hand: int
    in_transit_in: int
    in_transit_out: int
    reserved: int
    available: int
    avg_daily_consumption: float
    days_of_supply: float | None


class StockFigures(BaseModel):
    """The figures every stock row has, for a depot or summed over depots (DESIGN.md)."""

    on_hand: int
    in_transit_in: int
    in_transit_out: int
    reserved: int
    available: int
    avg_daily_consumption: float
    days_of_supply: float | None

    @staticmethod
    def of(on_hand: int, transit_in: int, transit_out: int, reserved: int, consumed_14d: int) -> FigureFields:
        """The fields from the sums: available, average and days of supply are derived, never summed."""
        return {
            "on_hand": on_hand,
            "in_transit_in": transit_in,
            "in_transit_out": transit_out,
            "reserved": reserved,
            "available": on_hand - reserved,
            "avg_daily_consumption": avg_daily_consumption(consumed_14d),
            "days_of_supply": days_of_supply(on_hand, consumed_14d),
        }


class _Item(BaseModel):
    item: str


class StockLine(StockFigures, _Item):  # `item` first in the JSON
    min_days: int | None
    basis: Basis | None = Field(description="The basis of the obligation in force (null: none)")
    required: int | None = Field(
        description="Units the obligation requires, rounded up to whole units (null: no obligation)"
    )
    meets_obligation: bool | None
    expired: int
    lots: list[LotLine]
    discrepancy: bool


class DepotStock(BaseModel):
    depot: str
    as_of: str
    known_at: str
    position: int
    items: list[StockLine]


def stock_line(item: str, fold: ItemFold, cut: Cut, obligation: ObligationFigures | None = None) -> StockLine:
    """`obligation`: the figures of the obligation in force (`projections.obligations`). Without
    them, a fold that has an obligation's `min_days` reads it as recent_consumption (what every
    obligation meant before bases): a caller that may meet the other bases passes the figures."""
    state = fold.state
    figures = StockFigures.of(state.on_hand, state.transit_in, state.transit_out, state.reserved, fold.consumed_14d)
    if obligation is None and state.min_days is not None:
        terms = ObligationTerms(min_days=state.min_days)
        obligation = obligation_figures(terms, state.on_hand, figures["days_of_supply"], fold.consumed_14d, {}, 0)
    return StockLine(
        **figures,
        item=item,
        min_days=obligation.min_days if obligation else None,
        basis=obligation.basis if obligation else None,
        required=obligation.required if obligation else None,
        meets_obligation=obligation.meets if obligation else None,
        expired=state.lots.expired(cut.business_time.date(), fold.expiries),
        lots=[LotLine(**lot) for lot in state.lots.listing(fold.expiries)],
        discrepancy=state.discrepancy,
    )


def depot_stock(history: History, depot: Depot, cut: Cut, item: str | None = None) -> DepotStock:
    """Every item the depot has had anything to do with as known at the cut (or just `item`)."""
    folds = history.depot_folds(depot.code, [item] if item else depot.stocked_items(), cut)
    obligations = obligations_at(history.store, cut, depot=depot.code, item=item)
    lines = [
        stock_line(code, fold, cut, _obligation(obligations, depot.code, code, fold)) for code, fold in folds.items()
    ]
    return DepotStock(depot=depot.code, **cut.describe(), items=lines)


def _obligation(obligations: ObligationsAt, depot: str, item: str, fold: ItemFold) -> ObligationFigures | None:
    on_hand, consumed = fold.state.on_hand, fold.consumed_14d
    return obligations.figures(depot, item, on_hand, days_of_supply(on_hand, consumed), consumed)
