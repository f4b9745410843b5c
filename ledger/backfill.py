"""Index rows that a later version added, filled in once for the events stored before it.

A ledger written before the late-data report has no `late_events` rows for its old late
reports, and `GET /v1/late` would silently leave them out. On opening, the ledger reads
its stored events once, writes the rows the write path would have written, and records
that in `backfills`, so later starts cost one query. Events stored meanwhile get their rows
from the write path (the table exists before the scan starts); the inserts ignore rows
that are already there, so two processes starting together do no harm.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from domain import events as ev
from domain.ids import depot_id
from ledger.indexes import late_event_fields

if TYPE_CHECKING:
    from ledger.application import Ledger

BATCH = 1000

LATE_EVENT = """INSERT INTO {t}late_events (position, depot, event_type, occurred_at, recorded_at)
    VALUES (:at_position, :depot, :event_type, :occurred_at, :recorded_at) ON CONFLICT (position) DO NOTHING"""
DONE = """INSERT INTO {t}backfills (name, upto) VALUES (:name, :upto) ON CONFLICT (name) DO NOTHING"""


def backfill_late_events(ledger: Ledger) -> int:
    """The late events stored before `late_events` existed; returns how many rows it wrote."""
    store = ledger.index_store
    if store.query("SELECT upto FROM {t}backfills WHERE name = :name", name="late_events"):
        return 0
    upto = ledger.position()
    depots = {depot_id(row["code"]): row["code"] for row in ledger.journal.depots()}
    rows: list[dict[str, Any]] = []
    start = 1
    while start <= upto:
        batch = ledger.recorder.select_notifications(start=start, limit=BATCH, stop=upto)
        if not batch:
            break
        for notification in batch:
            event = ledger.mapper.to_domain_event(notification)
            if isinstance(event, ev.LedgerEvent) and event.is_late:
                rows.append(
                    {"at_position": notification.id, **late_event_fields(event, depots.get(event.originator_id))}
                )
        start = batch[-1].id + 1
    if rows:
        store.write(LATE_EVENT, rows)
    store.write(DONE, [{"name": "late_events", "upto": upto}])
    return len(rows)


OBLIGATIONS = """INSERT INTO {t}obligations (position, depot, item, occurred_at, basis, min_days, terms)
    SELECT position, depot, item, occurred_at, :basis, min_days, NULL FROM {t}movements
    WHERE event_type = :event_type ON CONFLICT (position) DO NOTHING"""


def backfill_obligations(ledger: Ledger) -> None:
    """The obligations stored before `obligations` existed, from their movement journal rows:
    one statement, no events read. They were all set before bases existed, so recent_consumption."""
    store = ledger.index_store
    if store.query("SELECT upto FROM {t}backfills WHERE name = :name", name="obligations"):
        return
    upto = ledger.position()
    store.write(OBLIGATIONS, [{"basis": "recent_consumption", "event_type": "ObligationSet"}])
    store.write(DONE, [{"name": "obligations", "upto": upto}])
