"""The alert views the HTTP API and the CLI both call: open alerts at a cut, the rules, the history."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

import structlog
from pydantic import BaseModel, Field, field_serializer

from domain.alerts import ALERT_KINDS, DEFAULT_THRESHOLDS, Alert, AlertKind, Severity
from ledger import clock
from ledger.application import Ledger
from projections.alert_watch import AlertPlace
from projections.alerts.episodes import EpisodeList, alert_history
from projections.alerts.evaluate import alerts_at
from projections.alerts.inputs import read_rules
from projections.cut import Cut, time_range
from projections.history import History
from projections.views import VIEW_WAIT_SECONDS

if TYPE_CHECKING:
    from projections.runner import Projector

log = structlog.get_logger("supply_ledger.alerts")

READER_SETTLES_AT_MOST = 50
"""A request for the current alerts evaluates at most this many marked depots itself."""

Status = Literal["open", "acknowledged", "all"]


class Acknowledged(BaseModel):
    by: str
    at: datetime
    note: str | None

    @field_serializer("at")
    def _utc(self, value: datetime) -> str:
        return clock.utc_text(value)


class AlertView(BaseModel):
    alert_id: str = Field(description="Stable for one episode: kind, depot, item and the business time it opened")
    kind: AlertKind
    severity: Severity
    depot: str
    region: str
    item: str | None
    since: str = Field(description="The business time the episode opened (UTC)")
    message: str
    figures: dict[str, Any] = Field(description="The fold's figures that make the alert true")
    acknowledged: Acknowledged | None = None

    @classmethod
    def of(cls, alert: Alert) -> AlertView:
        return cls(
            alert_id=alert.alert_id,
            kind=alert.kind,
            severity=alert.severity,
            depot=alert.depot,
            region=alert.region,
            item=alert.item,
            since=clock.utc_text(alert.since),
            message=alert.message,
            figures=alert.figures,
            acknowledged=Acknowledged(**alert.acknowledged) if alert.acknowledged else None,
        )


class AlertList(BaseModel):
    as_of: str
    known_at: str
    position: int
    source: Literal["view", "fold"] = Field(
        description="`view`: the alerts the projection keeps current (no cut asked); `fold`: evaluated for the cut"
    )
    alerts: list[AlertView]


class RuleView(BaseModel):
    kind: AlertKind
    threshold: float | None
    scope: dict[str, str] = Field(description="Empty for the default")
    occurred_at: str | None = Field(description="Since when the rule is in force (null for the default)")
    position: int | None = Field(description="The ledger position that set it (null for the default)")


class RuleList(BaseModel):
    defaults: list[RuleView]
    rules: list[RuleView] = Field(description="Every rule set, in recorded order (a later one of a scope replaces it)")


@dataclass(frozen=True)
class AlertSummary:
    """Open alerts counted where they are (region, depot, item, severity), and the first of the
    listing: what a dashboard of thousands of alerts shows."""

    counts: Counter[AlertPlace]
    first: list[Alert]
    total: int


class AlertViews:
    """`projector`: the live ledger's stock projection, whose alert watch keeps the current alerts
    (`projections.alert_watch`); without one (an exercise) every view is evaluated on demand."""

    def __init__(self, ledger: Ledger, projector: Projector | None = None) -> None:
        self.ledger = ledger
        self.cuts = History(ledger.index_store)
        self.projector = projector

    def alerts(
        self,
        as_of: str | None = None,
        known_at: str | None = None,
        region: str | None = None,
        depot: str | None = None,
        item: str | None = None,
        kind: AlertKind | None = None,
        severity: Severity | None = None,
        status: Status = "all",
    ) -> AlertList:
        """Open alerts at the cut, most severe first; `status` open: not yet acknowledged."""
        cut, source, found = self.found(as_of, known_at, region, depot, item, kind, severity, status)
        return AlertList(**cut.describe(), source=source, alerts=[AlertView.of(alert) for alert in found])

    def found(
        self,
        as_of: str | None = None,
        known_at: str | None = None,
        region: str | None = None,
        depot: str | None = None,
        item: str | None = None,
        kind: AlertKind | None = None,
        severity: Severity | None = None,
        status: Status = "all",
    ) -> tuple[Cut, Literal["view", "fold"], list[Alert]]:
        """`alerts` as the domain's alerts: for a page that counts thousands of them (the console's
        dashboard) without building an answer model for each."""
        cut = self.cuts.cut(as_of, known_at, self.ledger.position(), now=self.ledger.clock())
        if depot is not None:
            self.ledger.depot(depot)  # 404 for an unknown depot
        if item is not None:
            self.ledger.require_item(item)
        kept = self._kept(cut, region) if as_of is None and known_at is None else None
        source: Literal["view", "fold"] = "fold" if kept is None else "view"
        if kept is None:
            depots = [
                (row["code"], row["region"])
                for row in self.ledger.journal.depots(region=region)
                if depot is None or row["code"] == depot
            ]
            kept = alerts_at(self.ledger, depots, cut)
        found = [
            alert
            for alert in kept
            if (depot is None or alert.depot == depot)
            and (item is None or alert.item == item)
            and (kind is None or alert.kind == kind)
            and (severity is None or alert.severity == severity)
            and (status == "all" or (alert.acknowledged is None) == (status == "open"))
        ]
        return cut, source, found

    def summary(
        self, as_of: str | None = None, known_at: str | None = None, region: str | None = None, first: int = 50
    ) -> AlertSummary:
        """The open alerts at the cut counted per region, depot, item and severity, and the `first`
        of their listing: now, from the alert watch's columns without reading each alert whole;
        at another cut (or with the projection behind), counted from `found`."""
        now = as_of is None and known_at is None
        if now and self._caught_up(self.cuts.cut(None, None, self.ledger.position(), now=self.ledger.clock())):
            assert self.projector is not None and self.projector.view.alerts is not None
            counts, listed = self.projector.view.alerts.summary(region, first)
            return AlertSummary(counts=counts, first=listed, total=sum(counts.values()))
        _, _, found = self.found(as_of, known_at, region=region)
        counted = Counter((a.region, a.depot, a.item, a.severity) for a in found)
        return AlertSummary(counts=counted, first=found[:first], total=len(found))

    def _caught_up(self, cut: Cut) -> bool:
        """Whether the alert watch has projected the cut's position; the depots the batches up to
        it touched, if the follower has not yet evaluated them, are settled here (a few: many are a
        bulk load, which the follower settles; the kept alerts are answered meanwhile)."""
        projector = self.projector
        if projector is None or projector.view.alerts is None:
            return False
        if not projector.wait(cut.known_position, VIEW_WAIT_SECONDS):
            log.warning("alert_view_behind", position=cut.known_position)
            return False
        projector.settle_alerts(at_most=READER_SETTLES_AT_MOST)
        return True

    def _kept(self, cut: Cut, region: str | None) -> list[Alert] | None:
        """The alerts the projection keeps, once it has projected the cut's position (the same
        evaluation, run when the events were projected or at its last tick); None when there is
        no projection or it is behind."""
        if not self._caught_up(cut):
            return None
        assert self.projector is not None and self.projector.view.alerts is not None
        return self.projector.view.alerts.current(region)

    def history(
        self, start: str | None = None, end: str | None = None, region: str | None = None, kind: AlertKind | None = None
    ) -> EpisodeList:
        """Each episode open at some time in [start, end], with when it was first known."""
        first, last = time_range(start, end, self.ledger.clock())
        return alert_history(self.ledger, first, last, region, kind)

    def rules(self) -> RuleList:
        defaults = [
            RuleView(kind=kind, threshold=DEFAULT_THRESHOLDS[kind], scope={}, occurred_at=None, position=None)
            for kind in ALERT_KINDS
        ]
        rules = [
            RuleView(
                kind=rule.kind,
                threshold=rule.threshold,
                scope=rule.scope.model_dump(exclude_none=True),
                occurred_at=clock.utc_text(rule.occurred_at),
                position=rule.position,
            )
            for rule in read_rules(self.ledger, self.ledger.position())
        ]
        return RuleList(defaults=defaults, rules=rules)
