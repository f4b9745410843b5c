"""The condition of each alert kind at one business time, on the figures of the one fold.

`Moment` is what the scan (`projections.alerts.scan`) knows of one depot and item at a
business time: the stock line the stock views would show (`projections.stock.stock_line`),
the consumption in the 14 days up to it, the last count, the last report, the inbound
transfers and watched requests. `findings` says which kinds hold, how severe, with the
figures that make them true (API.md's table; DESIGN.md, "Shortage watch").
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from fractions import Fraction
from typing import Any

from domain.alerts import CRITICAL_STOCKOUT_DAYS, HIGH_REQUEST_HOURS, AlertKind, Severity
from domain.stock import CONSUMPTION_WINDOW, count_disagrees
from ledger.clock import utc_text
from projections.alerts.inputs import Inbound, Request
from projections.obligations import required_and_shortfall
from projections.stock import StockLine

DEFAULT_TRANSIT = timedelta(days=2)
"""A route with no received transfer yet: a transfer is due two days after its dispatch."""


@dataclass(frozen=True)
class Finding:
    severity: Severity
    message: str
    figures: dict[str, Any]


@dataclass
class Moment:
    at: datetime
    line: StockLine
    consumed_14d: int
    first_seen: datetime
    last_report: datetime | None = None
    last_count: tuple[int, int] | None = None  # (book just before it, counted)
    inbound: tuple[Inbound, ...] = ()  # transfers of this item to the depot, as known
    transits: dict[str, list[timedelta]] | None = None  # per source: transit times received by `at`
    requests: tuple[tuple[Request, datetime | None], ...] = ()  # with when each was answered, if it was


Threshold = Callable[[AlertKind], float | None]


def obligation_figures(line: StockLine, consumed_14d: int) -> dict[str, Any]:
    """Required units and the shortfall behind `meets_obligation: false`, as the stock views and
    GET /v1/obligations report them (`projections.obligations`)."""
    found = required_and_shortfall(line)
    required, shortfall = found if found is not None else (None, None)
    return {
        "basis": line.basis,
        "min_days": line.min_days,
        "days_of_supply": line.days_of_supply,
        "required": required,
        "on_hand": line.on_hand,
        "shortfall": shortfall,
    }


def in_transit(moment: Moment, known: int) -> list[Inbound]:
    return [
        t
        for t in moment.inbound
        if t.dispatched_at <= moment.at and ((closed := t.closed_by(known)) is None or closed > moment.at)
    ]


def due_on(transfer: Inbound, transits: dict[str, list[timedelta]]) -> date:
    """A transfer is due its dispatch plus the route's median transit time so far (else 2 days)."""
    times = transits.get(transfer.source)
    transit = timedelta(seconds=statistics.median(t.total_seconds() for t in times)) if times else DEFAULT_TRANSIT
    return (transfer.dispatched_at + transit).date()


def projected_stockout(moment: Moment, item: str, known: int, horizon: int) -> tuple[date, int] | None:
    """The first day (from the moment's date, day 0) on which on hand plus what is due in by that
    day, less the exact average daily consumption per day since, is 0 or below; None without
    consumption or when it lies beyond the horizon. Also returns the day's number."""
    if moment.consumed_14d <= 0:
        return None
    today = moment.at.date()
    arriving_on: dict[int, int] = {}
    for transfer in in_transit(moment, known):
        offset = max(0, (due_on(transfer, moment.transits or {}) - today).days)
        arriving_on[offset] = arriving_on.get(offset, 0) + transfer.lines[item]
    day = stockout_day(moment.line.on_hand, moment.consumed_14d, arriving_on, horizon)
    return None if day is None else (today + timedelta(days=day), day)


