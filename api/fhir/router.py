"""/fhir: stock, transfers and supply requests as FHIR R5 resources, and stock reports posted as one.

Thin: the figures come from the views /v1 answers (`projections.views`), a posted report is
read by `domain.fhir` and stored by the stock report import (`Ledger.import_rows`), and the
resources are drawn by `api.fhir.render`. Same bearer token and roles as /v1.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from api.deps import CommandContext, LedgerDep, Reader, ViewsDep
from api.fhir import render
from api.fhir.errors import ERRORS, FHIR_JSON
from api.fhir.models import (
    FhirBundle,
    FhirExtension,
    FhirInventoryReport,
    FhirIssue,
    FhirOperationOutcome,
    FhirSupplyDelivery,
    FhirSupplyRequest,
)
from api.routers.view_params import AsOf, KnownAt
from domain.exceptions import InvalidCommand, UnknownTransfer
from domain.fhir import ReportRows, read_inventory_report
from ledger.application import Context, Ledger
from ledger.clock import utc_text
from ledger.requests import supply_request
from projections.stock import depot_stock
from projections.views import Views


class FhirJSONResponse(JSONResponse):
    media_type = FHIR_JSON


router = APIRouter(prefix="/fhir", tags=["fhir"], responses=ERRORS, default_response_class=FhirJSONResponse)

LocationParam = Annotated[
    str | None, Query(max_length=64, description="A depot code: that depot's report alone (else a Bundle of all)")
]
SHOWN = {"response_model_exclude_none": True}
IMPORT_ID = "urn:supply-ledger:import_id"
POSITION = "urn:supply-ledger:position"
RECORDED_AT = "urn:supply-ledger:recorded_at"
"""The extensions of the OperationOutcome answering a posted report: what a /v1 write answers."""


@router.get("/InventoryReport", response_model=FhirInventoryReport | FhirBundle, **SHOWN)  # type: ignore[arg-type]
def inventory_report(
    ledger: LedgerDep,
    views: ViewsDep,
    _: Reader,
    location: LocationParam = None,
    as_of: AsOf = None,
    known_at: KnownAt = None,
) -> FhirInventoryReport | FhirBundle:
    """Stock as snapshot InventoryReports: the figures of GET /v1/depots/{code}/stock, per lot.
    With `location` one report (404 for an unknown depot); without, a searchset Bundle with one
    report per depot, all at the same cut."""
    catalogue = _catalogue(ledger)
    if location is not None:
        stock = views.depot_stock(location, as_of, known_at)
        return render.inventory_report(stock, ledger.depot(location).name, catalogue)
    return _every_depot(ledger, views, as_of, known_at, catalogue)


def _every_depot(
    ledger: Ledger, views: Views, as_of: str | None, known_at: str | None, catalogue: render.Catalogue
) -> FhirBundle:
    cut = views.cut(as_of, known_at)
    reports = []
    for row in ledger.journal.depots():
        stock = depot_stock(views.history, ledger.depot(row["code"]), cut)
        reports.append((row["code"], render.inventory_report(stock, row["name"], catalogue)))
    return render.search_bundle(reports, cut.known_position, utc_text(cut.asked_at))


@router.get("/SupplyDelivery/{transfer_id}", response_model=FhirSupplyDelivery, **SHOWN)  # type: ignore[arg-type]
def supply_delivery(transfer_id: str, ledger: LedgerDep, _: Reader) -> FhirSupplyDelivery:
    """A transfer (GET /v1/transfers/{id}): in-progress while in transit, completed once received
    (the quantities received), abandoned once cancelled."""
    row = ledger.journal.transfer(transfer_id)
    if row is None:
        raise UnknownTransfer(f"no transfer {transfer_id}", transfer_id=transfer_id)
    return render.supply_delivery(row, _catalogue(ledger))


@router.get("/SupplyRequest/{request_id}", response_model=FhirSupplyRequest, **SHOWN)  # type: ignore[arg-type]
def get_supply_request(request_id: str, ledger: LedgerDep, _: Reader) -> FhirSupplyRequest:
    """A depot's supply request: active while open, completed once fulfilled, cancelled once withdrawn."""
    return render.supply_request(supply_request(ledger, request_id), _catalogue(ledger))


