"""Forking: an exercise ledger that starts where the live ledger stood, as known at a time.

The live ledger is only read. The exercise ledger gets, recorded by the fork (`source:
import`), the items and depots known then, their obligations, an opening balance per
depot and item, and each depot's consumption of the 14 days before the fork, one report
per day, placed in the 14 days before `scenario_start`. So at `scenario_start` the
exercise's views show the live figures of the fork: on hand, average daily consumption,
days of supply and obligations; and the 14-day window then slides on naturally as the
simulation adds days. Stock in transit, reservations and lots are not carried (counted
in `not_carried`).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any

from domain import events as ev
from domain.depot import Depot, Stamp
from domain.exercise import Fork, ForkedBalance, ForkedDepot
from domain.ids import depot_id, item_id
from domain.item import Item
from ledger.application import Ledger
from ledger.clock import utc_text
from projections.history import History
from projections.views import Views

WINDOW_DAYS = 14
DAY = timedelta(days=1)


def fork(live_views: Views, target: Ledger, known_at: datetime, start: datetime, actor: str) -> Fork:
    live = live_views.ledger
    position = min(History(live.index_store).position_at(known_at), live.position())
    depots = live.index_store.query("SELECT * FROM {t}depots WHERE position <= :p ORDER BY code", p=position)
    items = live.index_store.query(
        "SELECT code, name, unit, category, atc_code FROM {t}items WHERE position <= :p ORDER BY code", p=position
    )
    daily = _daily_consumption(live, known_at, position)
    balances: list[ForkedBalance] = []
    not_carried = {"units_in_transit": 0, "units_reserved": 0}
    for depot in depots:
        stock = live_views.depot_stock(depot["code"], as_of=utc_text(known_at), known_at=f"pos:{position}")
        for line in stock.items:
            not_carried["units_in_transit"] += line.in_transit_out
            not_carried["units_reserved"] += line.reserved
            days = tuple(daily.get((depot["code"], line.item), [0] * WINDOW_DAYS))
            # Only an obligation on recent consumption is carried: the fork has 14 days of
            # history, not the years or stated quantities the other bases read.
            min_days = line.min_days if line.basis == "recent_consumption" else None
            if line.on_hand or any(days) or min_days is not None:
                balances.append(
                    ForkedBalance(
                        depot=depot["code"], item=line.item, on_hand=line.on_hand, daily=days, min_days=min_days
                    )
                )
    result = Fork(
        known_at=known_at,
        position=position,
        depots=tuple(
            ForkedDepot(code=d["code"], region=d["region"], population_served=d["population_served"]) for d in depots
        ),
        items=tuple(i["code"] for i in items),
        balances=tuple(balances),
        not_carried=not_carried,
    )
    _write(target, result, depots, items, start, actor)
    return result


def _daily_consumption(live: Ledger, known_at: datetime, position: int) -> dict[tuple[str, str], list[int]]:
    """Consumption per depot and item in each of the 14 days up to `known_at`, as known at `position`."""
    rows = live.index_store.query(
        """SELECT depot, item, occurred_at, delta FROM {t}movements
           WHERE event_type = 'ConsumptionReported' AND occurred_at > :lo AND occurred_at <= :hi
             AND position <= :p""",
        lo=known_at - timedelta(days=WINDOW_DAYS),
        hi=known_at,
        p=position,
    )
    daily: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0] * WINDOW_DAYS)
    for row in rows:
        occurred = live.index_store.from_db_time(row["occurred_at"])
        k = min(int((known_at - occurred) / DAY), WINDOW_DAYS - 1)
        daily[(row["depot"], row["item"])][k] -= int(row["delta"])
    return daily


def _write(
    target: Ledger, fork: Fork, depots: list[dict[str, Any]], items: list[dict[str, Any]], start: datetime, actor: str
) -> None:
    """Opening state recorded as of 14 days before the start, then one consumption report per day."""
    note = f"forked from the live ledger as known at {utc_text(fork.known_at)} (position {fork.position})"

    def stamp(at: datetime, text: str = note) -> Stamp:
        return Stamp(occurred_at=at, actor=actor, source="import", command_id=f"fork:{fork.position}", note=text)

    opening = start - WINDOW_DAYS * DAY
    with ev.recorded_by(lambda: opening):
        catalogue = [Item.start(ev.ItemDefined, item_id(i["code"]), **i, **stamp(opening).fields()) for i in items]
        registered = {
            d["code"]: Depot.start(
                ev.DepotRegistered,
                depot_id(d["code"]),
                **{k: d[k] for k in ("code", "name", "region", "organisation", "kind", "population_served")},
                **stamp(opening).fields(),
            )
            for d in depots
        }
        for balance in fork.balances:
            depot = registered[balance.depot]
            if balance.min_days is not None:
                depot.set_obligation(balance.item, balance.min_days, stamp(opening))
            quantity = balance.on_hand + balance.consumed_14d
            if quantity:
                depot.adjust(balance.item, quantity, "other", None, stamp(opening, f"opening balance, {note}"))
        target.save(*catalogue, *registered.values())
    for k in reversed(range(WINDOW_DAYS)):
        day_end = start - k * DAY
        with ev.recorded_by(lambda: day_end):  # noqa: B023 - used within the iteration
            changed = {}
            for balance in fork.balances:
                if balance.daily[k] > 0:
                    # saved and current: nothing else writes here yet
                    depot = changed[balance.depot] = registered[balance.depot]
                    depot.report_consumption(balance.item, balance.daily[k], day_end - DAY, stamp(day_end))
            if changed:
                target.save(*changed.values())
