"""Allocation commands: asking for a recommendation, deciding one (or departing from it with a
rationale), and revoking what a decision still reserves. They are the request bodies of
`/v1/allocations`, as the depot commands of `domain.commands` are of the depot routes."""

from __future__ import annotations

from typing import Annotated

from pydantic import ConfigDict, Field, StrictBool, StrictInt, model_validator

from domain.commands import MAX_POSITION, MAX_QUANTITY, Code, Command, Envelope, Instant, Note, Quantity, Text
from domain.policies import PolicyChoice


class AllocationLineRequest(Command):
    to: Code
    quantity: Annotated[StrictInt, Field(ge=0, le=MAX_QUANTITY)]


class RecommendAllocation(Command):
    """Which recipients should get how much of `quantity`, under `policy`, from the ledger as it is known."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    source: Code = Field(alias="from")
    item: Code
    quantity: Quantity
    recipients: Annotated[list[Code], Field(min_length=1, max_length=200)]
    policy: PolicyChoice
    occurred_at: Instant | None = Field(
        default=None, description="The decision's business time: inputs are read as of it (default now)"
    )

    @model_validator(mode="after")
    def _recipients(self) -> RecommendAllocation:
        if len(set(self.recipients)) != len(self.recipients):
            raise ValueError("each recipient is named once")
        if self.source in self.recipients:
            raise ValueError("the source cannot be one of its recipients")
        return self


class DecideAllocation(RecommendAllocation):
    lines: Annotated[
        list[AllocationLineRequest] | None,
        Field(max_length=200, description="The chosen lines; none = take the recommendation"),
    ] = None
    basis_position: Annotated[
        StrictInt | None,
        Field(
            ge=1,
            le=MAX_POSITION,
            description="The ledger position the recommendation was read at (default: the latest)",
        ),
    ] = None
    rationale: Annotated[
        str | None,
        Field(min_length=1, max_length=2000, description="Required when the lines differ from the recommendation"),
    ] = None
    dispatch: StrictBool = Field(default=False, description="Dispatch a transfer per line in the same transaction")
    note: Note = None

    @model_validator(mode="after")
    def _lines(self) -> DecideAllocation:
        if self.lines is None:
            return self
        named = [line.to for line in self.lines]
        if len(set(named)) != len(named):
            raise ValueError("each recipient has at most one line")
        strangers = sorted(set(named) - set(self.recipients))
        if strangers:
            raise ValueError(f"lines for depots that are not recipients: {', '.join(strangers)}")
        total = sum(line.quantity for line in self.lines)
        if total != self.quantity and not self.policy.startswith("model:"):  # a model's reserve is not known yet
            raise ValueError(f"the lines add up to {total}, not the quantity {self.quantity}")
        return self

    def chosen(self, recommended: dict[str, int]) -> dict[str, int]:
        """The lines as recipient -> units over every recipient (the recommendation when none given)."""
        if self.lines is None:
            return dict(recommended)
        given = {line.to: line.quantity for line in self.lines}
        return {code: given.get(code, 0) for code in sorted(self.recipients)}


class RevokeAllocation(Envelope):
    reason: Text
