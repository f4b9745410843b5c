"""The exercise re-run in memory with a named policy deciding the allocations instead of the players.

Everything else is what happened in the exercise: the same simulated demand, injects,
requests, the players' own stock facts and their direct transfers. Only the allocations
change: each played decision is taken again, at the same time, from the same source and
for the same recipients, but its lines are the policy's recommendation from the simulated
stock at that moment; it is carried out when the players carried out theirs. With no
policy, the players' own lines and transfers are replayed, which must give back the days
and region points of the exercise: that is the proof that this simulation models the
exercise ledger faithfully, and so that the policy column of the review is comparable.

Rules (also returned, in words, by `assumptions`):

- Time: injects, simulated day ends, the players' movements, transfer dispatches,
  receipts and cancellations, decisions and revocations are applied in time order,
  up to the run's end. At equal times: injects first, then the day's simulated
  consumption, then the players' actions (players act at the scenario clock, after the
  advance that reached it), then the injects scheduled once the clock stood at that time
  (the next advance applies them, after all that), then the region points of the day end
  are read. Among the
  players' actions at one time (the records carry no recording order across kinds):
  movements that add stock, receipts and cancellations, revocations, decisions,
  dispatches, receipts and cancellations of transfers dispatched at that same time,
  then movements that remove stock; within a kind, the order of the records.
- Demand and consumption at each day end exactly as `domain.simulation` (consumed =
  min(demand, on hand)); a delivery not stopped by a failure adds to on hand; a depot
  loss removes `lost(on_hand, fraction)` of each item it names (all the depot's items when
  it names none); requests are the played ones, inject requests included.
- Average daily consumption at t: consumption dated in (t - 14 days, t] (the opening
  history, simulated consumption and the players' consumption reports) over 14. Region
  points at each day end: per region and item with a baseline or a player movement, the
  sum of on hand over the region's depots, and the average from the summed consumption
  (two decimals, as the ledger's regional views).
- A decision takes min(played quantity, the source's on hand less what earlier
  simulated allocations still reserve there) and splits it with the policy over the
  played recipients, from the simulated state at that time; the lines are the
  recommendation, so nothing departs from it. A played revocation revokes it.
- A simulated allocation is dispatched only if the players dispatched against theirs
  (a transfer not cancelled): every non-zero line at the players' first such dispatch,
  capped by the source's on hand, received whole when the players' transfer to that
  recipient under that allocation was received, else at the allocation's first receipt,
  else never. Once dispatched it reserves nothing.
- Direct transfers (and, with no policy, every transfer) are replayed as played, each
  line capped by the source's on hand; the received quantity is the simulated dispatch
  less min(played loss, that).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from domain.events import DistributionModelSet
from domain.policies import POLICIES
from domain.scenario import Inject
from replay.counterfactual_world import Opening, Stock, World
from replay.exercise_run import Run
from replay.measures import compare, measure
from replay.review_model import Counterfactual


@dataclass(frozen=True)
class Outcome:
    """A simulated run, and what it leaves that the run's records do not show."""

    run: Run
    stock: dict[Stock, int]  # on hand per (depot, item) at the end
    lost_in_depots: int  # units destroyed by depot losses


Decider = str | DistributionModelSet
"""A policy's name, or a version of a distribution model (`domain.distribution`)."""


def label(policy: Decider) -> str:
    """What the review calls the decider: the policy's name, or `model:NAME@VERSION`."""
    return policy.policy if isinstance(policy, DistributionModelSet) else policy


def percent(share: Decimal) -> str:
    return format((share * 100).normalize(), "f")


def described(policy: Decider) -> str:
    if isinstance(policy, DistributionModelSet):
        shares = ", ".join(f"{s.name} {percent(s.share)} %" for s in policy.sectors)
        first = "critical requests first, then " if policy.requests_first else ""
        return (
            f"distribution model {policy.name} version {policy.version} ({first}{shares}, "
            f"reserve {percent(policy.reserve)} % kept at the source; within a sector by "
            f"{policy.within.replace('_', ' ')})"
        )
    return policy.replace("_", " ")


