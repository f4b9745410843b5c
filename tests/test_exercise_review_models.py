"""The exercise counterfactual under a distribution model, on the hand-computed exercise
(tests/exercise_world.py): "had the coordinators followed the national model…".

The played decision at S+2d12h splits 100 FFP2 of A-NORTH between A-CLINIC (municipal) and
B-SOUTH (hospital), which asked for 100, critical, at S+1d8h.

- The live ledger's `national-ppe` (specialist = regional + hospital 0.7, primary = municipal
  0.2, reserve 0.1, within equal days of supply): 70 / 20 / 10, each sector has one recipient:
  B-SOUTH 70, A-CLINIC 20, 10 kept at A-NORTH. B-SOUTH receives its 70 when the players' 75
  arrived: fill rate 70 / 100.
- The exercise's own `national-ppe` (the same shares, critical requests first): B-SOUTH's open
  critical request takes all 100, nothing is left to cut: fill rate 100 / 100.
"""

from __future__ import annotations

from typing import Any

from tests.api_helpers import ok, problem, production_logging  # noqa: F401
from tests.exercise_world import CODE, build_live, create, play

EX = f"/v1/exercises/{CODE}"


def rules(**extra: Any) -> dict[str, Any]:
    return {
        "sectors": [
            {"name": "specialist", "kinds": ["regional", "hospital"], "share": "0.7"},
            {"name": "primary", "kinds": ["municipal"], "share": "0.2"},
        ],
        "reserve": "0.1",
        "within": "equal_days_of_supply",
        **extra,
    }


def test_the_counterfactual_can_follow_a_distribution_model(api: Any) -> None:
    fork_at = build_live(api)
    assert ok(api.put("/v1/distribution-models/national-ppe", rules()))["version"] == 1
    create(api, fork_at)
    play(api)
    national = ok(api.get(f"{EX}/review", policy="model:national-ppe"))["counterfactual"]
    assert national["policy"] == "model:national-ppe@1"
    assert national["measures"]["fill_rate"] == {"requested": 100, "filled": 70, "rate": 0.7}
    assert national["summary"].startswith(
        "Had the coordinators followed the distribution model national-ppe (version 1)"
    )
    assert any("reserve 10 % kept at the source" in line for line in national["assumptions"])

    # the exercise's own model comes first: critical requests first fills B-SOUTH's 100
    assert ok(api.put(f"{EX}/distribution-models/national-ppe", rules(requests_first=True)))["version"] == 1
    own = ok(api.get(f"{EX}/review", policy="model:national-ppe@1"))["counterfactual"]
    assert own["measures"]["fill_rate"] == {"requested": 100, "filled": 100, "rate": 1.0}
    assert any("critical requests first" in line for line in own["assumptions"])
    problem(api.get(f"{EX}/review", policy="model:no-such"), 404)
    malformed = problem(api.get(f"{EX}/review", policy="model:"), 422)
    assert malformed["errors"][0]["msg"].startswith("'model:' is not a policy: give one of"), malformed
