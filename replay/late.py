"""Late-data impact (API.md `GET /v1/late`): reports recorded more than 24 h after they occurred,
each with the allocation decisions whose inputs it changed.

A late report changed a decision when it is about one of the decision's recipients and its
item, is dated at or before the decision, was recorded after the decision's basis, and
changes an input there (`replay.decisions.changes_at`): exactly the entries that the
decision's replay lists as late information.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field, field_serializer

from domain import events as ev
from ledger.application import Ledger
from ledger.clock import utc_text
from replay.decisions import changes_at


class LateReport(BaseModel):
    position: int
    depot: str | None
    type: str
    occurred_at: datetime
    recorded_at: datetime
    delay_hours: float
    items: list[str]
    changed_allocations: list[str] = Field(description="Decisions whose inputs this report changed")

    @field_serializer("occurred_at", "recorded_at")
    def _utc(self, value: datetime) -> str:
        return utc_text(value)


class LateReports(BaseModel):
    events: list[LateReport]
    next_after: int = Field(description="Pass as `after` for the next page")


def late_reports(
    ledger: Ledger, since: datetime | None, until: datetime | None, after: int = 0, limit: int = 200
) -> LateReports:
    events = ledger.journal.late_events(since, until, after, limit)
    rows = ledger.journal.rows_at([event["position"] for event in events])
    by_position: dict[int, list[dict[str, Any]]] = {}
    for row in rows:
        by_position.setdefault(row["position"], []).append(row)
    impact = _Impact(ledger)
    reports = [
        LateReport(
            position=event["position"],
            depot=event["depot"],
            type=event["event_type"],
            occurred_at=event["occurred_at"],
            recorded_at=event["recorded_at"],
            delay_hours=ev.delay_hours(event["occurred_at"], event["recorded_at"]),
            items=sorted({row["item"] for row in by_position.get(event["position"], [])}),
            changed_allocations=impact.changed(by_position.get(event["position"], [])),
        )
        for event in events
    ]
    return LateReports(events=reports, next_after=events[-1]["position"] if events else after)


class _Impact:
    """Finds the decisions a report's journal rows changed; decisions and counts are read once per item."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self._decisions: dict[str, list[dict[str, Any]]] = {}
        self._counts: dict[tuple[str, str], list[dict[str, Any]]] = {}

    def changed(self, rows: list[dict[str, Any]]) -> list[str]:
        changed: set[str] = set()
        for row in rows:
            for decision in self._decisions_of(row["item"]):
                if (
                    row["depot"] in decision["recipients"]
                    and row["occurred_at"] <= decision["decided_at"]
                    and row["position"] > decision["basis_position"]
                    and changes_at(
                        row, self._counts_of(row["depot"], row["item"], decision["decided_at"]), decision["decided_at"]
                    )
                ):
                    changed.add(decision["allocation_id"])
        return sorted(changed)

    def _decisions_of(self, item: str) -> list[dict[str, Any]]:
        if item not in self._decisions:
            self._decisions[item] = self.ledger.journal.allocations(item=item, limit=100_000)
        return self._decisions[item]

    def _counts_of(self, depot: str, item: str, at: datetime) -> list[dict[str, Any]]:
        if (depot, item) not in self._counts:
            store = self.ledger.index_store
            rows = store.query(
                """SELECT depot, occurred_at, position, line FROM {t}movements
                   WHERE depot = :depot AND item = :item AND counted IS NOT NULL""",
                depot=depot,
                item=item,
            )
            for row in rows:
                row["occurred_at"] = store.from_db_time(row["occurred_at"])
            self._counts[depot, item] = rows
        return [count for count in self._counts[depot, item] if count["occurred_at"] <= at]
