"""The ledger feed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field, field_serializer

from api.deps import LedgerDep, Reader, feed_for
from api.exports.http import EXPORTS, FormatParam, exported, negotiated
from api.exports.tables import feed as feed_table
from api.responses import ERRORS
from api.routers.view_params import After
from ledger.clock import utc_text
from ledger.feed import Feed
from ledger.outcomes import EventLink

router = APIRouter(prefix="/events", tags=["ledger feed"], responses=ERRORS)

PAGE = 100
EXPORT_PAGE = 1000
"""An export without `limit` reads the feed this many events at a time, to the end."""


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


@router.get("", response_model=FeedPage, responses=EXPORTS)
def read_feed(
    request: Request,
    ledger: LedgerDep,
    _: Reader,
    after: After = 0,
    limit: Annotated[
        int | None,
        Query(
            ge=1,
            le=1000,
            description="At most this many events (default 100). A CSV or XLSX export without it "
            "reads every event after `after` up to the ledger's position when asked, page by page",
        ),
    ] = None,
    depot: str | None = None,
    type: Annotated[str | None, Query(description="Event type, e.g. ReceiptRecorded")] = None,  # noqa: A002
    export: FormatParam = None,
) -> Any:
    feed: Feed = feed_for(request)
    if depot is not None:
        ledger.depot(depot)
    wanted = negotiated(request, export)
    if wanted != "json" and limit is None:
        last = ledger.position()
        first = feed.read(after, EXPORT_PAGE, depot, type)  # refuses an unknown type before streaming
        return exported(feed_table(_to(last, feed, after, first, depot, type), f"events-after{after}-to{last}"), wanted)
    entries, next_after = feed.read(after, limit or PAGE, depot, type)
    page = FeedPage(events=[FeedEntry(**entry) for entry in entries], next_after=next_after)
    if wanted == "json":
        return page
    return exported(
        feed_table(page.events, f"events-after{after}-to{next_after}"), wanted, {"Next-After": str(next_after)}
    )


def _to(
    last: int,
    feed: Feed,
    after: int,
    page: tuple[list[dict[str, Any]], int],
    depot: str | None,
    event_type: str | None,
) -> Iterator[FeedEntry]:
    """Every event after `after` up to position `last`, a page at a time as the export is written
    (events recorded meanwhile are left to the next export, which starts `after=last`)."""
    while True:
        entries, next_after = page
        for entry in entries:
            if entry["position"] > last:
                return
            yield FeedEntry(**entry)
        if next_after >= last or next_after == after:
            return
        after = next_after
        page = feed.read(after, EXPORT_PAGE, depot, event_type)
