"""Bad input over HTTP: every refusal is a problem+json, and a refused command stores nothing.

"Stores nothing" is checked twice: the ledger position does not move, and the event feed
(`GET /v1/events`) reads the same before and after.
"""

from __future__ import annotations

import pytest
from api_helpers import (
    A_CLINIC,
    A_NORTH,
    B_SOUTH,
    FFP2,
    ago,
    created,
    error_locations,
    feed,
    nothing_stored,
    ok,
    on_hand,
    problem,
    production_logging,  # noqa: F401 - an autouse fixture
    receive_stock,
    seed,
)

# One valid body per depot command; each test spoils one thing.
VALID = {
    "receipts": {"item": FFP2, "quantity": 10},
    "consumption": {"item": FFP2, "quantity": 10},
    "counts": {"item": FFP2, "counted": 10},
    "adjustments": {"item": FFP2, "quantity": 10, "reason": "found"},
    "requests": {"item": FFP2, "quantity": 10},
}
QUANTITY_FIELD = {
    "receipts": "quantity",
    "consumption": "quantity",
    "counts": "counted",
    "adjustments": "quantity",
    "requests": "quantity",
}


def command(api, name: str, body: object, depot: str = A_NORTH, **headers: str):
    return api.post(f"/v1/depots/{depot}/{name}", body, **headers)


@pytest.fixture
def ready(api):
    """The seeded world with 100 FFP2 at A-NORTH."""
    seed(api)
    receive_stock(api, A_NORTH, 100)
    return api


# --- quantities -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(VALID))
def test_a_quantity_must_be_a_json_integer(ready, name):
    field = QUANTITY_FIELD[name]
    with nothing_stored(ready):
        for wrong in ("5", 5.5, 5.0, True, None, [5], {"value": 5}, "five"):
            body = problem(command(ready, name, {**VALID[name], field: wrong}), 422)
            assert error_locations(body) == {f"body.{field}"}, (wrong, body)


def test_zero_and_negative_quantities_are_refused(ready):
    cases = [
        ("receipts", "quantity", 0),
        ("receipts", "quantity", -1),
        ("consumption", "quantity", 0),
        ("consumption", "quantity", -10),
        ("requests", "quantity", 0),
        ("requests", "quantity", -3),
        ("counts", "counted", -1),
    ]
    with nothing_stored(ready):
        for name, field, quantity in cases:
            body = problem(command(ready, name, {**VALID[name], field: quantity}), 422)
            assert error_locations(body) == {f"body.{field}"}, (name, quantity, body)


def test_an_adjustment_of_zero_changes_nothing_and_is_refused(ready):
    with nothing_stored(ready):
        body = problem(command(ready, "adjustments", {"item": FFP2, "quantity": 0, "reason": "correction"}), 422)

    assert "adjustment of 0" in body["detail"]


def test_huge_quantities_are_refused_as_typos(ready):
    with nothing_stored(ready):
        for huge in (10**12, -(10**12), 10**30):
            for name in sorted(VALID):
                field = QUANTITY_FIELD[name]
                body = problem(command(ready, name, {**VALID[name], field: huge}), 422)
                assert error_locations(body) == {f"body.{field}"}, (name, huge, body)
            line = {"item": FFP2, "quantity": huge}
            problem(ready.post("/v1/transfers", {"from": A_NORTH, "to": B_SOUTH, "lines": [line]}), 422)
    assert on_hand(ready, A_NORTH) == 100


def test_the_largest_sane_quantity_is_accepted(ready):
    created(command(ready, "receipts", {"item": FFP2, "quantity": 1_000_000_000}))

    assert on_hand(ready, A_NORTH) == 1_000_000_100


# --- shape of the body ----------------------------------------------------------------------------


def test_an_unknown_field_is_refused(ready):
    with nothing_stored(ready):
        for name in sorted(VALID):
            body = problem(command(ready, name, {**VALID[name], "colour": "blue"}), 422)
            assert error_locations(body) == {"body.colour"}, (name, body)