def assumptions(policy: Decider | None) -> list[str]:
    """How the simulated run was produced, in words, for the review."""
    who = "the players' own lines" if policy is None else f"the {described(policy)}"
    if isinstance(policy, str):
        who += " policy"
    rules = [
        "The exercise is re-run in memory from its fork, with the same simulated demand, injects, "
        f"requests, players' stock reports and direct transfers; allocations follow {who}.",
        "Events are applied in time order; at equal times injects come first, then the day's "
        "simulated consumption, then the players' actions (stock added before stock committed "
        "or removed), then injects scheduled once the clock stood at that time, and region "
        "figures are read last.",
        "Each day's demand is the forked 14-day rate times any surge covering that day, in whole "
        "units that never drift from the exact total; a depot consumes at most what it holds.",
        "Deliveries stopped by a delivery failure never arrive; a depot loss destroys its fraction "
        "of the stock on hand, rounded down.",
        "Average daily consumption is the consumption of the last 14 days (history, simulated and "
        "reported) over 14; regional figures sum over the region's depots.",
    ]
    if policy is None:
        rules.append(
            "Every transfer is replayed as played, each line capped by the stock at its source; "
            "losses in transit are those the players recorded."
        )
    else:
        rules += [
            "Each allocation is decided when the players decided theirs, from the same source to the "
            "same recipients, for the played quantity or the source's unreserved stock if that is less, "
            f"split by the {described(policy)} from the simulated stock and consumption at that time.",
            "A simulated allocation is dispatched only if the players dispatched theirs, at their first "
            "dispatch and capped by the stock at the source, and arrives whole when the players' transfer "
            "to that recipient arrived (else their first arrival under that allocation, else never); a "
            "played revocation revokes it.",
            "Direct transfers are replayed as played, capped by the stock at the source, with the losses "
            "in transit the players recorded.",
        ]
    return rules


AtClock = Mapping[str, int] | None
"""Injects scheduled once the clock stood at their time (`Exercise.at_clock`)."""


def simulate(
    opening: Opening,
    injects: Sequence[tuple[str, Inject]],
    played: Run,
    policy: Decider | None,
    at_clock: AtClock = None,
) -> Run:
    """The run `policy` would have produced (None: the run as played, recomputed)."""
    return play(opening, injects, played, policy, at_clock).run


def counterfactual(
    opening: Opening, injects: Sequence[tuple[str, Inject]], played: Run, policy: Decider, at_clock: AtClock = None
) -> Counterfactual:
    """The review's second column: the measures had `policy` decided, and one sentence comparing them."""
    alternative = measure(simulate(opening, injects, played, policy, at_clock))
    return Counterfactual(
        policy=label(policy),
        measures=alternative,
        assumptions=assumptions(policy),
        summary=compare(measure(played), alternative, label(policy)),
    )


def play(
    opening: Opening,
    injects: Sequence[tuple[str, Inject]],
    played: Run,
    policy: Decider | None,
    at_clock: AtClock = None,
) -> Outcome:
    """`simulate`, also returning the final stock and the depot losses (what conservation is checked by)."""
    if isinstance(policy, str) and policy not in POLICIES:
        raise ValueError(f"unknown policy {policy!r}: one of {', '.join(POLICIES)}")
    world = World(opening, played)
    world.schedule_scenario(injects, at_clock or {})
    world.schedule_movements()
    if policy is None:
        world.decisions = list(played.decisions)
        for transfer in played.transfers:
            world.schedule_transfer(transfer)
    else:
        decided = {d.allocation_id for d in played.decisions}
        for transfer in played.transfers:
            if transfer.allocation_id is None or transfer.allocation_id not in decided:
                world.schedule_transfer(transfer)
        for decision in played.decisions:
            world.schedule_allocation(decision, policy)
    world.run()
    return Outcome(run=world.result(), stock=dict(world.stock), lost_in_depots=world.lost_in_depots)
