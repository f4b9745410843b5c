"""The after-action review's key measures, computed from a `Run` alone.

The same function measures the run as played and the run a policy would have produced
(`replay.counterfactual`), so the two columns of the review differ only because the
decisions differed. Every measure is a plain count or time difference over the run's
records; the rules are spelled out where they are computed.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta

from domain.distribution import model_reference
from projections.fold import days_of_supply as ledger_days_of_supply
from replay.exercise_run import DecisionRecord, RequestRecord, Run, SimulatedDay, TransferRecord
from replay.review_model import (
    CurvePoint,
    Departure,
    FillRate,
    Latency,
    Loss,
    Measures,
    RegionCurve,
    Stockout,
)

DAY = timedelta(days=1)
POLICY_WORDS = {
    "equal_days_of_supply": "equal days of supply",
    "proportional_to_consumption": "allocation in proportion to consumption",
    "proportional_to_population": "allocation in proportion to population",
}


def measure(run: Run) -> Measures:
    """Everything the review reports about one run."""
    short = [day for day in run.days if day.unmet > 0]
    lost = losses(run)
    return Measures(
        stockout_depot_days=len(short),
        stockouts=stockouts(run),
        days_of_supply=days_of_supply(run),
        request_to_allocation=request_to_allocation(run),
        dispatch_to_receipt=dispatch_to_receipt(run),
        fill_rate=fill_rate(run),
        losses_in_transit=sum(loss.lost for loss in lost),
        losses=lost,
        departures=departures(run),
        decisions=len(run.decisions),
        transfers=len(run.transfers),
    )


def stockouts(run: Run) -> list[Stockout]:
    """Runs of consecutive short days (demand not met) per depot and item.

    A run starts at the start of its first short day and ends at the end of its last;
    it is ongoing when its last day is the run's last simulated day."""
    latest = max((day.day_end for day in run.days), default=None)
    by_stock: dict[tuple[str, str], list[SimulatedDay]] = defaultdict(list)
    for day in run.days:
        if day.unmet > 0:
            by_stock[(day.depot, day.item)].append(day)
    found = []
    for days in by_stock.values():
        days.sort(key=lambda day: day.day_end)
        streak = [days[0]]
        for day in days[1:]:
            if day.day_end - streak[-1].day_end == DAY:
                streak.append(day)
            else:
                found.append(_stockout(streak, latest))
                streak = [day]
        found.append(_stockout(streak, latest))
    return sorted(found, key=lambda s: (s.start, s.depot, s.item))


def _stockout(streak: list[SimulatedDay], latest: datetime | None) -> Stockout:
    first, last = streak[0], streak[-1]
    return Stockout(
        depot=first.depot,
        region=first.region,
        item=first.item,
        start=first.day_end - DAY,
        end=last.day_end,
        days=len(streak),
        unmet=sum(day.unmet for day in streak),
        ongoing=last.day_end == latest,
    )


def days_of_supply(run: Run) -> list[RegionCurve]:
    """Each region's days of supply per item at each day end: its stock over its daily consumption."""
    by_region: dict[tuple[str, str], list[CurvePoint]] = defaultdict(list)
    for point in sorted(run.regions, key=lambda p: p.at):
        days = ledger_days_of_supply(point.on_hand, point.consumed_14d)  # as the stock views round it
        by_region[(point.region, point.item)].append(CurvePoint(at=point.at, days_of_supply=days))
    curves = []
    for (region, item), points in sorted(by_region.items()):
        known = [(p.days_of_supply, p.at) for p in points if p.days_of_supply is not None]
        lowest = min(known, key=lambda known_point: known_point[0], default=None)
        curves.append(
            RegionCurve(
                region=region,
                item=item,
                minimum=lowest[0] if lowest else None,
                minimum_at=lowest[1] if lowest else None,
                points=points,
            )
        )
    return curves


def request_to_allocation(run: Run) -> Latency:
    """A request is answered by the first decision at or after it that gives its depot some of its item."""
    answered, pending = [], 0
    for request in run.requests:
        answer = _first_answer(request, run.decisions)
        if answer is None:
            pending += 1
        else:
            answered.append(_hours(answer - request.requested_at))
    return _latency(answered, pending)


def _first_answer(request: RequestRecord, decisions: Iterable[DecisionRecord]) -> datetime | None:
    times = [
        d.decided_at
        for d in decisions
        if d.item == request.item and d.lines.get(request.depot, 0) > 0 and d.decided_at >= request.requested_at
    ]
    return min(times, default=None)


def dispatch_to_receipt(run: Run) -> Latency:
    """Transit time of every transfer not cancelled; those not yet received are pending."""
    received, pending = [], 0
    for transfer in run.transfers:
        if transfer.cancelled_at is not None:
            continue
        if transfer.received_at is None:
            pending += 1
        else:
            received.append(_hours(transfer.received_at - transfer.dispatched_at))
    return _latency(received, pending)


def _hours(span: timedelta) -> float:
    return span.total_seconds() / 3600


