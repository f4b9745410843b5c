"""The after-action review of an exercise: read what was played from its ledger, measure it,
re-run it with a named policy deciding instead, and lay it out as reviewers expect.

The played run comes from the exercise ledger alone (`replay.played_run`), the injects
and observations from the control store.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError

from domain.distribution import model_reference
from domain.events import DistributionModelSet
from domain.exercise import Exercise
from domain.scenario import Message
from ledger import clock
from ledger.distribution_models import UnknownDistributionModel
from ledger.exercises import ExerciseLedger, Exercises
from replay.counterfactual import Decider, assumptions, label, simulate
from replay.exercise_run import (
    Run,
)
from replay.measures import compare, measure
from replay.played_run import opening, played_run
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
    decider = decider_for(exercises, opened, policy, position)
    found = exercises.reviews.get_or_compute(
        code,
        label(decider) if decider is not None else "none",
        state,
        lambda: compute_review(exercise, opened, decider, position),
        ExerciseReview.model_dump_json,
        _load,
    )
    overview = found.overview.model_copy(update={"scenario_clock": exercise.clock(clock.now())})
    return found.model_copy(update={"overview": overview})


def decider_for(exercises: Exercises, opened: ExerciseLedger, policy: str | None, position: int) -> Decider | None:
    """A policy name as it is; `model:NAME[@VERSION]` as that version of the distribution model,
    from the exercise's own ledger (as known at `position`), else from the live ledger (the
    national model "had the coordinators followed it"): 404 when neither has it."""
    reference = model_reference(policy or "")
    if reference is None:
        return policy
    model: DistributionModelSet
    try:
        model = opened.ledger.distribution_model(*reference, known=position)
    except UnknownDistributionModel:
        model = exercises.live.ledger.distribution_model(*reference)
    return model


def _load(text: str) -> ExerciseReview | None:
    try:
        return ExerciseReview.model_validate_json(text)
    except ValidationError:  # stored by a version with another shape
        return None


def compute_review(
    exercise: Exercise, opened: ExerciseLedger, policy: Decider | None, upto: int | None = None
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
            policy=label(policy),
            measures=alternative,
            assumptions=assumptions(policy),
            summary=compare(measures, alternative, label(policy)),
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
