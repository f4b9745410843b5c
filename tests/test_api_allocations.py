"""Allocation decisions over HTTP, on SQLite and PostgreSQL: recommendation to the unit,
decision (taken, overridden with a rationale, dispatched in the same call), the reservation
at the source, transfers drawn against an allocation, revocation, and the auditor's replay.

The world and its hand-computed figures are in tests/allocation_world.py.
"""

from __future__ import annotations

from typing import Any

import pytest
from allocation_world import EAST, EQUAL_DAYS, FFP2, GLOVE, NAT, REGIONS, SOUTH, WEST, receipt, request, world
from api_helpers import (
    ago,
    created,
    dispatch,
    error_locations,
    feed,
    nothing_stored,
    ok,
    problem,
    production_logging,  # noqa: F401 - an autouse fixture
    stock,
)


def lines(body: dict[str, Any], key: str = "lines") -> dict[str, int]:
    return {line["to"]: line["quantity"] for line in body[key]}


def decide(api: Any, **fields: Any) -> dict[str, Any]:
    return created(api.post("/v1/allocations", request(**fields)))


def reserved(api: Any, depot: str = NAT, item: str = FFP2) -> tuple[int, int, int]:
    line = stock(api, depot, item)
    return line["on_hand"], line["reserved"], line["available"]


# --- recommendations ---------------------------------------------------------------------


def test_equal_days_of_supply_recommends_to_the_unit_with_days_before_and_after(api):
    world(api)
    with nothing_stored(api):
        body = ok(api.post("/v1/allocations/recommend", request()))
    assert lines(body) == EQUAL_DAYS
    assert [line["to"] for line in body["lines"]] == REGIONS  # by recipient code
    assert (body["from"], body["item"], body["quantity"], body["policy"]) == (NAT, FFP2, 3_000, "equal_days_of_supply")
    assert body["basis_position"] == api.position()
    assert body["available"] == 10_000 and body["warnings"] == []
    figures = {
        i["depot"]: (
            i["on_hand"],
            i["consumed_14d"],
            i["avg_daily_consumption"],
            i["days_of_supply"],
            i["days_of_supply_after"],
        )
        for i in body["inputs"]
    }
    assert figures == {
        EAST: (200, 1_400, 100.0, 2.0, 24.7),  # (200 + 2271) / 100 = 24.71
        WEST: (1_000, 700, 50.0, 20.0, 24.7),  # (1000 + 235) / 50 = 24.70
        SOUTH: (0, 280, 20.0, 0.0, 24.7),  # 494 / 20 = 24.70
    }


def test_proportional_to_consumption_recommends_to_the_unit(api):
    # 3000 · (100, 50, 20) / 170 = 1764.71, 882.35, 352.94 -> 1764, 882, 352 and the two units
    # left to the largest fractions: R-SOUTH (.94) then R-EAST (.71)
    world(api)
    body = ok(api.post("/v1/allocations/recommend", request(policy="proportional_to_consumption")))
    assert lines(body) == {EAST: 1765, SOUTH: 353, WEST: 882}


def test_proportional_to_population_recommends_to_the_unit(api):
    # 1000 · (3, 2, 1) / 6 = 500, 333.33, 166.67 -> 500, 333, 166 and one unit to R-SOUTH (.67)
    world(api)
    body = ok(api.post("/v1/allocations/recommend", request(1_000, policy="proportional_to_population")))
    assert lines(body) == {EAST: 500, SOUTH: 167, WEST: 333}


def test_a_recommendation_beyond_what_the_source_has_warns_and_names_the_available_stock(api):
    world(api)
    body = ok(api.post("/v1/allocations/recommend", request(12_000)))
    assert body["available"] == 10_000
    assert body["warnings"] == ["NAT has only 10000 FFP2 available: an allocation of 12000 would be refused"]
    assert sum(lines(body).values()) == 12_000


def test_a_recommendation_reads_the_inputs_at_the_decisions_business_time(api):
    world(api)
    # five days ago nothing had been received or consumed anywhere: no one consumes, so equal split
    body = ok(api.post("/v1/allocations/recommend", request(3_000, occurred_at=ago(days=5))))
    assert lines(body) == {EAST: 1_000, SOUTH: 1_000, WEST: 1_000}
    assert {i["depot"]: i["on_hand"] for i in body["inputs"]} == {EAST: 0, WEST: 0, SOUTH: 0}


