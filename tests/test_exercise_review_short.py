"""Reviews that must read well and come out the same every time: receipts at one scenario
time, and an exercise of a single simulated day with no allocation decided (the drill of
tests/exercise_world.py, through HTTP)."""

from __future__ import annotations

import re
from typing import Any

from tests.api_helpers import A_CLINIC, A_NORTH, FFP2, created, ok, production_logging  # noqa: F401
from tests.exercise_review_sample import overlapping, svg_texts
from tests.exercise_world import advance, at, build_live, create

NOTHING_TO_COMPARE = (
    "No allocation was decided in this exercise, so there is no decision equal days of supply could have "
    "taken instead: nothing to compare."
)


def play_receipts_at_one_time(api: Any, code: str) -> None:
    """A-CLINIC asks for 100 at 01:00 (R1) and 100 at 03:00 (R2); 60 leave A-NORTH for it at
    02:00 (T1) and 100 at 04:00 (T2); both arrive at 05:00, T2's receipt recorded first.

    In ledger order T2 fills R1 (100), then T1 fills nothing: R2 was made after T1 left.
    (T1 first would fill 60 of R1, then T2 40 of R1 and 60 of R2: 160.)"""
    ex = f"/v1/exercises/{code}"
    advance(api, at(0, 1), code)
    created(api.post(f"{ex}/depots/{A_CLINIC}/requests", {"item": FFP2, "quantity": 100}))
    advance(api, at(0, 2), code)
    line = {"from": A_NORTH, "to": A_CLINIC}
    first = created(api.post(f"{ex}/transfers", {**line, "lines": [{"item": FFP2, "quantity": 60}]}))
    advance(api, at(0, 3), code)
    created(api.post(f"{ex}/depots/{A_CLINIC}/requests", {"item": FFP2, "quantity": 100}))
    advance(api, at(0, 4), code)
    second = created(api.post(f"{ex}/transfers", {**line, "lines": [{"item": FFP2, "quantity": 100}]}))
    advance(api, at(0, 5), code)
    for transfer in (second, first):
        ok(api.post(f"{ex}/transfers/{transfer['transfer_id']}/receipt", {}))


def test_receipts_at_one_time_fill_requests_in_ledger_order_and_the_same_play_measures_the_same(api) -> None:  # type: ignore[no-untyped-def]
    fork_at = build_live(api)
    measures = []
    for code in ("tie-a", "tie-b"):  # the same play twice: other random transfer and request ids
        create(api, fork_at, code=code)
        play_receipts_at_one_time(api, code)
        review = ok(api.get(f"/v1/exercises/{code}/review", policy="none"))
        assert review["measures"]["fill_rate"] == {"requested": 200, "filled": 100, "rate": 0.5}
        measures.append(review["measures"])
    assert measures[0] == measures[1]


def test_a_one_day_exercise_without_allocations_reads_well(api) -> None:  # type: ignore[no-untyped-def]
    create(api, build_live(api))
    advance(api, at(1))
    review = ok(api.get("/v1/exercises/drill/review"))
    assert review["measures"]["decisions"] == 0
    assert review["counterfactual"]["summary"] == NOTHING_TO_COMPARE
    # north: A-NORTH 800 + A-CLINIC 25 over (140 + 10 + 70 + 5) / 14 a day; south: nothing left
    curves = {c["region"]: c["points"] for c in review["measures"]["days_of_supply"]}
    assert curves == {
        "north": [{"at": at(1), "days_of_supply": 51.3}],
        "south": [{"at": at(1), "days_of_supply": 0.0}],
    }

    page = api.client.get("/v1/exercises/drill/review.html", headers=api.headers("auditor")).text
    assert NOTHING_TO_COMPARE in page and "(as played)" not in page
    assert '<th class="counterfactual">' not in page  # one column: the two runs are the same
    svg = re.search(r'<svg role="img" aria-label="Days of supply of FFP2 per region".*?</svg>', page, re.S).group(0)
    dots = re.findall(r'<circle cx="([\d.]+)" cy="([\d.]+)" r="3"', svg)
    assert len(dots) == 2 and dots[0][0] != dots[1][0]  # a slot per region, not two dots on one line
    labels: dict[str, float] = {}
    for x, _, _, _, text in svg_texts(svg):
        labels.setdefault(text, x)  # the axis and the figures come before the legend
    assert {"north", "south", "51.3", "0.0"} <= set(labels)
    assert labels["north"] == labels["51.3"] and labels["south"] == labels["0.0"]  # each figure over its region
    assert overlapping(svg) == []
    assert "at the end of the one simulated day, 03 Mar 00:00: north 51.3, south 0.0 days." in page
