"""Allocation decisions in the service layer: recommend, decide (optionally dispatching), revoke.

A recommendation reads each recipient's figures at the decision's business time, as the
ledger knew them at a position (its *basis*), and applies a policy (`domain.policies`).
A decision stores the basis, the figures read, the recommended and the chosen lines, so
that replaying the ledger up to the basis reproduces the recommendation exactly
(`replay.decisions`). The chosen quantity is reserved at the source until transfers are
dispatched against the allocation or it is revoked.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, field_serializer

from domain import allocation_commands as alloc
from domain import events as ev
from domain.depot import Depot
from domain.distribution import split
from domain.exceptions import AllocationClosed, InvalidCommand, UnknownAllocation
from domain.policies import Recipient, recommend
from ledger.clock import utc_text
from ledger.distribution_models import SectorShare, fills_view, sector_shares
from ledger.outcomes import (
    AllocationLineView,
    AllocationOutcome,
    RequestFillView,
    RevocationOutcome,
    TransferSummary,
)
from ledger.transfers import lots_drawn
from projections.cut import Cut
from projections.fold import avg_daily_consumption, days_of_supply
from projections.history import History

if TYPE_CHECKING:
    from ledger.application import Context
    from ledger.host import LedgerHost
else:
    LedgerHost = object


class RecipientInput(BaseModel):
    """A recipient's figures as a policy read them, and its days of supply with its line."""

    depot: str
    on_hand: int
    avg_daily_consumption: float
    days_of_supply: float | None
    days_of_supply_after: float | None
    population_served: int | None
    consumed_14d: int = Field(description="Consumption dated in the 14 days up to the decision (exact)")


