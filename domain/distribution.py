"""Distribution models: a national rule for sharing scarce stock (DESIGN.md, "Distribution models").

Pure arithmetic beside `domain.policies`, with the same exact fractions and the same one
rounding (`round_shares`: floor, then the remainder by largest fraction, ties by name):

1. `requests_first`: the critical open requests of the decision's recipients for the item,
   in `needed_by` order (none last), then request time, then the order they were recorded,
   each filled up to its open quantity while quantity remains;
2. the rest R is cut into sector totals and the reserve as if they were recipients weighted
   by their shares (the reserve named `reserve`); a sector with no recipient in the decision
   adds its total to the reserve;
3. each sector total is split among its recipients by the model's `within` policy.

The decision allocates the quantity less the reserve; the reserve stays at the source.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from fractions import Fraction

from domain.events import DistributionModelSet, ModelSector, RequestFill
from domain.policies import MODEL_POLICY, Recipient, proportional, recommend, round_shares

RESERVE = "reserve"
"""The reserve's name when it is cut beside the sectors: no sector may be called so."""

_REFERENCE = re.compile(MODEL_POLICY)


def model_reference(policy: str) -> tuple[str, int | None] | None:
    """`model:NAME[@VERSION]` as (name, version or None for the current one); None for a plain policy."""
    if not _REFERENCE.match(policy):
        return None
    name, _, version = policy.removeprefix("model:").partition("@")
    return name, int(version) if version else None


@dataclass(frozen=True)
class CriticalRequest:
    """A critical supply request as open at the decision's cut, in the order it was recorded."""

    request_id: str
    depot: str
    open_quantity: int
    needed_by: datetime | None
    requested_at: datetime


@dataclass(frozen=True)
class ModelSplit:
    """A model's answer: each recipient's units (request fills plus its sector's part), the
    sector each belongs to (None: in no sector), each sector's total and the reserve."""

    quantity: int
    lines: dict[str, int]
    sector_of: dict[str, str | None]
    sector_totals: dict[str, int]
    reserve: int
    requests_filled: list[RequestFill] = field(default_factory=list)

    @property
    def allocated(self) -> int:
        return self.quantity - self.reserve


def sector_of(sectors: Sequence[ModelSector], kind: str) -> str | None:
    return next((sector.name for sector in sectors if kind in sector.kinds), None)


def fill_requests(quantity: int, requests: Sequence[CriticalRequest]) -> list[RequestFill]:
    """Critical requests by `needed_by` (none last), then request time, then recorded order."""
    ordered = sorted(requests, key=lambda r: (r.needed_by is None, r.needed_by or r.requested_at, r.requested_at))
    fills, left = [], quantity
    for request in ordered:
        if left == 0:
            break
        units = min(left, request.open_quantity)
        if units > 0:
            fills.append(RequestFill(request_id=request.request_id, to=request.depot, quantity=units))
            left -= units
    return fills


def split(
    model: DistributionModelSet,
    quantity: int,
    recipients: Sequence[Recipient],
    kinds: Mapping[str, str],
    requests: Sequence[CriticalRequest] = (),
) -> ModelSplit:
    """The model's lines for `quantity` among `recipients` (`kinds`: depot code -> depot kind).
    `requests` are only read when the model serves critical requests first."""
    if quantity < 0:
        raise ValueError("a quantity to allocate is not negative")
    if not recipients:
        raise ValueError("an allocation needs at least one recipient")
    codes = [r.code for r in recipients]
    if len(set(codes)) != len(codes):
        raise ValueError("each recipient is named once")
    fills = fill_requests(quantity, [r for r in requests if r.depot in kinds]) if model.requests_first else []
    lines = dict.fromkeys(codes, 0)
    for fill in fills:
        lines[fill.to] += fill.quantity
    rest = quantity - sum(fill.quantity for fill in fills)
    weights = {sector.name: Fraction(sector.share) for sector in model.sectors}
    totals = round_shares(proportional(rest, {**weights, RESERVE: Fraction(model.reserve)}), rest)
    reserve = totals.pop(RESERVE)
    membership = {r.code: sector_of(model.sectors, kinds[r.code]) for r in recipients}
    for sector in model.sectors:
        members = [r for r in recipients if membership[r.code] == sector.name]
        if not members:
            reserve += totals[sector.name]
            continue
        for code, units in recommend(model.within, totals[sector.name], members).items():
            lines[code] += units
    return ModelSplit(
        quantity=quantity,
        lines=dict(sorted(lines.items())),
        sector_of=membership,
        sector_totals=totals,
        reserve=reserve,
        requests_filled=fills,
    )
