"""Advancing an exercise's scenario clock: due injects and simulated days become ledger events.

Each step (one inject, or one simulated day for every depot) is saved in one transaction
with an idempotency key of its own (`inject:I-0003`, `day:5`) in the exercise ledger, so an
advance that failed half-way is resumed by the next one without applying anything twice,
and two controllers advancing at once cannot double a day. Events are stamped `source:
inject`, dated at the step's scenario time and recorded then.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from eventsourcing.persistence import IntegrityError
from pydantic import BaseModel, Field

from domain import events as ev
from domain.depot import Depot, Stamp
from domain.exceptions import InvalidCommand
from domain.exercise import Exercise
from domain.scenario import ConsumptionSurge, Delivery, DeliveryFailure, DepotLoss, Inject, Message, UrgentRequest
from domain.simulation import DAY, Baseline, Step, consumed, demands, failed_deliveries, lost, steps
from ledger.application import Ledger

SCOPE = "exercise-control"
"""The idempotency scope of the steps: not a principal, so no player's key can collide."""


class Applied(BaseModel):
    at: datetime
    step: str  # "inject" or "day"
    ref: str  # the inject id, or "day N"
    kind: str  # inject kind, or "simulated_day"
    effect: str  # what it did, in words
    events: int


class Advance(BaseModel):
    exercise: str
    clock: datetime
    applied: list[Applied]
    simulated_days: int
    position: int = Field(description="The exercise ledger's position after this advance: of its last event there")
    recorded_at: datetime = Field(
        description="When the advance was recorded: the wall-clock time of its event in the exercise registry "
        "(the events it wrote to the exercise ledger are dated in scenario time)"
    )


def baselines(exercise: Exercise) -> list[Baseline]:
    """Every forked depot and item with consumption in the 14 days before the fork."""
    if exercise.fork is None:
        return []
    regions = {depot.code: depot.region for depot in exercise.fork.depots}
    return [
        Baseline(depot=b.depot, region=regions[b.depot], item=b.item, consumed_14d=b.consumed_14d)
        for b in exercise.fork.balances
        if b.consumed_14d > 0
    ]


def check_codes(ledger: Ledger, injects: list[Inject]) -> None:
    """Injects may name only depots, items and regions the exercise ledger has (422 otherwise)."""
    depots = {row["code"]: row["region"] for row in ledger.journal.depots()}
    items = {row["code"] for row in ledger.index_store.query("SELECT code FROM {t}items")}
    regions = set(depots.values())
    errors = []
    for n, inject in enumerate(injects):
        for field, known in (("depot", depots), ("item", items), ("region", regions)):
            value = getattr(inject, field, None)
            if value is not None and value not in known:
                errors.append(
                    {
                        "loc": ["body", "injects", n, field],
                        "msg": f"no {field} {value} in this exercise",
                        "type": f"unknown_{field}",
                    }
                )
    if errors:
        raise InvalidCommand("injects name depots, items or regions the exercise does not have", errors=errors)


def advance(
    exercise: Exercise, ledger: Ledger, after: datetime, until: datetime, actor: str, waiting: Sequence[str] = ()
) -> Advance:
    """Apply every step in (after, until]; `exercise` gives the schedule and the fork.

    First come the `waiting` injects: scheduled at `after` once the clock stood there, so
    after everything an earlier advance applied at that time (`Exercise.at_clock`)."""
    scheduled = exercise.scheduled()
    failed = failed_deliveries(scheduled, exercise.at_clock)
    late = [Step(at=inject.at, inject_id=i, inject=inject) for i, inject in scheduled if i in waiting]
    todo = late + steps(scheduled, exercise.scenario_start, after, until)
    last_day = max((step.day for step in todo if step.day is not None), default=0)
    scenario = [inject for _, inject in scheduled]
    demand = {  # each forked depot and item's demand on every day this advance covers, computed once
        (b.depot, b.item): (b, demands(b, scenario, exercise.scenario_start, last_day)) for b in baselines(exercise)
    }
    applied: list[Applied] = []
    kind: str  # an inject's kind, or "simulated_day"
    depots: list[Depot]
    for step in todo:
        if step.inject is not None:
            key, ref, kind = f"inject:{step.inject_id}", str(step.inject_id), step.inject.kind
        else:
            key, ref, kind = f"day:{step.day}", f"day {step.day}", "simulated_day"
        if ledger.journal.idempotency(SCOPE, key) is not None:  # applied by an earlier, interrupted advance
            depots, effect = [], "already applied"
        elif step.inject is not None:
            depots, effect = _inject(ledger, ref, step.inject, failed, step.at, actor, key)
        else:
            assert step.day is not None  # a step is an inject or the end of a day
            depots, effect = _day(ledger, demand, step.day, step.at, actor, key)
        events = sum(len(depot.pending_events) for depot in depots)
        if events:
            _save(ledger, depots, key, step.at)
        applied.append(
            Applied(
                at=step.at,
                step="day" if step.is_day_end else "inject",
                ref=ref,
                kind=kind,
                effect=effect,
                events=events,
            )
        )
    days = sum(step.is_day_end for step in todo)
    return Advance(
        exercise=exercise.code,
        clock=until,
        applied=applied,
        simulated_days=days,
        position=ledger.position(),
        recorded_at=exercise.modified_on,  # the clock's move, triggered before anything was written
    )


