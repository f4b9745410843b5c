"""Late-data impact: reports recorded more than 24 h after they occurred, and the decisions they changed."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import LedgerDep, Reader
from api.responses import ERRORS
from projections.cut import time_range
from replay.late import LateReports, late_reports

router = APIRouter(prefix="/late", tags=["audit"], responses=ERRORS)

Recorded = Annotated[
    str | None, Query(max_length=40, description="Recorded at or after (since) / at or before (until): a time or a date")
]


@router.get("", response_model=LateReports)
def late(
    ledger: LedgerDep,
    _: Reader,
    since: Recorded = None,
    until: Recorded = None,
    after: Annotated[int, Query(ge=0, description="Position to page after")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> LateReports:
    start, end = time_range(since, until, ledger.clock(), ("since", "until"))
    return late_reports(ledger, start, end, after, limit)
