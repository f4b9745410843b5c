"""Depots: registration, the directory, obligations and current stock."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from api.deps import CommandContext, LedgerDep, Reader, requires
from api.responses import ERRORS, answer
from domain.commands import Code, RegisterDepot, SetObligation
from domain.events import DepotKind
from ledger.outcomes import DepotFacts, DepotOutcome, ObligationOutcome
from projections.stock import DepotStock, depot_stock

router = APIRouter(prefix="/v1/depots", tags=["depots"], responses=ERRORS)


class DepotView(DepotFacts):
    version: int
    obligations: dict[str, int]
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


@router.get("/{code}/stock", response_model=DepotStock)
def get_stock(code: str, ledger: LedgerDep, _: Reader, item: str | None = None) -> DepotStock:
    position = ledger.position()
    depot = ledger.depot(code)
    if item is not None:
        ledger.require_item(item)
    return depot_stock(ledger.journal, depot, position, item)