def test_missing_fields_are_each_reported(ready):
    with nothing_stored(ready):
        assert error_locations(problem(command(ready, "receipts", {"quantity": 5}), 422)) == {"body.item"}
        assert error_locations(problem(command(ready, "receipts", {"item": FFP2}), 422)) == {"body.quantity"}
        assert error_locations(problem(command(ready, "receipts", {}), 422)) == {"body.item", "body.quantity"}
        assert error_locations(problem(command(ready, "counts", {"item": FFP2}), 422)) == {"body.counted"}
        assert error_locations(problem(command(ready, "adjustments", {"item": FFP2, "quantity": 3}), 422)) == {
            "body.reason"
        }


def test_every_field_error_is_reported_at_once(ready):
    with nothing_stored(ready):
        body = problem(command(ready, "receipts", {"quantity": "5", "expires_on": "someday", "extra": 1}), 422)

    assert error_locations(body) == {"body.item", "body.quantity", "body.expires_on", "body.extra"}


def test_malformed_json_is_refused(ready):
    headers = {**ready.headers(), "Content-Type": "application/json"}
    with nothing_stored(ready):
        for raw in (
            b'{"item": "FFP2", "quantity": 5',
            b"{item: FFP2}",
            b"\xff\xfe",
            b'{"item": "FFP2", "quantity": 5}}',
        ):
            problem(ready.client.post(f"/v1/depots/{A_NORTH}/receipts", content=raw, headers=headers), 422)


def test_a_body_that_is_not_an_object_is_refused(ready):
    with nothing_stored(ready):
        for body in (None, [], [VALID["receipts"]], "receipt", 5):
            problem(command(ready, "receipts", body), 422)


# --- unknown depot and item --------------------------------------------------------------------


def test_a_command_to_an_unknown_depot_is_404(ready):
    with nothing_stored(ready):
        for name in sorted(VALID):
            body = problem(command(ready, name, VALID[name], depot="NOWHERE"), 404)
            assert body["title"] == "Unknown depot", name
            assert body["depot"] == "NOWHERE"


def test_a_command_for_an_unknown_item_is_404(ready):
    with nothing_stored(ready):
        for name in sorted(VALID):
            body = problem(command(ready, name, {**VALID[name], "item": "UNOBTAINIUM"}), 404)
            assert body["title"] == "Unknown item", name
            assert body["item"] == "UNOBTAINIUM"


def test_a_transfer_with_an_unknown_depot_or_item_is_404(ready):
    line = [{"item": FFP2, "quantity": 5}]
    with nothing_stored(ready):
        assert (
            problem(ready.post("/v1/transfers", {"from": "NOWHERE", "to": B_SOUTH, "lines": line}), 404)["title"]
            == "Unknown depot"
        )
        assert (
            problem(ready.post("/v1/transfers", {"from": A_NORTH, "to": "NOWHERE", "lines": line}), 404)["title"]
            == "Unknown depot"
        )
        unknown_item = [{"item": "UNOBTAINIUM", "quantity": 5}]
        body = problem(ready.post("/v1/transfers", {"from": A_NORTH, "to": B_SOUTH, "lines": unknown_item}), 404)
        assert body["title"] == "Unknown item"
    assert on_hand(ready, A_NORTH) == 100


# --- times ---------------------------------------------------------------------------------------


def test_occurred_at_more_than_five_minutes_in_the_future_is_refused(ready):
    with nothing_stored(ready):
        for name in sorted(VALID):
            body = problem(command(ready, name, {**VALID[name], "occurred_at": ago(minutes=-6)}), 422)
            assert "future" in body["detail"], name
        tomorrow = {
            "from": A_NORTH,
            "to": B_SOUTH,
            "lines": [{"item": FFP2, "quantity": 5}],
            "occurred_at": ago(days=-1),
        }
        problem(ready.post("/v1/transfers", tomorrow), 422)


