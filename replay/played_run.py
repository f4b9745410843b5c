"""The exercise as played, read back from its ledger alone: the run the review measures and
the opening a counterfactual starts from.

Demand is recomputed from the forked rates and the surges, consumption is what the
simulation recorded, requests, decisions and transfers are the stored events, and the
regional days of supply are the ledger's own stock view at each day's end.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from domain import events as ev
from domain.exercise import Exercise
from domain.ids import depot_id
from domain.scenario import ConsumptionSurge
from domain.simulation import DAY, demands
from ledger import clock
from ledger.clock import utc_text
from ledger.exercises import ExerciseLedger
from ledger.injects import baselines
from projections.fold import avg_daily_consumption
from projections.national import historical_figures
from replay.counterfactual_world import Opening, OpeningDepot, OpeningStock
from replay.exercise_run import (
    DecisionRecord,
    MovementRecord,
    RegionPoint,
    RequestRecord,
    Run,
    SimulatedDay,
    TransferLineRecord,
    TransferRecord,
)

BATCH = 1000


def played_run(exercise: Exercise, opened: ExerciseLedger, upto: int | None = None) -> Run:
    ledger = opened.ledger
    regions = {row["code"]: row["region"] for row in ledger.journal.depots()}
    codes = {depot_id(code): code for code in regions}
    consumed: dict[tuple[str, str, int], int] = defaultdict(int)
    requests: list[RequestRecord] = []
    decisions: dict[str, dict[str, Any]] = {}
    transfers: dict[str, dict[str, Any]] = {}
    movements: list[MovementRecord] = []
    closed: dict[str, datetime] = {}
    for position, event in _events(ledger, upto):
        depot = codes.get(event.originator_id)
        if depot is None:
            continue
        simulated = event.source == "inject" and event.command_id.startswith("day:")
        if isinstance(event, ev.ConsumptionReported) and simulated:
            consumed[(depot, event.item, int(event.command_id.removeprefix("day:")))] += event.quantity
        elif isinstance(event, ev.SupplyRequested):
            requests.append(
                RequestRecord(
                    request_id=event.request_id,
                    depot=depot,
                    region=regions[depot],
                    item=event.item,
                    quantity=event.quantity,
                    priority=event.priority,
                    requested_at=event.occurred_at,
                    needed_by=event.needed_by,
                    source=event.source,
                    position=position,
                )
            )
        elif isinstance(event, ev.SupplyRequestClosed):
            closed[event.request_id] = event.occurred_at
        elif isinstance(event, ev.AllocationDecided):
            decisions[event.allocation_id] = {
                "allocation_id": event.allocation_id,
                "source": depot,
                "item": event.item,
                "quantity": event.quantity,
                "policy": event.policy,
                "decided_at": event.occurred_at,
                "recipients": list(event.recipients),
                "lines": {line.to: line.quantity for line in event.lines},
                "recommended_lines": {line.to: line.quantity for line in event.recommended_lines},
                "rationale": event.rationale,
            }
        elif isinstance(event, ev.AllocationRevoked) and event.allocation_id in decisions:
            decisions[event.allocation_id]["revoked_at"] = event.occurred_at
        elif isinstance(event, ev.TransferDispatched):
            transfers[event.transfer_id] = {
                "transfer_id": event.transfer_id,
                "source": depot,
                "destination": event.counterpart,
                "allocation_id": event.allocation_id,
                "dispatched_at": event.occurred_at,
                "lines": [{"item": line.item, "dispatched": line.quantity} for line in event.lines],
            }
        elif isinstance(event, ev.TransferReceived) and event.transfer_id in transfers:
            transfer = transfers[event.transfer_id]
            transfer["received_at"] = event.occurred_at
            transfer["received_position"] = position
            received = {line.item: line.quantity_received for line in event.lines}
            transfer["lines"] = [{**line, "received": received.get(line["item"], 0)} for line in transfer["lines"]]
        elif isinstance(event, ev.TransferCancelled) and event.transfer_id in transfers:
            transfers[event.transfer_id]["cancelled_at"] = event.occurred_at
        elif event.source not in ("inject", "import"):
            movement = _movement(event)
            if movement is not None:
                movements.append(
                    MovementRecord(
                        depot=depot, item=event.item, at=event.occurred_at, kind=movement[0], quantity=movement[1]
                    )
                )
    days = _days(exercise, consumed)
    return Run(
        start=exercise.scenario_start,
        end=exercise.applied_until,
        days=days,
        requests=[r.model_copy(update={"closed_at": closed.get(r.request_id)}) for r in requests],
        decisions=[DecisionRecord(**d) for d in decisions.values()],
        transfers=[
            TransferRecord(**{**t, "lines": [TransferLineRecord(**line) for line in t["lines"]]})
            for t in transfers.values()
        ],
        regions=_region_points(opened, exercise, {day.day_end for day in days}, upto),
        movements=movements,
    )


def _events(ledger: Any, upto: int | None) -> Any:
    start = 1
    while True:
        batch = ledger.recorder.select_notifications(start, BATCH, stop=upto)
        for notification in batch:
            yield notification.id, ledger.mapper.to_domain_event(notification)
        if len(batch) < BATCH:
            return
        start = batch[-1].id + 1


def _movement(event: Any) -> tuple[str, int] | None:
    if isinstance(event, ev.ReceiptRecorded):
        return "receipt", event.quantity
    if isinstance(event, ev.ConsumptionReported):
        return "consumption", -event.quantity
    if isinstance(event, ev.StockAdjusted):
        return "adjustment", event.quantity
    if isinstance(event, ev.StockCounted):
        return "count", event.counted - event.book_at_recording
    return None


def _days(exercise: Exercise, consumed: dict[tuple[str, str, int], int]) -> list[SimulatedDay]:
    surges = [inject for _, inject in exercise.scheduled() if isinstance(inject, ConsumptionSurge)]
    days = []
    for baseline in baselines(exercise):
        for n, asked in enumerate(demands(baseline, surges, exercise.scenario_start, exercise.simulated_days), start=1):
            days.append(
                SimulatedDay(
                    depot=baseline.depot,
                    region=baseline.region,
                    item=baseline.item,
                    day_end=exercise.scenario_start + n * DAY,
                    demand=asked,
                    consumed=consumed.get((baseline.depot, baseline.item, n), 0),
                )
            )
    return sorted(days, key=lambda d: (d.day_end, d.depot, d.item))


def _region_points(
    opened: ExerciseLedger, exercise: Exercise, day_ends: set[datetime], upto: int | None
) -> list[RegionPoint]:
    """The ledger's own regional figures at each simulated day's end, for the simulated items:
    the same fold the stock views use, so the curve matches `GET /stock?as_of=`."""
    items = {b.item for b in baselines(exercise)}
    latest = opened.ledger.position() if upto is None else upto  # the ledger as the review found it
    now = exercise.clock(clock.now())
    points = []
    for day_end in sorted(day_ends):
        totals: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
        cut = opened.views.history.cut(utc_text(day_end), None, latest, now=now)
        for figures in historical_figures(opened.ledger.index_store, cut, None, None):
            if figures.item in items:
                total = totals[(figures.region, figures.item)]
                total[0] += figures.on_hand
                total[1] += figures.consumed
        points += [
            RegionPoint(
                region=region,
                item=item,
                at=day_end,
                on_hand=on_hand,
                consumed_14d=consumed,
                avg_daily_consumption=avg_daily_consumption(consumed),
            )
            for (region, item), (on_hand, consumed) in sorted(totals.items())
        ]
    return points


def opening(exercise: Exercise, ledger: Any) -> Opening:
    """The fork as the simulation starts from it: every depot of the exercise ledger (players
    may register more), the forked stock and the consumption of the 14 days before the start."""
    depots = ledger.index_store.query("SELECT code, region, kind, population_served FROM {t}depots ORDER BY code")
    regions = {row["code"]: row["region"] for row in depots}
    simulated = {(b.depot, b.item): b for b in baselines(exercise)}
    stocks = []
    for balance in exercise.fork.balances if exercise.fork else ():
        stocks.append(
            OpeningStock(
                depot=balance.depot,
                item=balance.item,
                on_hand=balance.on_hand,
                history=[(exercise.scenario_start - k * DAY, q) for k, q in enumerate(balance.daily) if q],
                baseline=simulated.get((balance.depot, balance.item)),
            )
        )
    return Opening(
        depots=[
            OpeningDepot(
                code=row["code"],
                region=regions[row["code"]],
                kind=row["kind"],
                population_served=row["population_served"],
            )
            for row in depots
        ],
        stocks=stocks,
    )
