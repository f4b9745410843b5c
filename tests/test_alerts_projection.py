"""The alerts the projection keeps current equal the on-demand evaluation at the same time (on
SQLite and PostgreSQL), whatever the batches the events were projected in; and GET /v1/alerts
without a cut answers from the projection, with acknowledgements."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import datetime, timedelta
from functools import partial

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.settings import Database
from projections.alert_watch import AlertWatch
from projections.alerts.evaluate import alerts_at
from projections.alerts.view import AlertViews
from projections.cut import Cut
from projections.runner import Projector, evaluate_alerts, open_view
from tests.api_helpers import A_NORTH, FFP2, created, ok, seed
from tests.test_alerts_property import T0, _play, actions


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(drawn=actions, batch=st.integers(1, 7), day=st.integers(1, 30), split=st.integers(0, 14))
def test_the_projection_keeps_what_the_on_demand_evaluation_gives(ledger, database_url, drawn, batch, day, split):  # type: ignore[no-untyped-def]
    """Events projected in batches of `batch`, part of them (`split`) before the rest are recorded:
    the kept alerts are then exactly those the on-demand view evaluates at the same time."""
    now = T0 + timedelta(days=day)
    view = open_view(Database(database_url), ledger)
    try:
        view.alerts = AlertWatch(view, partial(evaluate_alerts, ledger), lambda: now)
        projector = Projector(ledger, view, batch=batch)
        prefix = uuid.uuid4().hex[:8].upper()
        depots = _play(ledger, prefix, drawn[:split])
        projector.catch_up()
        _play_more(ledger, prefix, drawn[split:])
        projector.catch_up()
        codes = {code for code, _ in depots}
        kept = [alert for alert in view.alerts.current() if alert.depot in codes]
        assert kept == alerts_at(ledger, depots, Cut(now, ledger.position(), None, now))
        every = view.alerts.current()  # the dashboard's summary: counted from columns, listed in order
        counts, first = view.alerts.summary(first=3)
        assert counts == Counter((a.region, a.depot, a.item, a.severity) for a in every)
        assert first == every[:3]
    finally:
        view.datastore.close()  # type: ignore[attr-defined]


def _play_more(ledger, prefix: str, drawn: list[tuple[str, int, int, int, int]]) -> None:  # type: ignore[no-untyped-def]
    """The rest of the actions on the depots `_play` registered (registering them again is refused)."""
    from domain import commands as c
    from tests.test_alerts_property import CTX

    item = f"{prefix}-I"
    for action, depot, _other, quantity, hours in drawn:
        code, when = f"{prefix}-{depot}", T0 + timedelta(hours=hours)
        if action == "consumption":
            ledger.report_consumption(code, c.ReportConsumption(item=item, quantity=quantity, period_end=when), CTX)
        elif action == "count":
            ledger.count_stock(code, c.CountStock(item=item, counted=quantity, occurred_at=when), CTX)
        else:
            ledger.record_receipt(code, c.RecordReceipt(item=item, quantity=quantity, occurred_at=when), CTX)


def test_current_alerts_come_from_the_projection_with_their_acknowledgement(api) -> None:  # type: ignore[no-untyped-def]
    seed(api)
    when = datetime.now().astimezone() - timedelta(days=1)
    created(api.post(f"/v1/depots/{A_NORTH}/receipts", {"item": FFP2, "quantity": 10, "occurred_at": when.isoformat()}))
    created(
        api.post(
            f"/v1/depots/{A_NORTH}/consumption",
            {"item": FFP2, "quantity": 10, "period_end": (when + timedelta(hours=1)).isoformat()},
        )
    )
    current = ok(api.get("/v1/alerts", depot=A_NORTH))
    assert current["source"] == "view"
    stockout = next(a for a in current["alerts"] if a["kind"] == "stockout")
    assert stockout["figures"]["on_hand"] == 0 and stockout["severity"] == "critical"
    created(api.post(f"/v1/alerts/{stockout['alert_id']}/acknowledge", {"note": "FFP2 ordered from the region"}))
    again = ok(api.get("/v1/alerts", depot=A_NORTH, status="acknowledged"))
    assert again["source"] == "view"
    assert [(a["alert_id"], a["acknowledged"]["note"]) for a in again["alerts"]] == [
        (stockout["alert_id"], "FFP2 ordered from the region")
    ]
    as_of = ok(api.get("/v1/alerts", depot=A_NORTH, as_of=datetime.now().astimezone().isoformat()))
    assert as_of["source"] == "fold"
    assert {a["alert_id"] for a in as_of["alerts"]} == {a["alert_id"] for a in current["alerts"]}
    views = AlertViews(api.stores.ledger, api.stores.views.projector)
    kept, folded = views.summary(first=1), views.summary(as_of=datetime.now().astimezone().isoformat(), first=1)
    assert kept.counts == folded.counts and kept.total == folded.total == len(current["alerts"])
    assert sum(kept.counts[(r, d, i, "critical")] for r, d, i, _ in kept.counts) >= 1
    assert [a.alert_id for a in kept.first] == [a.alert_id for a in folded.first] == [current["alerts"][0]["alert_id"]]


def test_a_depot_a_batch_touches_while_it_is_evaluated_is_settled_again(ledger, database_url) -> None:  # type: ignore[no-untyped-def]
    """An evaluation that did not see every batch of its depot is not stored: the depot stays
    marked, and the next settle stores an evaluation that saw them all."""
    from domain import commands as c
    from domain.alerts import Alert
    from tests.test_alerts_property import CTX

    view = open_view(Database(database_url), ledger)
    try:
        projector = Projector(ledger, view)
        ledger.define_item(c.DefineItem(code="I", name="item", unit="piece", category="ppe"), CTX)
        ledger.register_depot(c.RegisterDepot(code="D", name="D", region="R", organisation="o", kind="regional"), CTX)
        calls: list[list[str]] = []

        def evaluate(depots: frozenset[str], now: datetime) -> list[Alert]:
            calls.append(sorted(depots))
            if len(calls) == 1:  # a receipt is recorded and projected while this runs
                ledger.record_receipt("D", c.RecordReceipt(item="I", quantity=5, occurred_at=T0), CTX)
                projector.step()
            return [Alert("stockout", "critical", "D", "R", "I", T0, f"evaluation {len(calls)}")]

        view.alerts = AlertWatch(view, evaluate, lambda: T0 + timedelta(days=1))
        projector.catch_up()  # projects the registration, then settles: the receipt lands meanwhile
        assert calls == [["D"]] and view.alerts.current() == []
        assert [row["depot"] for row in view.query("SELECT depot FROM {t}alert_dirty")] == ["D"]
        view.alerts.settle()
        assert [alert.message for alert in view.alerts.current()] == ["evaluation 2"]
        assert view.query("SELECT depot FROM {t}alert_dirty") == []
    finally:
        view.datastore.close()  # type: ignore[attr-defined]
