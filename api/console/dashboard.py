"""The national dashboard and its regions: the coordinator's picture, now or as it stood
and as it was known at any cut. Every figure is a view's (`projections.views`, the alert
views, obligation compliance); this page only arranges them in a region × item matrix."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from api.console.cuts import Picked, checked
from api.console.pages import render, see_other
from api.console.session import SignedInDep, needs
from api.deps import LedgerDep, ViewsDep
from domain.alerts import SEVERITY_ORDER, Severity
from ledger.clock import utc_text
from ledger.console_sessions import SignedIn
from projections.alerts.view import AlertSummary, AlertViews
from projections.compliance import ObligationsReport
from projections.national import NATIONAL, GroupBy, NationalStock, StockRowView
from projections.views import Views
from replay.line_charts import LineChart, days_of_supply_chart
from replay.review_model import CurvePoint, RegionCurve

router = APIRouter()
Watcher = Annotated[SignedIn, Depends(needs("coordinator", "auditor"))]
CutText = Annotated[str | None, Query(max_length=40)]
TREND_WEEKS = 8


@dataclass
class Cell:
    """One region's (or depot's) figures of one item, with what marks it."""

    stock: StockRowView | None = None
    alerts: Counter[Severity] = field(default_factory=Counter)  # severity → open alerts
    obligations_met: int = 0
    obligations: int = 0

    @property
    def severity(self) -> str:
        """The most severe open alert's severity, for the cell's colour ("ok" without one)."""
        found = [severity for severity, count in self.alerts.items() if count]
        return min(found, key=lambda s: SEVERITY_ORDER[s]) if found else "ok"

    @property
    def short(self) -> int:
        return self.obligations - self.obligations_met


@dataclass
class Matrix:
    """Rows (regions, or depots of a region) × items, and the national totals per item."""

    rows: list[str]
    items: list[str]
    cells: dict[tuple[str, str], Cell]
    totals: dict[str, StockRowView]
    alerts: AlertSummary
    severities: Counter[tuple[str, str]] = field(default_factory=Counter)  # (row, severity) → open alerts

    def cell(self, row: str, item: str) -> Cell:
        return self.cells.get((row, item)) or Cell()

    def counts(self, row: str) -> dict[str, int]:
        return {"critical": self.severities[row, "critical"], "warning": self.severities[row, "warning"]}


def matrix(
    stock_rows: list[StockRowView],
    alerts: AlertSummary,
    obligations: ObligationsReport,
    by_depot: bool,
) -> Matrix:
    cells: dict[tuple[str, str], Cell] = defaultdict(Cell)
    totals: dict[str, StockRowView] = {}
    for row in stock_rows:
        if row.region == NATIONAL and row.depot is None:
            totals[row.item] = row
            continue
        cells[(row.depot if by_depot and row.depot else row.region, row.item)].stock = row
    severities: Counter[tuple[str, str]] = Counter()
    for (region, depot, item, severity), count in alerts.counts.items():
        place = depot if by_depot else region
        severities[place, severity] += count
        if item is not None:
            cells[(place, item)].alerts[severity] += count
    for compliance in obligations.rows:
        for line in compliance.lines:
            cell = cells[(line.depot if by_depot else line.region, compliance.item)]
            cell.obligations += 1
            cell.obligations_met += 1 if line.meets_obligation else 0
    rows = sorted({row for row, _ in cells})
    items = sorted({item for _, item in cells} | set(totals))
    return Matrix(rows, items, dict(cells), totals, alerts, severities)


def _picture(views: ViewsDep, ledger: LedgerDep, cut: Picked, region: str | None) -> tuple[Any, Matrix]:
    params = cut.params
    group_by: GroupBy = "depot" if region else "region"
    stock = views.stock(params["as_of"], params["known_at"], group_by, region)
    alerts = AlertViews(ledger, views.projector).summary(params["as_of"], params["known_at"], region=region)
    obligations = views.obligations(region=region, as_of=params["as_of"], known_at=params["known_at"])
    return stock, matrix(stock.rows, alerts, obligations, by_depot=region is not None)


@router.get("/", response_class=HTMLResponse)
def home(request: Request, signed: SignedInDep, views: ViewsDep, ledger: LedgerDep,
         as_of: CutText = None, known_at: CutText = None) -> Response:  # fmt: skip
    """The national dashboard; an operator's home is the list of their depots."""
    if signed.principal.role == "operator":
        return see_other(request.url.path.rstrip("/") + "/depots")
    needs("coordinator", "auditor")(signed)
    cut = checked(views, as_of, known_at)
    stock, grid = _picture(views, ledger, cut, None)
    return render(request, "dashboard.html", status=_status(cut), stock=stock, grid=grid, cut=cut, region=None)


@router.get("/regions/{region}", response_class=HTMLResponse)
def region_page(request: Request, region: str, _: Watcher, views: ViewsDep, ledger: LedgerDep,
                as_of: CutText = None, known_at: CutText = None) -> Response:  # fmt: skip
    """One region's depots × items: the dashboard's row opened."""
    cut = checked(views, as_of, known_at)
    stock, grid = _picture(views, ledger, cut, region)
    chart = trend_chart(views, stock, region)
    return render(request, "dashboard.html", status=_status(cut), stock=stock, grid=grid, cut=cut, region=region,
                  trend=chart)  # fmt: skip


def _status(cut: Picked) -> int:
    """422 when the cut was refused (the page is drawn at now, the picker says why), as a refused form."""
    return 422 if cut.problems else 200


@dataclass(frozen=True)
class Trend:
    """The region's days of supply per item at weekly cuts, and the chart that draws them."""

    cuts: list[tuple[str, str]]  # (as_of, known_at) of each point, oldest first
    curves: list[RegionCurve]  # one per item (its `region` is the item: the chart's series)
    chart: LineChart


def trend_chart(views: Views, page: NationalStock, region: str, weeks: int = TREND_WEEKS) -> Trend:
    """Weekly points back from the page's cut, each as the ledger knew it at the page's position:
    `views.stock(..., group_by="region", region=...)` as the JSON `/v1/stock` answers it. Only on
    the region page: each point is a fold over the region's history."""
    end = datetime.fromisoformat(page.as_of.replace("Z", "+00:00"))
    known_at = f"pos:{page.position}"
    cuts = [(utc_text(end - timedelta(weeks=n)), known_at) for n in range(weeks, -1, -1)]
    figures = [
        {row.item: row.days_of_supply for row in views.stock(as_of, known, "region", region).rows if row.depot is None}
        for as_of, known in cuts
    ]
    moments = [datetime.fromisoformat(as_of.replace("Z", "+00:00")) for as_of, _ in cuts]
    items = sorted({item for found in figures for item in found})
    curves = [
        _curve(
            item,
            region,
            [CurvePoint(at=at, days_of_supply=found.get(item)) for at, found in zip(moments, figures, strict=True)],
        )
        for item in items
    ]
    return Trend(cuts, curves, days_of_supply_chart(region, curves, width=640))


def _curve(item: str, region: str, points: list[CurvePoint]) -> RegionCurve:
    """An item's points as a curve of the chart (one series per item) with its lowest point marked."""
    known = [p for p in points if p.days_of_supply is not None]
    lowest = min(known, key=lambda p: (p.days_of_supply, p.at)) if known else None
    return RegionCurve(
        region=item,
        item=region,
        minimum=lowest.days_of_supply if lowest else None,
        minimum_at=lowest.at if lowest else None,
        points=points,
    )
