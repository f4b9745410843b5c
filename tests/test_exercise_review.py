"""The after-action review of the hand-computed exercise (tests/exercise_world.py): every
measure as played and had equal days of supply decided, through the API and the CLI."""

from __future__ import annotations

from typer.testing import CliRunner

from api.cli import app as cli
from projections.fold import days_of_supply
from replay.counterfactual import simulate
from replay.played_run import opening, played_run
from tests.api_helpers import A_CLINIC, A_NORTH, B_SOUTH, FFP2, ok, problem, production_logging  # noqa: F401
from tests.exercise_world import CODE, advance, at, build_live, create, play

EX = f"/v1/exercises/{CODE}"


def played(api) -> dict:  # type: ignore[no-untyped-def]
    create(api, build_live(api))
    decision = play(api)
    assert decision["recommended_lines"] == [{"to": A_CLINIC, "quantity": 10}, {"to": B_SOUTH, "quantity": 90}]
    return decision


def test_the_review_measures_the_exercise_exactly(api) -> None:  # type: ignore[no-untyped-def]
    decision = played(api)
    review = ok(api.get(f"{EX}/review"))
    m = review["measures"]
    assert m["stockout_depot_days"] == 2
    assert m["stockouts"] == [
        {
            "depot": B_SOUTH,
            "region": "south",
            "item": FFP2,
            "start": at(1),
            "end": at(3),
            "days": 2,
            "unmet": 40,
            "ongoing": False,
        }
    ]
    assert m["request_to_allocation"] == {"count": 1, "median_hours": 28.0, "worst_hours": 28.0, "pending": 0}
    assert m["dispatch_to_receipt"] == {"count": 2, "median_hours": 18.0, "worst_hours": 18.0, "pending": 0}
    assert m["fill_rate"] == {"requested": 100, "filled": 75, "rate": 0.75}
    assert m["losses_in_transit"] == 5
    [loss] = m["losses"]
    assert (loss["destination"], loss["dispatched"], loss["received"], loss["lost"]) == (B_SOUTH, 80, 75, 5)
    [departure] = m["departures"]
    assert departure["allocation_id"] == decision["allocation_id"]
    assert departure["recommended"] == {A_CLINIC: 10, B_SOUTH: 90} and departure["chosen"] == {
        A_CLINIC: 20,
        B_SOUTH: 80,
    }
    assert departure["rationale"] == "B-SOUTH asked first; the clinic serves the outbreak"
    assert (m["decisions"], m["transfers"]) == (1, 2)

    # days of supply per region at each day's end: on hand / (14-day consumption / 14)
    north = {p["at"]: p["days_of_supply"] for c in m["days_of_supply"] if c["region"] == "north" for p in c["points"]}
    south = {p["at"]: p["days_of_supply"] for c in m["days_of_supply"] if c["region"] == "south" for p in c["points"]}
    # day 1: north 800 + 25 on hand, consumed 140+10 and 70+5 in the window
    assert north[at(1)] == days_of_supply(825, 225) == 51.3
    # day 4: north 250 + 60; 140 (S-1d), 70 (S-2d) and 10+20+20+10, 5+10+10+5 simulated
    assert north[at(4)] == days_of_supply(310, 140 + 70 + 60 + 30) == 14.5
    assert south[at(2)] == 0.0 and south[at(4)] == days_of_supply(55, 280 + 20 + 20) == 2.4
    [north_curve] = [c for c in m["days_of_supply"] if c["region"] == "north"]
    # day 3, before the transfers arrive: 260 + 5 on hand, 140 + 70 + 50 + 25 consumed
    assert north[at(3)] == days_of_supply(265, 285) == 13.0
    assert (north_curve["minimum"], north_curve["minimum_at"]) == (13.0, at(3))
    # and each point is what the exercise's own stock view says at that time
    view = {r["region"]: r for r in ok(api.get(f"{EX}/stock", item=FFP2, as_of=at(3)))["rows"]}
    assert north[at(3)] == view["north"]["days_of_supply"] and south[at(3)] == view["south"]["days_of_supply"]

    # had equal days of supply decided: 10 and 90, B-SOUTH receives 90 when it received 75
    cf = review["counterfactual"]
    assert cf["policy"] == "equal_days_of_supply"
    c = cf["measures"]
    assert c["stockout_depot_days"] == 2 and c["fill_rate"] == {"requested": 100, "filled": 90, "rate": 0.9}
    assert c["losses_in_transit"] == 0 and c["departures"] == []
    assert c["request_to_allocation"]["median_hours"] == 28.0 and c["dispatch_to_receipt"]["median_hours"] == 18.0
    assert cf["summary"].startswith("Had the coordinators followed equal days of supply")
    assert "0.9" in cf["summary"] and cf["assumptions"]

    # the rest of the report
    assert review["overview"]["simulated_days"] == 4 and review["overview"]["deliveries_failed"] == 1
    assert review["overview"]["injects"] == 7 and review["overview"]["injects_applied"] == 7
    kinds = [entry["kind"] for entry in review["timeline"]]
    assert kinds.count("allocation") == 1 and kinds.count("transfer") == 2 and kinds.count("receipt") == 2
    assert {
        "consumption_surge",
        "delivery",
        "delivery_failure",
        "depot_loss",
        "request",
        "message",
        "observation",
    } <= set(kinds)
    assert [e["at"] for e in review["timeline"]] == sorted(e["at"] for e in review["timeline"])
    assert review["capabilities"] == [{"capability": "Resource allocation", "rating": "S", "observations": 1}]
    [improvement] = review["improvement_plan"]
    assert improvement["capability"] == "Resource allocation" and improvement["rating"] == "S"