# --- decisions and the reservation -------------------------------------------------------


def test_taking_the_recommendation_reserves_the_quantity_at_the_source(api):
    world(api)
    body = decide(api)
    assert body["allocation_id"].startswith("A-")
    assert lines(body) == lines(body, "recommended_lines") == EQUAL_DAYS
    assert body["departed"] is False and body["rationale"] is None and body["transfers"] is None
    assert body["basis_position"] == body["position"] - 1
    assert reserved(api) == (10_000, 3_000, 7_000)
    view = ok(api.get(f"/v1/allocations/{body['allocation_id']}"))
    assert (view["status"], view["reserved"], view["from"], view["actor"]) == ("open", 3_000, NAT, "test-coordinator")
    assert {line["to"]: (line["quantity"], line["dispatched"], line["remaining"]) for line in view["lines"]} == {
        EAST: (2271, 0, 2271),
        SOUTH: (494, 0, 494),
        WEST: (235, 0, 235),
    }
    assert [i["on_hand"] for i in view["inputs"]] == [1_000, 200, 0]  # as stored, in the recipients' order
    [listed] = ok(api.get("/v1/allocations", item=FFP2, status="open"))["allocations"]
    assert listed["allocation_id"] == body["allocation_id"]
    assert ok(api.get("/v1/allocations", item=GLOVE))["allocations"] == []


def test_overriding_the_recommendation_needs_a_rationale(api):
    world(api)
    chosen = [{"to": EAST, "quantity": 2_000}, {"to": SOUTH, "quantity": 1_000}]
    with nothing_stored(api):
        body = problem(api.post("/v1/allocations", request(lines=chosen)), 422)
    assert "rationale" in body["detail"]
    assert "body.rationale" in error_locations(body)
    assert {line["to"]: line["quantity"] for line in body["recommended_lines"]} == EQUAL_DAYS
    decided = decide(api, lines=chosen, rationale="R-SOUTH opens a field hospital on Monday")
    assert decided["departed"] is True
    assert lines(decided) == {EAST: 2_000, SOUTH: 1_000, WEST: 0}
    assert lines(decided, "recommended_lines") == EQUAL_DAYS
    assert decided["rationale"] == "R-SOUTH opens a field hospital on Monday"
    assert reserved(api) == (10_000, 3_000, 7_000)


def test_a_second_allocation_cannot_take_what_the_first_reserved(api):
    world(api)
    decide(api, quantity=8_000)
    with nothing_stored(api):
        body = problem(api.post("/v1/allocations", request(2_001)), 409)
    assert (body["available"], body["requested"]) == (2_000, 2_001)
    decide(api, quantity=2_000)
    assert reserved(api) == (10_000, 10_000, 0)
    with nothing_stored(api):
        assert problem(
            api.post("/v1/transfers", {"from": NAT, "to": EAST, "lines": [{"item": FFP2, "quantity": 1}]}), 409
        )


def test_deciding_with_dispatch_sends_every_line_in_the_same_transaction(api):
    world(api)
    before = api.position()
    body = decide(api, dispatch=True)
    assert {t["to"]: (t["quantity"], t["status"]) for t in body["transfers"]} == {
        EAST: (2271, "in_transit"),
        SOUTH: (494, "in_transit"),
        WEST: (235, "in_transit"),
    }
    stored = feed(api, after=before)
    assert {e["position"] for e in stored} == set(range(before + 1, api.position() + 1))
    assert (
        sorted(e["type"] for e in stored)
        == ["AllocationDecided"] + ["TransferDispatched"] * 3 + ["TransferExpected"] * 3
    )
    assert reserved(api) == (7_000, 0, 7_000)
    assert stock(api, NAT)["in_transit_out"] == 3_000
    assert stock(api, EAST)["in_transit_in"] == 2271
    view = ok(api.get(f"/v1/allocations/{body['allocation_id']}"))
    assert (view["status"], view["reserved"]) == ("dispatched", 0)
    assert {t["transfer_id"] for t in view["transfers"]} == {t["transfer_id"] for t in body["transfers"]}
    transfer = ok(api.get(f"/v1/transfers/{body['transfers'][0]['transfer_id']}"))
    assert transfer["allocation_id"] == body["allocation_id"]


