"""What the alert evaluation reads of one depot, in a few queries, as known at a ledger position.

Everything is read once up to the cut's position and kept with its own position, so the
episode history (`projections.alerts.episodes`) can ask the same depot "as known at" any
earlier position without reading it again: `known` filters in memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from eventsourcing.utils import get_topic

from domain import events as ev
from domain.alert_rules import Rule
from domain.ids import alert_rules_id, depot_id

if TYPE_CHECKING:
    from ledger.application import Ledger

ROW_COLUMNS = (
    "item, occurred_at, position, line, event_type, delta, counted, lot, expires_on,"
    " transit_in, transit_out, reserved, min_days"
)
REQUEST_TOPICS = {get_topic(cls) for cls in (ev.SupplyRequested, ev.SupplyRequestClosed, ev.AlertAcknowledged)}
WATCHED_PRIORITIES = ("critical", "high")


@dataclass(frozen=True)
class Inbound:
    """A transfer to the depot: its lines by item, when it was dispatched and closed (received or
    cancelled), each with the position that recorded it."""

    transfer_id: str
    source: str
    lines: dict[str, int]
    dispatched_at: datetime
    dispatched_position: int
    closed_at: datetime | None
    closed_position: int | None
    received: bool

    def closed_by(self, known: int) -> datetime | None:
        return self.closed_at if self.closed_position is not None and self.closed_position <= known else None


@dataclass(frozen=True)
class Request:
    request_id: str
    item: str
    quantity: int
    priority: str
    requested_at: datetime
    position: int


@dataclass(frozen=True)
class Dated:
    """Something that happened at a business time, recorded at a position: a request's closing,
    an allocation that gives the depot an item."""

    key: str
    at: datetime
    position: int


@dataclass(frozen=True)
class Acknowledgement:
    alert_id: str
    by: str
    at: datetime
    note: str | None
    position: int


@dataclass
class DepotInputs:
    depot: str
    region: str
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # item -> journal rows, business order
    inbound: list[Inbound] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    closings: list[Dated] = field(default_factory=list)  # key: request_id
    allocations: list[Dated] = field(default_factory=list)  # key: item given to this depot
    acknowledgements: list[Acknowledgement] = field(default_factory=list)

    def items(self, known: int) -> list[str]:
        """Every item the depot has had rows, inbound transfers or watched requests for, as known."""
        found = {item for item, rows in self.rows.items() if rows and rows[0]["position"] <= known}
        found |= {item for t in self.inbound if t.dispatched_position <= known for item in t.lines}
        found |= {r.item for r in self.requests if r.position <= known}
        return sorted(found)


def read_depot(ledger: Ledger, depot: str, region: str, known: int, end: datetime | None) -> DepotInputs:
    """The depot's journal rows dated up to `end` (None: all), its inbound transfers, its supply
    requests of watched priority and their answers, and its acknowledgements, recorded up to `known`."""
    store = ledger.index_store
    inputs = DepotInputs(depot, region)
    bound = " AND occurred_at <= :end" if end is not None else ""
    for row in store.query(
        f"SELECT {ROW_COLUMNS} FROM {{t}}movements WHERE depot = :depot AND position <= :known{bound}"
        " ORDER BY item, occurred_at, position, line",
        depot=depot,
        known=known,
        end=end,
    ):
        row["occurred_at"] = store.from_db_time(row["occurred_at"])
        inputs.rows.setdefault(row["item"], []).append(row)
    for row in store.query(
        "SELECT * FROM {t}transfers WHERE destination = :depot AND dispatched_position <= :known",
        depot=depot,
        known=known,
    ):
        transfer = ledger.journal._transfer(row)
        lines: dict[str, int] = {}
        for line in transfer["lines"]:
            lines[line["item"]] = lines.get(line["item"], 0) + line["quantity"]
        closed = transfer["status"] != "in_transit"
        inputs.inbound.append(
            Inbound(
                transfer_id=transfer["transfer_id"],
                source=transfer["source"],
                lines=lines,
                dispatched_at=transfer["dispatched_at"],
                dispatched_position=int(transfer["dispatched_position"]),
                closed_at=(transfer["received_at"] or transfer["cancelled_at"]) if closed else None,
                closed_position=int(transfer["updated_position"]) if closed else None,
                received=transfer["status"] == "received",
            )
        )
    for position, stored in store.stream(depot_id(depot), known):
        if stored.topic not in REQUEST_TOPICS:
            continue
        event = ledger.mapper.to_domain_event(stored)
        match event:
            case ev.SupplyRequested() if event.priority in WATCHED_PRIORITIES:
                inputs.requests.append(
                    Request(event.request_id, event.item, event.quantity, event.priority, event.occurred_at, position)
                )
            case ev.SupplyRequestClosed():
                inputs.closings.append(Dated(event.request_id, event.occurred_at, position))
            case ev.AlertAcknowledged():
                inputs.acknowledgements.append(
                    Acknowledgement(event.alert_id, event.actor, event.occurred_at, event.note, position)
                )
    if inputs.requests:
        inputs.allocations = _allocations_to(ledger, depot, {r.item for r in inputs.requests}, known)
    return inputs


def _allocations_to(ledger: Ledger, depot: str, items: set[str], known: int) -> list[Dated]:
    """The allocation decisions that give `depot` some of one of `items` (a line of more than 0)."""
    found = []
    for item in sorted(items):
        for allocation in ledger.journal.allocations(item=item, limit=100_000):
            position = int(allocation["decided_position"])
            if position > known or depot not in allocation["recipients"]:
                continue
            [notification] = ledger.recorder.select_notifications(position, 1, stop=position)
            decided = ledger.mapper.to_domain_event(notification)
            if isinstance(decided, ev.AllocationDecided) and any(
                line.to == depot and line.quantity > 0 for line in decided.lines
            ):
                found.append(Dated(item, decided.occurred_at, position))
    return found


def read_rules(ledger: Ledger, known: int) -> list[Rule]:
    """Every alert rule recorded up to position `known` (in force or not: `domain.alert_rules` decides)."""
    rules = []
    for position, stored in ledger.index_store.stream(alert_rules_id(), known):
        event = ledger.mapper.to_domain_event(stored)
        if isinstance(event, ev.AlertRuleSet):
            rules.append(Rule.of(event, position))
    return rules


def item_categories(ledger: Ledger) -> dict[str, str]:
    return {row["code"]: row["category"] for row in ledger.journal.items()}
