"""A review is computed once per state of its exercise and then answered from the store
(`ledger.exercise_reviews`), by every worker; any change to the exercise (an event in its
ledger, an inject, an observation, an advance, the end) gives a new review, never the old.

Computations are counted by wrapping `replay.exercise_review.compute_review`; both apps
of a test run in this process, so the count covers the second worker too."""

from __future__ import annotations

from typing import Any

import pytest

from replay import exercise_review
from tests.api_helpers import A_CLINIC, A_NORTH, FFP2, created, ok, production_logging  # noqa: F401 - autouse fixture
from tests.exercise_world import CODE, INJECTS, advance, at, build_live, create, play

EX = f"/v1/exercises/{CODE}"


@pytest.fixture
def computations(monkeypatch: pytest.MonkeyPatch) -> list[str | None]:
    """The policy of each review computed (None: no counterfactual)."""
    calls: list[str | None] = []
    compute = exercise_review.compute_review

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(args[2])
        return compute(*args, **kwargs)

    monkeypatch.setattr(exercise_review, "compute_review", counted)
    return calls


def test_an_unchanged_exercise_is_reviewed_once_for_every_reader_and_worker(api, second_worker, computations) -> None:  # type: ignore[no-untyped-def]
    create(api, build_live(api))
    play(api)
    first = ok(api.get(f"{EX}/review"))
    assert computations == ["equal_days_of_supply"] and first["measures"]["stockout_depot_days"] == 2
    assert ok(api.get(f"{EX}/review")) == first  # generated_at too: the same computation
    page = api.get(f"{EX}/review.html")
    assert page.status_code == 200 and "North outbreak drill" in page.text
    assert second_worker.get(f"{EX}/review", headers=api.headers("auditor")).json() == first  # from the database
    assert computations == ["equal_days_of_supply"]
    # another policy is another review, computed once too
    played_only = ok(api.get(f"{EX}/review", policy="none"))
    assert played_only["counterfactual"] is None and played_only["measures"] == first["measures"]
    assert ok(api.get(f"{EX}/review", policy="none")) == played_only
    assert second_worker.get(f"{EX}/review?policy=none", headers=api.headers("auditor")).json() == played_only
    assert computations == ["equal_days_of_supply", None]


def test_every_change_to_the_exercise_gives_a_new_review(api, second_worker, computations) -> None:  # type: ignore[no-untyped-def]
    create(api, build_live(api))
    created(api.post(f"{EX}/injects", {"injects": INJECTS}, role="admin"))
    advance(api, at(2, 12))
    reviews: list[dict[str, Any]] = []

    def reviewed() -> dict[str, Any]:
        """The review from both workers, after exactly one computation."""
        before = len(computations)
        here = ok(api.get(f"{EX}/review"))
        there = second_worker.get(f"{EX}/review", headers=api.headers("auditor")).json()
        assert here == there and len(computations) == before + 1
        assert all(here["generated_at"] != earlier["generated_at"] for earlier in reviews)
        reviews.append(here)
        return here

    start = reviewed()
    assert (start["measures"]["transfers"], start["overview"]["injects"], start["overview"]["simulated_days"]) == (
        0,
        7,
        2,
    )
    # an event in the exercise ledger alone: the exercise aggregate does not change
    transfer = created(
        api.post(f"{EX}/transfers", {"from": A_NORTH, "to": A_CLINIC, "lines": [{"item": FFP2, "quantity": 10}]})
    )
    assert reviewed()["measures"]["transfers"] == 1
    created(
        api.post(f"{EX}/injects", {"injects": [{"at": at(3), "kind": "message", "text": "Roads closed"}]}, role="admin")
    )
    assert reviewed()["overview"]["injects"] == 8
    created(
        api.post(
            f"{EX}/observations", {"text": "Slow dispatch", "capability": "Logistics", "rating": "M"}, role="auditor"
        )
    )
    assert [c["rating"] for c in reviewed()["capabilities"] if c["capability"] == "Logistics"] == ["M"]
    advance(api, at(3, 6))
    moved = reviewed()
    # the message at S+3d too
    assert moved["overview"]["simulated_days"] == 3 and moved["overview"]["injects_applied"] == 7
    ok(api.post(f"{EX}/transfers/{transfer['transfer_id']}/receipt", {}))
    assert reviewed()["measures"]["dispatch_to_receipt"]["count"] == 1
    ok(api.post(f"{EX}/end", role="admin"))
    ended = reviewed()
    assert ended["overview"]["status"] == "ended"
    assert ok(api.get(f"{EX}/review")) == ended and len(computations) == 7


def test_the_scenario_clock_of_a_kept_review_is_read_afresh(api, computations) -> None:  # type: ignore[no-untyped-def]
    create(api, build_live(api), speed=3600)  # an hour of scenario a second
    first = ok(api.get(f"{EX}/review"))
    again = ok(api.get(f"{EX}/review"))
    assert again["generated_at"] == first["generated_at"] and len(computations) == 1
    assert again["overview"]["scenario_clock"] > first["overview"]["scenario_clock"]
    assert {**again["overview"], "scenario_clock": None} == {**first["overview"], "scenario_clock": None}


def test_a_stored_review_that_no_longer_reads_is_computed_again(api, second_worker, computations) -> None:  # type: ignore[no-untyped-def]
    """As after an upgrade that changed the review's shape: the row matches the state but not the model."""
    create(api, build_live(api))
    play(api)
    first = ok(api.get(f"{EX}/review"))
    store = api.stores.exercises.reviews.store
    [row] = store.query("SELECT exercise, policy, state FROM {t}exercise_reviews")
    assert (row["exercise"], row["policy"]) == (CODE, "equal_days_of_supply")
    store.write(
        "UPDATE {t}exercise_reviews SET review = :review WHERE exercise = :exercise",
        [{"review": '{"old": 1}', "exercise": CODE}],
    )
    again = second_worker.get(f"{EX}/review", headers=api.headers("auditor")).json()
    assert (
        len(computations) == 2
        and again["measures"] == first["measures"]
        and again["generated_at"] != first["generated_at"]
    )
    [row] = store.query("SELECT state, review FROM {t}exercise_reviews")
    assert row["review"].startswith('{"overview"')
