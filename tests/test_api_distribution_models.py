"""Distribution models over HTTP, on SQLite and PostgreSQL: versions, roles, refusals that store
nothing, the issue's example to the unit under versions 1 and 2, critical requests first, the
reserve left available at the source, and the replay under the version a decision used.

The world and its hand-computed figures are in tests/model_world.py."""

from __future__ import annotations

from typing import Any

from api_helpers import ago, created, dispatch, error_locations, nothing_stored, ok, problem, stock
from model_world import (
    FFP2,
    H_NORTH,
    M_ALBY,
    M_BRO,
    MODEL,
    NAT,
    RECIPIENTS,
    SECTOR,
    V1_LINES,
    V2_LINES,
    ask,
    define,
    lines,
    rules,
    world,
)

PATH = f"/v1/distribution-models/{MODEL}"


def test_versions_are_stored_listed_and_read_back(api: Any) -> None:
    world(api)
    first = define(api)
    assert first["name"] == MODEL and first["version"] == 1
    assert first["position"] == api.position() and first["recorded_at"].endswith("Z")
    with nothing_stored(api):  # the rules already current: nothing new, the same version
        again = define(api)
    assert (again["version"], again["position"]) == (1, first["position"])
    second = define(api, specialist="0.6", primary="0.3", note="the crisis staff, day 2")
    assert second["version"] == 2 and second["position"] > first["position"]
    [listed] = ok(api.get("/v1/distribution-models"))["models"]
    assert (listed["name"], listed["version"], listed["versions"], listed["policy"]) == (
        MODEL,
        2,
        2,
        f"model:{MODEL}@2",
    )
    assert [s["share"] for s in listed["sectors"]] == ["0.6", "0.3"] and listed["reserve"] == "0.1"
    assert listed["note"] == "the crisis staff, day 2" and listed["actor"] == "test-coordinator"
    old = ok(api.get(PATH, version=1))
    assert [(s["name"], s["kinds"], s["share"]) for s in old["sectors"]] == [
        ("specialist", ["regional", "hospital"], "0.7"),
        ("primary", ["municipal"], "0.2"),
    ]
    assert (old["within"], old["requests_first"]) == ("proportional_to_population", False)
    assert problem(api.get(PATH, version=3), 404)["title"] == "Unknown distribution model"
    problem(api.get("/v1/distribution-models/no-such"), 404)
    assert [e["type"] for e in ok(api.get("/v1/events", type="DistributionModelRevised"))["events"]] == [
        "DistributionModelRevised"
    ]


def test_only_coordinators_and_admins_define_models(api: Any) -> None:
    world(api)
    with nothing_stored(api):
        for role in ("operator", "auditor"):
            problem(api.put(PATH, rules(), role=role), 403)
    assert define(api, role="admin")["version"] == 1
    ok(api.get("/v1/distribution-models", role="operator"))


def test_every_refusal_names_every_field_and_stores_nothing(api: Any) -> None:
    world(api)
    wrong_fields = {
        "sectors": [{"name": "specialist", "kinds": ["hospital", "castle"], "share": -0.1}],
        "reserve": "1.5",
        "within": "first_come",
    }
    together = {
        "sectors": [
            {"name": "reserve", "kinds": ["hospital"], "share": "0.7"},
            {"name": "primary", "kinds": ["municipal", "hospital"], "share": "0.2"},
        ],
        "reserve": "0.2",
        "within": "proportional_to_population",
    }
    with nothing_stored(api):
        body = problem(api.put(PATH, wrong_fields), 422)
        assert {"body.sectors.0.kinds.1", "body.sectors.0.share", "body.reserve", "body.within"} <= error_locations(
            body
        )
        body = problem(api.put(PATH, together), 422)
        assert error_locations(body) == {"body.reserve", "body.sectors.0.name", "body.sectors.1.kinds"}
        assert "add up to 1.1" in body["detail"]
        problem(api.put(PATH, rules(specialist="0.7", primary="0.2", reserve="0.2")), 422)
        problem(api.put("/v1/distribution-models/bad name!", rules()), 422)
        problem(api.post("/v1/allocations", ask()), 404)  # no model yet
    define(api)
    with nothing_stored(api):
        assert problem(api.post("/v1/allocations", ask(policy=f"model:{MODEL}@2")), 404)["detail"].startswith(
            f"no version 2 of distribution model {MODEL}"
        )
        malformed = problem(api.post("/v1/allocations/recommend", ask(policy="model:")), 422)
        # in words a coordinator reads: what a policy may be, not the schema's regular expression
        assert malformed["errors"][0]["msg"] == (
            "'model:' is not a policy: give one of proportional_to_consumption, proportional_to_population, "
            "equal_days_of_supply, or a distribution model as model:NAME or model:NAME@VERSION"
        ), malformed
        assert "pattern" not in malformed["detail"] and "^" not in malformed["detail"]
        over = [{"to": code, "quantity": 250} for code in RECIPIENTS]  # 1,000: the reserve is not allocated
        assert error_locations(problem(api.post("/v1/allocations", ask(lines=over, rationale="all")), 422)) == {
            "body.lines"
        }


