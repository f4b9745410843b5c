"""Obligations at a cut: the terms in force for each book, and the consumption per calendar
year an annual average reads, both from the write indexes (never from events).

The obligation in force is the one dated last at or before `as_of` among those recorded up
to the cut (ties by ledger position), as the fold takes it. An annual average reads the
consumption dated in each counted calendar year (UTC) as known at the cut, so a consumption
report recorded late changes `required` only from the position it was recorded at. The
arithmetic is `domain.obligations.obligation_figures`; every view calls it through here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson

from domain.obligations import ObligationFigures, ObligationTerms, obligation_figures, shortfall
from ledger.journal import filters
from ledger.persistence import IndexStore
from projections.cut import Cut
from projections.fold import CONSUMPTION

Book = tuple[str, str]
"""(depot, item)"""

PAIRS_PER_QUERY = 100

IN_FORCE = """SELECT o.depot, o.item, o.occurred_at, o.position AS at_position, o.basis, o.min_days, o.terms,
    d.region, d.organisation
    FROM {t}obligations o JOIN {t}depots d ON d.code = o.depot
    WHERE o.position <= :known"""


@dataclass(frozen=True)
class Place:
    region: str
    organisation: str


@dataclass
class ObligationsAt:
    """The obligations in force at one cut for the books asked about, with what they read."""

    year: int
    terms: dict[Book, ObligationTerms] = field(default_factory=dict)
    places: dict[Book, Place] = field(default_factory=dict)
    annual: dict[Book, dict[int, int]] = field(default_factory=dict)

    def figures(
        self, depot: str, item: str, on_hand: int, days_of_supply: float | None, consumed_14d: int
    ) -> ObligationFigures | None:
        """The obligation's figures for one book (None: no obligation in force)."""
        terms = self.terms.get((depot, item))
        if terms is None:
            return None
        annual = self.annual.get((depot, item), {})
        return obligation_figures(terms, on_hand, days_of_supply, consumed_14d, annual, self.year)


def obligations_at(
    store: IndexStore,
    cut: Cut,
    depot: str | None = None,
    organisation: str | None = None,
    region: str | None = None,
    item: str | None = None,
) -> ObligationsAt:
    """The obligations in force at the cut for the books in scope, with the yearly consumption
    their annual averages read: two queries (the second only when an annual average is in force)."""
    where, params = filters(o__depot=depot, d__organisation=organisation, d__region=region, o__item=item)
    if cut.as_of is not None:
        where += " AND o.occurred_at <= :as_of"
        params["as_of"] = cut.as_of
    latest: dict[Book, dict[str, Any]] = {}
    for row in store.query(IN_FORCE + where, known=cut.known_position, **params):
        book = (row["depot"], row["item"])
        key = (store.from_db_time(row["occurred_at"]), row["at_position"])
        if book not in latest or key > latest[book]["key"]:
            latest[book] = {**row, "key": key}
    found = ObligationsAt(year=cut.business_time.astimezone(UTC).year)
    for book, row in latest.items():
        found.terms[book] = terms_of(row)
        found.places[book] = Place(row["region"], row["organisation"])
    years = {book: terms.counted_years(found.year) for book, terms in found.terms.items()}
    found.annual = yearly_consumption(store, {book: ys for book, ys in years.items() if ys}, cut.known_position)
    return found


@dataclass
class ObligationTimeline:
    """One book's obligations through business time, as known at one position: for a reader that
    walks forward through time (the alert scan) and asks at each instant, without a query each."""

    settings: list[tuple[datetime, int, ObligationTerms]]  # (occurred_at, position, terms), in business order
    annual: dict[int, int]  # consumption per calendar year, every year any instant may count

    def terms_at(self, at: datetime) -> ObligationTerms | None:
        """The obligation in force at `at`: the one dated last at or before it."""
        found = None
        for occurred_at, _, terms in self.settings:
            if occurred_at > at:
                break
            found = terms
        return found

    def figures(
        self, at: datetime, on_hand: int, days_of_supply: float | None, consumed_14d: int
    ) -> ObligationFigures | None:
        terms = self.terms_at(at)
        if terms is None:
            return None
        return obligation_figures(terms, on_hand, days_of_supply, consumed_14d, self.annual, at.astimezone(UTC).year)