def _save(ledger: Ledger, depots: list[Depot], key: str, at: datetime) -> None:
    idempotency = {"scope": SCOPE, "key": key, "fingerprint": key, "outcome": {"step": key}}
    with ev.recorded_by(lambda: at):
        try:
            ledger.save(*depots, idempotency=idempotency)
        except IntegrityError:
            if ledger.journal.idempotency(SCOPE, key) is None:
                raise  # not a concurrent advance of the same step: a player changed a depot meanwhile
    for listener in ledger.listeners:
        listener()


def _stamp(at: datetime, actor: str, key: str, note: str | None) -> Stamp:
    return Stamp(occurred_at=at, actor=actor, source="inject", command_id=key, note=note)


def _inject(
    ledger: Ledger, inject_id: str, inject: Any, failed: set[str], at: datetime, actor: str, key: str
) -> tuple[list[Depot], str]:
    note = inject.title or inject.note
    if isinstance(inject, Delivery):
        if inject_id in failed:
            return (
                [],
                f"delivery of {inject.quantity} {inject.item} to {inject.depot} did not arrive (delivery failure)",
            )
        depot = ledger.depot(inject.depot)
        with ev.recorded_by(lambda: at):
            depot.record_receipt(
                _stamp(at, actor, key, note),
                item=inject.item,
                quantity=inject.quantity,
                lot=inject.lot,
                expires_on=None,
                supplier=inject.supplier,
                reference=inject_id,
            )
        return [depot], f"received {inject.quantity} {inject.item} at {inject.depot}"
    if isinstance(inject, DepotLoss):
        depot = ledger.depot(inject.depot)
        losses = []
        with ev.recorded_by(lambda: at):
            for item in [inject.item] if inject.item else sorted(depot.books):
                quantity = lost(depot.on_hand(item), inject.exact_fraction)
                if quantity > 0:
                    depot.adjust(item, -quantity, "lost", None, _stamp(at, actor, key, note or "depot loss"))
                    losses.append(f"{quantity} {item}")
        return ([depot] if losses else []), f"{inject.depot} lost " + (
            ", ".join(losses) or "nothing (no stock on hand)"
        )
    if isinstance(inject, UrgentRequest):
        depot = ledger.depot(inject.depot)
        with ev.recorded_by(lambda: at):
            depot.request_supply(
                f"R-{inject_id}",
                _stamp(at, actor, key, note),
                item=inject.item,
                quantity=inject.quantity,
                needed_by=inject.needed_by,
                priority=inject.priority,
            )
        return [depot], f"{inject.depot} requested {inject.quantity} {inject.item} ({inject.priority})"
    if isinstance(inject, ConsumptionSurge):
        place = inject.depot or f"region {inject.region}"
        return [], f"demand x{inject.factor} for {inject.days} days at {place}" + (
            f" ({inject.item})" if inject.item else ""
        )
    if isinstance(inject, DeliveryFailure):
        whom = inject.supplier or inject.depot
        return [], f"deliveries from/to {whom} fail for {inject.days} days"
    if isinstance(inject, Message):
        return [], inject.text
    raise TypeError(f"unknown inject {inject!r}")


def _day(
    ledger: Ledger,
    demand: dict[tuple[str, str], tuple[Baseline, list[int]]],
    day: int,
    at: datetime,
    actor: str,
    key: str,
) -> tuple[list[Depot], str]:
    """Each depot consumes its demand for the day, as far as its stock on hand goes."""
    depots: dict[str, Depot] = {}
    wanted = met = 0
    with ev.recorded_by(lambda: at):
        for baseline, daily in demand.values():
            asked = daily[day - 1]
            if asked <= 0:
                continue
            depot = depots.get(baseline.depot) or ledger.depot(baseline.depot)
            used = consumed(asked, depot.on_hand(baseline.item))
            wanted, met = wanted + asked, met + used
            if used > 0:
                note = f"simulated day {day}: demand {asked}" + (f", {asked - used} not met" if used < asked else "")
                depot.report_consumption(baseline.item, used, at - DAY, _stamp(at, actor, key, note))
                depots[baseline.depot] = depot
    return list(depots.values()), f"demand {wanted}, met {met}"
