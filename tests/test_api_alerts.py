"""Alerts (shortage watch) over HTTP, on both backends: each kind opened and closed by a
hand-computed scenario, exact to the unit and the day; rules by scope and in force by time;
cuts with a late report; acknowledgements by role; bad input refused with nothing stored.

The world is tests/api_helpers.py's (A-NORTH and A-CLINIC of org-a in region north, B-SOUTH of
org-b in region south; items FFP2 and GLOVE, both ppe). All times are UTC in March-June 2026.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tests.api_helpers import (
    A_CLINIC,
    A_NORTH,
    B_SOUTH,
    FFP2,
    GLOVE,
    created,
    nothing_stored,
    ok,
    problem,
    production_logging,  # noqa: F401
    seed,
)


def at(day: int, hour: int = 12, month: int = 3, minute: int = 0) -> str:
    return f"2026-{month:02d}-{day:02d}T{hour:02d}:{minute:02d}:00Z"


def alerts(api: Any, **params: Any) -> dict[tuple[str, str, str | None], dict[str, Any]]:
    body = ok(api.get("/v1/alerts", **params))
    return {(a["kind"], a["depot"], a["item"]): a for a in body["alerts"]}


def transfer(api: Any, source: str, destination: str, quantity: int, when: str, item: str = FFP2) -> str:
    body = {"from": source, "to": destination, "lines": [{"item": item, "quantity": quantity}], "occurred_at": when}
    return str(created(api.post("/v1/transfers", body))["transfer_id"])


def stock_story(api: Any) -> dict[str, str]:
    """A-NORTH runs out of FFP2 and is saved by a transfer from B-SOUTH; a second transfer, to
    A-CLINIC, is late; A-CLINIC's critical request waits a day."""
    seed(api)
    created(api.post(f"/v1/depots/{B_SOUTH}/receipts", {"item": FFP2, "quantity": 1000, "occurred_at": at(1, 10)}))
    created(api.post(f"/v1/depots/{A_NORTH}/receipts", {"item": FFP2, "quantity": 100, "occurred_at": at(1)}))
    request = created(
        api.post(
            f"/v1/depots/{A_CLINIC}/requests",
            {"item": FFP2, "quantity": 10, "priority": "critical", "occurred_at": at(1, 8)},
        )
    )["request_id"]
    created(api.post(f"/v1/depots/{A_NORTH}/consumption", {"item": FFP2, "quantity": 70, "period_end": at(2)}))
    north = transfer(api, B_SOUTH, A_NORTH, 40, at(2, 13))
    clinic = transfer(api, B_SOUTH, A_CLINIC, 10, at(2, 13))
    created(api.post(f"/v1/depots/{A_NORTH}/consumption", {"item": FFP2, "quantity": 30, "period_end": at(3)}))
    ok(api.post(f"/v1/transfers/{north}/receipt", {"occurred_at": at(4)}))
    ok(api.post(f"/v1/transfers/{clinic}/receipt", {"occurred_at": at(6, 9)}))
    return {"north": north, "clinic": clinic, "request": request}


