"""Allocation decisions: recommend, decide (optionally dispatching), revoke, read, and replay."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from fastapi.responses import HTMLResponse

from api.deps import CommandContext, LedgerDep, Reader, requires
from api.responses import ERRORS, answer
from domain.allocation_commands import DecideAllocation, RecommendAllocation, RevokeAllocation
from ledger.allocations import Recommendation
from ledger.outcomes import AllocationOutcome, RevocationOutcome
from projections.allocations import AllocationList, AllocationView, Status, allocation_list, allocation_view
from replay.decisions import AllocationReplay, replay_allocation
from replay.report import allocation_replay_html

router = APIRouter(prefix="/allocations", tags=["allocations"], responses=ERRORS)
coordinators = [Depends(requires("coordinator"))]


@router.post("/recommend", response_model=Recommendation, dependencies=coordinators)
def recommend(body: RecommendAllocation, ledger: LedgerDep, ctx: CommandContext) -> Recommendation:
    """The policy's lines from the ledger as known now, with each recipient's days of supply
    before and after. Stores nothing; pass `basis_position` and `occurred_at` back to decide on exactly this."""
    return ledger.recommend(body, ctx)


@router.post("", status_code=201, response_model=AllocationOutcome, dependencies=coordinators)
def decide(body: DecideAllocation, ledger: LedgerDep, ctx: CommandContext, response: Response) -> AllocationOutcome:
    """Reserve the quantity at the source (or, with `dispatch`, send it in the same transaction)."""
    return answer(ledger.decide_allocation(body, ctx), response)


@router.get("", response_model=AllocationList)
def list_allocations(
    ledger: LedgerDep,
    _: Reader,
    source: Annotated[str | None, Query(alias="from", max_length=64)] = None,
    item: Annotated[str | None, Query(max_length=64)] = None,
    status: Status | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> AllocationList:
    return allocation_list(ledger, source, item, status, limit)


@router.get("/{allocation_id}", response_model=AllocationView)
def get_allocation(allocation_id: str, ledger: LedgerDep, _: Reader) -> AllocationView:
    return allocation_view(ledger, allocation_id)


@router.post("/{allocation_id}/revoke", response_model=RevocationOutcome, dependencies=coordinators)
def revoke(
    allocation_id: str, body: RevokeAllocation, ledger: LedgerDep, ctx: CommandContext, response: Response
) -> RevocationOutcome:
    """Release what the allocation still reserves; transfers already dispatched go on."""
    return answer(ledger.revoke_allocation(allocation_id, body, ctx), response)


@router.get("/{allocation_id}/replay", response_model=AllocationReplay)
def replay(allocation_id: str, ledger: LedgerDep, _: Reader) -> AllocationReplay:
    """What was known at the decision (recomputed from the ledger up to its basis), what is known now,
    and why they differ."""
    return replay_allocation(ledger, allocation_id)


@router.get("/{allocation_id}/replay.html", response_class=HTMLResponse)
def replay_page(allocation_id: str, ledger: LedgerDep, _: Reader) -> HTMLResponse:
    """The replay as a page an auditor can read, print or archive: no scripts, nothing fetched."""
    return HTMLResponse(allocation_replay_html(replay_allocation(ledger, allocation_id)))
