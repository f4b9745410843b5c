"""The alerts open at a cut: for each depot and item, the episodes of the scan still open at the
cut's business time, as known at its position, with their acknowledgements.

`alerts_at` is the on-demand view's; `alerts_for` is the same for a few depots "now, with
everything recorded", what a projection worker calls for the depots a batch touched. Each
depot costs a handful of queries (`projections.alerts.inputs`), whatever the other depots hold,
so evaluating one depot equals the national evaluation filtered to it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from domain.alert_rules import Rule, Target
from domain.alerts import Alert
from projections.alerts.inputs import DepotInputs, item_categories, read_depot, read_rules
from projections.alerts.scan import Episode, scan_item
from projections.cut import Cut
from projections.history import History
from projections.obligations import ObligationTimeline, obligation_timeline

if TYPE_CHECKING:
    from ledger.application import Ledger

DepotRef = tuple[str, str]
"""A depot's code and region."""


def depot_episodes(
    ledger: Ledger, inputs: DepotInputs, rules: Sequence[Rule], categories: dict[str, str], cut: Cut
) -> dict[str, list[Episode]]:
    """Every episode of each item at the depot up to the cut, by item."""
    known = cut.known_position
    items = inputs.items(known)
    lots = {item: {r["lot"] for r in inputs.rows.get(item, ()) if r["lot"] is not None} for item in items}
    expiries = History(ledger.index_store).expiries({i: named for i, named in lots.items() if named}, known)
    return {
        item: scan_item(
            inputs,
            item,
            Target(inputs.depot, inputs.region, item, categories.get(item)),
            rules,
            cut,
            expiries.get(item, {}),
            _obligations(ledger, inputs, item, cut),
        )
        for item in items
    }


def _obligations(ledger: Ledger, inputs: DepotInputs, item: str, cut: Cut) -> ObligationTimeline:
    """The book's obligations (every basis) and the yearly consumption they read, from its first row."""
    rows = inputs.rows.get(item, ())
    since = rows[0]["occurred_at"] if rows else cut.business_time
    return obligation_timeline(ledger.index_store, inputs.depot, item, cut, since)


def open_alerts(inputs: DepotInputs, episodes: dict[str, list[Episode]], cut: Cut) -> list[Alert]:
    """The episodes open at the cut as alerts, each with its first acknowledgement in the cut."""
    acknowledged: dict[str, dict[str, object]] = {}
    for ack in sorted(inputs.acknowledgements, key=lambda a: a.position, reverse=True):
        if ack.position <= cut.known_position and ack.at <= cut.business_time:
            acknowledged[ack.alert_id] = {"by": ack.by, "at": ack.at, "note": ack.note}
    alerts = []
    for item, found in episodes.items():
        for episode in found:
            if episode.closed_at is not None:
                continue
            alert = Alert(
                kind=episode.kind,
                severity=episode.finding.severity,
                depot=inputs.depot,
                region=inputs.region,
                item=item,
                since=episode.opened_at,
                message=episode.finding.message,
                figures=episode.finding.figures,
            )
            seen = acknowledged.get(alert.alert_id)
            alerts.append(alert if seen is None else replace(alert, acknowledged=seen))
    return alerts


def alerts_at(ledger: Ledger, depots: Iterable[DepotRef], cut: Cut, rules: Sequence[Rule] | None = None) -> list[Alert]:
    """The alerts open at the cut for these depots (code, region), most severe first. `rules`:
    the rules recorded up to the cut's position (read here when not given)."""
    rules = read_rules(ledger, cut.known_position) if rules is None else rules
    categories = item_categories(ledger)
    end = cut.as_of  # None: every row, as the stock views fold "now"
    alerts: list[Alert] = []
    for code, region in depots:
        inputs = read_depot(ledger, code, region, cut.known_position, end)
        alerts.extend(open_alerts(inputs, depot_episodes(ledger, inputs, rules, categories, cut), cut))
    return sorted(alerts, key=Alert.order)


def alerts_for(ledger: Ledger, depot_codes: Iterable[str], now: datetime | None = None) -> list[Alert]:
    """The alerts open now (or at business time `now`), with everything recorded, at these depots."""
    wanted = set(depot_codes)
    depots = [(row["code"], row["region"]) for row in ledger.journal.depots() if row["code"] in wanted]
    cut = Cut(now, ledger.position(), None, now or ledger.clock())  # a given `now` is also the business cut
    return alerts_at(ledger, depots, cut)