def test_low_supply_projected_stockout_and_stockout_open_and_close_by_the_day(api):
    stock_story(api)
    # 2 March 18:00: 100 - 70 = 30 on hand, 70 used in 14 days (5 a day): 6.0 days of supply.
    # Without the transfer it would run out on day 6 (8 March); the 40 dispatched at 13:00 are due
    # two days after dispatch (no transfer on the route has arrived yet), 4 March: 30 + 40 - 5 k
    # is 0 at k = 14, 16 March.
    found = alerts(api, as_of=at(2, 18))
    low = found["low_days_of_supply", A_NORTH, FFP2]
    assert (low["since"], low["severity"], low["figures"]["days_of_supply"]) == (at(2), "warning", 6.0)
    projected = found["projected_stockout", A_NORTH, FFP2]
    assert projected["since"] == at(2)  # opened at the consumption report, 8 March then (critical)
    assert projected["figures"]["projected_stockout_on"] == "2026-03-16"
    assert (projected["figures"]["days"], projected["severity"]) == (14, "warning")
    assert ("stockout", A_NORTH, FFP2) not in found
    # 3 March: 30 more used, nothing on hand: a stockout, and the projection is today (critical).
    found = alerts(api, as_of=at(3, 18))
    assert found["stockout", A_NORTH, FFP2]["since"] == at(3)
    assert found["stockout", A_NORTH, FFP2]["severity"] == "critical"
    projected = found["projected_stockout", A_NORTH, FFP2]
    assert (projected["since"], projected["severity"]) == (at(2), "critical")
    assert projected["figures"]["projected_stockout_on"] == "2026-03-03"
    # 4 March 12:00 the 40 arrive: the stockout closes; 40 at 100/14 a day: 5.6 days, runs out on day 6.
    found = alerts(api, as_of=at(4, 18))
    assert ("stockout", A_NORTH, FFP2) not in found
    assert found["low_days_of_supply", A_NORTH, FFP2]["figures"]["days_of_supply"] == 5.6
    assert found["projected_stockout", A_NORTH, FFP2]["figures"]["projected_stockout_on"] == "2026-03-10"
    # The most severe first.
    severities = [a["severity"] for a in ok(api.get("/v1/alerts", as_of=at(4, 18)))["alerts"]]
    assert severities == sorted(severities, key=["critical", "warning"].index)
    # 16 March 12:00 the 70 reported on 2 March leave the 14-day window, 17 March the 30 do:
    # no consumption, no days of supply, no projection.
    found = alerts(api, as_of=at(17, 13))
    assert ("low_days_of_supply", A_NORTH, FFP2) not in found
    assert ("projected_stockout", A_NORTH, FFP2) not in found


def test_transfer_overdue_request_unanswered_and_silent_depot(api):
    ids = stock_story(api)
    # The transfer to A-CLINIC left at 13:00 on 2 March: 72 h in transit at 13:00 on 5 March.
    assert ("transfer_overdue", A_CLINIC, FFP2) not in alerts(api, as_of=at(5, 12, minute=59))
    overdue = alerts(api, as_of=at(5, 13))["transfer_overdue", A_CLINIC, FFP2]
    assert overdue["since"] == at(5, 13)
    assert [t["transfer_id"] for t in overdue["figures"]["transfers"]] == [ids["clinic"]]
    assert overdue["figures"]["transfers"][0]["quantity"] == 10
    assert ("transfer_overdue", A_CLINIC, FFP2) not in alerts(api, as_of=at(6, 9))  # received at 9:00
    # The critical request of 1 March 8:00 waits 24 h from 2 March 8:00, until the transfer of its
    # item to its depot is dispatched at 13:00.
    assert ("request_unanswered", A_CLINIC, FFP2) not in alerts(api, as_of=at(2, 7, minute=59))
    waiting = alerts(api, as_of=at(2, 8))["request_unanswered", A_CLINIC, FFP2]
    assert (waiting["since"], waiting["severity"]) == (at(2, 8), "critical")
    assert waiting["figures"]["requests"][0]["request_id"] == ids["request"]
    assert ("request_unanswered", A_CLINIC, FFP2) not in alerts(api, as_of=at(2, 13))
    # B-SOUTH holds FFP2 and never reported: silent 3 days after its first entry (1 March 10:00).
    assert ("silent_depot", B_SOUTH, FFP2) not in alerts(api, as_of=at(4, 9, minute=59))
    silent = alerts(api, as_of=at(4, 18))["silent_depot", B_SOUTH, FFP2]
    assert (silent["since"], silent["figures"]["last_report_at"], silent["figures"]["days_silent"]) == (
        at(4, 10),
        None,
        3.3,
    )
    # A-CLINIC holds FFP2 only from its receipt at 9:00 on 6 March, long after its first entry.
    assert alerts(api, as_of=at(6, 10))["silent_depot", A_CLINIC, FFP2]["since"] == at(6, 9)
    # A count closes it: a report.
    created(api.post(f"/v1/depots/{B_SOUTH}/counts", {"item": FFP2, "counted": 950, "occurred_at": at(5)}))
    assert ("silent_depot", B_SOUTH, FFP2) not in alerts(api, as_of=at(5, 18))
    assert alerts(api, as_of=at(8, 12))["silent_depot", B_SOUTH, FFP2]["since"] == at(8, 12)


