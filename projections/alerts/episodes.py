"""The history of alert episodes: when each became true (business time) and when the ledger
first showed it (recorded time), so a review sees how late each shortage was known.

`first_known_at` is the earliest recorded time whose cut shows the episode: the scan
(`projections.alerts.scan`) as known at a position finds an episode of the same kind, depot,
item and opening (the same `alert_id`). Only positions that recorded something of the depot
(its journal rows, transfers to it, its requests and their answers) or an alert rule can change
what its scan shows, so only those are tried, in order. The ledger cannot show an episode before
it opens, so `first_known_at` is at least `opened_at`; `detection_delay_hours` is the difference.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from pydantic import BaseModel

from domain.alert_rules import Rule, Target
from domain.alerts import AlertKind, alert_id
from ledger import clock
from projections.alerts.inputs import DepotInputs, item_categories, read_depot, read_rules
from projections.alerts.scan import Episode, scan_item
from projections.cut import Cut
from projections.history import History

if TYPE_CHECKING:
    from ledger.application import Ledger


class EpisodeView(BaseModel):
    alert_id: str
    kind: AlertKind
    depot: str
    region: str
    item: str | None
    opened_at: str
    closed_at: str | None
    first_known_at: str | None
    detection_delay_hours: float | None


class EpisodeList(BaseModel):
    start: str | None
    end: str
    position: int
    episodes: list[EpisodeView]


def _positions(inputs: DepotInputs, item: str, rules: list[Rule], known: int) -> list[int]:
    found = {r["position"] for r in inputs.rows.get(item, ())}
    for t in inputs.inbound:
        found.add(t.dispatched_position)
        if t.closed_position is not None:
            found.add(t.closed_position)
    found |= {r.position for r in inputs.requests} | {d.position for d in [*inputs.closings, *inputs.allocations]}
    found |= {rule.position for rule in rules}
    return sorted(p for p in found if p <= known)


def _first_known(
    ledger: Ledger,
    history: History,
    inputs: DepotInputs,
    item: str,
    target: Target,
    rules: list[Rule],
    cut: Cut,
    wanted: list[Episode],
) -> dict[tuple[str, datetime], datetime]:
    """For each wanted episode (kind, opened_at), the recorded time of the first position showing it."""
    missing = {(e.kind, e.opened_at) for e in wanted}
    found: dict[tuple[str, datetime], datetime] = {}
    lots = {r["lot"] for r in inputs.rows.get(item, ()) if r["lot"] is not None}
    for position in _positions(inputs, item, rules, cut.known_position):
        if not missing:
            break
        expiries = history.expiries({item: lots}, position).get(item, {}) if lots else {}
        at_then = Cut(cut.as_of, position, None, cut.asked_at)
        shown = {(e.kind, e.opened_at) for e in scan_item(inputs, item, target, rules, at_then, expiries)} & missing
        recorded = history.recorded_at(position)
        for key in shown:
            found[key] = max(recorded, key[1]) if recorded is not None else key[1]
        missing -= shown
    return found


def alert_history(
    ledger: Ledger,
    start: datetime | None,
    end: datetime | None,
    region: str | None = None,
    kind: AlertKind | None = None,
) -> EpisodeList:
    """Every episode that was open at some time in [start, end] (end: now), as known now."""
    history = History(ledger.index_store)
    known, now = ledger.position(), ledger.clock()
    cut = Cut(end or now, known, None, now)
    rules, categories = read_rules(ledger, known), item_categories(ledger)
    views: list[EpisodeView] = []
    for row in ledger.journal.depots(region=region):
        inputs = read_depot(ledger, row["code"], row["region"], known, cut.as_of)
        for item in inputs.items(known):
            lots = {r["lot"] for r in inputs.rows.get(item, ()) if r["lot"] is not None}
            expiries = history.expiries({item: lots}, known).get(item, {}) if lots else {}
            target = Target(inputs.depot, inputs.region, item, categories.get(item))
            episodes = [
                e
                for e in scan_item(inputs, item, target, rules, cut, expiries)
                if (kind is None or e.kind == kind) and (start is None or e.closed_at is None or e.closed_at >= start)
            ]
            first = _first_known(ledger, history, inputs, item, target, rules, cut, episodes)
            for e in episodes:
                seen = first.get((e.kind, e.opened_at))
                views.append(
                    EpisodeView(
                        alert_id=alert_id(e.kind, inputs.depot, item, e.opened_at),
                        kind=e.kind,
                        depot=inputs.depot,
                        region=inputs.region,
                        item=item,
                        opened_at=clock.utc_text(e.opened_at),
                        closed_at=clock.utc_text(e.closed_at) if e.closed_at else None,
                        first_known_at=clock.utc_text(seen) if seen else None,
                        detection_delay_hours=round((seen - e.opened_at).total_seconds() / 3600, 1) if seen else None,
                    )
                )
    views.sort(key=lambda v: (v.opened_at, v.region, v.depot, v.item or "", v.kind))
    return EpisodeList(
        start=clock.utc_text(start) if start else None,
        end=clock.utc_text(cut.business_time),
        position=known,
        episodes=views,
    )