def test_occurred_at_a_little_in_the_future_is_accepted_for_clock_skew(ready):
    occurred_at = ago(minutes=-4)

    created(command(ready, "receipts", {**VALID["receipts"], "occurred_at": occurred_at}))

    [_, event] = feed(ready, type="ReceiptRecorded")
    assert event["occurred_at"] == occurred_at


def test_occurred_at_without_a_timezone_is_refused(ready):
    with nothing_stored(ready):
        for naive in ("2024-03-05T10:00:00", "2024-03-05", "yesterday", "2024-13-45T10:00:00Z"):
            body = problem(command(ready, "receipts", {**VALID["receipts"], "occurred_at": naive}), 422)
            assert error_locations(body) == {"body.occurred_at"}, naive


def test_occurred_at_with_an_offset_is_stored_in_utc(ready):
    created(command(ready, "consumption", {**VALID["consumption"], "occurred_at": "2024-03-05T10:00:00+01:00"}))

    [event] = feed(ready, type="ConsumptionReported")
    assert event["occurred_at"] == "2024-03-05T09:00:00Z"


EDGE_OF_THE_CALENDAR = [
    ("receipts", "0001-01-01T00:00:00+01:00"),  # 31 Dec of year 0 in UTC
    ("receipts", "9999-12-31T23:59:59-01:00"),  # year 10000 in UTC
    ("consumption", "0001-01-01T00:00:00Z"),  # its default period starts a day earlier
]


def test_occurred_at_at_the_edge_of_the_calendar_is_refused_not_a_server_error(ready):
    """Bad input is a 422, never a 500."""
    with nothing_stored(ready):
        for name, occurred_at in EDGE_OF_THE_CALENDAR:
            problem(command(ready, name, {**VALID[name], "occurred_at": occurred_at}), 422)


def test_no_occurred_at_a_client_can_send_breaks_the_feed_or_the_stock_view(ready):
    """Whatever the answer to an out-of-range time, the ledger must stay readable afterwards."""
    for name, occurred_at in EDGE_OF_THE_CALENDAR:
        command(ready, name, {**VALID[name], "occurred_at": occurred_at})

    ok(ready.get("/v1/events"))
    ok(ready.get(f"/v1/depots/{A_NORTH}/stock"))


# --- every 422 names its fields ----------------------------------------------------------------------


def test_every_422_lists_the_field_in_error(ready):
    """API.md: 400/422 bad input "with every field error" -- also when it is the ledger, not
    the request schema, that finds the input makes no sense."""
    transfer = {"from": A_NORTH, "to": B_SOUTH, "lines": [{"item": FFP2, "quantity": 5}]}
    transfer_id = created(ready.post("/v1/transfers", transfer))["transfer_id"]
    refusals = {
        "consumption whose period starts after now": command(
            ready, "consumption", {"item": FFP2, "quantity": 1, "period_start": ago(days=-1)}
        ),
        "receipt of more than was dispatched": ready.post(
            f"/v1/transfers/{transfer_id}/receipt", {"lines": [{"item": FFP2, "quantity_received": 6}]}
        ),
        "receipt of an item the transfer does not carry": ready.post(
            f"/v1/transfers/{transfer_id}/receipt", {"lines": [{"item": "GLOVE", "quantity_received": 1}]}
        ),
        "receipt dated before the dispatch": ready.post(
            f"/v1/transfers/{transfer_id}/receipt", {"occurred_at": ago(days=1)}
        ),
    }

    with nothing_stored(ready):
        for what, response in refusals.items():
            body = problem(response, 422, field_errors=False)
            assert isinstance(body.get("errors"), list) and body["errors"], f"{what}: a 422 without `errors`: {body}"


# --- transfers -----------------------------------------------------------------------------------


def test_a_transfer_to_its_own_source_is_refused(ready):
    with nothing_stored(ready):
        body = problem(
            ready.post("/v1/transfers", {"from": A_NORTH, "to": A_NORTH, "lines": [{"item": FFP2, "quantity": 5}]}), 422
        )

    assert "another" in body["detail"]