def test_lots_counts_and_obligations(api):
    seed(api)
    created(
        api.put(f"/v1/depots/{B_SOUTH}/obligations/{GLOVE}", {"min_days": 30, "occurred_at": at(1)}),
        200,
    )
    created(
        api.post(
            f"/v1/depots/{B_SOUTH}/receipts",
            {"item": GLOVE, "quantity": 100, "lot": "L1", "expires_on": "2026-06-10", "occurred_at": at(1)},
        )
    )
    created(api.post(f"/v1/depots/{B_SOUTH}/counts", {"item": GLOVE, "counted": 80, "occurred_at": at(5)}))
    created(api.post(f"/v1/depots/{B_SOUTH}/counts", {"item": GLOVE, "counted": 80, "occurred_at": at(7)}))
    created(api.post(f"/v1/depots/{B_SOUTH}/consumption", {"item": GLOVE, "quantity": 28, "period_end": at(8)}))
    # A count of 80 against a book of 100 differs by 20 %: open until the next count agrees.
    variance = alerts(api, as_of=at(6))["count_variance", B_SOUTH, GLOVE]
    assert (variance["since"], variance["figures"]["variance"]) == (at(5), -20)
    assert ("count_variance", B_SOUTH, GLOVE) not in alerts(api, as_of=at(7))
    # 52 on hand at 2 a day: 26.0 days, short of 30; required 30 x 28 / 14 = 60 units, 8 short.
    breach = alerts(api, as_of=at(9))["obligation_breach", B_SOUTH, GLOVE]
    assert breach["since"] == at(8)
    assert (breach["figures"]["required"], breach["figures"]["shortfall"]) == (60, 8)
    # Lot L1 expires on 10 June: within 90 days from 12 March, expired from 11 June.
    assert ("expiring_lots", B_SOUTH, GLOVE) not in alerts(api, as_of="2026-03-11T23:59:59Z")
    expiring = alerts(api, as_of="2026-03-12T00:00:00Z")["expiring_lots", B_SOUTH, GLOVE]
    assert expiring["since"] == "2026-03-12T00:00:00Z"
    assert expiring["figures"]["lots"] == [{"lot": "L1", "expires_on": "2026-06-10", "quantity": 52}]
    found = alerts(api, as_of="2026-06-11T00:00:00Z")
    assert ("expiring_lots", B_SOUTH, GLOVE) not in found
    expired = found["expired_stock", B_SOUTH, GLOVE]
    assert (expired["since"], expired["figures"]["expired"]) == ("2026-06-11T00:00:00Z", 52)


def test_rules_by_scope_and_in_force_by_time(api):
    stock_story(api)
    rule = {"threshold": 20, "scope": {"category": "ppe"}, "occurred_at": at(1, 0)}
    assert ok(api.put("/v1/alert-rules/low_days_of_supply", rule))["scope"] == {"category": "ppe"}
    ok(
        api.put(
            "/v1/alert-rules/low_days_of_supply",
            {"threshold": 7, "scope": {"region": "north"}, "occurred_at": at(1, 0)},
        )
    )
    ok(
        api.put(
            "/v1/alert-rules/low_days_of_supply",
            {"threshold": 5, "scope": {"depot": A_NORTH}, "occurred_at": at(2, 15)},
        )
    )
    # 14:00: the region's 7 beats the category's 20 (6.0 < 7); 18:00: the depot's 5 is in force (6.0 is not below).
    assert alerts(api, as_of=at(2, 14))["low_days_of_supply", A_NORTH, FFP2]["figures"]["threshold"] == 7
    assert ("low_days_of_supply", A_NORTH, FFP2) not in alerts(api, as_of=at(2, 18))
    # The depot rule's change is itself an instant: the episode closed at 15:00 and reopens when
    # days of supply fall below 5 (5.6 on 4 March is not; 0.0 on 3 March is).
    assert alerts(api, as_of=at(3, 18))["low_days_of_supply", A_NORTH, FFP2]["since"] == at(3)
    rules = ok(api.get("/v1/alert-rules"))
    assert [(r["threshold"], r["scope"]) for r in rules["rules"]] == [
        (20.0, {"category": "ppe"}),
        (7.0, {"region": "north"}),
        (5.0, {"depot": A_NORTH}),
    ]
    assert {d["kind"]: d["threshold"] for d in rules["defaults"]}["silent_depot"] == 3