def test_the_issue_example_under_versions_1_and_2(api: Any) -> None:
    world(api)
    define(api)
    answer = ok(api.post("/v1/allocations/recommend", ask()))
    assert answer["policy"] == f"model:{MODEL}@1"
    assert lines(answer) == V1_LINES and answer["reserve"] == 100
    assert {line["to"]: line["sector"] for line in answer["lines"]} == SECTOR
    assert [(s["name"], s["share"], s["total"], s["recipients"]) for s in answer["sectors"]] == [
        ("specialist", "0.7", 700, ["H-NORTH", "H-SOUTH"]),
        ("primary", "0.2", 200, ["M-ALBY", "M-BRO"]),
    ]
    define(api, specialist="0.6", primary="0.3")
    assert lines(ok(api.post("/v1/allocations/recommend", ask()))) == V2_LINES
    pinned = ok(api.post("/v1/allocations/recommend", ask(policy=f"model:{MODEL}@1")))
    assert lines(pinned) == V1_LINES and pinned["policy"] == f"model:{MODEL}@1"
    # only hospitals: the primary sector's 300 join the reserve (600 -> 400 / 200)
    hospitals = ok(api.post("/v1/allocations/recommend", ask(recipients=["H-NORTH", "H-SOUTH"])))
    assert lines(hospitals) == {"H-NORTH": 400, "H-SOUTH": 200} and hospitals["reserve"] == 400
    assert hospitals["sectors"][1]["to_reserve"] is True


def test_the_reserve_stays_available_at_the_source(api: Any) -> None:
    world(api)
    define(api)
    decided = created(api.post("/v1/allocations", ask()))
    assert (decided["quantity"], decided["reserve"], decided["policy"]) == (900, 100, f"model:{MODEL}@1")
    assert lines(decided) == V1_LINES
    line = stock(api, NAT)
    assert (line["on_hand"], line["reserved"], line["available"]) == (1_000, 900, 100)
    with nothing_stored(api):  # the reserve, no more
        problem(dispatch(api, NAT, H_NORTH, 101), 409)
    created(dispatch(api, NAT, H_NORTH, 100))
    assert stock(api, NAT)["available"] == 0
    shown = ok(api.get(f"/v1/allocations/{decided['allocation_id']}"))
    assert (shown["quantity"], shown["policy"], shown["reserve"]) == (900, f"model:{MODEL}@1", 100)
    assert shown["requests_filled"] == []


def test_critical_requests_first_and_once(api: Any) -> None:
    world(api)
    define(api, requests_first=True)

    def request(depot: str, quantity: int, priority: str, needed_by: str) -> str:
        body = {
            "item": FFP2,
            "quantity": quantity,
            "priority": priority,
            "needed_by": needed_by,
            "occurred_at": ago(hours=1),
        }
        return created(api.post(f"/v1/depots/{depot}/requests", body))["request_id"]

    bro = request(M_BRO, 150, "critical", ago(days=-2))
    alby = request(M_ALBY, 80, "critical", ago(days=-1))
    request(M_BRO, 500, "high", ago(days=-1))  # not critical
    withdrawn = request(M_ALBY, 999, "critical", ago(days=-1))
    created(api.post(f"/v1/depots/{M_ALBY}/requests/{withdrawn}/close", {"outcome": "withdrawn"}))
    decided = created(api.post("/v1/allocations", ask()))
    # see tests/test_distribution_arithmetic.py::test_critical_requests_first_in_needed_by_order
    assert decided["requests_filled"] == [
        {"request_id": alby, "to": M_ALBY, "quantity": 80},
        {"request_id": bro, "to": M_BRO, "quantity": 150},
    ]
    assert lines(decided) == {"H-NORTH": 359, "H-SOUTH": 180, "M-ALBY": 175, "M-BRO": 209}
    assert decided["reserve"] == 77
    # filled once: the next decision finds nothing open. 100: cut 70 / 20 / 10; 70 * (2/3, 1/3) =
    # 46.67, 23.33 -> 47, 23; 20 * (40, 25) / 65 = 12.31, 7.69 -> 12, 8
    again = ok(api.post("/v1/allocations/recommend", ask(quantity=100)))
    assert again["requests_filled"] == [] and again["reserve"] == 10
    assert lines(again) == {"H-NORTH": 47, "H-SOUTH": 23, "M-ALBY": 12, "M-BRO": 8}
    replay = ok(api.get(f"/v1/allocations/{decided['allocation_id']}/replay"))
    assert replay["known_then"]["reproduced"] is True
    assert replay["known_then"]["requests_filled"] == decided["requests_filled"]
    shown = ok(api.get(f"/v1/allocations/{decided['allocation_id']}"))  # what an auditor reads of the decision
    assert (shown["reserve"], shown["requests_filled"]) == (77, decided["requests_filled"])


def test_a_decision_replays_under_its_version_after_a_revision(api: Any) -> None:
    world(api)
    define(api)
    decided = created(api.post("/v1/allocations", ask()))
    define(api, specialist="0.6", primary="0.3")
    replay = ok(api.get(f"/v1/allocations/{decided['allocation_id']}/replay"))
    then = replay["known_then"]
    assert (then["policy"], then["reproduced"], then["reserve"]) == (f"model:{MODEL}@1", True, 100)
    assert lines(then, "recommendation") == V1_LINES
    assert lines(replay["hindsight"], "recommendation") == V1_LINES
    current = replay["current_model"]
    assert current["policy"] == f"model:{MODEL}@2" and lines(current, "recommendation") == V2_LINES
    assert current["reserve"] == 100
    assert any("version 1, and is replayed under that version" in f for f in replay["findings"])
    plain = created(api.post("/v1/allocations", ask(quantity=10, policy="proportional_to_population")))
    plain_replay = ok(api.get(f"/v1/allocations/{plain['allocation_id']}/replay"))
    assert plain_replay["current_model"] is None and plain_replay["known_then"]["reserve"] is None
