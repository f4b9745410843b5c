"""The ledger feed: every stored event in position order, for integrations and auditors."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.utils import get_topic

from domain.events import EVENTS_BY_NAME, LedgerEvent
from domain.exceptions import InvalidCommand
from domain.ids import depot_id, event_id

ENVELOPE = {"originator_id", "originator_version", "timestamp", "occurred_at", "actor", "source", "command_id"}
BATCH = 500
MAX_SCANNED = 20_000


class Feed:
    def __init__(self, ledger: Any) -> None:
        self.ledger = ledger
        self._depot_codes: dict[UUID, str] = {}

    def depot_code(self, originator_id: UUID) -> str | None:
        if originator_id not in self._depot_codes:
            self._depot_codes = {depot_id(row["code"]): row["code"] for row in self.ledger.journal.depots()}
        return self._depot_codes.get(originator_id)

    def read(
        self, after: int = 0, limit: int = 100, depot: str | None = None, event_type: str | None = None
    ) -> tuple[list[dict[str, Any]], int]:
        """Events after a position; filters scan at most MAX_SCANNED positions per call, and
        `next_after` says where to go on, so a client pages through any filter."""
        topics: tuple[str, ...] = ()
        if event_type is not None:
            if event_type not in EVENTS_BY_NAME:
                raise InvalidCommand(
                    f"unknown event type {event_type!r}", errors=[{"loc": ["query", "type"], "msg": "unknown"}]
                )
            topics = (get_topic(EVENTS_BY_NAME[event_type]),)
        originator = depot_id(depot) if depot else None
        entries: list[dict[str, Any]] = []
        next_after, scanned = after, 0
        while len(entries) < limit and scanned < MAX_SCANNED:
            batch = self.ledger.recorder.select_notifications(
                next_after + 1, BATCH, topics=topics, inclusive_of_start=True
            )
            if not batch:
                break
            for notification in batch:
                scanned += 1
                next_after = notification.id
                if originator is None or notification.originator_id == originator:
                    entries.append(self.entry(notification))
                    if len(entries) == limit:
                        break
        self._link_corrections(entries)
        return entries, next_after

    def _link_corrections(self, entries: list[dict[str, Any]]) -> None:
        """Each entry's `corrects` (a correction: the event it corrects) and `corrected_by` (the
        corrections of it recorded so far), from the corrections index: one query per page."""
        at = {entry["position"]: entry for entry in entries}
        for row in self.ledger.journal.corrections_touching(list(at)):
            link = {"event_id": row["corrects"], "position": row["corrects_position"]}
            if row["position"] in at:
                at[row["position"]]["corrects"] = link
            if row["corrects_position"] in at:
                at[row["corrects_position"]]["corrected_by"].append(
                    {"event_id": row["event_id"], "position": row["position"]}
                )

    def entry(self, notification: Any) -> dict[str, Any]:
        event: LedgerEvent = self.ledger.mapper.to_domain_event(notification)
        return {
            "position": notification.id,
            "event_id": event_id(event.originator_id, event.originator_version),
            "corrects": None,
            "corrected_by": [],
            "depot": self.depot_code(event.originator_id),
            "type": type(event).__name__,
            "version": event.originator_version,
            "occurred_at": event.occurred_at,
            "recorded_at": event.timestamp,
            "actor": event.actor,
            "source": event.source,
            "command_id": event.command_id,
            "data": event.model_dump(mode="json", exclude=ENVELOPE),
        }