def test_other_policies_and_none(api) -> None:  # type: ignore[no-untyped-def]
    played(api)
    # proportional to consumption: weights 85 and 300 -> 22.08 and 77.92 -> 22 and 78
    by_consumption = ok(api.get(f"{EX}/review", policy="proportional_to_consumption"))["counterfactual"]
    assert by_consumption["measures"]["fill_rate"]["filled"] == 78
    assert ok(api.get(f"{EX}/review", policy="none"))["counterfactual"] is None
    problem(api.get(f"{EX}/review", policy="first_come"), 422)
    problem(api.get("/v1/exercises/nope/review"), 404)


def test_the_simulation_reproduces_the_played_exercise(api) -> None:  # type: ignore[no-untyped-def]
    """Re-run with the players' own decisions, the simulation must land on the ledger's figures."""
    played(api)
    exercises = api.stores.exercises
    exercise = exercises.exercise(CODE)
    run = played_run(exercise, exercises.opened(CODE))
    again = simulate(opening(exercise, exercises.ledger(CODE)), exercise.scheduled(), run, None)
    assert again.days == run.days
    assert again.regions == run.regions


def test_the_review_while_running_and_the_cli_report(api, database_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    create(api, build_live(api))
    advance(api, at(1))
    early = ok(api.get(f"{EX}/review"))
    assert early["overview"]["status"] == "running" and early["overview"]["simulated_days"] == 1
    assert early["measures"]["stockout_depot_days"] == 0
    play_rest = api.post(f"{EX}/end", role="admin")
    ok(play_rest)
    report = tmp_path / "review.html"
    result = CliRunner().invoke(cli, ["exercise", "review", CODE, "--html", str(report), "--database", database_url])
    assert result.exit_code == 0, result.output
    assert "Key measures" in result.output and "stockout depot-days" in result.output
    html = report.read_text()
    assert "North outbreak drill" in html and "<svg" in html
    as_json = CliRunner().invoke(
        cli, ["exercise", "review", CODE, "--json", "--policy", "none", "--database", database_url]
    )
    assert as_json.exit_code == 0 and '"counterfactual": null' in as_json.output
    unknown = CliRunner().invoke(cli, ["exercise", "review", "nope", "--database", database_url])
    assert unknown.exit_code == 2 and "no exercise nope" in unknown.output