class Recommendation(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    source: str = Field(serialization_alias="from")
    item: str
    quantity: int
    policy: str
    occurred_at: datetime = Field(description="The business time the inputs were read at")
    basis_position: int
    basis_known_at: datetime | None
    lines: list[AllocationLineView]
    inputs: list[RecipientInput]
    available: int = Field(description="What the source can commit now")
    warnings: list[str] = []
    reserve: int | None = Field(
        None, description="Under a distribution model: units kept available at the source (the lines allocate the rest)"
    )
    sectors: list[SectorShare] | None = Field(None, description="Under a distribution model: each sector's cut")
    requests_filled: list[RequestFillView] = Field([], description="Under a model: critical requests filled first")

    @field_serializer("occurred_at", "basis_known_at")
    def _utc(self, value: datetime | None) -> str | None:
        return None if value is None else utc_text(value)

    def line_map(self) -> dict[str, int]:
        return {line.to: line.quantity for line in self.lines}

    @property
    def allocated(self) -> int:
        """What the lines allocate: the quantity less any reserve a model keeps at the source."""
        return self.quantity - (self.reserve or 0)

    def sector_of(self) -> dict[str, str | None]:
        return {line.to: line.sector for line in self.lines}


def inputs_view(recipients: Sequence[Recipient], lines: dict[str, int]) -> list[RecipientInput]:
    return [
        RecipientInput(
            depot=r.code,
            on_hand=r.on_hand,
            avg_daily_consumption=avg_daily_consumption(r.consumed_14d),
            days_of_supply=days_of_supply(r.on_hand, r.consumed_14d),
            days_of_supply_after=days_of_supply(r.on_hand + lines.get(r.code, 0), r.consumed_14d),
            population_served=r.population,
            consumed_14d=r.consumed_14d,
        )
        for r in recipients
    ]


def lines_view(lines: dict[str, int], sectors: dict[str, str | None] | None = None) -> list[AllocationLineView]:
    """Lines by recipient; under a model each names its recipient's sector."""
    return [
        AllocationLineView(to=to, quantity=quantity, sector=(sectors or {}).get(to))
        for to, quantity in sorted(lines.items())
    ]


class AllocationCommands(LedgerHost):
    """The allocation part of the `Ledger` application (mixed into it)."""

    # --- reading the inputs --------------------------------------------------------------

    def recipients_at(self, item: str, codes: Sequence[str], at: datetime, basis_position: int) -> list[Recipient]:
        """Each recipient's on_hand and 14-day consumption of `item` as of `at`, as known at `basis_position`."""
        history = History(self.index_store)
        cut = Cut(as_of=at, known_position=basis_position, known_at=None, asked_at=at)
        recipients = []
        for code in codes:
            depot = self.depot(code)
            fold = history.item_fold(code, item, cut)
            recipients.append(Recipient(code, fold.state.on_hand, fold.consumed_14d, depot.population_served))
        return recipients

    def _basis(self, asked: int | None, recipients: Sequence[str]) -> int:
        latest = self.position()
        basis = latest if asked is None else asked
        if basis > latest:
            raise InvalidCommand(
                f"basis_position {basis} is beyond the ledger's latest position {latest}",
                errors=[{"loc": ["body", "basis_position"], "msg": "beyond the ledger", "type": "value_error"}],
            )
        for code in recipients:
            registered = self.journal.registered_at(code)
            if registered is not None and registered > basis:
                raise InvalidCommand(
                    f"depot {code} was registered at position {registered}, after the basis position {basis}",
                    errors=[
                        {"loc": ["body", "recipients"], "msg": f"{code} unknown at the basis", "type": "value_error"}
                    ],
                )
        return basis

    def recommendation_at(
        self,
        source: str,
        item: str,
        quantity: int,
        codes: Sequence[str],
        policy: str,
        at: datetime,
        basis_position: int,
    ) -> tuple[Recommendation, list[Recipient]]:
        """The policy's lines at a cut, without checking anything: the same code serves a live
        recommendation, a decision and its replay, so they can only agree. A distribution model
        (`model:NAME[@VERSION]`) is read as known at the basis too, and so are the open requests."""
        recipients = self.recipients_at(item, codes, at, basis_position)
        model = self.model_for(policy, basis_position)
        extra: dict[str, Any] = {}
        if model is None:
            lines = recommend(policy, quantity, recipients)
            shown = lines_view(lines)
        else:
            kinds = {code: self.depot(code).kind for code in codes}
            requests = self.critical_requests(item, codes, at, basis_position) if model.requests_first else []
            result = split(model, quantity, recipients, kinds, requests)
            lines, shown, policy = result.lines, lines_view(result.lines, result.sector_of), model.policy
            extra = {
                "reserve": result.reserve,
                "sectors": sector_shares(model, result),
                "requests_filled": fills_view(result.requests_filled),
            }
        return (
            Recommendation(
                source=source,
                item=item,
                quantity=quantity,
                policy=policy,
                occurred_at=at,
                basis_position=basis_position,
                basis_known_at=History(self.index_store).recorded_at(basis_position),
                lines=shown,
                inputs=inputs_view(recipients, lines),
                available=0,
                **extra,
            ),
            recipients,
        )

    # --- commands --------------------------------------------------------------------------

    def recommend(self, command: alloc.RecommendAllocation, ctx: Context) -> Recommendation:
        """A recommendation now; stores nothing."""
        source = self.depot(command.source)
        self.require_item(command.item)
        at = self._stamp(ctx, command.occurred_at).occurred_at
        for code in command.recipients:
            self.depot(code)
        basis = self._basis(None, command.recipients)
        recommendation, _ = self.recommendation_at(
            source.code, command.item, command.quantity, command.recipients, command.policy, at, basis
        )
        available = max(0, self._dispatchable(source, command.item, at))
        warnings = []
        if recommendation.allocated > available:
            warnings.append(
                f"{source.code} has only {available} {command.item} available: an allocation of "
                f"{recommendation.allocated} would be refused"
            )
        return recommendation.model_copy(update={"available": available, "warnings": warnings})

    def decide_allocation(self, command: alloc.DecideAllocation, ctx: Context) -> tuple[AllocationOutcome, bool]:
        allocation_id = f"A-{uuid.uuid4().hex[:12]}"
        transfer_ids = {code: f"T-{uuid.uuid4().hex[:12]}" for code in command.recipients}

        def decide() -> tuple[list[Any], AllocationOutcome]:
            source = self._writable_depot(command.source, ctx)
            self.require_item(command.item)
            recipients = {code: self.depot(code) for code in command.recipients}
            stamp = self._stamp(ctx, command.occurred_at, command.note)
            basis = self._basis(command.basis_position, command.recipients)
            recommendation, read = self.recommendation_at(
                source.code,
                command.item,
                command.quantity,
                command.recipients,
                command.policy,
                stamp.occurred_at,
                basis,
            )
            recommended = recommendation.line_map()
            chosen = command.chosen(recommended)
            if sum(chosen.values()) != recommendation.allocated:
                raise InvalidCommand(
                    f"the lines add up to {sum(chosen.values())}, not the {recommendation.allocated} the model "
                    f"allocates ({command.quantity} less a reserve of {recommendation.reserve})",
                    errors=[
                        {"loc": ["body", "lines"], "msg": "do not add up to the allocated quantity", "type": "sum"}
                    ],
                    recommended_lines=[line.model_dump() for line in recommendation.lines],
                )
            if chosen != recommended and command.rationale is None:
                raise InvalidCommand(
                    "the lines differ from the recommendation: give a rationale",
                    errors=[{"loc": ["body", "rationale"], "msg": "required when lines differ", "type": "missing"}],
                    recommended_lines=[line.model_dump() for line in recommendation.lines],
                )
            source.decide_allocation(
                allocation_id,
                command.item,
                chosen,
                self._dispatchable(source, command.item, stamp.occurred_at),
                stamp,
                policy=recommendation.policy,
                basis_position=basis,
                basis_known_at=recommendation.basis_known_at,
                recipients=tuple(command.recipients),
                recommended_lines=tuple(ev.AllocationLine(to=to, quantity=q) for to, q in sorted(recommended.items())),
                rationale=command.rationale,
                inputs=tuple(
                    ev.AllocationInput(
                        depot=r.code, on_hand=r.on_hand, consumed_14d=r.consumed_14d, population_served=r.population
                    )
                    for r in read
                ),
                reserve=recommendation.reserve,
                requests_filled=tuple(
                    ev.RequestFill(request_id=f.request_id, to=f.to, quantity=f.quantity)
                    for f in recommendation.requests_filled
                ),
            )
            touched: list[Depot] = [source]
            transfers = []
            if command.dispatch:
                folds = self._source_lots(source.code, {command.item}, stamp.occurred_at)
                for code, quantity in sorted(chosen.items()):
                    if quantity == 0:
                        continue
                    # The decision checked the whole quantity against what the source can give
                    # at this time; each dispatch only turns its part of the reservation into a
                    # transfer, drawing its lots after the dispatches before it.
                    lines = (ev.TransferLine(item=command.item, quantity=quantity),)
                    dispatched = source.dispatch(
                        transfer_ids[code],
                        code,
                        lines,
                        {command.item: quantity},
                        stamp,
                        allocation_id=allocation_id,
                        reference=f"allocation {allocation_id}",
                        lots=lots_drawn(folds, lines),
                    )
                    recipients[code].expect(dispatched, source.code)
                    touched.append(recipients[code])
                    transfers.append(TransferSummary(transfer_id=transfer_ids[code], to=code, quantity=quantity))
            return touched, AllocationOutcome(
                allocation_id=allocation_id,
                source=source.code,
                item=command.item,
                quantity=sum(chosen.values()),
                policy=recommendation.policy,
                occurred_at=stamp.occurred_at,
                basis_position=basis,
                basis_known_at=recommendation.basis_known_at,
                lines=lines_view(chosen, recommendation.sector_of() if recommendation.sectors else None),
                recommended_lines=recommendation.lines,
                departed=chosen != recommended,
                rationale=command.rationale,
                transfers=transfers if command.dispatch else None,
                reserve=recommendation.reserve,
                requests_filled=recommendation.requests_filled,
            )

        return self._execute(ctx, AllocationOutcome, decide)

    def revoke_allocation(
        self, allocation_id: str, command: alloc.RevokeAllocation, ctx: Context
    ) -> tuple[RevocationOutcome, bool]:
        def decide() -> tuple[list[Any], RevocationOutcome]:
            source = self._allocation_source(allocation_id, ctx)
            event = source.revoke_allocation(
                allocation_id, command.reason, self._stamp(ctx, command.occurred_at, command.note)
            )
            return [source], RevocationOutcome(
                allocation_id=allocation_id, status="revoked", item=event.item, released=event.released
            )

        return self._execute(ctx, RevocationOutcome, decide)

    def _allocation_source(self, allocation_id: str, ctx: Context, source: str | None = None) -> Depot:
        """The depot an allocation reserves stock at, if it still binds any (else 404 or 409)."""
        row = self.journal.allocation(allocation_id)
        if row is None:
            raise UnknownAllocation(f"no allocation {allocation_id}", allocation_id=allocation_id)
        if source is not None and row["source"] != source:
            raise InvalidCommand(
                f"allocation {allocation_id} allocates stock of {row['source']}, not of {source}",
                errors=[
                    {
                        "loc": ["body", "allocation_id"],
                        "msg": f"an allocation of {row['source']}",
                        "type": "value_error",
                    }
                ],
            )
        depot = self._writable_depot(row["source"], ctx)
        allocation = depot.open_allocations.get(allocation_id)
        if allocation is None or allocation.revoked:
            status = "revoked" if row["status"] == "revoked" or allocation is not None else "fully dispatched"
            raise AllocationClosed(
                f"allocation {allocation_id} is {status}: nothing of it is reserved any more",
                allocation_id=allocation_id,
                allocation_status=status,
            )
        return depot
