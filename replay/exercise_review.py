"""The after-action review of an exercise: read what was played from its ledger, measure it,
re-run it with a named policy deciding instead, and lay it out as reviewers expect.

The played run comes from the exercise ledger alone (and the control store's injects and
observations): demand is recomputed from the forked rates and the surges, consumption is
what the simulation recorded, requests, decisions and transfers are the stored events,
and the regional days of supply are the ledger's own stock view at each day's end.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from domain import events as ev
from domain.exercise import Exercise
from domain.ids import depot_id
from domain.scenario import ConsumptionSurge, Message
from domain.simulation import DAY, demands
from ledger import clock
from ledger.clock import utc_text
from ledger.exercises import ExerciseLedger, Exercises
from ledger.injects import baselines
from projections.fold import avg_daily_consumption
from projections.national import historical_figures
from replay.counterfactual import assumptions, simulate
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
from replay.measures import compare, measure
from replay.review_model import (
    RATING_NAMES,
    CapabilityRating,
    Counterfactual,
    ExerciseReview,
    ImprovementItem,
    Objective,
    Observation,
    Overview,
    ReviewTimelineEntry,
)

SEVERITY = {"P": 0, "S": 1, "M": 2, "U": 3}
RECOMMENDATION = {
    "S": "Refine the procedure and train on it before the next exercise.",
    "M": "Corrective action needed: assign an owner and a date, and test the fix in a drill.",
    "U": "Priority corrective action: the capability could not be performed; plan, resource and re-exercise it.",
}
BATCH = 1000
FORMAT = "2"
"""Part of a stored review's state: change it when the same exercise would now be reviewed differently."""


def review(exercises: Exercises, code: str, policy: str | None = "equal_days_of_supply") -> ExerciseReview:
    """The review of the exercise as it stands, computed once per state of the exercise
    (`ledger.exercise_reviews`); only the scenario clock is read afresh."""
    exercise = exercises.exercise(code)
    code = exercise.code  # as stored: codes are case-insensitive
    opened = exercises.opened(code)
    position = opened.ledger.position()  # read before the review reads anything, and read up to
    state = f"{FORMAT}:{exercise.version}:{position}"
    found = exercises.reviews.get_or_compute(
        code,
        policy or "none",
        state,
        lambda: compute_review(exercise, opened, policy, position),
        ExerciseReview.model_dump_json,
        _load,
    )
    overview = found.overview.model_copy(update={"scenario_clock": exercise.clock(clock.now())})
    return found.model_copy(update={"overview": overview})


def _load(text: str) -> ExerciseReview | None:
    try:
        return ExerciseReview.model_validate_json(text)
    except ValidationError:  # stored by a version with another shape
        return None


def compute_review(
    exercise: Exercise, opened: ExerciseLedger, policy: str | None, upto: int | None = None
) -> ExerciseReview:
    played = played_run(exercise, opened, upto)
    measures = measure(played)
    counterfactual = None
    statuses = exercise.inject_statuses()
    if policy is not None:
        # not the injects still waiting at the clock: the played run has not had them either
        scheduled = [(i, inject) for i, inject, status in statuses if status != "scheduled" or inject.at > played.end]
        alternative = measure(simulate(opening(exercise, opened.ledger), scheduled, played, policy, exercise.at_clock))
        counterfactual = Counterfactual(
            policy=policy,
            measures=alternative,
            assumptions=assumptions(policy),
            summary=compare(measures, alternative, policy),
        )
    observations = sorted(exercise.observations, key=lambda o: (o.at, o.recorded_at))
    capabilities = _capabilities(exercise, observations)
    return ExerciseReview(
        overview=_overview(exercise, opened, statuses),
        objectives=[
            Objective(title=o.title, capabilities=[capabilities[c] for c in o.capabilities if c in capabilities])
            for o in exercise.objectives
        ],
        capabilities=list(capabilities.values()),
        timeline=_timeline(statuses, played, {d.allocation_id for d in measures.departures}, observations),
        measures=measures,
        counterfactual=counterfactual,
        observations=observations,
        improvement_plan=[
            ImprovementItem(
                capability=o.capability or "General",
                rating=o.rating,
                observation=o.text,
                recommendation=RECOMMENDATION[o.rating],
            )
            for o in sorted(observations, key=lambda o: (-SEVERITY[o.rating or "P"], o.at))
            if o.rating in RECOMMENDATION
        ],
        generated_at=clock.now(),
    )


# --- the played run -------------------------------------------------------------------------


def played_run(exercise: Exercise, opened: ExerciseLedger, upto: int | None = None) -> Run:
    ledger = opened.ledger
    regions = {row["code"]: row["region"] for row in ledger.journal.depots()}
    codes = {depot_id(code): code for code in regions}
    consumed: dict[tuple[str, str, int], int] = defaultdict(int)
    requests: list[RequestRecord] = []
    decisions: dict[str, dict[str, Any]] = {}
    transfers: dict[str, dict[str, Any]] = {}
    movements: list[MovementRecord] = []
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
        requests=requests,
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
    depots = ledger.index_store.query("SELECT code, region, population_served FROM {t}depots ORDER BY code")
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
            OpeningDepot(code=row["code"], region=regions[row["code"]], population_served=row["population_served"])
            for row in depots
        ],
        stocks=stocks,
    )


