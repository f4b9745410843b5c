"""The distribution models aggregate and the command that defines a model's next version.

Every version of every model is an event on one aggregate per ledger, so a decision under
`model:NAME@2` is replayed under version 2 whatever came after, and a model "as known at"
a ledger position is the aggregate's stream up to it.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Annotated, Any, Self

from pydantic import Field, StringConstraints

from domain.aggregate import Aggregate
from domain.commands import Command, Note
from domain.distribution import RESERVE
from domain.events import DepotKind, DistributionModelDefined, DistributionModelRevised, DistributionModelSet
from domain.policies import MODEL_NAME, Policy

Share = Annotated[
    Decimal,
    Field(
        ge=0,
        le=1,
        max_digits=12,
        decimal_places=9,
        description='A share of the quantity, as an exact decimal (a JSON number or a string: 0.7 or "0.7")',
        examples=["0.7"],
    ),
]
SectorName = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9 ._-]*$")]
ModelName = Annotated[str, StringConstraints(pattern=f"^{MODEL_NAME}$")]


class SectorRule(Command):
    name: SectorName
    kinds: Annotated[list[DepotKind], Field(min_length=1, max_length=7, description="Depot kinds in the sector")]
    share: Share


class DefineDistributionModel(Command):
    """A model's rules: sectors with shares, a reserve kept at the source, and how a sector is split."""

    sectors: Annotated[list[SectorRule], Field(min_length=1, max_length=7)]
    reserve: Share = Decimal(0)
    within: Policy = Field(description="The policy that splits a sector's total among its recipients")
    requests_first: bool = Field(False, description="Fill the recipients' open critical requests before any share")
    note: Note = None

    def errors(self) -> list[dict[str, Any]]:
        """What makes the rules unusable, every reason at once (the fields are each valid)."""
        errors: list[dict[str, Any]] = []
        total = sum((sector.share for sector in self.sectors), self.reserve)
        if total != 1:
            errors.append(
                {
                    "loc": ["body", "reserve"],
                    "msg": f"the sectors' shares and the reserve add up to {total}, not exactly 1",
                    "type": "shares_sum",
                }
            )
        seen_names: set[str] = set()
        owner: dict[str, str] = {}
        for n, sector in enumerate(self.sectors):
            if sector.name.lower() == RESERVE or sector.name in seen_names:
                why = "is the reserve's name" if sector.name.lower() == RESERVE else "names another sector too"
                errors.append({"loc": ["body", "sectors", n, "name"], "msg": f"{sector.name!r} {why}", "type": "name"})
            seen_names.add(sector.name)
            for kind in sector.kinds:
                if kind in owner:
                    errors.append(
                        {
                            "loc": ["body", "sectors", n, "kinds"],
                            "msg": f"depot kind {kind} is already in sector {owner[kind]!r}: a kind is in one sector",
                            "type": "kind_in_two_sectors",
                        }
                    )
                owner.setdefault(kind, sector.name)
        return errors

    def same_rules(self, model: DistributionModelSet) -> bool:
        """Whether `model` already states these rules (a repeated PUT stores nothing)."""
        return (
            [(s.name, tuple(s.kinds), s.share) for s in self.sectors]
            == [(s.name, s.kinds, s.share) for s in model.sectors]
            and self.reserve == model.reserve
            and self.within == model.within
            and self.requests_first == model.requests_first
        )


class DistributionModels(Aggregate):
    """Every version of every model, in recorded order: one aggregate per ledger."""

    versions: list[DistributionModelSet] = []

    @classmethod
    def created(cls, event: DistributionModelSet) -> Self:
        return cls(**cls.born(event), versions=[event])

    def mutate(self, event: object) -> None:
        if not isinstance(event, DistributionModelSet):
            raise TypeError(f"DistributionModels cannot apply {type(event).__name__}")
        self.versions = [*self.versions, event]

    def define(self, name: str, **fields: Any) -> DistributionModelSet:
        version = len(history(self.versions, name)) + 1
        kind = DistributionModelDefined if version == 1 else DistributionModelRevised
        return self.trigger(kind, name=name, version=version, **fields)


def history(versions: Iterable[DistributionModelSet], name: str) -> list[DistributionModelSet]:
    """A model's versions, oldest first."""
    return [model for model in versions if model.name == name]


def version_of(versions: Iterable[DistributionModelSet], name: str, version: int | None) -> DistributionModelSet | None:
    """A model's given version, or its latest when `version` is None; None when there is no such."""
    found = history(versions, name)
    if version is None:
        return found[-1] if found else None
    return next((model for model in found if model.version == version), None)
