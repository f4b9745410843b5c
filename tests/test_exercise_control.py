"""The controller's side of an exercise through HTTP and the CLI: what a control write answers,
an inject at the scenario clock's own time, codes in either case, and scenario times read at
the start's UTC offset (tests/exercise_world.py's drill)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from typer.testing import CliRunner

from api.cli import app as cli
from replay.counterfactual import simulate
from replay.played_run import opening, played_run
from tests.api_helpers import A_NORTH, FFP2, created, ok, problem, production_logging  # noqa: F401
from tests.exercise_world import CODE, advance, at, build_live, create

EX = f"/v1/exercises/{CODE}"


def stamp(text: str) -> datetime:
    return datetime.fromisoformat(text)


def on_hand(api, depot: str = A_NORTH, code: str = CODE) -> int:  # type: ignore[no-untyped-def]
    [line] = ok(api.get(f"/v1/exercises/{code}/depots/{depot}/stock", item=FFP2))["items"]
    return line["on_hand"]


def inject_status(api, inject_id: str) -> str:  # type: ignore[no-untyped-def]
    return next(i["status"] for i in ok(api.get(EX))["injects"] if i["id"] == inject_id)


def ledger_position(api) -> int:  # type: ignore[no-untyped-def]
    return ok(api.get(f"{EX}/ledger/digest"))["position"]


def test_every_control_write_answers_the_exercise_ledgers_position_and_when_it_was_recorded(api) -> None:  # type: ignore[no-untyped-def]
    fork_at = build_live(api)
    before = datetime.now(UTC)
    made = create(api, fork_at)
    assert made["position"] == ledger_position(api) == 12  # 3 depots, 2 items, 1 obligation, 3 balances, 3 histories
    assert before <= stamp(made["recorded_at"]) <= datetime.now(UTC)

    message = {"kind": "message", "at": at(1), "text": "Situation report due"}
    scheduled = created(api.post(f"{EX}/injects", {"injects": [message]}, role="admin"))
    assert scheduled["position"] == 12  # injects are stored in the exercise registry, not the exercise ledger
    assert stamp(scheduled["recorded_at"]) >= stamp(made["recorded_at"])

    moved = advance(api, at(1))  # day 1: each of the three depots consumes
    assert moved["position"] == ledger_position(api) == 15
    assert stamp(moved["recorded_at"]) >= stamp(scheduled["recorded_at"])  # wall clock, not scenario time (2020)

    seen = created(api.post(f"{EX}/observations", {"text": "Report on time"}, role="auditor"))
    assert seen["position"] == 15 and seen["at"] == at(1)
    assert stamp(seen["recorded_at"]) >= stamp(moved["recorded_at"])

    ended = ok(api.post(f"{EX}/end", role="admin"))
    assert ended["position"] == 15 and stamp(ended["recorded_at"]) >= stamp(seen["recorded_at"])
    assert stamp(ended["recorded_at"]) <= datetime.now(UTC)


def test_an_inject_at_the_scenario_clocks_time_is_applied_once_by_the_next_advance(api) -> None:  # type: ignore[no-untyped-def]
    create(api, build_live(api))
    delivery = {"kind": "delivery", "at": at(1), "depot": A_NORTH, "item": FFP2, "quantity": 30, "supplier": "Acme"}
    created(api.post(f"{EX}/injects", {"injects": [delivery]}, role="admin"))
    advance(api, at(1))  # the delivery (I-0001), then day 1: 810 + 30 - 10
    assert on_hand(api) == 830

    # the controller's "now": a fire at A-NORTH and a failure of Acme, both at the clock's time
    fire = {"kind": "depot_loss", "at": at(1), "depot": A_NORTH, "fraction": 0.5}
    failure = {"kind": "delivery_failure", "at": at(1), "supplier": "Acme", "days": 2}
    assert created(api.post(f"{EX}/injects", {"injects": [fire, failure]}, role="admin"))["scheduled"] == [
        "I-0002",
        "I-0003",
    ]
    assert inject_status(api, "I-0002") == "scheduled" and on_hand(api) == 830
    again = advance(api, at(1))  # the clock stays where it is: only the waiting injects apply
    assert [(a["ref"], a["effect"]) for a in again["applied"]] == [
        ("I-0002", f"{A_NORTH} lost 415 {FFP2}"),
        ("I-0003", "deliveries from/to Acme fail for 2 days"),
    ]
    assert on_hand(api) == 415
    # the delivery had arrived before the failure was known: it stays applied, not failed
    assert [inject_status(api, i) for i in ("I-0001", "I-0002", "I-0003")] == ["applied"] * 3
    later = advance(api, at(2))  # day 2 only: nothing is applied twice
    assert [a["ref"] for a in later["applied"]] == ["day 2"]
    assert on_hand(api) == 405

    # the review replays the fire after day 1's consumption, as it happened
    exercises = api.stores.exercises
    exercise = exercises.exercise(CODE)
    run = played_run(exercise, exercises.opened(CODE))
    again_run = simulate(opening(exercise, exercises.ledger(CODE)), exercise.scheduled(), run, None, exercise.at_clock)
    assert again_run.days == run.days and again_run.regions == run.regions
    north = [p for p in run.regions if p.region == "north" and p.item == FFP2]
    assert [p.on_hand for p in north] == [415 + 25, 405 + 20]  # A-NORTH and A-CLINIC (30 - 5 - 5)


def test_an_inject_before_the_clock_is_still_refused(api) -> None:  # type: ignore[no-untyped-def]
    create(api, build_live(api))
    advance(api, at(1, 6))
    early = api.post(f"{EX}/injects", {"injects": [{"kind": "message", "at": at(1, 5), "text": "x"}]}, role="admin")
    assert problem(early, 422)["errors"][0]["type"] == "inject_in_the_past"
    assert ok(api.get(EX))["injects"] == []


def test_exercise_codes_are_case_insensitive_everywhere(api, database_url: str) -> None:  # type: ignore[no-untyped-def]
    fork_at = build_live(api)
    made = create(api, fork_at, code="EX1")
    assert made["code"] == "ex1"
    problem(api.post("/v1/exercises", {"code": "ex1", "name": "again", "scenario_start": at(0)}, role="admin"), 409)
    assert ok(api.get("/v1/exercises/EX1"))["code"] == ok(api.get("/v1/exercises/ex1"))["code"] == "ex1"
    assert on_hand(api, code="Ex1") == 810
    message = {"kind": "message", "at": at(1), "text": "hello"}
    assert created(api.post("/v1/exercises/EX1/injects", {"injects": [message]}, role="admin"))["exercise"] == "ex1"
    assert advance(api, at(1), code="eX1")["exercise"] == "ex1"
    assert on_hand(api, code="ex1") == 800
    assert [e["code"] for e in ok(api.get("/v1/exercises"))["exercises"]] == ["ex1"]
    assert ok(api.get("/v1/exercises", after="EX0"))["exercises"][0]["code"] == "ex1"
    assert ok(api.get("/v1/exercises/EX1/review", policy="none"))["overview"]["code"] == "ex1"
    problem(api.post("/v1/exercises", {"code": "Bad Code!", "name": "x", "scenario_start": at(0)}, role="admin"), 422)

    for spelling in ("EX1", "ex1"):
        result = CliRunner().invoke(
            cli, ["exercise", "review", spelling, "--json", "--policy", "none", "--database", database_url]
        )
        assert result.exit_code == 0, result.output
        assert '"code": "ex1"' in result.output and '"simulated_days": 1' in result.output


SCENARIO = """
name: Offsets
injects:
  - {kind: message, day: 4, time: "01:26", text: late at night}
  - {kind: message, day: 1, text: at the start's time of day}
  - {kind: message, day: 0, time: "23:30", text: end of the first local day}
"""


@pytest.mark.parametrize(
    ("start", "offset", "expected"),
    [
        (
            "2020-03-02T08:00:00+01:00",
            "+01:00",
            ["2020-03-06T00:26:00Z", "2020-03-03T07:00:00Z", "2020-03-02T22:30:00Z"],
        ),
        (  # 03:00Z on 2 March is still 1 March in New York: day 0 is the local 1 March
            "2020-03-01T22:00:00-05:00",
            "-05:00",
            ["2020-03-05T06:26:00Z", "2020-03-03T03:00:00Z", "2020-03-02T04:30:00Z"],
        ),
    ],
)
def test_scenario_times_are_read_at_the_offset_of_scenario_start(api, start: str, offset: str, expected: list) -> None:  # type: ignore[no-untyped-def]
    made = created(api.post("/v1/exercises", {"code": "tz", "name": "Offsets", "scenario_start": start}, role="admin"))
    assert made["scenario_start"] == expected[1].replace("03T", "02T")  # kept in UTC, like every instant
    assert made["scenario_offset"] == offset
    created(api.post("/v1/exercises/tz/injects", {"scenario": SCENARIO}, role="admin"))
    assert [i["at"] for i in ok(api.get("/v1/exercises/tz"))["injects"]] == expected
