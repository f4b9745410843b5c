"""Current stock of a depot: the fold of its journal, with what is in transit and reserved now."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from domain.depot import Depot
from ledger import clock
from ledger.journal import Journal
from projections.fold import avg_daily_consumption, days_of_supply, fold_item


class LotLine(BaseModel):
    lot: str | None
    expires_on: str | None
    quantity: int


class StockLine(BaseModel):
    item: str
    on_hand: int
    in_transit_in: int
    in_transit_out: int
    reserved: int
    available: int
    avg_daily_consumption: float
    days_of_supply: float | None
    min_days: int | None
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


def depot_stock(journal: Journal, depot: Depot, position: int, item: str | None = None) -> DepotStock:
    as_of: datetime = clock.now()
    rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in journal.history(depot.code, item):
        rows[row["item"]].append(row)
    items = [item] if item else sorted(set(depot.stocked_items()) | set(rows))
    lines = []
    for code in items:
        fold = fold_item(rows.get(code, []), as_of)
        dos = days_of_supply(fold.on_hand, fold.consumed_14d)
        min_days = depot.obligations.get(code)
        reserved = depot.reserved(code)
        lines.append(
            StockLine(
                item=code,
                on_hand=fold.on_hand,
                in_transit_in=depot.in_transit(code, "in"),
                in_transit_out=depot.in_transit(code, "out"),
                reserved=reserved,
                available=fold.on_hand - reserved,
                avg_daily_consumption=avg_daily_consumption(fold.consumed_14d),
                days_of_supply=dos,
                min_days=min_days,
                meets_obligation=None if min_days is None or dos is None else dos >= min_days,
                expired=fold.lots.expired(as_of.date()),
                lots=[LotLine(**lot) for lot in fold.lots.listing()],
                discrepancy=fold.discrepancy,
            )
        )
    text = clock.utc_text(as_of)
    return DepotStock(depot=depot.code, as_of=text, known_at=text, position=position, items=lines)
