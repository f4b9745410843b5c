"""The item catalogue."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel

from api.deps import CommandContext, LedgerDep, Reader, requires
from api.responses import ERRORS, answer
from domain.commands import DefineItem
from ledger.outcomes import ItemOutcome

router = APIRouter(prefix="/items", tags=["items"], responses=ERRORS)


class ItemView(BaseModel):
    code: str
    name: str
    unit: str
    category: str
    atc_code: str | None = None


@router.post("", status_code=201, response_model=ItemOutcome, dependencies=[Depends(requires("coordinator"))])
def define_item(body: DefineItem, ledger: LedgerDep, ctx: CommandContext, response: Response) -> ItemOutcome:
    return answer(ledger.define_item(body, ctx), response)


@router.get("", response_model=list[ItemView])
def list_items(ledger: LedgerDep, _: Reader) -> list[ItemView]:
    return [ItemView(**row) for row in ledger.journal.items()]
