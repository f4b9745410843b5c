"""The simulated exercise ledger a counterfactual runs on: the opening (the exercise world at
its fork) and the `World` that applies injects, simulated day ends and the players' actions
to stock and consumption in time order. The rules it follows are written down in
`replay.counterfactual`, which schedules what the world plays (the played run, or a policy's
allocations).
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial

from pydantic import BaseModel, ConfigDict, model_validator

from domain.distribution import CriticalRequest, split
from domain.events import DistributionModelSet
from domain.policies import Recipient, recommend
from domain.scenario import Delivery, DepotLoss, Inject
from domain.simulation import DAY, Baseline, consumed, demands, failed_deliveries, lost, steps
from domain.stock import CONSUMPTION_WINDOW
from projections.fold import avg_daily_consumption
from replay.exercise_run import (
    DecisionRecord,
    MovementRecord,
    RegionPoint,
    Run,
    SimulatedDay,
    TransferLineRecord,
    TransferRecord,
)

Stock = tuple[str, str]  # (depot, item)


class OpeningModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OpeningDepot(OpeningModel):
    """A depot as the policies see it: where it is and whom it serves."""

    code: str
    region: str
    kind: str | None = None  # a distribution model's sectors are depot kinds
    population_served: int | None = None


class OpeningStock(OpeningModel):
    """One depot's item at the scenario start: stock, recent consumption, and the rate its demand is simulated from."""

    depot: str
    item: str
    on_hand: int
    history: list[tuple[datetime, int]] = []  # consumption (occurred_at, quantity) in the 14 days up to the start
    baseline: Baseline | None = None  # None: the depot has no simulated demand for the item


class Opening(OpeningModel):
    """The exercise world at its fork: every depot the run names, and the stock it started with."""

    depots: list[OpeningDepot]
    stocks: list[OpeningStock] = []

    @model_validator(mode="after")
    def _consistent(self) -> Opening:
        regions = {d.code: d.region for d in self.depots}
        if len(regions) != len(self.depots):
            raise ValueError("each depot is listed once")
        if len({(s.depot, s.item) for s in self.stocks}) != len(self.stocks):
            raise ValueError("each depot and item is listed once")
        for s in self.stocks:
            if s.depot not in regions:
                raise ValueError(f"stock of {s.item} at {s.depot}, a depot not in the opening")
            b = s.baseline
            if b is not None and (b.depot, b.item, b.region) != (s.depot, s.item, regions[s.depot]):
                raise ValueError(f"the baseline of {s.depot}/{s.item} names another depot, item or region")
        return self


# Phases at one time, and ranks of the players' actions within theirs (see `replay.counterfactual`'s docstring).
INJECT, DAY_END, PLAYER, LATE_INJECT, READ = range(5)
ADDS, ARRIVES, REVOKES, DECIDES, DISPATCHES, ARRIVES_AT_ONCE, REMOVES = range(7)


@dataclass
class _Allocation:
    decision: DecisionRecord
    source: str
    item: str
    lines: dict[str, int] = field(default_factory=dict)
    reserved: int = 0
    revoked: bool = False