def _latency(hours: list[float], pending: int) -> Latency:
    """Median and worst over the cases that have both moments, in hours to two decimals."""
    if not hours:
        return Latency(count=0, median_hours=None, worst_hours=None, pending=pending)
    return Latency(
        count=len(hours),
        median_hours=round(statistics.median(hours), 2),
        worst_hours=round(max(hours), 2),
        pending=pending,
    )


def fill_rate(run: Run) -> FillRate:
    """Units received against requests, first come first filled.

    Per depot and item, each received line (in receipt order) fills the earliest request
    made by the time it was dispatched that is not yet full, spilling into the next; a
    request is never filled beyond its quantity, and units no request was waiting for
    fill nothing. Receipts (and requests) at the same time go in ledger position order, not
    by their ids, which are random: the same play always fills the same units."""
    requests: dict[tuple[str, str], list[RequestRecord]] = defaultdict(list)
    for request in sorted(run.requests, key=lambda r: (r.requested_at, _position(r.position), r.request_id)):
        requests[(request.depot, request.item)].append(request)
    filled = {request.request_id: 0 for request in run.requests}
    received = sorted(_received(run.transfers), key=_receipt_order)
    for transfer in received:
        for line in transfer.lines:
            units = line.received or 0
            for request in requests.get((transfer.destination, line.item), []):
                if units <= 0 or request.requested_at > transfer.dispatched_at:
                    break
                taken = min(units, request.quantity - filled[request.request_id])
                filled[request.request_id] += taken
                units -= taken
    requested = sum(request.quantity for request in run.requests)
    total = sum(filled.values())
    return FillRate(requested=requested, filled=total, rate=round(total / requested, 3) if requested else None)


def losses(run: Run) -> list[Loss]:
    """Every received line that arrived short, in receipt order."""
    found = []
    for transfer in sorted(_received(run.transfers), key=_receipt_order):
        for line in transfer.lines:
            if line.received is not None and line.received < line.dispatched:
                found.append(
                    Loss(
                        transfer_id=transfer.transfer_id,
                        source=transfer.source,
                        destination=transfer.destination,
                        item=line.item,
                        dispatched=line.dispatched,
                        received=line.received,
                        lost=line.dispatched - line.received,
                    )
                )
    return found


def _received(transfers: Iterable[TransferRecord]) -> list[TransferRecord]:
    return [t for t in transfers if t.received_at is not None]


def _receipt_order(transfer: TransferRecord) -> tuple[datetime | None, float, str]:
    return transfer.received_at, _position(transfer.received_position), transfer.transfer_id


def _position(position: int | None) -> float:
    """Records without a ledger position (built by hand) come after those with one, by id."""
    return math.inf if position is None else position


def departures(run: Run) -> list[Departure]:
    """Decisions whose chosen lines are not the recommendation (a zero line is the same as none)."""
    return [
        Departure(
            allocation_id=d.allocation_id,
            decided_at=d.decided_at,
            source=d.source,
            item=d.item,
            policy=d.policy,
            recommended=d.recommended_lines,
            chosen=d.lines,
            rationale=d.rationale,
        )
        for d in sorted(run.decisions, key=lambda d: (d.decided_at, d.allocation_id))
        if _nonzero(d.lines) != _nonzero(d.recommended_lines)
    ]


def _nonzero(lines: dict[str, int]) -> dict[str, int]:
    return {to: units for to, units in lines.items() if units != 0}


def lowest_days_of_supply(measures: Measures) -> float | None:
    """The lowest days of supply any region reached for any item."""
    return min((c.minimum for c in measures.days_of_supply if c.minimum is not None), default=None)


def policy_words(policy: str) -> str:
    """A policy as a sentence names it; a distribution model (`model:NAME@VERSION`) by name and version."""
    reference = model_reference(policy)
    if reference is not None:
        name, version = reference
        return f"the distribution model {name}" + (f" (version {version})" if version else "")
    return POLICY_WORDS.get(policy, policy.replace("_", " "))


def compare(played: Measures, alternative: Measures, policy: str) -> str:
    """One sentence for the review: what the alternative would have changed in the headline measures.

    A policy only takes the players' allocation decisions instead of them: with none decided
    the two runs are the same by construction, and the sentence says so instead of comparing."""
    if played.decisions == 0:
        return (
            f"No allocation was decided in this exercise, so there is no decision "
            f"{policy_words(policy)} could have taken instead: nothing to compare."
        )
    clauses = [
        ("stockout depot-days would have been", alternative.stockout_depot_days, played.stockout_depot_days),
        ("the lowest regional days of supply", lowest_days_of_supply(alternative), lowest_days_of_supply(played)),
        ("the fill rate", alternative.fill_rate.rate, played.fill_rate.rate),
    ]
    said = [f"{words} {_versus(had, was)}" for words, had, was in clauses if had is not None or was is not None]
    if len(said) > 2:
        listed = ", ".join(said[:-1]) + ", and " + said[-1]
    else:
        listed = " and ".join(said)
    return f"Had the coordinators followed {policy_words(policy)}, {listed}."


def _versus(had: float | None, was: float | None) -> str:
    if had == was:
        return f"{_figure(had)} (as played)"
    return f"{_figure(had)} instead of {_figure(was)}"


def _figure(value: float | None) -> str:
    return "not measurable" if value is None else str(value)
