"""National and regional stock: the coordinator's picture, now or at any cut."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from api.deps import Reader, ViewsDep
from api.exports.http import EXPORTS, FormatParam, as_asked
from api.exports.tables import national_stock as stock_table
from api.responses import ERRORS
from api.routers.view_params import AsOf, GroupByParam, ItemParam, KnownAt, RegionParam
from projections.national import NationalStock

router = APIRouter(prefix="/stock", tags=["views"], responses=ERRORS)


@router.get("", response_model=NationalStock, responses=EXPORTS)
def national_stock(
    request: Request,
    views: ViewsDep,
    _: Reader,
    as_of: AsOf = None,
    known_at: KnownAt = None,
    group_by: GroupByParam = "region",
    region: RegionParam = None,
    item: ItemParam = None,
    export: FormatParam = None,
) -> Any:
    """Sums over depots per region and nationally (or one row per depot); days of supply from the sums."""
    return as_asked(request, export, views.stock(as_of, known_at, group_by, region, item), stock_table)
