"""The item catalogue, and each item's GS1 trade item numbers (GTINs)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, Field

from api.deps import CommandContext, LedgerDep, Reader, requires
from api.responses import ERRORS, answer
from domain.commands import DefineItem, SetItemGtins
from ledger.outcomes import ItemGtinsOutcome, ItemOutcome

router = APIRouter(prefix="/items", tags=["items"], responses=ERRORS)


class ItemView(BaseModel):
    code: str
    name: str
    unit: str
    category: str
    atc_code: str | None = None
    gtins: list[str] = Field([], description="GTIN-14s: a scanned label's GTIN names this item (docs/gs1.md)")


@router.post("", status_code=201, response_model=ItemOutcome, dependencies=[Depends(requires("coordinator"))])
def define_item(body: DefineItem, ledger: LedgerDep, ctx: CommandContext, response: Response) -> ItemOutcome:
    """A GTIN already belonging to another item is a 409 naming that item."""
    return answer(ledger.define_item(body, ctx), response)


@router.put("/{item}/gtins", response_model=ItemGtinsOutcome, dependencies=[Depends(requires("coordinator"))])
def set_item_gtins(
    item: str, body: SetItemGtins, ledger: LedgerDep, ctx: CommandContext, response: Response
) -> ItemGtinsOutcome:
    """Replaces the item's GTINs (any of 8, 12, 13 or 14 digits, kept as GTIN-14); a GTIN of
    another item is a 409 naming that item."""
    return answer(ledger.set_item_gtins(item, body, ctx), response)


@router.get("", response_model=list[ItemView])
def list_items(ledger: LedgerDep, _: Reader) -> list[ItemView]:
    return [ItemView(**row) for row in ledger.journal.items()]