def test_a_transfer_needs_at_least_one_valid_line(ready):
    with nothing_stored(ready):
        for lines in ([], None, [{"item": FFP2}], [{"item": FFP2, "quantity": 0}], [{"item": FFP2, "quantity": "5"}]):
            problem(ready.post("/v1/transfers", {"from": A_NORTH, "to": B_SOUTH, "lines": lines}), 422)
        problem(ready.post("/v1/transfers", {"from": A_NORTH, "to": B_SOUTH}), 422)


# --- If-Match ----------------------------------------------------------------------------------------


def test_if_match_with_the_current_version_is_accepted(ready):
    version = ok(ready.get(f"/v1/depots/{A_NORTH}"))["version"]

    body = created(command(ready, "consumption", VALID["consumption"], **{"If-Match": f'"{version}"'}))

    assert body["version"] == version + 1


def test_if_match_with_a_stale_version_is_a_conflict_and_stores_nothing(ready):
    version = ok(ready.get(f"/v1/depots/{A_NORTH}"))["version"]

    with nothing_stored(ready):
        for stale in (f'"{version - 1}"', f'"{version + 1}"', '"0"'):
            body = problem(command(ready, "consumption", VALID["consumption"], **{"If-Match": stale}), 409)
            assert body["title"] == "Version mismatch"
            assert body["actual"] == version


def test_if_match_is_read_only_on_depot_commands(ready):
    """If-Match names one depot's version, so only depot commands read it (API.md): a transfer
    touches two depots, and neither it nor any other write declares or reads the header."""
    paths = ready.client.app.openapi()["paths"]
    reading = sorted(
        f"{method.upper()} {path}"
        for path, operations in paths.items()
        for method, operation in operations.items()
        if any(p["in"] == "header" and p["name"] == "If-Match" for p in operation.get("parameters", ()))
        and not path.startswith("/v1/exercises/{exercise}/")
    )
    assert reading == [
        f"POST /v1/depots/{{code}}/{name}" for name in ("adjustments", "consumption", "counts", "receipts", "requests")
    ] + ["POST /v1/depots/{code}/requests/{request_id}/close"]
    version = ok(ready.get(f"/v1/depots/{A_NORTH}"))["version"]
    body = {"from": A_NORTH, "to": B_SOUTH, "lines": [{"item": FFP2, "quantity": 5}]}

    answer = created(ready.post("/v1/transfers", body, **{"If-Match": f'"{version - 1}"'}))

    assert answer["status"] == "in_transit" and answer["position"] == ready.position()
    created(
        ready.post(
            "/v1/items", {"code": "GOWN", "name": "Gown", "unit": "piece", "category": "ppe"}, **{"If-Match": "abc"}
        )
    )


def test_a_malformed_if_match_is_a_bad_request(ready):
    with nothing_stored(ready):
        for malformed in ("abc", '"v2"', '"-1"', '"1", "2"', '""'):
            body = problem(command(ready, "consumption", VALID["consumption"], **{"If-Match": malformed}), 400)
            assert "If-Match" in body["detail"], malformed


def test_if_match_names_the_version_of_the_depot_written_to(ready):
    """If-Match names the version of the depot the command writes to."""
    clinic = ok(ready.get(f"/v1/depots/{A_CLINIC}"))["version"]

    created(command(ready, "receipts", VALID["receipts"], depot=A_CLINIC, **{"If-Match": f'"{clinic}"'}))


# --- Idempotency-Key shape ----------------------------------------------------------------------------


def test_an_idempotency_key_must_be_one_to_two_hundred_characters(ready):
    with nothing_stored(ready):
        problem(command(ready, "receipts", VALID["receipts"], **{"Idempotency-Key": "k" * 201}), 400)
        problem(command(ready, "receipts", VALID["receipts"], **{"Idempotency-Key": ""}), 400)
    created(command(ready, "receipts", VALID["receipts"], **{"Idempotency-Key": "k" * 200}))
