"""A supply request found by its id alone (GET /fhir/SupplyRequest/{id}).

A request id does not name its depot and no index keeps requests, so the ledger's
notifications are read by topic: the request's event, then any event closing it. The database
filters by topic, so only supply request events are decoded; the read is linear in the ledger
(a requests index table would make it a seek, should requests by id become a hot path).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from eventsourcing.utils import get_topic

from domain import events as ev
from domain.exceptions import UnknownRequest
from domain.ids import depot_id

if TYPE_CHECKING:
    from ledger.application import Ledger

BATCH = 500


@dataclass(frozen=True)
class SupplyRequestRecord:
    request_id: str
    depot: str
    item: str
    quantity: int
    priority: ev.Priority
    needed_by: datetime | None
    requested_at: datetime
    actor: str
    outcome: ev.RequestOutcome | None  # None: still open
    closed_at: datetime | None


def supply_request(ledger: Ledger, request_id: str) -> SupplyRequestRecord:
    """The request and how it ended, if it did; UnknownRequest (404) if no depot made it."""
    found = _first(ledger, ev.SupplyRequested, request_id, after=0)
    if found is None:
        raise UnknownRequest(f"no supply request {request_id}", request_id=request_id)
    position, requested = found
    assert isinstance(requested, ev.SupplyRequested)
    closed = _first(ledger, ev.SupplyRequestClosed, request_id, after=position)
    closing = closed[1] if closed is not None else None
    assert closing is None or isinstance(closing, ev.SupplyRequestClosed)
    depot = next(row["code"] for row in ledger.journal.depots() if depot_id(row["code"]) == requested.originator_id)
    return SupplyRequestRecord(
        request_id=request_id,
        depot=depot,
        item=requested.item,
        quantity=requested.quantity,
        priority=requested.priority,
        needed_by=requested.needed_by,
        requested_at=requested.occurred_at,
        actor=requested.actor,
        outcome=closing.outcome if closing is not None else None,
        closed_at=closing.occurred_at if closing is not None else None,
    )


def _first(ledger: Ledger, kind: type[ev.LedgerEvent], request_id: str, after: int) -> tuple[int, object] | None:
    topics = (get_topic(kind),)
    needle = request_id.encode()
    start = after + 1
    while batch := ledger.recorder.select_notifications(start, BATCH, topics=topics, inclusive_of_start=True):
        for notification in batch:
            if needle in notification.state:  # the id is in the stored JSON: decode only those
                event = ledger.mapper.to_domain_event(notification)
                if getattr(event, "request_id", None) == request_id:
                    return notification.id, event
        start = batch[-1].id + 1
    return None
