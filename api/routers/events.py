"""The ledger feed."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field, field_serializer

from api.deps import LedgerDep, Reader, feed_for
from api.responses import ERRORS
from api.routers.view_params import After
from ledger.clock import utc_text
from ledger.feed import Feed
from ledger.outcomes import EventLink

router = APIRouter(prefix="/events", tags=["ledger feed"], responses=ERRORS)


class FeedEntry(BaseModel):
    position: int
    event_id: str = Field(description="The event's id, as the command that recorded it answered it")
    corrects: EventLink | None = Field(None, description="A correction: the event it corrects")
    corrected_by: list[EventLink] = Field(default=[], description="The corrections of this event recorded so far")
    depot: str | None
    type: str
    version: int
    occurred_at: datetime
    recorded_at: datetime
    actor: str
    source: str
    command_id: str
    data: dict[str, Any]

    @field_serializer("occurred_at", "recorded_at")
    def _utc(self, value: datetime) -> str:
        return utc_text(value)


class FeedPage(BaseModel):
    events: list[FeedEntry]
    next_after: int


@router.get("", response_model=FeedPage)
def read_feed(
    request: Request,
    ledger: LedgerDep,
    _: Reader,
    after: After = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    depot: str | None = None,
    type: Annotated[str | None, Query(description="Event type, e.g. ReceiptRecorded")] = None,  # noqa: A002
) -> FeedPage:
    feed: Feed = feed_for(request)
    if depot is not None:
        ledger.depot(depot)
    entries, next_after = feed.read(after, limit, depot, type)
    return FeedPage(events=[FeedEntry(**entry) for entry in entries], next_after=next_after)
