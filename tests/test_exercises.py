"""Exercises through the HTTP API: the fork, isolation from the live ledger, the scenario
clock and every inject kind, on the hand-computed world of tests/exercise_world.py."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.api_helpers import (
    A_CLINIC,
    A_NORTH,
    B_SOUTH,
    FFP2,
    created,
    ok,
    problem,
    production_logging,  # noqa: F401 - autouse fixture
    utc,
)
from tests.exercise_world import CODE, DAY, INJECTS, S, advance, at, build_live, create, play

EX = f"/v1/exercises/{CODE}"


def exercise_line(api, depot: str, **params) -> dict:  # type: ignore[no-untyped-def]
    [line] = ok(api.get(f"{EX}/depots/{depot}/stock", item=FFP2, **params))["items"]
    return line


def live_line(api, depot: str, **params) -> dict:  # type: ignore[no-untyped-def]
    [line] = ok(api.get(f"/v1/depots/{depot}/stock", item=FFP2, **params))["items"]
    return line


def test_a_forked_exercise_starts_with_the_live_figures_as_known_at_the_fork(api) -> None:  # type: ignore[no-untyped-def]
    fork_at = build_live(api)
    # Recorded after the fork: the exercise must not see it.
    created(api.post(f"/v1/depots/{A_NORTH}/receipts", {"item": FFP2, "quantity": 5000}))
    body = create(api, fork_at)
    assert body["scenario_clock"] == utc(S) and body["status"] == "running" and body["speed"] == 0
    balances = {(b["depot"], b["item"]): b for b in body["fork"]["balances"]}
    assert balances[(A_NORTH, FFP2)]["on_hand"] == 810 and sum(balances[(A_NORTH, FFP2)]["daily"]) == 140
    assert balances[(A_CLINIC, FFP2)]["daily"][2] == 70 and balances[(B_SOUTH, FFP2)]["daily"][3] == 280

    for depot in (A_NORTH, A_CLINIC, B_SOUTH):
        live = live_line(api, depot, as_of=utc(fork_at), known_at=utc(fork_at))
        forked = exercise_line(api, depot)
        for figure in ("on_hand", "avg_daily_consumption", "days_of_supply", "min_days", "meets_obligation"):
            assert forked[figure] == live[figure], (depot, figure, forked[figure], live[figure])
    assert exercise_line(api, A_NORTH)["on_hand"] == 810 and exercise_line(api, A_NORTH)["days_of_supply"] == 81.0
    assert exercise_line(api, B_SOUTH)["days_of_supply"] == 1.0  # 20 on hand / (280 / 14)
    depots = ok(api.get(f"{EX}/depots"))
    assert {d["code"] for d in (depots["depots"] if isinstance(depots, dict) else depots)} == {
        A_NORTH,
        A_CLINIC,
        B_SOUTH,
    }
    regions = {row["region"]: row for row in ok(api.get(f"{EX}/stock", item=FFP2))["rows"]}
    assert regions["north"]["on_hand"] == 840 and regions["south"]["on_hand"] == 20
    # requests on exercise ledgers are counted under their own route template
    metrics = api.client.get("/metrics").text
    assert 'route="/v1/exercises/{exercise}/depots/{code}/stock",status="200"' in metrics


def test_nothing_done_in_an_exercise_touches_the_live_ledger(api) -> None:  # type: ignore[no-untyped-def]
    fork_at = build_live(api)
    before_position = api.position()
    before = ok(api.get("/v1/ledger/digest"))
    before_feed = ok(api.get("/v1/events", limit=1000))
    create(api, fork_at)
    play(api)
    ok(api.post(f"{EX}/end", role="admin"))
    ok(api.get(f"{EX}/review"))
    assert api.position() == before_position
    assert ok(api.get("/v1/ledger/digest")) == before
    assert ok(api.get("/v1/events", limit=1000)) == before_feed
    assert live_line(api, A_NORTH)["on_hand"] == 810
    # ...while the exercise ledger has its own history and digest
    assert ok(api.get(f"{EX}/ledger/digest"))["digest"] != before["digest"]
    assert ok(api.get(f"{EX}/events", limit=1))["events"][0]["position"] == 1


def test_the_scenario_clock_stands_still_until_advanced_and_dates_commands(api) -> None:  # type: ignore[no-untyped-def]
    create(api, build_live(api))
    receipt = created(api.post(f"{EX}/depots/{A_NORTH}/receipts", {"item": FFP2, "quantity": 7}))
    assert receipt["recorded_at"] == utc(S)  # recorded in scenario time
    [entry] = [
        e
        for e in ok(api.get(f"{EX}/depots/{A_NORTH}/timeline", item=FFP2))["entries"]
        if e["type"] == "ReceiptRecorded"
    ]
    assert entry["occurred_at"] == utc(S) and entry["late"] is False
    # more than 5 minutes ahead of the scenario clock is the future, whatever the wall clock says
    future = api.post(f"{EX}/depots/{A_NORTH}/receipts", {"item": FFP2, "quantity": 1, "occurred_at": at(0, 1)})
    problem(future, 422)
    moved = advance(api, at(0, 12))
    assert moved["clock"] == at(0, 12) and moved["simulated_days"] == 0
    assert ok(api.get(EX))["scenario_clock"] == at(0, 12)
    created(api.post(f"{EX}/depots/{A_NORTH}/receipts", {"item": FFP2, "quantity": 1, "occurred_at": at(0, 12)}))
    backwards = api.post(f"{EX}/advance", {"until": at(0, 6)}, role="admin")
    assert "backwards" in str(problem(backwards, 422)["errors"])
    moved = advance(api, at(2))
    assert moved["simulated_days"] == 2
    # two simulated days of A-NORTH's 10 a day, recorded as injected consumption at each day's end
    consumption = [
        e
        for e in ok(api.get(f"{EX}/depots/{A_NORTH}/timeline", item=FFP2))["entries"]
        if e["type"] == "ConsumptionReported" and e["source"] == "inject"
    ]
    assert [(e["occurred_at"], e["delta"], e["recorded_at"]) for e in consumption] == [
        (at(1), -10, at(1)),
        (at(2), -10, at(2)),
    ]


def test_a_running_clock_moves_with_wall_time(api) -> None:  # type: ignore[no-untyped-def]
    body = create(api, build_live(api), speed=3600)  # an hour of scenario per second
    assert body["speed"] == 3600
    clock = datetime.fromisoformat(ok(api.get(EX))["scenario_clock"].replace("Z", "+00:00"))
    assert clock > S


def test_each_inject_kind_does_what_it_says(api) -> None:  # type: ignore[no-untyped-def]
    create(api, build_live(api))
    scheduled = created(api.post(f"{EX}/injects", {"injects": INJECTS}, role="admin"))
    assert scheduled["scheduled"] == [f"I-{n:04d}" for n in range(1, 8)]
    moved = advance(api, at(4))
    applied = {step["ref"]: step for step in moved["applied"]}
    assert applied["I-0002"]["events"] == 0 and "did not arrive" in applied["I-0002"]["effect"]
    assert applied["I-0007"]["effect"] == INJECTS[6]["text"]
    # in time order; at equal times injects (by id) before the day that ends then
    order = [step["ref"] for step in moved["applied"]]
    assert order == [
        "I-0001",
        "I-0007",
        "day 1",
        "I-0006",
        "I-0005",
        "I-0003",
        "day 2",
        "I-0002",
        "day 3",
        "I-0004",
        "day 4",
    ]
    statuses = {i["id"]: i["status"] for i in ok(api.get(EX))["injects"]}
    assert statuses == {
        "I-0001": "applied",
        "I-0002": "failed",
        "I-0003": "applied",
        "I-0004": "applied",
        "I-0005": "applied",
        "I-0006": "applied",
        "I-0007": "applied",
    }
    # delivery: a receipt with source inject; failed delivery: nothing at B-SOUTH
    north = ok(api.get(f"{EX}/depots/{A_CLINIC}/timeline", item=FFP2))["entries"]
    [delivery] = [e for e in north if e["type"] == "ReceiptRecorded"]
    assert (delivery["occurred_at"], delivery["delta"], delivery["source"]) == (at(3, 12), 40, "inject")
    south = ok(api.get(f"{EX}/depots/{B_SOUTH}/timeline", item=FFP2))["entries"]
    assert not [e for e in south if e["type"] == "ReceiptRecorded"]
    # depot loss: half of A-NORTH's 800 after day 1
    [fire] = [
        e
        for e in ok(api.get(f"{EX}/depots/{A_NORTH}/timeline", item=FFP2))["entries"]
        if e["type"] == "StockAdjusted" and e["source"] == "inject"
    ]
    assert (fire["occurred_at"], fire["delta"], fire["data"]["reason"]) == (at(1, 12), -400, "lost")
    # request: a supply request from B-SOUTH
    requests = [e for e in ok(api.get(f"{EX}/events", type="SupplyRequested"))["events"]]
    assert [(r["depot"], r["data"]["quantity"], r["data"]["priority"], r["occurred_at"]) for r in requests] == [
        (B_SOUTH, 100, "critical", at(1, 8))
    ]
    # surge: north consumed double on days 2 and 3 (A-NORTH 20, A-CLINIC 10), single on day 4
    injected = [
        (e["occurred_at"], -e["delta"])
        for e in ok(api.get(f"{EX}/depots/{A_CLINIC}/timeline", item=FFP2))["entries"]
        if e["type"] == "ConsumptionReported" and e["source"] == "inject"
    ]
    assert injected == [(at(1), 5), (at(2), 10), (at(3), 10), (at(4), 5)]
    assert exercise_line(api, A_NORTH)["on_hand"] == 810 - 10 - 400 - 20 - 20 - 10
    assert exercise_line(api, A_CLINIC)["on_hand"] == 30 - 5 - 10 - 10 + 40 - 5
    # B-SOUTH ran out on day 1 and consumed nothing after: demand not met is not consumption
    assert exercise_line(api, B_SOUTH)["on_hand"] == 0


def test_bad_exercises_and_injects_are_refused_and_store_nothing(api) -> None:  # type: ignore[no-untyped-def]
    fork_at = build_live(api)
    body = {"code": CODE, "name": "x", "scenario_start": utc(S), "fork_known_at": utc(fork_at)}
    problem(api.post("/v1/exercises", body, role="coordinator"), 403)
    problem(api.post("/v1/exercises", {**body, "code": "Bad Code!"}, role="admin"), 422)
    problem(api.post("/v1/exercises", {**body, "speed": -1}, role="admin"), 422)
    problem(api.post("/v1/exercises", {**body, "fork_known_at": utc(datetime.now(UTC) + DAY)}, role="admin"), 422)
    problem(api.get(f"{EX}"), 404)
    problem(api.get(f"{EX}/depots/{A_NORTH}/stock"), 404)
    create(api, fork_at)
    problem(api.post("/v1/exercises", body, role="admin"), 409)
    unknown = api.post(f"{EX}/injects", {"injects": [{**INJECTS[1], "depot": "NOWHERE"}]}, role="admin")
    assert problem(unknown, 422)["errors"][0]["loc"] == ["body", "injects", 0, "depot"]
    wrong = api.post(
        f"{EX}/injects", {"injects": [{**INJECTS[0], "factor": "lots"}, {**INJECTS[1], "quantity": -5}]}, role="admin"
    )
    assert len(problem(wrong, 422)["errors"]) >= 2
    before_start = api.post(f"{EX}/injects", {"injects": [{**INJECTS[6], "at": at(0, -1)}]}, role="admin")
    assert problem(before_start, 422)["errors"][0]["type"] == "inject_in_the_past"
    problem(api.post(f"{EX}/injects", {"injects": INJECTS}, role="coordinator"), 403)
    assert ok(api.get(EX))["injects"] == []
    # at the very start is fine until the first advance has applied it; then it is the past
    created(api.post(f"{EX}/injects", {"injects": [{**INJECTS[6], "at": at(0)}]}, role="admin"))
    assert advance(api, at(0, 1))["applied"][0]["ref"] == "I-0001"
    late = api.post(f"{EX}/injects", {"injects": [{**INJECTS[6], "at": at(0, 0.5)}]}, role="admin")
    assert problem(late, 422)["errors"][0]["type"] == "inject_in_the_past"
    assert len(ok(api.get(EX))["injects"]) == 1
    ok(api.post(f"{EX}/end", role="admin"))
    problem(api.post(f"{EX}/depots/{A_NORTH}/receipts", {"item": FFP2, "quantity": 1}), 409)
    problem(api.post(f"{EX}/advance", {"until": at(1)}, role="admin"), 409)
    assert exercise_line(api, A_NORTH)["on_hand"] == 810


@pytest.mark.parametrize("role", ["operator", "coordinator"])
def test_observations_are_for_evaluators(api, role: str) -> None:  # type: ignore[no-untyped-def]
    create(api, build_live(api))
    problem(api.post(f"{EX}/observations", {"text": "x"}, role=role), 403)
    problem(api.post(f"{EX}/observations", {"text": "x", "rating": "great"}, role="auditor"), 422)
    noted = created(
        api.post(
            f"{EX}/observations",
            {"text": "Good call", "capability": "Resource allocation", "rating": "P"},
            role="auditor",
        )
    )
    assert noted["at"] == utc(S) and noted["observer"] == "test-auditor"


def test_control_requests_are_safe_to_retry_with_an_idempotency_key(api) -> None:  # type: ignore[no-untyped-def]
    fork_at = build_live(api)
    body = {"code": CODE, "name": "Drill", "scenario_start": utc(S), "fork_known_at": utc(fork_at)}
    first = api.post("/v1/exercises", body, role="admin", **{"Idempotency-Key": "create-1"})
    again = api.post("/v1/exercises", body, role="admin", **{"Idempotency-Key": "create-1"})
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    problem(api.post("/v1/exercises", {**body, "name": "Other"}, role="admin", **{"Idempotency-Key": "create-1"}), 409)

    key = {"Idempotency-Key": "injects-1"}
    created(api.post(f"{EX}/injects", {"injects": INJECTS}, role="admin", **key))
    replay = api.post(f"{EX}/injects", {"injects": INJECTS}, role="admin", **key)
    assert replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true"
    assert len(ok(api.get(EX))["injects"]) == 7  # not 14

    moved = ok(api.post(f"{EX}/advance", {"until": at(2)}, role="admin", **{"Idempotency-Key": "day-2"}))
    position = ok(api.get(EX))["position"]
    replay = api.post(f"{EX}/advance", {"until": at(2)}, role="admin", **{"Idempotency-Key": "day-2"})
    assert replay.json() == moved and ok(api.get(EX))["position"] == position

    note = {"text": "Situation report late", "capability": "Situational awareness", "rating": "M"}
    first = created(api.post(f"{EX}/observations", note, role="auditor", **{"Idempotency-Key": "obs-1"}))
    assert created(api.post(f"{EX}/observations", note, role="auditor", **{"Idempotency-Key": "obs-1"})) == first
    assert len(ok(api.get(EX))["observations"]) == 1


def test_an_interrupted_advance_resumes_without_applying_anything_twice(api) -> None:  # type: ignore[no-untyped-def]
    """The steps are in the exercise ledger before the clock moves: run them again, as a retry
    after a failure between the two would, and nothing is written twice."""
    from ledger.injects import advance as apply_steps

    create(api, build_live(api))
    created(api.post(f"{EX}/injects", {"injects": INJECTS}, role="admin"))
    exercises = api.stores.exercises
    ledger = exercises.ledger(CODE)
    before = exercises.exercise(CODE)  # the clock still at the start
    first = apply_steps(before, ledger, before.applied_after, S + 4 * DAY, "test-admin")
    position = ledger.position()
    again = apply_steps(before, ledger, before.applied_after, S + 4 * DAY, "test-admin")
    assert ledger.position() == position
    assert [a.ref for a in again.applied] == [a.ref for a in first.applied]
    assert all(a.events == 0 for a in again.applied)
    assert [a.effect for a in again.applied if a.ref in ("day 1", "I-0004", "I-0005", "I-0006")] == [
        "already applied"
    ] * 4
    # and the controller's advance after it moves the clock, writes nothing and gives the same stock
    advance(api, at(4))
    assert ledger.position() == position
    assert exercise_line(api, A_NORTH)["on_hand"] == 810 - 10 - 400 - 20 - 20 - 10


def test_bad_requests_to_an_exercise_store_nothing(api) -> None:  # type: ignore[no-untyped-def]
    create(api, build_live(api))
    position = ok(api.get(EX))["position"]
    assert api.client.post(f"{EX}/advance", json={"until": at(1)}).status_code == 401
    assert api.client.get(f"{EX}/depots/{A_NORTH}/stock").status_code == 401
    problem(api.post(f"{EX}/advance", {"until": at(1)}, role="coordinator"), 403)
    # an operator of org-a plays only its own depots, in exercises as in the live ledger
    problem(api.post(f"{EX}/depots/{B_SOUTH}/receipts", {"item": FFP2, "quantity": 1}, role="operator"), 403)
    created(api.post(f"{EX}/depots/{A_NORTH}/receipts", {"item": FFP2, "quantity": 1}, role="operator"))
    position += 1
    huge = api.post(f"{EX}/injects", {"injects": [{**INJECTS[1], "quantity": 10**12}]}, role="admin")
    assert problem(huge, 422)["errors"][0]["loc"][-1] == "quantity"
    # depot and region
    problem(api.post(f"{EX}/injects", {"injects": [{**INJECTS[0], "depot": A_NORTH}]}, role="admin"), 422)
    problem(api.post(f"{EX}/injects", {"injects": [], "scenario": "injects: []"}, role="admin"), 422)
    problem(api.post(f"{EX}/injects", {"scenario": "injects: [{kind: delivery, day: 1}]"}, role="admin"), 422)
    problem(api.post(f"{EX}/advance", {"until": utc(S + 400 * DAY)}, role="admin"), 422)
    problem(api.post(f"{EX}/advance", {"until": "tomorrow"}, role="admin"), 422)
    problem(api.post(f"{EX}/observations", {"text": "x", "at": at(3)}, role="auditor"), 422)
    body = ok(api.get(EX))
    assert body["position"] == position and body["injects"] == [] and body["observations"] == []
    assert body["scenario_clock"] == utc(S)
