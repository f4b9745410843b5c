"""Compliance with preparedness obligations per organisation and item (API.md `GET /v1/obligations`):
the report a regulator asks for.

Each depot line is the depot's obligation as its stock view reports it (the same figures,
from `projections.obligations`): its shortfall is `max(0, required - held)`, 0 when it meets
the obligation. An organisation's row sums its depots that have an obligation for the item:
required, held (on hand) and the shortfall are sums of the depots' — an obligation is set
on a depot, so stock above it at one depot does not make up another's shortfall — and days
covered is held over the summed 14-day average, as regional figures are derived from sums.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, Field

from domain.obligations import Basis
from ledger.persistence import IndexStore
from projections.cut import Cut
from projections.fold import days_of_supply
from projections.national import Figures, historical_figures
from projections.obligations import obligations_at


class ObligationDepotLine(BaseModel):
    depot: str
    region: str
    basis: Basis
    min_days: int | None
    required: int = Field(description="Units required, rounded up to whole units")
    held: int = Field(description="On hand at the cut")
    shortfall: int = Field(description="Units missing to meet the obligation (0 when met)")
    days_covered: float | None = Field(description="On hand over the 14-day average (days of supply)")
    meets_obligation: bool | None


class ObligationCompliance(BaseModel):
    organisation: str
    item: str
    depots: int = Field(description="Depots of the organisation with an obligation for the item")
    required: int
    held: int
    shortfall: int = Field(description="The sum of the depots' shortfalls")
    days_covered: float | None
    compliant: bool = Field(description="No depot short")
    depots_short: int = Field(description="Depots whose own obligation is short")
    lines: list[ObligationDepotLine]


class ObligationsReport(BaseModel):
    as_of: str
    known_at: str
    position: int
    rows: list[ObligationCompliance]


def compliance(
    store: IndexStore,
    cut: Cut,
    organisation: str | None = None,
    region: str | None = None,
    item: str | None = None,
    depot_figures: Iterable[Figures] | None = None,
) -> ObligationsReport:
    """Every organisation and item with an obligation in force at the cut, in scope. `depot_figures`:
    the depots' stock at the cut if the caller has them (the projection's, now), else folded."""
    obligations = obligations_at(store, cut, organisation=organisation, region=region, item=item)
    stock: dict[tuple[str, str], Figures] = {}
    if obligations.terms:
        for found in (
            historical_figures(store, cut, region, item, organisation) if depot_figures is None else depot_figures
        ):
            if found.depot is not None:
                stock[found.depot, found.item] = found
    rows: dict[tuple[str, str], ObligationCompliance] = {}
    consumed: dict[tuple[str, str], int] = {}
    for (depot, code), place in sorted(obligations.places.items()):
        held = stock.get((depot, code)) or Figures(place.region, depot, code)
        days = days_of_supply(held.on_hand, held.consumed)
        figures = obligations.figures(depot, code, held.on_hand, days, held.consumed)
        assert figures is not None  # every book with a place has terms
        key = (place.organisation, code)
        row = rows.setdefault(
            key,
            ObligationCompliance(
                organisation=place.organisation,
                item=code,
                depots=0,
                required=0,
                held=0,
                shortfall=0,
                days_covered=None,
                compliant=True,
                depots_short=0,
                lines=[],
            ),
        )
        row.lines.append(
            ObligationDepotLine(
                depot=depot,
                region=place.region,
                basis=figures.basis,
                min_days=figures.min_days,
                required=figures.required,
                held=held.on_hand,
                shortfall=figures.shortfall,
                days_covered=days,
                meets_obligation=figures.meets,
            )
        )
        row.depots += 1
        row.required += figures.required
        row.held += held.on_hand
        row.shortfall += figures.shortfall
        row.depots_short += figures.shortfall > 0
        row.compliant = row.depots_short == 0
        consumed[key] = consumed.get(key, 0) + held.consumed
    for key, row in rows.items():
        row.days_covered = days_of_supply(row.held, consumed[key])
    return ObligationsReport(**cut.describe(), rows=[rows[key] for key in sorted(rows)])
