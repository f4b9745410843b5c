"""What operators record at a depot: receipts, consumption, counts, adjustments and supply requests."""

from __future__ import annotations

from fastapi import APIRouter, Response

from api.deps import DepotCommandContext, LedgerDep
from api.responses import ERRORS, answer
from domain.commands import AdjustStock, CloseRequest, CountStock, RecordReceipt, ReportConsumption, RequestSupply
from ledger.outcomes import DepotCommandOutcome

router = APIRouter(prefix="/depots/{code}", tags=["depot commands"], responses=ERRORS)


@router.post("/receipts", status_code=201, response_model=DepotCommandOutcome)
def record_receipt(
    code: str, body: RecordReceipt, ledger: LedgerDep, ctx: DepotCommandContext, response: Response
) -> DepotCommandOutcome:
    return answer(ledger.record_receipt(code, body, ctx), response)


@router.post("/consumption", status_code=201, response_model=DepotCommandOutcome)
def report_consumption(
    code: str, body: ReportConsumption, ledger: LedgerDep, ctx: DepotCommandContext, response: Response
) -> DepotCommandOutcome:
    return answer(ledger.report_consumption(code, body, ctx), response)


@router.post("/counts", status_code=201, response_model=DepotCommandOutcome)
def count_stock(
    code: str, body: CountStock, ledger: LedgerDep, ctx: DepotCommandContext, response: Response
) -> DepotCommandOutcome:
    return answer(ledger.count_stock(code, body, ctx), response)


@router.post("/adjustments", status_code=201, response_model=DepotCommandOutcome)
def adjust_stock(
    code: str, body: AdjustStock, ledger: LedgerDep, ctx: DepotCommandContext, response: Response
) -> DepotCommandOutcome:
    return answer(ledger.adjust_stock(code, body, ctx), response)


@router.post("/requests", status_code=201, response_model=DepotCommandOutcome)
def request_supply(
    code: str, body: RequestSupply, ledger: LedgerDep, ctx: DepotCommandContext, response: Response
) -> DepotCommandOutcome:
    return answer(ledger.request_supply(code, body, ctx), response)


@router.post("/requests/{request_id}/close", status_code=201, response_model=DepotCommandOutcome)
def close_request(
    code: str, request_id: str, body: CloseRequest, ledger: LedgerDep, ctx: DepotCommandContext, response: Response
) -> DepotCommandOutcome:
    return answer(ledger.close_request(code, request_id, body, ctx), response)
