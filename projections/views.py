"""The read side as one service: what the HTTP API and the CLI both call for views.

Read-your-writes: every view reads the ledger position first, so a write acknowledged
before the request is inside the cut. Depot stock and timelines read the journal, which
is written with the events. The national view reads the materialised projection only
once it has reached that position (catching it up in the request if it lags); should it
not get there in time, the answer comes from the on-demand fold instead.
"""

from __future__ import annotations

import structlog

from ledger.application import Ledger
from projections.compliance import ObligationsReport, compliance
from projections.cut import BadCut, Cut, time_range
from projections.history import History
from projections.national import (
    NATIONAL,
    GroupBy,
    NationalStock,
    current_figures,
    grouped,
    historical_figures,
)
from projections.runner import Projector
from projections.stock import DepotStock, depot_stock
from projections.timeline import Order, Timeline, depot_timeline

VIEW_WAIT_SECONDS = 5.0

log = structlog.get_logger("supply_ledger.views")


class Views:
    def __init__(self, ledger: Ledger, projector: Projector | None) -> None:
        self.ledger = ledger
        self.history = History(ledger.index_store)
        self.projector = projector

    def cut(self, as_of: str | None, known_at: str | None) -> Cut:
        return self.history.cut(as_of, known_at, self.ledger.position(), now=self.ledger.clock())

    def depot_stock(
        self, code: str, as_of: str | None = None, known_at: str | None = None, item: str | None = None
    ) -> DepotStock:
        cut = self.cut(as_of, known_at)
        depot = self.ledger.depot(code)
        if item is not None:
            self.ledger.require_item(item)
        return depot_stock(self.history, depot, cut, item)

    def stock(
        self,
        as_of: str | None = None,
        known_at: str | None = None,
        group_by: GroupBy = "region",
        region: str | None = None,
        item: str | None = None,
    ) -> NationalStock:
        cut = self.cut(as_of, known_at)
        if item is not None:
            self.ledger.require_item(item)
        if group_by == NATIONAL and region is not None:
            raise BadCut("region", "the national total sums every region: ask group_by=region for one region")
        current = as_of is None and known_at is None
        if current and self.projector is not None and self.projector.wait(cut.known_position, VIEW_WAIT_SECONDS):
            figures = current_figures(self.projector.view, cut, group_by, region, item)
            rows = grouped(figures, group_by, region)
            return NationalStock(**cut.describe(), group_by=group_by, source="view", rows=rows)
        if current:
            log.warning("stock_view_behind", position=cut.known_position)
        figures = historical_figures(self.ledger.index_store, cut, region, item)
        rows = grouped(figures, group_by, region)
        return NationalStock(**cut.describe(), group_by=group_by, source="fold", rows=rows)

    def obligations(
        self,
        organisation: str | None = None,
        region: str | None = None,
        item: str | None = None,
        as_of: str | None = None,
        known_at: str | None = None,
    ) -> ObligationsReport:
        """Compliance with obligations per organisation and item, at any cut. Now, each depot's
        figures are the projection's (as the national view's), once it has reached the cut."""
        cut = self.cut(as_of, known_at)
        if item is not None:
            self.ledger.require_item(item)
        figures = None
        current = as_of is None and known_at is None
        if current and self.projector is not None and self.projector.wait(cut.known_position, VIEW_WAIT_SECONDS):
            figures = current_figures(self.projector.view, cut, "depot", region, item)
        return compliance(self.ledger.index_store, cut, organisation, region, item, figures)

    def timeline(
        self,
        code: str,
        as_of: str | None = None,
        known_at: str | None = None,
        order: Order = "occurred",
        start: str | None = None,
        end: str | None = None,
        item: str | None = None,
        limit: int = 1000,
        newest: bool = False,
    ) -> Timeline:
        cut = self.cut(as_of, known_at)
        depot = self.ledger.depot(code)
        if item is not None:
            self.ledger.require_item(item)
        bounds = time_range(start, end, cut.asked_at)
        return depot_timeline(
            self.ledger.index_store,
            self.ledger.mapper,
            depot,
            cut,
            order,
            *bounds,
            item=item,
            limit=limit,
            newest=newest,
        )