def test_a_dispatch_with_zero_lines_skips_them(api):
    world(api)
    body = decide(api, dispatch=True, lines=[{"to": EAST, "quantity": 3_000}], rationale="East first")
    assert [t["to"] for t in body["transfers"]] == [EAST]


def test_a_dispatch_decision_the_source_cannot_cover_stores_nothing(api):
    world(api)
    with nothing_stored(api):
        problem(api.post("/v1/allocations", request(10_001, dispatch=True)), 409)


# --- transfers against an allocation -----------------------------------------------------


def test_transfers_draw_on_the_recipients_line_and_are_refused_beyond_it(api):
    world(api)
    allocation = decide(api)["allocation_id"]
    created(dispatch(api, NAT, EAST, 2_000, allocation_id=allocation))
    assert reserved(api) == (8_000, 1_000, 7_000)
    with nothing_stored(api):
        body = problem(dispatch(api, NAT, EAST, 272, allocation_id=allocation), 409)
    assert (body["remaining"], body["requested"], body["destination"]) == (271, 272, EAST)
    created(dispatch(api, NAT, EAST, 271, allocation_id=allocation))
    view = ok(api.get(f"/v1/allocations/{allocation}"))
    assert {line["to"]: (line["dispatched"], line["in_transit"], line["remaining"]) for line in view["lines"]} == {
        EAST: (2271, 2271, 0),
        SOUTH: (0, 0, 494),
        WEST: (0, 0, 235),
    }
    assert (view["status"], view["reserved"]) == ("open", 729)


def test_a_transfer_naming_a_wrong_allocation_is_refused_and_stores_nothing(api):
    world(api)
    allocation = decide(api)["allocation_id"]
    created(
        api.post(
            "/v1/depots", {"code": "OTHER", "name": "Other", "region": "x", "organisation": "state", "kind": "regional"}
        )
    )
    receipt(api, "OTHER", 100)
    receipt(api, "OTHER", 100, item=GLOVE)
    with nothing_stored(api):
        problem(dispatch(api, NAT, EAST, 10, allocation_id="A-000000000000"), 404)
        problem(dispatch(api, "OTHER", EAST, 10, allocation_id=allocation), 422)  # not this source's allocation
        problem(dispatch(api, NAT, EAST, 10, item=GLOVE, allocation_id=allocation), 422)  # not the allocated item
        problem(dispatch(api, NAT, "OTHER", 1, allocation_id=allocation), 409)  # no line for that depot
        problem(dispatch(api, NAT, EAST, 10, allocation_id=allocation, occurred_at=ago(hours=1)), 422)  # before it


def test_revoking_releases_what_is_still_reserved_and_closes_the_allocation(api):
    world(api)
    allocation = decide(api)["allocation_id"]
    created(dispatch(api, NAT, SOUTH, 494, allocation_id=allocation))
    body = ok(api.post(f"/v1/allocations/{allocation}/revoke", {"reason": "regions re-prioritised"}))
    assert (body["status"], body["item"], body["released"]) == ("revoked", FFP2, 2_506)
    assert reserved(api) == (9_506, 0, 9_506)
    view = ok(api.get(f"/v1/allocations/{allocation}"))
    assert (view["status"], view["reserved"], view["released"], view["revoke_reason"]) == (
        "revoked",
        0,
        2_506,
        "regions re-prioritised",
    )
    with nothing_stored(api):
        assert problem(api.post(f"/v1/allocations/{allocation}/revoke", {"reason": "again"}), 409)
        problem(dispatch(api, NAT, EAST, 1, allocation_id=allocation), 409)
        problem(api.post("/v1/allocations/A-000000000000/revoke", {"reason": "none"}), 404)


def test_cancelling_a_transfer_against_an_open_allocation_reserves_its_stock_again(api):
    world(api)
    allocation = decide(api)["allocation_id"]
    transfer = created(dispatch(api, NAT, WEST, 235, allocation_id=allocation))["transfer_id"]
    assert reserved(api) == (9_765, 2_765, 7_000)
    ok(api.post(f"/v1/transfers/{transfer}/cancel", {"reason": "truck broke down"}))
    assert reserved(api) == (10_000, 3_000, 7_000)
    view = ok(api.get(f"/v1/allocations/{allocation}"))
    assert {line["to"]: line["remaining"] for line in view["lines"]}[WEST] == 235