def obligation_timeline(store: IndexStore, depot: str, item: str, cut: Cut, since: datetime) -> ObligationTimeline:
    """Every obligation of the book recorded up to the cut and dated by its business time, with the
    yearly consumption any instant from `since` to the cut may read: two queries."""
    where = " AND o.occurred_at <= :as_of" if cut.as_of is not None else ""
    rows = store.query(
        IN_FORCE + " AND o.depot = :depot AND o.item = :item" + where,
        known=cut.known_position,
        depot=depot,
        item=item,
        as_of=cut.as_of,
    )
    settings = sorted(
        ((store.from_db_time(row["occurred_at"]), row["at_position"], terms_of(row)) for row in rows),
        key=lambda setting: (setting[0], setting[1]),
    )
    first, last = since.astimezone(UTC).year, cut.business_time.astimezone(UTC).year
    years = {y for _, _, terms in settings for year in range(first, last + 1) for y in terms.counted_years(year)}
    annual = yearly_consumption(store, {(depot, item): sorted(years)}, cut.known_position) if years else {}
    return ObligationTimeline(settings, annual.get((depot, item), {}))


def terms_of(row: Mapping[str, Any]) -> ObligationTerms:
    """An `obligations` row's terms (a backfilled row has none beyond min_days)."""
    extra = orjson.loads(row["terms"]) if row["terms"] else {}
    return ObligationTerms(
        basis=row["basis"],
        min_days=row["min_days"],
        share_of_year=extra.get("share_of_year"),
        years=extra.get("years"),
        exclude_years=tuple(extra.get("exclude_years") or ()),
        daily_quantity=extra.get("daily_quantity"),
    )


def yearly_consumption(
    store: IndexStore, wanted: Mapping[Book, Sequence[int]], known: int
) -> dict[Book, dict[int, int]]:
    """Consumption per calendar year (UTC: 31 Dec 23:59 is in its year, 1 Jan 00:00 in the
    next) for each book and the years asked, as known at position `known`. Each book is one
    indexed range of the movement journal, a hundred books to a statement."""
    totals: dict[Book, dict[int, int]] = {book: {} for book in wanted}
    years = sorted({year for asked in wanted.values() for year in asked})
    if not years:
        return totals
    bounds: dict[str, Any] = {"known": known, "consumption": CONSUMPTION}
    sums = []
    for year in years:
        bounds |= {f"from_{year}": _new_year(year), f"to_{year}": _new_year(year + 1)}
        sums.append(
            f"SUM(CASE WHEN occurred_at >= :from_{year} AND occurred_at < :to_{year} THEN -delta ELSE 0 END)"
            f" AS y_{year}"
        )
    bounds |= {"lo": _new_year(years[0]), "hi": _new_year(years[-1] + 1)}
    books = list(wanted)
    for start in range(0, len(books), PAIRS_PER_QUERY):
        branches, params = [], dict(bounds)
        for n, (depot, item) in enumerate(books[start : start + PAIRS_PER_QUERY]):
            branches.append(
                f"SELECT CAST(:depot_{n} AS TEXT) AS depot, CAST(:item_{n} AS TEXT) AS item, {', '.join(sums)}"
                f" FROM {{t}}movements WHERE depot = :depot_{n} AND item = :item_{n} AND event_type = :consumption"
                " AND occurred_at >= :lo AND occurred_at < :hi AND position <= :known"
            )
            params |= {f"depot_{n}": depot, f"item_{n}": item}
        for row in store.query(" UNION ALL ".join(branches), **params):
            book = (row["depot"], row["item"])
            totals[book] = {year: int(row[f"y_{year}"] or 0) for year in wanted[book]}
    return totals


def _new_year(year: int) -> datetime:
    return datetime(year, 1, 1, tzinfo=UTC)


class ObligationLine(Protocol):
    """What a stock line reports of its obligation (`projections.stock.StockLine`)."""

    on_hand: int
    required: int | None
    meets_obligation: bool | None


def required_and_shortfall(line: ObligationLine) -> tuple[int, int] | None:
    """A stock line's required units and the units it is short of them (0 when it meets its
    obligation); None without an obligation in force. For reports of breaches in units."""
    if line.required is None:
        return None
    return line.required, shortfall(line.required, line.on_hand, line.meets_obligation)