def test_a_late_report_is_in_the_cut_only_once_recorded(api):
    seed(api)
    created(api.post(f"/v1/depots/{A_NORTH}/receipts", {"item": FFP2, "quantity": 30, "occurred_at": at(1)}))
    created(api.post(f"/v1/depots/{A_NORTH}/consumption", {"item": FFP2, "quantity": 14, "period_end": at(2)}))
    before = api.position()
    created(api.post(f"/v1/depots/{A_NORTH}/consumption", {"item": FFP2, "quantity": 16, "period_end": at(3)}))
    # As known before the (late) report of 3 March: 16 on hand, no stockout; as known after it: since 3 March.
    assert ("stockout", A_NORTH, FFP2) not in alerts(api, as_of=at(4), known_at=f"pos:{before}")
    body = ok(api.get("/v1/alerts", as_of=at(4), known_at=f"pos:{before}"))
    assert (body["position"], body["as_of"]) == (before, at(4))
    assert alerts(api, as_of=at(4))["stockout", A_NORTH, FFP2]["since"] == at(3)


def test_acknowledgements_by_role(api):
    stock_story(api)
    # Now (months later) both depots hold FFP2 without reporting: silent.
    north = alerts(api)["silent_depot", A_NORTH, FFP2]
    south = alerts(api)["silent_depot", B_SOUTH, FFP2]
    with nothing_stored(api):
        problem(api.post(f"/v1/alerts/{south['alert_id']}/acknowledge", {"note": "x"}, role="operator"), 403)
        problem(api.post(f"/v1/alerts/{north['alert_id']}/acknowledge", {"note": "x"}, role="auditor"), 403)
        problem(api.post("/v1/alerts/no-such-alert/acknowledge", {"note": "x"}), 404)
        problem(api.post(f"/v1/alerts/{north['alert_id']}/acknowledge", {"note": 5}), 422)
    answer = created(
        api.post(f"/v1/alerts/{north['alert_id']}/acknowledge", {"note": "count on Monday"}, role="operator")
    )
    assert (answer["alert_id"], answer["depot"]) == (north["alert_id"], A_NORTH)
    assert answer["position"] == api.position() and answer["recorded_at"].endswith("Z")
    seen = alerts(api)["silent_depot", A_NORTH, FFP2]["acknowledged"]
    assert (seen["by"], seen["note"]) == ("test-operator", "count on Monday")
    assert ("silent_depot", A_NORTH, FFP2) not in alerts(api, status="open")
    assert set(alerts(api, status="acknowledged")) == {("silent_depot", A_NORTH, FFP2)}
    with nothing_stored(api):
        problem(api.post(f"/v1/alerts/{north['alert_id']}/acknowledge", {"note": "again"}), 409)
    # The coordinator acknowledges any depot's; the acknowledgement is in the depot's timeline.
    created(api.post(f"/v1/alerts/{south['alert_id']}/acknowledge", {"note": "called them"}))
    entries = ok(api.get(f"/v1/depots/{A_NORTH}/timeline", item=FFP2, order="recorded"))["entries"]
    assert entries[-1]["type"] == "AlertAcknowledged"
    assert entries[-1]["data"]["alert_id"] == north["alert_id"]
    # As of before the acknowledgement it was not acknowledged.
    assert alerts(api, known_at=f"pos:{answer['position'] - 1}")["silent_depot", A_NORTH, FFP2]["acknowledged"] is None


