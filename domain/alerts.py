"""Shortage-watch alerts: the kinds, their default thresholds and severities, and one alert as
every view, the projection and a webhook delivery see it (API.md, "Alerts (shortage watch)").

An alert is a derived figure like days of supply: a condition on the fold at a business time
as known at a cut. An episode is identified by its kind, depot, item and the business time it
opened, so its id is the same in every view and every replay."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any, Literal, get_args
from uuid import uuid5

from domain.exceptions import Conflict, NotFound
from domain.ids import NAMESPACE

AlertKind = Literal[
    "low_days_of_supply",
    "projected_stockout",
    "stockout",
    "obligation_breach",
    "expiring_lots",
    "expired_stock",
    "transfer_overdue",
    "request_unanswered",
    "count_variance",
    "silent_depot",
]
ALERT_KINDS: tuple[AlertKind, ...] = get_args(AlertKind)

Severity = Literal["critical", "warning"]
SEVERITY_ORDER: dict[Severity, int] = {"critical": 0, "warning": 1}
"""Most severe first."""

DEFAULT_THRESHOLDS: dict[AlertKind, float | None] = {
    "low_days_of_supply": 14,  # days of supply below
    "projected_stockout": 21,  # horizon in days
    "stockout": None,
    "obligation_breach": None,
    "expiring_lots": 90,  # horizon in days
    "expired_stock": None,
    "transfer_overdue": 72,  # hours in transit
    "request_unanswered": 24,  # hours open, for critical requests (high: HIGH_REQUEST_HOURS)
    "count_variance": 0.1,  # share of the book
    "silent_depot": 3,  # days without a consumption report or count
}
"""API.md's defaults; a rule (an `AlertRuleSet` event) overrides one per category, item, region or depot."""

HIGH_REQUEST_HOURS = 72
"""`request_unanswered` for `high` priority requests: API.md's 72 h default."""

CRITICAL_STOCKOUT_DAYS = 7
"""A projected stockout within this many days is critical (DESIGN.md, "Shortage watch")."""

ChangeKind = Literal["opened", "escalated", "closed"]


def alert_id(kind: str, depot: str, item: str | None, opened_at: datetime) -> str:
    """Stable for one episode: derived from kind, depot, item and the business time it opened."""
    key = f"alert:{kind}:{depot}:{item or ''}:{opened_at.isoformat()}"
    return str(uuid5(NAMESPACE, key))


@dataclass(frozen=True)
class Alert:
    """One open alert at a cut. `since` is the business time its episode opened; `figures` are the
    fold's figures that make it true (e.g. days_of_supply, projected_stockout_on, shortfall)."""

    kind: AlertKind
    severity: Severity
    depot: str
    region: str
    item: str | None
    since: datetime
    message: str
    figures: dict[str, Any] = field(default_factory=dict)
    acknowledged: dict[str, Any] | None = None  # {by, at, note}

    @cached_property
    def alert_id(self) -> str:  # a hash: computed once per alert (a national listing has thousands)
        return alert_id(self.kind, self.depot, self.item, self.since)

    def fields(self) -> dict[str, Any]:
        """What every reader of an alert is told of it (`since` as a datetime: each writes it its way)."""
        return {
            "alert_id": self.alert_id,
            "kind": self.kind,
            "severity": self.severity,
            "depot": self.depot,
            "region": self.region,
            "item": self.item,
            "since": self.since,
            "figures": self.figures,
            "message": self.message,
        }

    def order(self) -> tuple[int, str, str, str, str]:
        """Most severe first, then by region, depot, item and kind (a stable listing)."""
        return listing_order(self.severity, self.region, self.depot, self.item, self.kind)


def listing_order(
    severity: Severity, region: str, depot: str, item: str | None, kind: str
) -> tuple[int, str, str, str, str]:
    """Where an alert stands in a listing (`Alert.order`), from its columns alone: a page that
    counts stored alerts orders them without reading each one whole."""
    return (SEVERITY_ORDER[severity], region, depot, item or "", kind)


@dataclass(frozen=True)
class AlertChange:
    """What a webhook subscriber is told: an alert opened, escalated (its severity rose) or closed.
    `alert` is the alert as it stands after the change (as it stood last, for a closing)."""

    change: ChangeKind
    alert: Alert
    at: datetime  # the recorded time of the ledger position that showed the change


def changes(before: dict[str, Alert], after: dict[str, Alert], at: datetime) -> list[AlertChange]:
    """The openings, escalations and closings between two sets of open alerts keyed by `alert_id`."""
    found: list[AlertChange] = []
    for key, alert in after.items():
        previous = before.get(key)
        if previous is None:
            found.append(AlertChange("opened", alert, at))
        elif SEVERITY_ORDER[alert.severity] < SEVERITY_ORDER[previous.severity]:
            found.append(AlertChange("escalated", alert, at))
    found.extend(AlertChange("closed", alert, at) for key, alert in before.items() if key not in after)
    return sorted(found, key=lambda c: (c.alert.order(), c.change))


class UnknownAlert(NotFound):
    """No open alert has this id now: it never existed, or its episode has closed."""

    title = "Unknown alert"


class AlertAlreadyAcknowledged(Conflict):
    title = "Alert already acknowledged"


__all__ = [
    "AlertAlreadyAcknowledged",
    "UnknownAlert",
    "ALERT_KINDS",
    "CRITICAL_STOCKOUT_DAYS",
    "DEFAULT_THRESHOLDS",
    "HIGH_REQUEST_HOURS",
    "Alert",
    "AlertChange",
    "AlertKind",
    "ChangeKind",
    "Severity",
    "alert_id",
    "changes",
]
