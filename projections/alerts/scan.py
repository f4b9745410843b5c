"""Alert episodes of one depot and item: the one fold, walked forward through business time.

The depot's journal rows for the item are folded in business order by the fold every stock
view uses (`projections.fold.ItemState`), and at each *evaluation instant* the stock line
is derived as the depot stock view derives it (`projections.stock.stock_line`) and every
kind's condition is checked on it (`projections.alerts.conditions`).

The evaluation instants (the rule `since` rests on): the business time of each journal row of
the item (after every row at that instant), each UTC midnight, each instant a consumption
report leaves the 14-day window (its time plus 14 days), each rule setting, each instant a
limit is reached (a transfer's dispatch plus the overdue hours, a request plus its hours, a
report plus the silent days, for every threshold a rule gives), each transfer's closing and
each request's answer, and the cut's business time itself. Between two instants no figure an
alert reads can change, so an episode *opens* at the first instant its condition holds and
*closes* at the first instant it no longer does; `since` is its opening.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from domain.alert_rules import Rule, Target, threshold
from domain.alerts import DEFAULT_THRESHOLDS, AlertKind
from projections.alerts.conditions import Finding, Moment, findings, request_limit
from projections.alerts.inputs import DepotInputs, Request
from projections.cut import Cut
from projections.fold import CONSUMPTION, Expiries, ItemFold, ItemState, days_of_supply
from projections.obligations import ObligationTimeline
from projections.stock import stock_line

REPORTS = (CONSUMPTION, "StockCounted")
"""What keeps a depot's figures fresh (`silent_depot`)."""


@dataclass(frozen=True)
class Episode:
    """One spell of one kind at one depot and item: opened (business time), closed (None: still
    open at the end of the scan), and the finding at its last evaluation while open."""

    kind: AlertKind
    opened_at: datetime
    closed_at: datetime | None
    finding: Finding


def answered_at(request: Request, inputs: DepotInputs, known: int) -> datetime | None:
    """When a request stopped waiting: closed, or answered by an allocation giving the depot its
    item or a transfer of its item dispatched to it, at or after the request (the first of these)."""
    times = [c.at for c in inputs.closings if c.key == request.request_id and c.position <= known]
    times += [
        a.at
        for a in inputs.allocations
        if a.key == request.item and a.position <= known and a.at >= request.requested_at
    ]
    times += [
        t.dispatched_at
        for t in inputs.inbound
        if request.item in t.lines and t.dispatched_position <= known and t.dispatched_at >= request.requested_at
    ]
    return min(times, default=None)


def _limits(rules: Sequence[Rule], kind: AlertKind) -> set[float]:
    values = {rule.threshold for rule in rules if rule.kind == kind}
    default = DEFAULT_THRESHOLDS[kind]
    return values | ({default} if default is not None else set())


def scan_item(
    inputs: DepotInputs,
    item: str,
    target: Target,
    rules: Sequence[Rule],
    cut: Cut,
    expiries: Expiries,
    obligations: ObligationTimeline | None = None,
) -> list[Episode]:
    """Every episode of every kind for `item` at the depot up to the cut's business time, as known
    at the cut's position (an open one last). `obligations`: the book's obligations through time
    (every basis); without them an obligation's `min_days` reads as recent consumption."""
    known, end = cut.known_position, cut.business_time
    rows = [r for r in inputs.rows.get(item, ()) if r["position"] <= known]
    if cut.as_of is not None:
        rows = [r for r in rows if r["occurred_at"] <= end]
    inbound = tuple(t for t in inputs.inbound if item in t.lines and t.dispatched_position <= known)
    received = sorted(
        (closed, t.source, closed - t.dispatched_at)
        for t in inputs.inbound
        if t.received and (closed := t.closed_by(known)) is not None
    )
    requests = tuple(
        (r, answered_at(r, inputs, known)) for r in inputs.requests if r.item == item and r.position <= known
    )
    rules = [r for r in rules if r.position <= known and r.matches(target)]
    starts = [r["occurred_at"] for r in rows[:1]] + [t.dispatched_at for t in inbound]
    starts += [r.requested_at for r, _ in requests]
    if not starts or min(starts) > end:
        return []
    first = min(starts)

    instants = {end, *(r["occurred_at"] for r in rows), *(rule.occurred_at for rule in rules)}
    instants |= {r["occurred_at"] + timedelta(days=14) for r in rows if r["event_type"] == CONSUMPTION}
    day = first.astimezone(UTC).date() + timedelta(days=1)
    while day <= end.astimezone(UTC).date():
        instants.add(datetime.combine(day, time(0, tzinfo=UTC)))
        day += timedelta(days=1)
    for hours in _limits(rules, "transfer_overdue"):
        instants |= {t.dispatched_at + timedelta(hours=hours) for t in inbound}
    instants |= {closed for t in inbound if (closed := t.closed_by(known)) is not None}
    for hours in _limits(rules, "request_unanswered"):
        instants |= {r.requested_at + timedelta(hours=request_limit(r.priority, hours)) for r, _ in requests}
    instants |= {answered for _, answered in requests if answered is not None}
    for days in _limits(rules, "silent_depot"):
        instants |= {r["occurred_at"] + timedelta(days=days) for r in rows if r["event_type"] in REPORTS}
        instants.add(first + timedelta(days=days))

    state, window, consumed = ItemState(), deque[tuple[datetime, int]](), 0
    moment = Moment(
        at=first,
        line=stock_line(item, ItemFold(state), cut),
        consumed_14d=0,
        first_seen=first,
        inbound=inbound,
        requests=requests,
    )
    opened: dict[AlertKind, tuple[datetime, Finding]] = {}
    episodes: list[Episode] = []
    next_row = 0
    for at in sorted(i for i in instants if first <= i <= end):
        final = at == end
        while next_row < len(rows) and (rows[next_row]["occurred_at"] <= at or (final and cut.as_of is None)):
            row = rows[next_row]
            if row["counted"] is not None:
                moment.last_count = (state.on_hand, row["counted"])
            if row["event_type"] in REPORTS:
                moment.last_report = row["occurred_at"]
            if row["event_type"] == CONSUMPTION and row["occurred_at"] <= at:  # (a future row: not yet consumed)
                window.append((row["occurred_at"], -row["delta"]))
                consumed -= row["delta"]
            state.apply(row, expiries)
            next_row += 1
        while window and window[0][0] <= at - timedelta(days=14):
            consumed -= window.popleft()[1]
        moment.at, moment.consumed_14d = at, consumed
        obligation = (
            None
            if obligations is None
            else obligations.figures(at, state.on_hand, days_of_supply(state.on_hand, consumed), consumed)
        )
        moment.line = stock_line(
            item, ItemFold(state, consumed, expiries), Cut(at, known, cut.known_at, cut.asked_at), obligation
        )
        moment.transits = {}
        for closed, source, transit in received:
            if closed <= at:
                moment.transits.setdefault(source, []).append(transit)
        found = findings(moment, item, known, lambda kind: threshold(rules, kind, target, at))  # noqa: B023
        for kind, finding in found.items():
            opened[kind] = (opened[kind][0] if kind in opened else at, finding)
        for kind in [kind for kind in opened if kind not in found]:
            since, finding = opened.pop(kind)
            episodes.append(Episode(kind, since, at, finding))
    episodes.extend(Episode(kind, since, None, finding) for kind, (since, finding) in opened.items())
    return episodes
