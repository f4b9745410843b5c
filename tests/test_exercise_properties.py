"""Random scenarios on the small world (tests/exercise_world.py): whatever the injects, the
exercise ledger (its depots, its on-demand views) and the simulation the review re-runs
from the fork agree on every simulated day, every regional figure and the final stock."""

from __future__ import annotations

from datetime import timedelta
from itertools import count

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.exercise_commands import AdvanceClock, CreateExercise, ScheduleInjects
from replay.counterfactual import play
from replay.played_run import opening, played_run
from tests.api_helpers import A_CLINIC, A_NORTH, B_SOUTH, FFP2
from tests.exercise_world import DAY, S, build_live

DEPOTS = st.sampled_from([A_NORTH, A_CLINIC, B_SOUTH])
SUPPLIERS = st.sampled_from(["Acme", "Nordic"])


def _when(hours: int) -> str:
    return (S + timedelta(hours=hours)).isoformat()


@st.composite
def injects(draw: st.DrawFn) -> dict:
    at = _when(draw(st.integers(1, 6 * 24)))
    kind = draw(
        st.sampled_from(["consumption_surge", "delivery", "delivery_failure", "depot_loss", "request", "message"])
    )
    if kind == "consumption_surge":
        place = draw(
            st.one_of(
                st.builds(lambda d: {"depot": d}, DEPOTS),
                st.builds(lambda r: {"region": r}, st.sampled_from(["north", "south"])),
            )
        )
        return {
            "at": at,
            "kind": kind,
            **place,
            "factor": draw(st.sampled_from([0.5, 1, 2, 3.5])),
            "days": draw(st.integers(1, 4)),
        }
    if kind == "delivery":
        return {
            "at": at,
            "kind": kind,
            "depot": draw(DEPOTS),
            "item": FFP2,
            "quantity": draw(st.integers(1, 500)),
            "supplier": draw(SUPPLIERS),
        }
    if kind == "delivery_failure":
        return {"at": at, "kind": kind, "supplier": draw(SUPPLIERS), "days": draw(st.integers(1, 3))}
    if kind == "depot_loss":
        return {"at": at, "kind": kind, "depot": draw(DEPOTS), "fraction": draw(st.sampled_from([0.1, 0.5, 1]))}
    if kind == "request":
        return {"at": at, "kind": kind, "depot": draw(DEPOTS), "item": FFP2, "quantity": draw(st.integers(1, 300))}
    return {"at": at, "kind": kind, "text": "situation report"}


def test_the_ledger_and_the_simulation_agree_on_random_scenarios(api) -> None:  # type: ignore[no-untyped-def]
    fork_at = build_live(api)
    exercises = api.stores.exercises
    codes = count()

    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(scenario=st.lists(injects(), min_size=1, max_size=8), days=st.integers(1, 7))
    def check(scenario: list[dict], days: int) -> None:
        code = f"p{next(codes)}"
        exercise = exercises.create(
            CreateExercise(code=code, name="property", scenario_start=S, fork_known_at=fork_at), "test"
        )
        exercises.control.save(exercise)
        exercise, _ = exercises.schedule(code, ScheduleInjects.model_validate({"injects": scenario}), "test")
        exercises.control.save(exercise)
        exercise, _ = exercises.advance(code, AdvanceClock(until=S + days * DAY).until, "test")
        exercises.control.save(exercise)

        exercise = exercises.exercise(code)
        run = played_run(exercise, exercises.opened(code))
        again = play(opening(exercise, exercises.ledger(code)), exercise.scheduled(), run, None)
        assert again.run.days == run.days
        assert again.run.regions == run.regions
        ledger = exercises.ledger(code)
        for depot in (A_NORTH, A_CLINIC, B_SOUTH):
            on_hand = ledger.depot(depot).on_hand(FFP2)  # the aggregate
            [line] = exercises.opened(code).views.depot_stock(depot, item=FFP2).items  # the on-demand fold
            assert line.on_hand == on_hand == again.stock.get((depot, FFP2), 0)
            assert on_hand >= 0  # the simulation never consumes or loses what is not there

    check()
