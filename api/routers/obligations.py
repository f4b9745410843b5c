"""Compliance with preparedness obligations: the report a regulator asks for."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from api.deps import Reader, ViewsDep
from api.exports.http import EXPORTS, FormatParam, as_asked
from api.exports.tables import obligations as obligations_table
from api.responses import ERRORS
from api.routers.view_params import AsOf, ItemParam, KnownAt, RegionParam
from projections.compliance import ObligationsReport

router = APIRouter(prefix="/obligations", tags=["views"], responses=ERRORS)

OrganisationParam = Annotated[str | None, Query(max_length=64, description="Only depots of this organisation")]


@router.get("", response_model=ObligationsReport, responses=EXPORTS)
def obligations(
    request: Request,
    views: ViewsDep,
    _: Reader,
    organisation: OrganisationParam = None,
    region: RegionParam = None,
    item: ItemParam = None,
    as_of: AsOf = None,
    known_at: KnownAt = None,
    export: FormatParam = None,
) -> Any:
    """Per organisation and item with an obligation in force at `as_of`, as known at `known_at`:
    units required and held, the shortfall, days covered, and each depot's line."""
    return as_asked(request, export, views.obligations(organisation, region, item, as_of, known_at), obligations_table)
