"""A depot's audit timeline: every event, in business or recorded order, with running balances.

Business order (`occurred`) shows what was true: the balance is the fold of everything
dated up to the entry, as known at the cut. Recorded order (`recorded`) shows what the
ledger said as each entry arrived: the balance is the book right after it was recorded
(a late report dated before a count leaves it unchanged). Entries recorded more than
24 hours after they occurred are flagged `late`.

Every entry names its `event_id`. A correction (an adjustment that `corrects` an earlier
event of the depot) links to the event it corrects, and that event lists the corrections
of it that are in the cut (`corrected_by`), each as event id and ledger position.
"""

from __future__ import annotations

from collections import deque
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from eventsourcing.persistence import Mapper, StoredEvent
from pydantic import BaseModel

from domain.depot import Depot
from domain.depot_books import ItemBook
from domain.effects import Effect
from domain.events import LedgerEvent
from domain.ids import event_id
from ledger import clock
from ledger.outcomes import EventLink
from ledger.persistence import IndexStore
from projections.cut import Cut
from projections.fold import ItemState

Order = Literal["occurred", "recorded"]
ENVELOPE = {"originator_id", "originator_version", "timestamp", "occurred_at", "actor", "source"}


class TimelineEntry(BaseModel):
    position: int
    event_id: str
    version: int
    type: str
    occurred_at: str
    recorded_at: str
    actor: str | None
    source: str | None
    item: str | None
    delta: int
    balance: int | None
    late: bool
    corrects: EventLink | None = None
    corrected_by: list[EventLink] = []
    data: dict[str, Any]


class Timeline(BaseModel):
    depot: str
    order: Order
    as_of: str
    known_at: str
    position: int
    truncated: bool
    entries: list[TimelineEntry]


def depot_timeline(
    store: IndexStore,
    mapper: Mapper[UUID],
    depot: Depot,
    cut: Cut,
    order: Order = "occurred",
    start: datetime | None = None,
    end: datetime | None = None,
    item: str | None = None,
    limit: int = 1000,
    newest: bool = False,
) -> Timeline:
    """Every entry of the depot in the range with its running balance: the first `limit`, or with
    `newest` the last `limit` (a page showing the latest entries reads the history once)."""
    events = [
        (position, _ledger_event(mapper, stored)) for position, stored in store.stream(depot.id, cut.known_position)
    ]
    lines: dict[int, list[dict[str, Any]]] = {}
    for row in store.query(
        """SELECT position, line, item, delta, counted, lot, expires_on, transit_in, transit_out, reserved, min_days,
           occurred_at, event_type FROM {t}movements WHERE depot = :depot AND position <= :known
           ORDER BY position, line""",
        depot=depot.code,
        known=cut.known_position,
    ):
        lines.setdefault(row["position"], []).append(row)

    corrects, corrected_by = _corrections(events, cut)
    entries: list[tuple[tuple[Any, ...], dict[str, Any]]] = []
    for position, event in events:
        if cut.as_of is not None and event.occurred_at > cut.as_of:
            continue
        data = event.model_dump(mode="json", exclude=ENVELOPE)
        rows = lines.get(position) or [{"line": 0, "item": data.get("item"), "delta": 0, "counted": None}]
        for row in rows:
            if item is not None and row["item"] != item:
                continue
            key = (event.occurred_at, position, row["line"]) if order == "occurred" else (position, row["line"])
            entries.append((key, {"position": position, "event": event, "row": row, "data": data}))
    entries.sort(key=lambda entry: entry[0])

    states: dict[str, ItemState] = {}
    books: dict[str, ItemBook] = {}
    kept: deque[tuple[dict[str, Any], int | None]] = deque()
    truncated = False
    for _, entry in entries:
        event, row = entry["event"], entry["row"]
        balance = _balance(order, event, row, states, books)
        shown_at = event.occurred_at if order == "occurred" else event.timestamp
        if (start is not None and shown_at < start) or (end is not None and shown_at > end):
            continue
        if len(kept) == limit:
            truncated = True
            if not newest:
                break
            kept.popleft()
        kept.append((entry, balance))
    shown = [_entry(entry, balance, corrects, corrected_by) for entry, balance in kept]
    return Timeline(depot=depot.code, order=order, **cut.describe(), truncated=truncated, entries=shown)


def _entry(
    entry: dict[str, Any],
    balance: int | None,
    corrects: dict[int, EventLink],
    corrected_by: dict[int, list[EventLink]],
) -> TimelineEntry:
    event, row = entry["event"], entry["row"]
    return TimelineEntry(
        position=entry["position"],
        event_id=event_id(event.originator_id, event.originator_version),
        version=event.originator_version,
        type=type(event).__name__,
        occurred_at=clock.utc_text(event.occurred_at),
        recorded_at=clock.utc_text(event.timestamp),
        actor=event.actor,
        source=event.source,
        item=row["item"],
        delta=row["delta"] if row.get("counted") is None or balance is None else balance - row["before"],
        balance=balance,
        late=event.is_late,
        corrects=corrects.get(entry["position"]),
        corrected_by=corrected_by.get(entry["position"], []),
        data=entry["data"],
    )


def _ledger_event(mapper: Mapper[UUID], stored: StoredEvent) -> LedgerEvent:
    """An event of a depot's stream, read back: always a ledger event (the mapper is typed for any)."""
    event = mapper.to_domain_event(stored)
    if not isinstance(event, LedgerEvent):
        raise TypeError(f"{stored.topic} in a depot's stream is not a ledger event")
    return event


def _corrections(events: list[tuple[int, Any]], cut: Cut) -> tuple[dict[int, EventLink], dict[int, list[EventLink]]]:
    """Which event each correction in the cut corrects, and which corrections in the cut each event has.

    A correction corrects an event of the same depot recorded before it, so the depot's stream
    up to the cut holds both ends: a correction recorded after `known_at`, or dated after
    `as_of`, is not in the cut and does not show as `corrected_by`."""
    positions = {event_id(event.originator_id, event.originator_version): position for position, event in events}
    corrects: dict[int, EventLink] = {}
    corrected_by: dict[int, list[EventLink]] = {}
    for position, event in events:
        reference = getattr(event, "corrects", None)
        if reference is None or (cut.as_of is not None and event.occurred_at > cut.as_of):
            continue
        corrected = positions.get(reference)
        corrects[position] = EventLink(event_id=reference, position=corrected)
        if corrected is not None:
            corrected_by.setdefault(corrected, []).append(
                EventLink(event_id=event_id(event.originator_id, event.originator_version), position=position)
            )
    return corrects, corrected_by


def _balance(
    order: Order, event: Any, row: dict[str, Any], states: dict[str, ItemState], books: dict[str, ItemBook]
) -> int | None:
    item = row["item"]
    if item is None:
        return None
    if order == "occurred":
        state = states.setdefault(item, ItemState())
        row["before"] = state.on_hand
        if "position" in row:
            state.apply(row)
        return state.on_hand
    book = books.setdefault(item, ItemBook())
    row["before"] = book.on_hand
    if "position" in row:
        book.apply(
            Effect(item, row["delta"], counted=row["counted"], book_at=getattr(event, "book_at_recording", None)),
            event.occurred_at,
        )
    return book.on_hand