# --- the rest of the report ---------------------------------------------------------------------


def _overview(exercise: Exercise, opened: ExerciseLedger, statuses: Sequence[tuple[str, Any, str]]) -> Overview:
    return Overview(
        code=exercise.code,
        name=exercise.name,
        status=exercise.status,
        scenario_start=exercise.scenario_start,
        scenario_clock=exercise.clock(clock.now()),
        simulated_days=exercise.simulated_days,
        fork_known_at=exercise.fork.known_at if exercise.fork else None,
        fork_position=exercise.fork.position if exercise.fork else None,
        depots=len(opened.ledger.journal.depots()),
        items=len(opened.ledger.index_store.query("SELECT code FROM {t}items")),
        injects=len(statuses),
        injects_applied=sum(status != "scheduled" for _, _, status in statuses),
        deliveries_failed=sum(status == "failed" for _, _, status in statuses),
        description=exercise.description,
    )


def _capabilities(exercise: Exercise, observations: list[Observation]) -> dict[str, CapabilityRating]:
    names = list(exercise.capabilities)
    for objective in exercise.objectives:
        names += [c for c in objective.capabilities if c not in names]
    names += [o.capability for o in observations if o.capability and o.capability not in names]
    rated: dict[str, CapabilityRating] = {}
    for name in names:
        about = [o for o in observations if o.capability == name]
        ratings = [o.rating for o in about if o.rating is not None]
        worst = max(ratings, key=SEVERITY.__getitem__, default=None)
        rated[name] = CapabilityRating(capability=name, rating=worst, observations=len(about))
    return rated


def _timeline(
    statuses: Sequence[tuple[str, Any, str]], played: Run, departures: set[str], observations: list[Observation]
) -> list[ReviewTimelineEntry]:
    entries = []
    for inject_id, inject, status in statuses:
        if status == "scheduled":
            continue
        detail = inject.text if isinstance(inject, Message) else inject.note
        if status == "failed":
            detail = "did not arrive: a delivery failure covered it"
        entries.append(
            ReviewTimelineEntry(
                at=inject.at, kind=inject.kind, title=inject.title or _describe(inject), detail=detail, ref=inject_id
            )
        )
    for request in played.requests:
        if request.source != "inject":
            entries.append(
                ReviewTimelineEntry(
                    at=request.requested_at,
                    kind="request",
                    title=f"{request.depot} requests {request.quantity} {request.item} ({request.priority})",
                    ref=request.request_id,
                )
            )
    for decision in played.decisions:
        lines = ", ".join(f"{to} {q}" for to, q in sorted(decision.lines.items()))
        departed = decision.allocation_id in departures
        entries.append(
            ReviewTimelineEntry(
                at=decision.decided_at,
                kind="allocation",
                title=f"{decision.source} allocates {decision.quantity} {decision.item}: {lines}"
                + (" (departs from the recommendation)" if departed else ""),
                detail=decision.rationale,
                ref=decision.allocation_id,
            )
        )
        if decision.revoked_at is not None:
            entries.append(
                ReviewTimelineEntry(
                    at=decision.revoked_at,
                    kind="revocation",
                    title=f"allocation {decision.allocation_id} revoked",
                    ref=decision.allocation_id,
                )
            )
    for transfer in played.transfers:
        what = ", ".join(f"{line.dispatched} {line.item}" for line in transfer.lines)
        entries.append(
            ReviewTimelineEntry(
                at=transfer.dispatched_at,
                kind="transfer",
                title=f"{transfer.source} dispatches {what} to {transfer.destination}",
                ref=transfer.transfer_id,
            )
        )
        if transfer.received_at is not None:
            got = ", ".join(f"{line.received} {line.item}" for line in transfer.lines)
            entries.append(
                ReviewTimelineEntry(
                    at=transfer.received_at,
                    kind="receipt",
                    title=f"{transfer.destination} receives {got}",
                    ref=transfer.transfer_id,
                )
            )
    for o in observations:
        rating = f" [{o.rating}: {RATING_NAMES[o.rating]}]" if o.rating else ""
        entries.append(
            ReviewTimelineEntry(
                at=o.at, kind="observation", title=(o.capability or "Observation") + rating, detail=o.text
            )
        )
    return sorted(entries, key=lambda e: e.at)


def _describe(inject: Any) -> str:
    kind = inject.kind
    if kind == "consumption_surge":
        return f"Demand x{inject.factor} for {inject.days} days at {inject.depot or inject.region}"
    if kind == "delivery":
        return f"Delivery of {inject.quantity} {inject.item} to {inject.depot}" + (
            f" from {inject.supplier}" if inject.supplier else ""
        )
    if kind == "delivery_failure":
        where = f"from {inject.supplier}" if inject.supplier else f"to {inject.depot}"
        return f"Deliveries {where} fail for {inject.days} days"
    if kind == "depot_loss":
        return f"{inject.depot} loses {float(inject.fraction):.0%} of its stock"
    if kind == "request":
        return f"{inject.depot} requests {inject.quantity} {inject.item} ({inject.priority})"
    return "Message"
