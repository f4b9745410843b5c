"""Depots: registration, the directory, obligations and current stock."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import Field

from api.deps import CommandContext, LedgerDep, Reader, ViewsDep, requires
from api.exports.http import EXPORTS, FormatParam, as_asked
from api.exports.tables import depot_stock, timeline
from api.responses import ERRORS, answer
from api.routers.view_params import (
    AsOf,
    From,
    ItemParam,
    KnownAt,
    Limit,
    OrderParam,
    To,
)
from domain.commands import Code, RegisterDepot, SetObligation
from domain.events import DepotKind
from domain.obligations import Basis
from ledger.outcomes import DepotFacts, DepotOutcome, ObligationOutcome
from projections.stock import DepotStock
from projections.timeline import Timeline

router = APIRouter(prefix="/depots", tags=["depots"], responses=ERRORS)


class DepotView(DepotFacts):
    version: int
    obligations: dict[str, int | None] = Field(
        description="min_days of each item's obligation in force (null on annual_average)"
    )
    obligation_bases: dict[str, Basis] = Field(description="The basis of each item's obligation in force")
    open_transfers: int
    open_requests: int


@router.post("", status_code=201, response_model=DepotOutcome, dependencies=[Depends(requires("coordinator"))])
def register_depot(body: RegisterDepot, ledger: LedgerDep, ctx: CommandContext, response: Response) -> DepotOutcome:
    return answer(ledger.register_depot(body, ctx), response)


@router.get("", response_model=list[DepotFacts])
def list_depots(
    ledger: LedgerDep,
    _: Reader,
    region: str | None = None,
    organisation: str | None = None,
    kind: Annotated[DepotKind | None, Query()] = None,
) -> list[DepotFacts]:
    return [DepotFacts(**row) for row in ledger.journal.depots(region, organisation, kind)]


@router.get("/{code}", response_model=DepotView)
def get_depot(code: str, ledger: LedgerDep, _: Reader) -> DepotView:
    depot = ledger.depot(code)
    return DepotView(
        **depot.model_dump(include={"code", "name", "region", "organisation", "kind", "population_served"}),
        version=depot.version,
        obligations=depot.obligations,
        obligation_bases={item: depot.obligation_bases.get(item, "recent_consumption") for item in depot.obligations},
        open_transfers=len(depot.open_transfers),
        open_requests=len(depot.open_requests),
    )


@router.put(
    "/{code}/obligations/{item}",
    response_model=ObligationOutcome,
    dependencies=[Depends(requires("coordinator"))],
)
def set_obligation(
    code: str, item: Code, body: SetObligation, ledger: LedgerDep, ctx: CommandContext, response: Response
) -> ObligationOutcome:
    return answer(ledger.set_obligation(code, item, body, ctx), response)


@router.get("/{code}/stock", response_model=DepotStock, tags=["views"], responses=EXPORTS)
def get_stock(
    request: Request,
    code: str,
    views: ViewsDep,
    _: Reader,
    item: ItemParam = None,
    as_of: AsOf = None,
    known_at: KnownAt = None,
    export: FormatParam = None,
) -> Any:
    """Every item of the depot at business time `as_of`, as the ledger knew it at `known_at`."""
    return as_asked(request, export, views.depot_stock(code, as_of, known_at, item), depot_stock)


@router.get("/{code}/timeline", response_model=Timeline, tags=["views"], responses=EXPORTS)
def get_timeline(
    request: Request,
    code: str,
    views: ViewsDep,
    _: Reader,
    item: ItemParam = None,
    order: OrderParam = "occurred",
    start: From = None,
    end: To = None,
    as_of: AsOf = None,
    known_at: KnownAt = None,
    limit: Limit = 1000,
    export: FormatParam = None,
) -> Any:
    """Every entry with its running balance; `late` marks entries recorded over 24 h after they occurred."""
    return as_asked(request, export, views.timeline(code, as_of, known_at, order, start, end, item, limit), timeline)