@pytest.mark.parametrize(
    ("path", "body", "where"),
    [
        ("/v1/alert-rules/no_such_kind", {"threshold": 3}, "path.kind"),
        ("/v1/alert-rules/low_days_of_supply", {"threshold": -1}, "body.threshold"),
        ("/v1/alert-rules/low_days_of_supply", {"threshold": "3"}, "body.threshold"),
        ("/v1/alert-rules/low_days_of_supply", {"threshold": 3, "scope": {"depot": "NOWHERE"}}, "body.scope.depot"),
        ("/v1/alert-rules/low_days_of_supply", {"threshold": 3, "scope": {"region": "east"}}, "body.scope.region"),
        ("/v1/alert-rules/low_days_of_supply", {"threshold": 3, "scope": {"item": "NOTHING"}}, "body.scope.item"),
        ("/v1/alert-rules/low_days_of_supply", {"threshold": 3, "scope": {"category": "food"}}, "body.scope.category"),
        ("/v1/alert-rules/stockout", {"threshold": 3}, "path.kind"),
    ],
)
def test_bad_rules_are_refused_and_nothing_is_stored(api, path, body, where):
    seed(api)
    with nothing_stored(api):
        refused = problem(api.put(path, body), 422)
    assert where in {".".join(str(p) for p in e["loc"]) for e in refused["errors"]}


def test_only_coordinators_set_rules_and_bad_view_parameters_are_problems(api):
    seed(api)
    with nothing_stored(api):
        problem(api.put("/v1/alert-rules/low_days_of_supply", {"threshold": 3}, role="operator"), 403)
    problem(api.get("/v1/alerts", kind="nonsense"), 422)
    problem(api.get("/v1/alerts", status="closed"), 422)
    problem(api.get("/v1/alerts", as_of="yesterday"), 422)
    problem(api.get("/v1/alerts", depot="NOWHERE"), 404)


def test_history_says_when_each_episode_was_first_known(api):
    seed(api)
    created(api.post(f"/v1/depots/{A_NORTH}/receipts", {"item": FFP2, "quantity": 30, "occurred_at": at(1)}))
    created(api.post(f"/v1/depots/{A_NORTH}/consumption", {"item": FFP2, "quantity": 14, "period_end": at(2)}))
    created(api.post(f"/v1/depots/{A_NORTH}/consumption", {"item": FFP2, "quantity": 16, "period_end": at(3)}))
    created(api.post(f"/v1/depots/{A_NORTH}/receipts", {"item": FFP2, "quantity": 100, "occurred_at": at(4)}))
    body = ok(api.get("/v1/alerts/history", **{"from": "2026-03-01", "to": "2026-03-05", "kind": "stockout"}))
    [episode] = body["episodes"]
    assert (episode["depot"], episode["item"], episode["opened_at"], episode["closed_at"]) == (
        A_NORTH,
        FFP2,
        at(3),
        at(4),
    )
    # Everything was recorded now (in December), long after it happened: the delay is that long.
    recorded = ok(api.get(f"/v1/depots/{A_NORTH}/timeline", item=FFP2))["entries"][2]["recorded_at"]
    assert episode["first_known_at"] == recorded
    delay = datetime.fromisoformat(recorded.replace("Z", "+00:00")) - datetime(2026, 3, 3, 12, tzinfo=UTC)
    assert episode["detection_delay_hours"] == round(delay.total_seconds() / 3600, 1)
    assert episode["alert_id"] == alerts(api, as_of=at(3, 18))["stockout", A_NORTH, FFP2]["alert_id"]
    assert ok(api.get("/v1/alerts/history", region="south"))["episodes"] == []
    problem(api.get("/v1/alerts/history", **{"from": "2026-03-05", "to": "2026-03-01"}), 422)