def test_a_replayed_idempotency_key_returns_the_same_decision_and_stores_it_once(api):
    world(api)
    headers = {"Idempotency-Key": "decision-2026-12-01-ffp2"}
    first = api.post("/v1/allocations", request(dispatch=True), **headers)
    position = api.position()
    again = api.post("/v1/allocations", request(dispatch=True), **headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert api.position() == position
    assert len(ok(api.get("/v1/allocations"))["allocations"]) == 1


# --- who may decide ----------------------------------------------------------------------


def test_only_coordinators_decide_and_anyone_signed_in_reads(api):
    world(api)
    allocation = decide(api)["allocation_id"]
    with nothing_stored(api):
        for role in ("operator", "auditor"):
            problem(api.post("/v1/allocations/recommend", request(), role=role), 403)
            problem(api.post("/v1/allocations", request(), role=role), 403)
            problem(api.post(f"/v1/allocations/{allocation}/revoke", {"reason": "x"}, role=role), 403)
        problem(api.client.post("/v1/allocations", json=request()), 401)
        problem(api.client.get(f"/v1/allocations/{allocation}/replay"), 401)
    for role in ("auditor", "operator", "coordinator", "admin"):
        ok(api.get(f"/v1/allocations/{allocation}/replay", role=role))


# --- bad input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "status", "where"),
    [
        ({"quantity": -5}, 422, "body.quantity"),
        ({"quantity": 10**19}, 422, "body.quantity"),
        ({"quantity": "3000"}, 422, "body.quantity"),
        ({"quantity": 0}, 422, "body.quantity"),
        ({"policy": "first_come"}, 422, "body.policy"),
        ({"recipients": []}, 422, "body.recipients"),
        ({"recipients": [EAST, EAST]}, 422, "body"),
        ({"recipients": [EAST, NAT]}, 422, "body"),
        ({"occurred_at": ago(days=-2)}, 422, "body.occurred_at"),
        ({"dispatch": "yes"}, 422, "body.dispatch"),
        ({"basis_position": 0}, 422, "body.basis_position"),
        ({"basis_position": 10**9}, 422, "body.basis_position"),
        ({"lines": [{"to": EAST, "quantity": 2_999}], "rationale": "x"}, 422, "body"),
        ({"lines": [{"to": "NOWHERE", "quantity": 3_000}], "rationale": "x"}, 422, "body"),
        (
            {"lines": [{"to": EAST, "quantity": -1}, {"to": WEST, "quantity": 3_001}], "rationale": "x"},
            422,
            "body.lines.0.quantity",
        ),
        ({"surprise": 1}, 422, "body.surprise"),
    ],
)
def test_a_bad_decision_is_a_problem_and_stores_nothing(api, change, status, where):
    world(api)
    with nothing_stored(api):
        body = problem(api.post("/v1/allocations", {**request(), **change}), status)
    assert any(location == where or location.startswith(where + ".") for location in error_locations(body)), body


@pytest.mark.parametrize(
    ("field", "value"), [("from", "NOWHERE"), ("item", "NOTHING"), ("recipients", [EAST, "NOWHERE"])]
)
def test_unknown_depots_and_items_are_404_and_store_nothing(api, field, value):
    world(api)
    with nothing_stored(api):
        problem(api.post("/v1/allocations", {**request(), field: value}), 404)
        problem(api.post("/v1/allocations/recommend", {**request(), field: value}), 404)


def test_an_unknown_allocation_is_404(api):
    world(api)
    for path in ("", "/replay", "/replay.html"):
        problem(api.get(f"/v1/allocations/A-000000000000{path}"), 404)


# --- the auditor's replay ----------------------------------------------------------------


