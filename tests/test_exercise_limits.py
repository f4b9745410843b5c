"""Exercises under load and bad input, through HTTP on both backends: creations racing each
other, the bound on injects, the paged summary list, and scenario files nested too deep."""

from __future__ import annotations

import time
from typing import Any

import pytest

from domain.scenario import MAX_INJECTS
from tests.api_helpers import (
    created,
    ok,
    problem,
    production_logging,  # noqa: F401 - autouse fixture
    race,
    utc,
)
from tests.exercise_world import S, at, build_live

EX = "/v1/exercises/drill"


def new_exercise(api: Any, code: str = "drill", **extra: Any) -> dict[str, Any]:
    """An empty exercise (no fork): cheap to create."""
    return created(
        api.post(
            "/v1/exercises", {"code": code, "name": f"Exercise {code}", "scenario_start": utc(S), **extra}, role="admin"
        )
    )


def events(api: Any, code: str) -> list[tuple[str, str, Any]]:
    """The exercise ledger's events, as (type, depot, data): the same for two identical forks."""
    return [
        (e["type"], e["depot"], e["data"]) for e in ok(api.get(f"/v1/exercises/{code}/events", limit=1000))["events"]
    ]


def messages(count: int, first: int = 0) -> list[dict[str, Any]]:
    return [{"at": at(1, n / 60), "kind": "message", "text": f"message {n}"} for n in range(first, first + count)]


# --- creations racing ----------------------------------------------------------------------------


@pytest.mark.parametrize("forked", [False, True], ids=["empty", "forked"])
def test_six_identical_creations_at_once_create_one_exercise(api, forked: bool) -> None:  # type: ignore[no-untyped-def]
    fork = {"fork_known_at": utc(build_live(api))} if forked else {}
    body = {"code": "drill", "name": "Drill", "scenario_start": utc(S), **fork}
    answers = race(6, lambda _: api.post("/v1/exercises", body, role="admin"))
    assert sorted(a.status_code for a in answers) == [201, 409, 409, 409, 409, 409], [a.text for a in answers]
    for refused in (a for a in answers if a.status_code == 409):
        assert problem(refused, 409)["title"] == "Duplicate code"
    [exercise] = ok(api.get("/v1/exercises"))["exercises"]
    assert exercise["code"] == "drill"
    # the exercise ledger holds one fork, as a creation alone writes it
    created(api.post("/v1/exercises", {**body, "code": "twin"}, role="admin"))
    assert events(api, "drill") == events(api, "twin") and len(events(api, "drill")) == (12 if forked else 0)


def test_six_creations_with_one_idempotency_key_all_get_the_first_answer(api) -> None:  # type: ignore[no-untyped-def]
    body = {"code": "drill", "name": "Drill", "scenario_start": utc(S), "fork_known_at": utc(build_live(api))}
    answers = race(6, lambda _: api.post("/v1/exercises", body, role="admin", **{"Idempotency-Key": "create-drill"}))
    assert [a.status_code for a in answers] == [201] * 6, [a.text for a in answers]
    assert sorted(a.headers.get("Idempotent-Replayed", "false") for a in answers) == ["false"] + ["true"] * 5
    assert all(a.json() == answers[0].json() for a in answers)
    assert [e["code"] for e in ok(api.get("/v1/exercises"))["exercises"]] == ["drill"]


@pytest.mark.parametrize("key", [None, "create-drill"], ids=["no-key", "one-key"])
def test_creations_racing_on_two_workers_create_one_exercise(api, second_worker, key: str | None) -> None:  # type: ignore[no-untyped-def]
    body = {"code": "drill", "name": "Drill", "scenario_start": utc(S), "fork_known_at": utc(build_live(api))}
    headers = api.headers("admin", **({"Idempotency-Key": key} if key else {}))

    def create(i: int) -> Any:
        """As a client would: a 503 (SQLite's single writer busy past its pool's wait, which a
        loaded machine can reach while another creation forks the ledger) says when to retry."""
        for _ in range(5):
            answer = (api.client, second_worker)[i % 2].post("/v1/exercises", json=body, headers=headers)
            if answer.status_code != 503:
                return answer
            time.sleep(float(answer.headers["Retry-After"]))
        return answer

    answers = race(6, create)
    if key is None:
        assert sorted(a.status_code for a in answers) == [201, 409, 409, 409, 409, 409], [a.text for a in answers]
        assert {problem(a, 409)["title"] for a in answers if a.status_code == 409} == {"Duplicate code"}
    else:
        assert [a.status_code for a in answers] == [201] * 6, [a.text for a in answers]
        assert all(a.json() == answers[0].json() for a in answers)
    [exercise] = ok(api.get("/v1/exercises"))["exercises"]
    assert exercise["code"] == "drill" and len(events(api, "drill")) == 12  # one fork (positions may have gaps)


