"""Input that once reached a 500 is refused with a 422 problem+json and stores nothing, on
both backends (issue 12): a NUL character in any text field, query parameter, path or header
(PostgreSQL cannot store it), a bare date outside the years a cut may name
(`as_of=0001-01-01`), and a position past what SQLite's integers hold (`after=2**63-1`)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api_helpers import (
    A_CLINIC,
    A_NORTH,
    B_SOUTH,
    FFP2,
    created,
    dispatch,
    error_locations,
    nothing_stored,
    problem,
    production_logging,  # noqa: F401 - autouse fixture
    receive_stock,
    seed,
)

NUL = "x\x00y"
SQLITE_MAX = 2**63 - 1


@pytest.fixture
def world(api) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """The seeded world with stock, one open transfer, one open request and one allocation."""
    seed(api)
    receive_stock(api, A_NORTH, 500)
    transfer = created(dispatch(api, A_NORTH, A_CLINIC, 10))["transfer_id"]
    request = created(api.post(f"/v1/depots/{B_SOUTH}/requests", {"item": FFP2, "quantity": 5}))["request_id"]
    allocation = created(
        api.post(
            "/v1/allocations",
            {
                "from": A_NORTH,
                "item": FFP2,
                "quantity": 20,
                "recipients": [A_CLINIC, B_SOUTH],
                "policy": "equal_days_of_supply",
            },
        )
    )["allocation_id"]
    return {"api": api, "transfer": transfer, "request": request, "allocation": allocation}


def writes(world: dict[str, Any]) -> list[tuple[str, str, dict[str, Any], str]]:
    """(method, path, a valid body, role) for every write that takes text."""
    t, r, a = world["transfer"], world["request"], world["allocation"]
    allocation = {
        "from": A_NORTH,
        "item": FFP2,
        "quantity": 10,
        "recipients": [A_CLINIC],
        "policy": "equal_days_of_supply",
    }
    return [
        (
            "POST",
            "/v1/items",
            {"code": "GOWN", "name": "Gown", "unit": "piece", "category": "ppe", "atc_code": "V07"},
            "coordinator",
        ),
        (
            "POST",
            "/v1/depots",
            {"code": "C-EAST", "name": "East", "region": "east", "organisation": "org-c", "kind": "hospital"},
            "coordinator",
        ),
        ("PUT", f"/v1/depots/{A_NORTH}/obligations/{FFP2}", {"min_days": 30, "note": "n"}, "coordinator"),
        (
            "POST",
            f"/v1/depots/{A_NORTH}/receipts",
            {"item": FFP2, "quantity": 5, "lot": "L1", "supplier": "Acme", "reference": "PO-1", "note": "n"},
            "operator",
        ),
        ("POST", f"/v1/depots/{A_NORTH}/consumption", {"item": FFP2, "quantity": 5, "note": "n"}, "operator"),
        ("POST", f"/v1/depots/{A_NORTH}/counts", {"item": FFP2, "counted": 400, "note": "n"}, "operator"),
        (
            "POST",
            f"/v1/depots/{A_NORTH}/adjustments",
            {"item": FFP2, "quantity": 1, "reason": "found", "note": "n"},
            "operator",
        ),
        ("POST", f"/v1/depots/{A_NORTH}/requests", {"item": FFP2, "quantity": 5, "note": "n"}, "operator"),
        ("POST", f"/v1/depots/{B_SOUTH}/requests/{r}/close", {"outcome": "withdrawn", "note": "n"}, "coordinator"),
        (
            "POST",
            "/v1/transfers",
            {
                "from": A_NORTH,
                "to": B_SOUTH,
                "lines": [{"item": FFP2, "quantity": 1, "lot": "L1"}],
                "reference": "R",
                "note": "n",
            },
            "coordinator",
        ),
        (
            "POST",
            f"/v1/transfers/{t}/receipt",
            {"lines": [{"item": FFP2, "quantity_received": 10}], "note": "n"},
            "coordinator",
        ),
        ("POST", f"/v1/transfers/{t}/cancel", {"reason": "not needed", "note": "n"}, "coordinator"),
        ("POST", "/v1/allocations/recommend", allocation, "coordinator"),
        ("POST", "/v1/allocations", {**allocation, "rationale": "why", "note": "n"}, "coordinator"),
        ("POST", f"/v1/allocations/{a}/revoke", {"reason": "not needed", "note": "n"}, "coordinator"),
        (
            "POST",
            "/v1/exercises",
            {"code": "drill", "name": "Drill", "scenario_start": "2020-03-02T00:00:00Z", "description": "d"},
            "admin",
        ),
    ]


def text_fields(body: dict[str, Any]) -> list[tuple[list[str | int], dict[str, Any]]]:
    """Each text field of the body (nested in lists of lines and recipients too), as its
    location and the body with NUL in it."""
    spoiled: list[tuple[list[str | int], dict[str, Any]]] = []
    for name, value in body.items():
        if isinstance(value, str):
            spoiled.append(([name], {**body, name: NUL}))
        elif isinstance(value, list) and value and isinstance(value[0], str):
            spoiled.append(([name, 0], {**body, name: [NUL, *value[1:]]}))
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            for field, inner in value[0].items():
                if isinstance(inner, str):
                    spoiled.append(([name, 0, field], {**body, name: [{**value[0], field: NUL}, *value[1:]]}))
    return spoiled


def send(api: Any, method: str, path: str, body: Any = None, role: str = "coordinator", **params: Any) -> Any:
    return api.client.request(method, path, json=body, params=params or None, headers=api.headers(role))


def test_nul_in_any_text_field_of_any_write_is_422_naming_it(world) -> None:  # type: ignore[no-untyped-def]
    api = world["api"]
    refused = 0
    with nothing_stored(api):
        for method, path, body, role in writes(world):
            for loc, spoiled in text_fields(body):
                answer = problem(send(api, method, path, spoiled, role), 422)
                assert error_locations(answer) == {".".join(str(p) for p in ["body", *loc])}, (path, loc, answer)
                refused += 1
    assert refused == 53
    # The same bodies without NUL are accepted: the refusals above were for the NUL alone.
    for method, path, body, role in writes(world)[:8]:
        assert send(api, method, path, body, role).status_code in (200, 201), path


def test_nul_in_injects_and_observations_is_422(world) -> None:  # type: ignore[no-untyped-def]
    api = world["api"]
    created(
        api.post(
            "/v1/exercises", {"code": "drill", "name": "Drill", "scenario_start": "2020-03-02T00:00:00Z"}, role="admin"
        )
    )
    inject = {"at": "2020-03-03T00:00:00Z", "kind": "message", "text": "hello", "title": "t"}
    with nothing_stored(api):
        for field in ("text", "title"):
            answer = problem(
                api.post("/v1/exercises/drill/injects", {"injects": [{**inject, field: NUL}]}, role="admin"), 422
            )
            assert error_locations(answer) == {f"body.injects.0.message.{field}"}, answer
        answer = problem(
            api.post("/v1/exercises/drill/injects", {"scenario": f"injects: []\n#{NUL}"}, role="admin"), 422
        )
        assert error_locations(answer) == {"body.scenario"}
        answer = problem(api.post("/v1/exercises/drill/observations", {"text": NUL}, role="auditor"), 422)
        assert error_locations(answer) == {"body.text"}
    exercise = api.get("/v1/exercises/drill").json()
    assert exercise["injects"] == [] and exercise["observations"] == []


READS_WITH_TEXT = [
    ("/v1/depots", ["region", "organisation"]),
    (f"/v1/depots/{A_NORTH}/stock", ["item", "as_of", "known_at"]),
    (f"/v1/depots/{A_NORTH}/timeline", ["item", "from", "to", "as_of", "known_at"]),
    ("/v1/stock", ["region", "item", "as_of", "known_at"]),
    ("/v1/transfers", ["from", "to", "region"]),
    ("/v1/allocations", ["from", "item"]),
    ("/v1/events", ["depot", "type"]),
    ("/v1/late", ["since", "until"]),
]


def test_nul_in_any_query_parameter_is_422_naming_it(world) -> None:  # type: ignore[no-untyped-def]
    api = world["api"]
    with nothing_stored(api):
        for path, names in READS_WITH_TEXT:
            for name in names:
                answer = problem(api.get(path, **{name: NUL}), 422)
                assert error_locations(answer) == {f"query.{name}"}, (path, name, answer)
                assert "NUL" in answer["detail"]
        # On a write too, and whatever the parameter's name
        answer = problem(
            api.client.post(
                f"/v1/depots/{A_NORTH}/receipts?x%00=1", json={"item": FFP2, "quantity": 1}, headers=api.headers()
            ),
            422,
        )
        assert error_locations(answer) == {"query.x"}


def test_nul_in_a_path_is_422(world) -> None:  # type: ignore[no-untyped-def]
    api = world["api"]
    paths = [
        ("GET", "/v1/depots/A%00"),
        ("GET", "/v1/depots/A%00/stock"),
        ("GET", "/v1/transfers/T%00"),
        ("GET", "/v1/allocations/A%00/replay"),
        ("GET", "/v1/exercises/d%00"),
        ("GET", "/v1/exercises/d%00/stock"),
        ("POST", "/v1/depots/A%00/receipts"),
        ("POST", f"/v1/depots/{B_SOUTH}/requests/R%00/close"),
        ("PUT", f"/v1/depots/{A_NORTH}/obligations/F%00"),
        ("POST", "/v1/transfers/T%00/cancel"),
    ]
    body = {"item": FFP2, "quantity": 1, "outcome": "withdrawn", "min_days": 1, "reason": "r"}
    with nothing_stored(api):
        for method, path in paths:
            answer = problem(api.client.request(method, path, json=body, headers=api.headers()), 422)
            assert error_locations(answer) == {"path"}, (path, answer)


def test_nul_in_a_header_is_422(world) -> None:  # type: ignore[no-untyped-def]
    api = world["api"]
    with nothing_stored(api):
        for header in ("Idempotency-Key", "If-Match"):
            response = api.post(f"/v1/depots/{A_NORTH}/receipts", {"item": FFP2, "quantity": 1}, **{header: NUL})
            assert error_locations(problem(response, 422)) == {f"header.{header.lower()}"}


def test_a_request_without_a_token_learns_that_first(world) -> None:  # type: ignore[no-untyped-def]
    answer = problem(world["api"].client.get("/v1/depots/A%00"), 401)
    assert "token" in answer["detail"]


def test_a_cut_before_1900_is_422(world) -> None:  # type: ignore[no-untyped-def]
    """A bare date used to skip the range check, and the end of its day overflowed."""
    api = world["api"]
    with nothing_stored(api):
        for path in (f"/v1/depots/{A_NORTH}/stock", "/v1/stock", f"/v1/depots/{A_NORTH}/timeline"):
            for parameter in ("as_of", "known_at"):
                for value in ("0001-01-01", "1899-12-31", "0001-01-01T00:00:00+00:00"):
                    answer = problem(api.get(path, **{parameter: value}), 422)
                    assert error_locations(answer) == {f"query.{parameter}"}, (path, parameter, value)
                    assert "out of range" in answer["detail"]


def test_a_range_bound_before_1900_is_422(world) -> None:  # type: ignore[no-untyped-def]
    api = world["api"]
    for path, names in ((f"/v1/depots/{A_NORTH}/timeline", ("from", "to")), ("/v1/late", ("since", "until"))):
        for name in names:
            answer = problem(api.get(path, **{name: "0001-01-01"}), 422)
            assert error_locations(answer) == {f"query.{name}"}, (path, name)
    # 1900 itself is in range
    assert api.get(f"/v1/depots/{A_NORTH}/stock", as_of="1900-01-01").status_code == 200
    assert api.get("/v1/late", since="1900-01-01").status_code == 200


@pytest.mark.parametrize("path", ["/v1/events", "/v1/late"])
def test_a_position_past_any_ledger_is_422(world, path) -> None:  # type: ignore[no-untyped-def]
    api = world["api"]
    for after in (SQLITE_MAX, SQLITE_MAX + 1, 10**18 + 1):
        answer = problem(api.get(path, after=after), 422)
        assert error_locations(answer) == {"query.after"}, (after, answer)
    # The bound itself reads past the end: nothing there
    page = api.get(path, after=10**18).json()
    assert page["events"] == [] and page["next_after"] == 10**18


def test_a_digest_or_verification_past_any_ledger_is_422(world) -> None:  # type: ignore[no-untyped-def]
    api = world["api"]
    answer = problem(api.get("/v1/ledger/digest", position=SQLITE_MAX), 422)
    assert error_locations(answer) == {"query.position"}
    answer = problem(api.post("/v1/ledger/verify", {"position": SQLITE_MAX, "digest": "0" * 64}, role="auditor"), 422)
    assert error_locations(answer) == {"body.position"}