POSTED_REPORT = {
    "requestBody": {
        "required": True,
        "description": "An R5 InventoryReport (snapshot: counts; difference: consumption or receipts)",
        "content": {
            FHIR_JSON: {"schema": {"$ref": "#/components/schemas/FhirInventoryReport"}},
            "application/json": {"schema": {"$ref": "#/components/schemas/FhirInventoryReport"}},
        },
    }
}


@router.post(
    "/InventoryReport",
    status_code=201,
    response_model=FhirOperationOutcome,
    responses={413: {"description": "The body is larger than the service accepts (OperationOutcome, `too-costly`)"}},
    openapi_extra=POSTED_REPORT,
    **SHOWN,  # type: ignore[arg-type]
)
async def post_inventory_report(
    request: Request, ledger: LedgerDep, ctx: CommandContext, response: Response
) -> FhirOperationOutcome:
    """A depot's own stock, stored as a stock report import: one atomic save, every mistake
    refused at once (422, nothing stored), the same resource again stored once."""
    body = await request.body()
    try:
        body.decode()
    except UnicodeDecodeError:  # as /v1 answers a body that is not text
        raise HTTPException(400, "There was an error parsing the body") from None
    try:
        resource = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise InvalidCommand(
            f"the body is not JSON: {error}", errors=[{"loc": ["body"], "msg": "not JSON", "type": "json_invalid"}]
        ) from None
    return await run_in_threadpool(_store_report, ledger, resource, ctx, response)


def _store_report(ledger: Ledger, resource: Any, ctx: Context, response: Response) -> FhirOperationOutcome:
    report = read_inventory_report(resource, {code: item["unit"] for code, item in _catalogue(ledger).items()})
    content_hash = hashlib.sha256(orjson.dumps(resource, option=orjson.OPT_SORT_KEYS)).hexdigest()
    try:
        outcome, replayed = ledger.import_rows(
            "stock_report", report.rows, ctx, content_hash=content_hash, file_name="InventoryReport.json", first_row=1
        )
    except InvalidCommand as refused:
        raise _located(refused, report) from None
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    items = f"{outcome.rows} item{'s' if outcome.rows != 1 else ''}"  # a row per depot, item and time, lots summed
    stored = f"stored the figures of {items} as {outcome.events} events (import {outcome.import_id})"
    return FhirOperationOutcome(
        issue=[FhirIssue(severity="information", code="informational", diagnostics=stored)],
        extension=[
            FhirExtension(url=IMPORT_ID, valueString=outcome.import_id),
            FhirExtension(url=POSITION, valueInteger=outcome.position),
            FhirExtension(url=RECORDED_AT, valueInstant=utc_text(outcome.recorded_at)),
        ],
    )


def _located(refused: InvalidCommand, report: ReportRows) -> InvalidCommand:
    """The import's row errors (`row`, `column`) as FHIRPaths into the posted resource."""
    columns = {"item": "item", "lot": "item.reference", "expires_on": "item.reference"}
    listing_columns = {"depot": "location", "date": "countingDateTime"}
    errors = []
    for error in refused.extra.get("errors") or []:
        row = error.get("row")
        if not isinstance(row, int) or not 1 <= row <= len(report.paths):
            errors.append(error)
            continue
        column = str(error.get("column") or "")
        line = report.paths[row - 1]
        if column in listing_columns:
            where = line.rsplit(".item[", 1)[0] + "." + listing_columns[column]
        else:
            where = line + "." + columns.get(column, "quantity.value")
        errors.append({"loc": ["body", f"InventoryReport.{where}"], "msg": error.get("message", ""), "type": column})
    if not errors:
        return refused
    count = int(refused.extra.get("error_count") or len(errors))
    shown = "; ".join(f"{(error.get('loc') or ['body'])[-1]}: {error.get('msg', '')}" for error in errors[:5])
    detail = f"{count} mistake{'s' if count != 1 else ''} in the InventoryReport, nothing stored: {shown}"
    return InvalidCommand(detail, **{**refused.extra, "errors": errors})


def _catalogue(ledger: Ledger) -> dict[str, dict[str, Any]]:
    return {row["code"]: row for row in ledger.journal.items()}