def stockout_day(on_hand: int, consumed_14d: int, arriving_on: dict[int, int], horizon: int) -> int | None:
    """The first day d in [0, horizon] with 14 × (on_hand + what arrives by day d) <= consumed_14d × d
    (`arriving_on`: units by day number). What arrives only changes on arrival days, so each
    stretch between them is solved at once instead of day by day."""
    starts = sorted({0, *arriving_on})
    arrived = 0
    for index, start in enumerate(starts):
        if start > horizon:
            break
        arrived += arriving_on.get(start, 0)
        stretch_end = min(starts[index + 1] if index + 1 < len(starts) else horizon + 1, horizon + 1)
        needed = CONSUMPTION_WINDOW.days * (on_hand + arrived)
        day = max(start, -(-needed // consumed_14d))  # the first day of the stretch the stock is used up by
        if day < stretch_end:
            return day
    return None


def findings(moment: Moment, item: str, known: int, threshold: Threshold) -> dict[AlertKind, Finding]:
    """Every kind that holds at the moment (each with its threshold in force then)."""
    line = moment.line
    found: dict[AlertKind, Finding] = {}
    avg = line.avg_daily_consumption
    low = threshold("low_days_of_supply")
    if low is not None and line.days_of_supply is not None and line.days_of_supply < low:
        found["low_days_of_supply"] = Finding(
            "warning",
            f"{line.days_of_supply} days of supply of {item}, below {low:g}",
            {
                "days_of_supply": line.days_of_supply,
                "on_hand": line.on_hand,
                "avg_daily_consumption": avg,
                "threshold": low,
            },
        )
    horizon = threshold("projected_stockout")
    projected = projected_stockout(moment, item, known, int(horizon)) if horizon is not None else None
    if projected is not None:
        day, days = projected
        found["projected_stockout"] = Finding(
            "critical" if days <= CRITICAL_STOCKOUT_DAYS else "warning",
            f"{item} runs out on {day.isoformat()} at {avg} a day",
            {
                "projected_stockout_on": day.isoformat(),
                "days": days,
                "on_hand": line.on_hand,
                "in_transit_in": line.in_transit_in,
                "avg_daily_consumption": avg,
                "threshold": horizon,
            },
        )
    if line.on_hand <= 0 and moment.consumed_14d > 0:
        found["stockout"] = Finding(
            "critical", f"no {item} on hand, {avg} used a day", {"on_hand": line.on_hand, "avg_daily_consumption": avg}
        )
    if line.meets_obligation is False:
        figures = obligation_figures(line, moment.consumed_14d)
        found["obligation_breach"] = Finding(
            "warning", f"{item} below its obligation of {line.min_days} days, short {figures['shortfall']}", figures
        )
    _expiry_findings(moment, item, threshold, found)
    share = threshold("count_variance")
    if share is not None and moment.last_count is not None:
        book, counted = moment.last_count
        if count_disagrees(book, counted, Fraction(str(share))):
            found["count_variance"] = Finding(
                "warning",
                f"the last count of {item} ({counted}) differed from the book ({book})",
                {"counted": counted, "book": book, "variance": counted - book, "threshold": share},
            )
    _overdue_findings(moment, item, known, threshold, found)
    silent = threshold("silent_depot")
    heard = moment.last_report or moment.first_seen
    if (
        silent is not None
        and (line.on_hand > 0 or moment.consumed_14d > 0)
        and moment.at - heard >= timedelta(days=silent)
    ):
        silent_days = round((moment.at - heard).total_seconds() / 86400, 1)
        found["silent_depot"] = Finding(
            "warning",
            f"no consumption report or count of {item} for {silent_days} days: its figures are stale",
            {
                "last_report_at": utc_text(moment.last_report) if moment.last_report else None,
                "days_silent": silent_days,
                "threshold": silent,
            },
        )
    return found


def _expiry_findings(moment: Moment, item: str, threshold: Threshold, found: dict[AlertKind, Finding]) -> None:
    line, today = moment.line, moment.at.date()
    horizon = threshold("expiring_lots")
    if horizon is not None:
        last_day = today + timedelta(days=int(horizon))
        lots = [
            lot.model_dump()
            for lot in line.lots
            if lot.quantity > 0
            and lot.expires_on is not None
            and today <= date.fromisoformat(lot.expires_on) <= last_day
        ]
        if lots:
            quantity = sum(lot["quantity"] for lot in lots)
            found["expiring_lots"] = Finding(
                "warning",
                f"{quantity} {item} in {len(lots)} lot(s) expire by {last_day.isoformat()}",
                {"lots": lots, "quantity": quantity, "threshold": horizon},
            )
    if line.expired > 0:
        found["expired_stock"] = Finding("warning", f"{line.expired} {item} expired", {"expired": line.expired})


def _overdue_findings(
    moment: Moment, item: str, known: int, threshold: Threshold, found: dict[AlertKind, Finding]
) -> None:
    limit = threshold("transfer_overdue")
    if limit is not None:
        late = [t for t in in_transit(moment, known) if moment.at - t.dispatched_at >= timedelta(hours=limit)]
        if late:
            found["transfer_overdue"] = Finding(
                "warning",
                f"{len(late)} transfer(s) of {item} in transit over {limit:g} h",
                {
                    "transfers": [
                        {
                            "transfer_id": t.transfer_id,
                            "from": t.source,
                            "dispatched_at": utc_text(t.dispatched_at),
                            "quantity": t.lines[item],
                        }
                        for t in late
                    ],
                    "threshold": limit,
                },
            )
    hours = threshold("request_unanswered")
    if hours is None:
        return
    waiting = [
        request
        for request, answered in moment.requests
        if request.requested_at <= moment.at
        and (answered is None or answered > moment.at)
        and moment.at - request.requested_at >= timedelta(hours=request_limit(request.priority, hours))
    ]
    if waiting:
        critical = any(r.priority == "critical" for r in waiting)
        found["request_unanswered"] = Finding(
            "critical" if critical else "warning",
            f"{len(waiting)} {'critical' if critical else 'high'} request(s) for {item} unanswered",
            {
                "requests": [
                    {
                        "request_id": r.request_id,
                        "priority": r.priority,
                        "quantity": r.quantity,
                        "requested_at": utc_text(r.requested_at),
                    }
                    for r in waiting
                ],
                "threshold": hours,
            },
        )


def request_limit(priority: str, critical_hours: float) -> float:
    """Critical requests use the rule's hours; high ones three times as long (72 h at the default 24 h)."""
    return critical_hours if priority == "critical" else critical_hours * HIGH_REQUEST_HOURS / 24