# --- the bound on injects ------------------------------------------------------------------------


def test_an_exercise_holds_at_most_2000_injects_and_a_refusal_stores_nothing(api) -> None:  # type: ignore[no-untyped-def]
    assert MAX_INJECTS == 2000
    new_exercise(api)
    one_too_many = problem(api.post(f"{EX}/injects", {"injects": messages(2001)}, role="admin"), 422)
    assert one_too_many["errors"][0]["loc"] == ["body", "injects"] and one_too_many["errors"][0]["type"] == "too_long"
    assert created(api.post(f"{EX}/injects", {"injects": messages(1999)}, role="admin"))["injects"] == 1999
    over = problem(api.post(f"{EX}/injects", {"injects": messages(2, 1999)}, role="admin"), 422)
    assert over["errors"] == [
        {"loc": ["body", "injects"], "msg": "more than 2,000 injects in the exercise", "type": "too_many_injects"}
    ]
    assert over["detail"] == "an exercise holds at most 2,000 injects: it has 1,999, and these are 2 more"
    scenario = "injects:\n" + "".join(f"  - {{kind: message, day: 1, text: m{n}}}\n" for n in range(2))
    problem(api.post(f"{EX}/injects", {"scenario": scenario}, role="admin"), 422)
    assert len(ok(api.get(EX))["injects"]) == 1999
    assert created(api.post(f"{EX}/injects", {"injects": messages(1, 1999)}, role="admin"))["injects"] == 2000
    problem(api.post(f"{EX}/injects", {"injects": messages(1, 2000)}, role="admin"), 422)
    listed = ok(api.get("/v1/exercises"))["exercises"][0]
    assert listed["injects"] == 2000


# --- the list ------------------------------------------------------------------------------------


def test_the_list_is_a_paged_summary_in_code_order(api) -> None:  # type: ignore[no-untyped-def]
    for code in ("charlie", "alpha", "bravo"):
        new_exercise(api, code, speed=0)
    created(api.post("/v1/exercises/alpha/injects", {"injects": messages(3)}, role="admin"))
    created(api.post("/v1/exercises/alpha/observations", {"text": "Quiet start"}, role="auditor"))
    ok(api.post("/v1/exercises/bravo/end", role="admin"))

    first = ok(api.get("/v1/exercises", limit=2))
    assert [e["code"] for e in first["exercises"]] == ["alpha", "bravo"] and first["next_after"] == "bravo"
    assert first["exercises"][0] == {
        "code": "alpha",
        "name": "Exercise alpha",
        "status": "running",
        "scenario_start": utc(S),
        "scenario_clock": utc(S),
        "speed": 0.0,
        "injects": 3,
        "observations": 1,
        "created_by": "test-admin",
        "ended_at": None,
    }
    assert first["exercises"][1]["status"] == "ended" and first["exercises"][1]["ended_at"] == utc(S)
    rest = ok(api.get("/v1/exercises", limit=2, after="bravo"))
    assert [e["code"] for e in rest["exercises"]] == ["charlie"] and rest["next_after"] is None
    assert ok(api.get("/v1/exercises", after="b"))["exercises"][0]["code"] == "bravo"  # any text orders in
    assert ok(api.get("/v1/exercises", after="charlie")) == {"exercises": [], "next_after": None}
    assert [e["code"] for e in ok(api.get("/v1/exercises"))["exercises"]] == ["alpha", "bravo", "charlie"]
    for bad in ({"limit": 0}, {"limit": 501}, {"after": "x" * 25}):
        problem(api.get("/v1/exercises", **bad), 422)
    # the detail keeps what the list leaves out
    assert [i["id"] for i in ok(api.get("/v1/exercises/alpha"))["injects"]] == ["I-0001", "I-0002", "I-0003"]


# --- scenario files nested too deep ---------------------------------------------------------------


@pytest.mark.parametrize(
    "scenario",
    ["injects:\n" + "- " * 5000 + "x\n", '{"injects": ' + "[" * 5000 + "]" * 5000 + "}"],
    ids=["yaml", "json"],
)
def test_a_scenario_file_nested_thousands_deep_is_a_422_and_stores_nothing(api, scenario: str) -> None:  # type: ignore[no-untyped-def]
    new_exercise(api)
    body = problem(api.post(f"{EX}/injects", {"scenario": scenario}, role="admin"), 422)
    [error] = body["errors"]
    assert error["loc"] == ["body", "scenario"] and error["type"] == "too_deep"
    assert "nested deeper than 32 levels" in error["msg"] and "nested deeper than 32 levels" in body["detail"]
    detail = ok(api.get(EX))
    assert detail["injects"] == [] and detail["position"] == 0