@dataclass
class World:
    """The simulated exercise ledger: stock and consumption per depot and item, and a timetable."""

    opening: Opening
    played: Run
    stock: dict[Stock, int] = field(default_factory=lambda: defaultdict(int))
    consumption: dict[Stock, list[tuple[datetime, int]]] = field(default_factory=lambda: defaultdict(list))
    lost_in_depots: int = 0
    days: list[SimulatedDay] = field(default_factory=list)
    regions: list[RegionPoint] = field(default_factory=list)
    decisions: list[DecisionRecord] = field(default_factory=list)
    transfers: dict[str, TransferRecord] = field(default_factory=dict)
    allocations: dict[str, _Allocation] = field(default_factory=dict)
    timetable: list[tuple[tuple[datetime, int, int, int], Callable[[], None]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.region_of = {d.code: d.region for d in self.opening.depots}
        self.population = {d.code: d.population_served for d in self.opening.depots}
        self.kind = {d.code: d.kind or "" for d in self.opening.depots}
        self.filled: dict[str, int] = defaultdict(int)  # units of each request a model's decisions filled
        self._check_depots_known()
        for s in self.opening.stocks:
            self.stock[(s.depot, s.item)] = s.on_hand
            for at, quantity in s.history:
                self._log_consumption(s.depot, s.item, at, quantity)
        self.baselines = sorted(
            (s.baseline for s in self.opening.stocks if s.baseline), key=lambda b: (b.depot, b.item)
        )
        self.depots_in: dict[str, list[str]] = defaultdict(list)
        for code, region in sorted(self.region_of.items()):
            self.depots_in[region].append(code)
        self.region_items = sorted(
            {(b.region, b.item) for b in self.baselines}
            | {(self.region_of[m.depot], m.item) for m in self.played.movements}
        )

    def _check_depots_known(self) -> None:
        named = {m.depot for m in self.played.movements}
        named |= {d for t in self.played.transfers for d in (t.source, t.destination)}
        named |= {d.source for d in self.played.decisions} | {r for d in self.played.decisions for r in d.recipients}
        unknown = sorted(named - set(self.region_of))
        if unknown:
            raise ValueError(f"depots not in the opening: {', '.join(unknown)}")

    # --- the timetable -------------------------------------------------------------

    def schedule(self, when: datetime | None, phase: int, rank: int, action: Callable[[], None]) -> None:
        """Schedule `action`; anything after the run's end did not happen in it."""
        if when is not None and when <= self.played.end:
            self.timetable.append(((when, phase, rank, len(self.timetable)), action))

    def run(self) -> None:
        for _, action in sorted(self.timetable, key=lambda entry: entry[0]):
            action()

    def result(self) -> Run:
        return Run(
            start=self.played.start,
            end=self.played.end,
            days=sorted(self.days, key=lambda d: (d.day_end, d.depot, d.item)),
            requests=list(self.played.requests),
            decisions=self.decisions,
            transfers=sorted(self.transfers.values(), key=lambda t: (t.dispatched_at, t.transfer_id)),
            regions=sorted(self.regions, key=lambda p: (p.at, p.region, p.item)),
            movements=list(self.played.movements),
        )

    # --- the scenario: injects and simulated days -----------------------------------

    def schedule_scenario(self, injects: Sequence[tuple[str, Inject]], at_clock: Mapping[str, int]) -> None:
        start, end = self.played.start, self.played.end
        failed = failed_deliveries(injects, at_clock)
        scenario = [inject for _, inject in injects]
        last_day = max(0, (end - start) // DAY)
        demand = {(b.depot, b.item): demands(b, scenario, start, last_day) for b in self.baselines}
        for step in steps(injects, start, start - timedelta(microseconds=1), end):  # an inject at the start too
            phase = LATE_INJECT if step.inject_id in at_clock else INJECT
            if step.day is not None:
                self.schedule(step.at, DAY_END, 0, partial(self._day_end, step.day, step.at, demand))
                self.schedule(step.at, READ, 0, partial(self._read_regions, step.at))
            elif isinstance(step.inject, Delivery) and step.inject_id not in failed:
                delivery = step.inject
                self.schedule(step.at, phase, 0, partial(self._add, delivery.depot, delivery.item, delivery.quantity))
            elif isinstance(step.inject, DepotLoss):
                self.schedule(step.at, phase, 0, partial(self._depot_loss, step.inject))

    def _day_end(self, n: int, day_end: datetime, demand: dict[Stock, list[int]]) -> None:
        for b in self.baselines:
            wanted = demand[(b.depot, b.item)][n - 1]
            used = consumed(wanted, self.stock[(b.depot, b.item)])
            self.stock[(b.depot, b.item)] -= used
            self._log_consumption(b.depot, b.item, day_end, used)
            self.days.append(
                SimulatedDay(depot=b.depot, region=b.region, item=b.item, day_end=day_end, demand=wanted, consumed=used)
            )

    def _depot_loss(self, loss: DepotLoss) -> None:
        items = [loss.item] if loss.item is not None else sorted(i for d, i in self.stock if d == loss.depot)
        for item in items:
            destroyed = lost(self.stock[(loss.depot, item)], loss.exact_fraction)
            self.stock[(loss.depot, item)] -= destroyed
            self.lost_in_depots += destroyed

    def _read_regions(self, at: datetime) -> None:
        for region, item in self.region_items:
            depots = self.depots_in[region]
            self.regions.append(
                RegionPoint(
                    region=region,
                    item=item,
                    at=at,
                    on_hand=sum(self.stock.get((d, item), 0) for d in depots),
                    consumed_14d=(consumed := sum(self.consumed_14d(d, item, at) for d in depots)),
                    avg_daily_consumption=avg_daily_consumption(consumed),
                )
            )

    # --- stock and consumption ------------------------------------------------------

    def _add(self, depot: str, item: str, quantity: int) -> None:
        self.stock[(depot, item)] += quantity

    def _take(self, depot: str, item: str, wanted: int) -> int:
        """Remove up to `wanted` units from the stock on hand, and say how many left."""
        taken = min(wanted, max(0, self.stock[(depot, item)]))
        self.stock[(depot, item)] -= taken
        return taken

    def _log_consumption(self, depot: str, item: str, at: datetime, quantity: int) -> None:
        if quantity:
            bisect.insort(self.consumption[(depot, item)], (at, quantity), key=_time)

    def consumed_14d(self, depot: str, item: str, at: datetime) -> int:
        """Consumption dated in (at - 14 days, at]."""
        log = self.consumption.get((depot, item), [])
        since = bisect.bisect_right(log, at - CONSUMPTION_WINDOW, key=_time)
        until = bisect.bisect_right(log, at, key=_time)
        return sum(quantity for _, quantity in log[since:until])

    # --- the players' facts and transfers, as played --------------------------------

    def schedule_movements(self) -> None:
        for m in self.played.movements:
            self.schedule(m.at, PLAYER, ADDS if m.quantity >= 0 else REMOVES, partial(self._movement, m))

    def _movement(self, m: MovementRecord) -> None:
        self._add(m.depot, m.item, m.quantity)
        if m.kind == "consumption":
            self._log_consumption(m.depot, m.item, m.at, -m.quantity)

    def schedule_transfer(self, played: TransferRecord) -> None:
        """A transfer replayed as played: each line capped by the source's stock, the played loss kept."""

        def dispatch() -> None:
            lines = [
                TransferLineRecord(item=line.item, dispatched=self._take(played.source, line.item, line.dispatched))
                for line in played.lines
            ]
            self.transfers[played.transfer_id] = played.model_copy(
                update={"lines": lines, "received_at": None, "received_position": None, "cancelled_at": None}
            )

        def receive() -> None:
            sent = self.transfers[played.transfer_id]
            lines = []
            for line, as_played in zip(sent.lines, played.lines, strict=True):
                loss = as_played.dispatched - (
                    as_played.received if as_played.received is not None else as_played.dispatched
                )
                arrived = line.dispatched - min(max(0, loss), line.dispatched)
                self._add(played.destination, line.item, arrived)
                lines.append(line.model_copy(update={"received": arrived}))
            self.transfers[played.transfer_id] = sent.model_copy(
                update={
                    "lines": lines,
                    "received_at": played.received_at,
                    "received_position": played.received_position,
                }
            )

        def cancel() -> None:
            sent = self.transfers[played.transfer_id]
            for line in sent.lines:
                self._add(played.source, line.item, line.dispatched)
            self.transfers[played.transfer_id] = sent.model_copy(update={"cancelled_at": played.cancelled_at})

        if played.dispatched_at > self.played.end:
            return
        self.schedule(played.dispatched_at, PLAYER, DISPATCHES, dispatch)
        for when, action in ((played.received_at, receive), (played.cancelled_at, cancel)):
            self.schedule(when, PLAYER, ARRIVES_AT_ONCE if when == played.dispatched_at else ARRIVES, action)

    # --- allocations decided by the policy -----------------------------------------

    def schedule_allocation(self, decision: DecisionRecord, policy: str | DistributionModelSet) -> None:
        """The played decision taken by `policy`, carried out when the players carried out theirs."""
        theirs = [
            t for t in self.played.transfers if t.allocation_id == decision.allocation_id and t.cancelled_at is None
        ]
        first_dispatch = min((t.dispatched_at for t in theirs), default=None)
        arrived = sorted((t for t in theirs if t.received_at is not None), key=_arrival)
        allocation = _Allocation(decision=decision, source=decision.source, item=decision.item)
        self.allocations[decision.allocation_id] = allocation
        self.schedule(decision.decided_at, PLAYER, DECIDES, partial(self._decide, allocation, policy))
        self.schedule(decision.revoked_at, PLAYER, REVOKES, partial(self._revoke, allocation))
        if first_dispatch is None:
            return  # the players never sent theirs: neither is the policy's
        self.schedule(first_dispatch, PLAYER, DISPATCHES, partial(self._dispatch, allocation, first_dispatch))
        for recipient in sorted(set(decision.recipients)):
            to_them = [t for t in arrived if t.destination == recipient]
            receipt = next(iter(to_them or arrived), None)
            if receipt is not None and receipt.received_at is not None:
                when = receipt.received_at
                rank = ARRIVES_AT_ONCE if when == first_dispatch else ARRIVES
                arrive = partial(self._arrive, allocation, recipient, when, receipt.received_position)
                self.schedule(when, PLAYER, rank, arrive)

    def _reserved(self, source: str, item: str) -> int:
        return sum(a.reserved for a in self.allocations.values() if (a.source, a.item) == (source, item))

    def _decide(self, allocation: _Allocation, policy: str | DistributionModelSet) -> None:
        played, source, item = allocation.decision, allocation.source, allocation.item
        free = max(0, self.stock[(source, item)] - self._reserved(source, item))
        quantity = min(played.quantity, free)
        recipients = [
            Recipient(
                code=code,
                on_hand=self.stock[(code, item)],
                consumed_14d=self.consumed_14d(code, item, played.decided_at),
                population=self.population[code],
            )
            for code in played.recipients
        ]
        if isinstance(policy, DistributionModelSet):
            requests = self._open_critical(played.recipients, item, played.decided_at) if policy.requests_first else []
            result = split(policy, quantity, recipients, self.kind, requests)
            for fill in result.requests_filled:
                self.filled[fill.request_id] += fill.quantity
            lines, quantity, label = result.lines, result.allocated, policy.policy  # the reserve stays free
        else:
            lines, label = recommend(policy, quantity, recipients), policy
        allocation.lines = lines
        allocation.reserved = 0 if allocation.revoked else quantity  # revoked the moment it was made
        self.decisions.append(
            played.model_copy(
                update={
                    "quantity": quantity,
                    "policy": label,
                    "lines": lines,
                    "recommended_lines": dict(lines),
                    "rationale": None,
                }
            )
        )

    def _open_critical(self, recipients: Sequence[str], item: str, at: datetime) -> list[CriticalRequest]:
        """The played critical requests of `recipients` for `item` open at `at`, less what earlier
        simulated decisions filled of them, in the order the exercise ledger recorded them."""
        return [
            CriticalRequest(r.request_id, r.depot, r.quantity - self.filled[r.request_id], r.needed_by, r.requested_at)
            for r in sorted(self.played.requests, key=lambda r: (r.position or 0, r.requested_at))
            if r.item == item
            and r.depot in recipients
            and r.priority == "critical"
            and r.requested_at <= at
            and (r.closed_at is None or r.closed_at > at)
        ]

    def _revoke(self, allocation: _Allocation) -> None:
        allocation.revoked, allocation.reserved = True, 0

    def _dispatch(self, allocation: _Allocation, when: datetime) -> None:
        if allocation.revoked:
            return
        allocation.reserved = 0
        for recipient, units in sorted(allocation.lines.items()):
            sent = self._take(allocation.source, allocation.item, units) if units > 0 else 0
            if sent > 0:
                transfer_id = _transfer_id(allocation.decision.allocation_id, recipient)
                self.transfers[transfer_id] = TransferRecord(
                    transfer_id=transfer_id,
                    source=allocation.source,
                    destination=recipient,
                    allocation_id=allocation.decision.allocation_id,
                    dispatched_at=when,
                    lines=[TransferLineRecord(item=allocation.item, dispatched=sent)],
                )

    def _arrive(self, allocation: _Allocation, recipient: str, when: datetime, position: int | None) -> None:
        transfer = self.transfers.get(_transfer_id(allocation.decision.allocation_id, recipient))
        if transfer is None or transfer.received_at is not None:
            return
        line = transfer.lines[0]
        self._add(recipient, line.item, line.dispatched)
        self.transfers[transfer.transfer_id] = transfer.model_copy(
            update={
                "received_at": when,
                "received_position": position,  # the players' receipt it stands for
                "lines": [line.model_copy(update={"received": line.dispatched})],
            }
        )


def _time(entry: tuple[datetime, int]) -> datetime:
    return entry[0]


def _arrival(transfer: TransferRecord) -> tuple[datetime, int, str]:
    """Receipts in time order, those at the same time in the order the ledger recorded them."""
    return transfer.received_at or datetime.max, transfer.received_position or 0, transfer.transfer_id


def _transfer_id(allocation_id: str, recipient: str) -> str:
    """Simulated transfers are named by the allocation and the recipient they carry it to."""
    return f"{allocation_id}->{recipient}"