def test_a_decision_replays_exactly_from_its_basis(api):
    world(api)
    allocation = decide(
        api, lines=[{"to": EAST, "quantity": 2_000}, {"to": SOUTH, "quantity": 1_000}], rationale="field hospital"
    )["allocation_id"]
    replay = ok(api.get(f"/v1/allocations/{allocation}/replay"))
    then = replay["known_then"]
    assert (then["reproduced"], then["inputs_reproduced"]) == (True, True)
    assert lines(then, "recommendation") == EQUAL_DAYS
    assert lines(replay["hindsight"], "recommendation") == EQUAL_DAYS
    assert replay["late_information"] == []
    assert {d["to"]: (d["recommended"], d["chosen"], d["chosen_minus_recommended"]) for d in replay["differences"]} == {
        EAST: (2271, 2_000, -271),
        SOUTH: (494, 1_000, 506),
        WEST: (235, 0, -235),
    }
    assert "field hospital" in " ".join(replay["findings"])


def test_a_late_report_dated_before_the_decision_changes_the_hindsight_but_not_what_was_known(api):
    """R-SOUTH reports 420 FFP2 consumed three days ago, after the decision (72 h late).

    At the decision's time R-SOUTH then had -420 on hand and 700 consumed in 14 days (50 a
    day). With everything known now: tanks R-SOUTH (-420, 50) at -8.4 days, R-EAST (200, 100)
    at 2, R-WEST (1000, 50) at 20; R-SOUTH and R-EAST would reach (3000 - 420 + 200)/150 =
    18.5 < 20, so L = 18.53 days with R-WEST left out:
    R-EAST 100·L - 200 = 1653.33, R-SOUTH 50·L + 420 = 1346.67 -> 1653 + 1346 and the unit
    left to R-SOUTH (.67): 1653, 1347, 0."""
    world(api)
    allocation = decide(api)["allocation_id"]
    late = created(
        api.post(f"/v1/depots/{SOUTH}/consumption", {"item": FFP2, "quantity": 420, "occurred_at": ago(days=3)})
    )
    replay = ok(api.get(f"/v1/allocations/{allocation}/replay"))
    assert replay["known_then"]["reproduced"] is True
    assert lines(replay["known_then"], "recommendation") == EQUAL_DAYS
    assert lines(replay["hindsight"], "recommendation") == {EAST: 1653, SOUTH: 1347, WEST: 0}
    assert {i["depot"]: (i["on_hand"], i["consumed_14d"]) for i in replay["hindsight"]["inputs"]}[SOUTH] == (-420, 700)
    [entry] = replay["late_information"]
    assert (entry["position"], entry["depot"], entry["type"], entry["delta"]) == (
        late["position"],
        SOUTH,
        "ConsumptionReported",
        -420,
    )
    assert entry["late"] is True and entry["recorded_after_decision"] is True and entry["delay_hours"] >= 72
    assert {d["to"]: d["hindsight_minus_recommended"] for d in replay["differences"]} == {
        EAST: -618,
        SOUTH: 853,
        WEST: -235,
    }
    report = ok(api.get("/v1/late", since=ago(hours=1)))
    [listed] = [e for e in report["events"] if e["position"] == late["position"]]
    assert listed["changed_allocations"] == [allocation] and listed["items"] == [FFP2]


def test_a_report_recorded_on_time_is_not_late_information(api):
    world(api)
    allocation = decide(api)["allocation_id"]
    created(
        api.post(f"/v1/depots/{SOUTH}/consumption", {"item": FFP2, "quantity": 20})
    )  # dated now, after the decision
    replay = ok(api.get(f"/v1/allocations/{allocation}/replay"))
    assert replay["late_information"] == []
    assert lines(replay["hindsight"], "recommendation") == EQUAL_DAYS
    assert ok(api.get("/v1/late", since=ago(hours=1)))["events"] == []


def test_the_replay_page_is_readable_without_any_tool(api):
    world(api)
    allocation = decide(api, lines=[{"to": EAST, "quantity": 3_000}], rationale="East <first> & only")["allocation_id"]
    created(api.post(f"/v1/depots/{SOUTH}/consumption", {"item": FFP2, "quantity": 420, "occurred_at": ago(days=3)}))
    response = api.get(f"/v1/allocations/{allocation}/replay.html")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    page = response.text
    assert allocation in page and "Known then" in page and "Known now" in page
    assert "East &lt;first&gt; &amp; only" in page  # escaped, not markup
    assert "<svg" in page and "<script" not in page and "http://" not in page.replace("http://www.w3.org", "")
    for figure in ("2,271", "1,653", "1,347"):
        assert figure.replace(",", "\u202f") in page or figure in page
