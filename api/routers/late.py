"""Late-data impact: reports recorded more than 24 h after they occurred, and the decisions they changed."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import LedgerDep, Reader
from api.responses import ERRORS
from api.routers.view_params import After, Since, Until
from projections.cut import time_range
from replay.late import LateReports, late_reports

router = APIRouter(prefix="/late", tags=["audit"], responses=ERRORS)


@router.get("", response_model=LateReports)
def late(
    ledger: LedgerDep,
    _: Reader,
    since: Since = None,
    until: Until = None,
    after: After = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> LateReports:
    start, end = time_range(since, until, ledger.clock(), ("since", "until"))
    return late_reports(ledger, start, end, after, limit)
