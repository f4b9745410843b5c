"""Which index rows a batch of new events writes (see `ledger.persistence`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from domain import events as ev
from domain.ids import event_id
from ledger.persistence import IndexRows


def late_event_fields(event: ev.LedgerEvent, aggregate_code: str | None) -> dict[str, Any]:
    """A `late_events` row (besides its position): written with the event, or backfilled later."""
    return {
        "depot": aggregate_code if isinstance(event, ev.DEPOT_EVENTS) else None,
        "event_type": type(event).__name__,
        "occurred_at": event.occurred_at,
        "recorded_at": event.timestamp,
    }


def index_rows(
    events: Sequence[Any],
    aggregates: Mapping[Any, Any],
    event_position: Callable[[str], int | None] | None = None,
) -> IndexRows:
    """`event_position` finds the ledger position of an event already stored (what a correction corrects)."""
    index = IndexRows()
    cancelled: set[str] = set()
    for position, event in enumerate(events):
        aggregate = aggregates.get(event.originator_id)
        if aggregate is None:  # snapshots and foreign events carry no index
            continue
        index.add("position", position, recorded_at=event.timestamp)
        if isinstance(event, ev.LedgerEvent) and event.is_late:
            index.add("late_event", position, **late_event_fields(event, getattr(aggregate, "code", None)))
        for line, effect in enumerate(aggregate.effects_of(event)):
            index.add(
                "movement",
                position,
                line=line,
                depot=aggregate.code,
                item=effect.item,
                occurred_at=event.occurred_at,
                recorded_at=event.timestamp,
                version=event.originator_version,
                event_type=type(event).__name__,
                delta=effect.delta,
                counted=effect.counted,
                lot=effect.lot,
                expires_on=effect.expires_on,
                transit_in=effect.transit_in,
                transit_out=effect.transit_out,
                reserved=effect.reserved,
                min_days=effect.min_days,
                backdated=int(effect.backdated),
            )
        match event:
            case ev.DepotRegistered():
                index.add(
                    "depot",
                    position,
                    **event.model_dump(include={"code", "name", "region", "organisation", "kind", "population_served"}),
                )
            case ev.ObligationSet():
                index.add(
                    "obligation",
                    position,
                    depot=aggregate.code,
                    item=event.item,
                    occurred_at=event.occurred_at,
                    basis=event.basis,
                    min_days=event.min_days,
                    terms=event.model_dump(
                        mode="json", include={"share_of_year", "years", "exclude_years", "daily_quantity"}
                    ),
                )
            case ev.ItemDefined():
                index.add(
                    "item", position, **event.model_dump(include={"code", "name", "unit", "category", "atc_code"})
                )
                for gtin in event.gtins:
                    index.add("item_gtin", position, gtin=gtin, item=event.code)
            case ev.ItemGtinsSet():
                # the delete's batch is written before the inserts' (batches keep the order first added)
                index.add("item_gtins_cleared", position, item=aggregate.code)
                for gtin in event.gtins:
                    index.add("item_gtin", position, gtin=gtin, item=aggregate.code)
            case ev.TransferDispatched():
                index.add(
                    "transfer_dispatched",
                    position,
                    transfer_id=event.transfer_id,
                    source=aggregate.code,
                    destination=event.counterpart,
                    lines=[line.model_dump(mode="json") for line in event.lines],
                    allocation_id=event.allocation_id,
                    reference=event.reference,
                    dispatched_at=event.occurred_at,
                )
            case ev.TransferReceived():
                index.add(
                    "transfer_received",
                    position,
                    transfer_id=event.transfer_id,
                    received_at=event.occurred_at,
                    received_lines=[line.model_dump(mode="json") for line in event.lines],
                )
            case ev.AllocationDecided():
                index.add(
                    "allocation_decided",
                    position,
                    allocation_id=event.allocation_id,
                    source=aggregate.code,
                    item=event.item,
                    quantity=event.quantity,
                    policy=event.policy,
                    decided_at=event.occurred_at,
                    recorded_at=event.timestamp,
                    basis_position=event.basis_position,
                    recipients=list(event.recipients),
                )
            case ev.AllocationRevoked():
                index.add(
                    "allocation_revoked",
                    position,
                    allocation_id=event.allocation_id,
                    revoked_at=event.occurred_at,
                    reason=event.reason,
                )
            case ev.StockAdjusted(corrects=str(corrects)) if event_position is not None:
                corrects_position = event_position(corrects)
                if corrects_position is not None:
                    index.add(
                        "correction",
                        position,
                        depot=aggregate.code,
                        event_id=event_id(event.originator_id, event.originator_version),
                        corrects=corrects,
                        corrects_position=corrects_position,
                    )
            case ev.ImportRecorded():
                index.add(
                    "import",
                    position,
                    import_id=str(event.originator_id),
                    recorded_at=event.timestamp,
                    **event.model_dump(include={"kind", "actor", "file_name", "content_hash", "rows", "events"}),
                )
            case ev.TransferCancelled() if event.transfer_id not in cancelled:  # on both depots: index it once
                cancelled.add(event.transfer_id)
                index.add(
                    "transfer_cancelled",
                    position,
                    transfer_id=event.transfer_id,
                    cancelled_at=event.occurred_at,
                    reason=event.reason,
                )
    return index
