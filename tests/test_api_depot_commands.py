"""Depot commands over HTTP: what operators record at a depot, and what it does to the stock."""

from __future__ import annotations

from api_helpers import (
    A_NORTH,
    ENVELOPE_FIELDS,
    FFP2,
    GLOVE,
    ago,
    created,
    feed,
    is_utc_text,
    nothing_stored,
    on_hand,
    problem,
    production_logging,  # noqa: F401 - an autouse fixture
    receive_stock,
    seed,
    stock,
)


def post(api, command: str, body: dict, depot: str = A_NORTH, role: str = "operator"):
    return api.post(f"/v1/depots/{depot}/{command}", body, role=role)


# --- the answer of every command ------------------------------------------------------------


def test_a_receipt_answers_event_id_depot_version_position_recorded_at_and_warnings(api):
    seed(api)

    body = created(post(api, "receipts", {"item": FFP2, "quantity": 100}))

    assert ENVELOPE_FIELDS <= set(body)
    assert body["depot"] == A_NORTH
    assert body["version"] == 2  # registration was version 1
    assert body["warnings"] == []
    assert isinstance(body["event_id"], str) and body["event_id"]
    assert is_utc_text(body["recorded_at"])
    [event] = feed(api, depot=A_NORTH, type="ReceiptRecorded")
    assert body["position"] == event["position"] == api.position()
    assert body["recorded_at"] == event["recorded_at"]
    assert (event["version"], event["actor"], event["data"]["quantity"]) == (2, "test-operator", 100)


def test_each_command_answers_the_envelope_with_the_next_depot_version(api):
    seed(api)
    commands = [
        ("receipts", {"item": FFP2, "quantity": 100, "lot": "L1", "expires_on": "2030-01-31", "supplier": "Acme"}),
        ("consumption", {"item": FFP2, "quantity": 10}),
        ("counts", {"item": FFP2, "counted": 90}),
        ("adjustments", {"item": FFP2, "quantity": -2, "reason": "damaged"}),
        ("requests", {"item": GLOVE, "quantity": 1000, "priority": "critical"}),
    ]
    positions = []
    for version, (command, payload) in enumerate(commands, start=2):
        body = created(post(api, command, payload))
        assert ENVELOPE_FIELDS <= set(body), command
        assert (body["depot"], body["version"]) == (A_NORTH, version), command
        assert is_utc_text(body["recorded_at"]), command
        positions.append(body["position"])

    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    assert [event["type"] for event in feed(api, depot=A_NORTH)] == [
        "DepotRegistered",
        "ReceiptRecorded",
        "ConsumptionReported",
        "StockCounted",
        "StockAdjusted",
        "SupplyRequested",
    ]


# --- receipts and consumption ----------------------------------------------------------------------


def test_a_receipt_raises_on_hand_and_records_its_lot(api):
    seed(api)

    receive_stock(api, A_NORTH, 100, lot="L-2030", expires_on="2030-06-30")
    receive_stock(api, A_NORTH, 20)

    line = stock(api, A_NORTH)
    assert (line["on_hand"], line["available"], line["in_transit_in"], line["in_transit_out"]) == (120, 120, 0, 0)
    assert line["lots"] == [
        {"lot": "L-2030", "expires_on": "2030-06-30", "quantity": 100},
        {"lot": None, "expires_on": None, "quantity": 20},
    ]
    assert line["discrepancy"] is False


def test_consumption_within_the_book_lowers_on_hand_without_warnings(api):
    seed(api)
    receive_stock(api, A_NORTH, 100)

    body = created(post(api, "consumption", {"item": FFP2, "quantity": 42}))

    assert body["warnings"] == []
    line = stock(api, A_NORTH)
    assert (line["on_hand"], line["avg_daily_consumption"], line["days_of_supply"]) == (58, 3.0, 19.3)


def test_consumption_beyond_the_book_is_recorded_with_a_warning_and_flags_a_discrepancy(api):
    seed(api)
    receive_stock(api, A_NORTH, 30)

    body = created(post(api, "consumption", {"item": FFP2, "quantity": 50}))

    [warning] = body["warnings"]
    assert "50" in warning and "30" in warning
    line = stock(api, A_NORTH)
    assert (line["on_hand"], line["discrepancy"]) == (-20, True)


def test_consumption_with_a_period_is_dated_at_its_end(api):
    seed(api)
    receive_stock(api, A_NORTH, 100, occurred_at=ago(days=5))

    created(
        post(api, "consumption", {"item": FFP2, "quantity": 28, "period_start": ago(days=3), "period_end": ago(days=2)})
    )

    [event] = feed(api, type="ConsumptionReported")
    assert event["occurred_at"] == event["data"]["period_end"]
    assert stock(api, A_NORTH)["on_hand"] == 72


def test_consumption_whose_period_starts_after_it_ends_is_invalid(api):
    seed(api)

    with nothing_stored(api):
        problem(
            post(
                api,
                "consumption",
                {"item": FFP2, "quantity": 5, "period_start": ago(days=1), "period_end": ago(days=2)},
            ),
            422,
        )


# --- counts ----------------------------------------------------------------------------------


def test_a_count_resets_on_hand_and_answers_the_variance(api):
    seed(api)
    receive_stock(api, A_NORTH, 100)
    created(post(api, "consumption", {"item": FFP2, "quantity": 30}))

    body = created(post(api, "counts", {"item": FFP2, "counted": 60}))

    assert body["variance"] == -10
    [warning] = body["warnings"]
    assert "60" in warning and "70" in warning
    assert on_hand(api, A_NORTH) == 60


def test_a_count_that_agrees_with_the_book_has_zero_variance_and_no_warning(api):
    seed(api)
    receive_stock(api, A_NORTH, 100)

    body = created(post(api, "counts", {"item": FFP2, "counted": 100}))

    assert (body["variance"], body["warnings"]) == (0, [])
    assert on_hand(api, A_NORTH) == 100


def test_a_count_of_zero_empties_the_book(api):
    seed(api)
    receive_stock(api, A_NORTH, 100)

    assert created(post(api, "counts", {"item": FFP2, "counted": 0}))["variance"] == -100
    assert on_hand(api, A_NORTH) == 0


def test_a_count_settles_a_discrepancy(api):
    seed(api)
    receive_stock(api, A_NORTH, 10)
    created(post(api, "consumption", {"item": FFP2, "quantity": 25}))
    assert stock(api, A_NORTH)["discrepancy"] is True

    body = created(post(api, "counts", {"item": FFP2, "counted": 4}))

    # The count is ground truth (on hand 4), but it disagrees with the book of -15 it found:
    # that is a count variance itself, flagged until the next count.
    assert body["variance"] == 19
    line = stock(api, A_NORTH)
    assert (line["on_hand"], line["discrepancy"]) == (4, True)

    body = created(post(api, "counts", {"item": FFP2, "counted": 4}))  # agrees with the book: settled
    assert body["variance"] == 0
    line = stock(api, A_NORTH)
    assert (line["on_hand"], line["discrepancy"]) == (4, False)


def test_late_consumption_dated_before_a_count_does_not_change_on_hand(api):
    seed(api)
    receive_stock(api, A_NORTH, 100, occurred_at=ago(days=3))
    created(post(api, "counts", {"item": FFP2, "counted": 80, "occurred_at": ago(days=1)}))

    body = created(post(api, "consumption", {"item": FFP2, "quantity": 28, "occurred_at": ago(days=2)}))

    assert body["warnings"] == []
    line = stock(api, A_NORTH)
    assert line["on_hand"] == 80
    assert line["avg_daily_consumption"] == 2.0  # the late report still counts as consumption
    assert line["days_of_supply"] == 40.0


def test_movements_dated_after_a_count_still_apply(api):
    seed(api)
    receive_stock(api, A_NORTH, 100, occurred_at=ago(days=3))
    created(post(api, "counts", {"item": FFP2, "counted": 80, "occurred_at": ago(days=2)}))

    created(post(api, "consumption", {"item": FFP2, "quantity": 14, "occurred_at": ago(days=1)}))

    assert on_hand(api, A_NORTH) == 66


# --- adjustments ------------------------------------------------------------------------------


def test_adjustments_move_on_hand_by_their_signed_quantity(api):
    seed(api)
    receive_stock(api, A_NORTH, 50)

    found = created(post(api, "adjustments", {"item": FFP2, "quantity": 5, "reason": "found"}))
    damaged = created(
        post(api, "adjustments", {"item": FFP2, "quantity": -12, "reason": "correction", "corrects": found["event_id"]})
    )

    assert found["warnings"] == damaged["warnings"] == []
    assert on_hand(api, A_NORTH) == 43
    [_, correction] = feed(api, type="StockAdjusted")
    assert correction["data"]["corrects"] == found["event_id"]
    assert correction["data"]["reason"] == "correction"


def test_a_negative_adjustment_beyond_the_book_is_recorded_with_a_warning(api):
    seed(api)
    receive_stock(api, A_NORTH, 5)

    body = created(post(api, "adjustments", {"item": FFP2, "quantity": -8, "reason": "lost"}))

    assert len(body["warnings"]) == 1
    assert on_hand(api, A_NORTH) == -3


def test_an_adjustment_needs_a_known_reason(api):
    seed(api)

    with nothing_stored(api):
        problem(post(api, "adjustments", {"item": FFP2, "quantity": 3, "reason": "because"}), 422)
        problem(post(api, "adjustments", {"item": FFP2, "quantity": 3}), 422)


# --- supply requests ---------------------------------------------------------------------------


def test_a_supply_request_answers_its_request_id_and_stays_open_until_closed(api):
    seed(api)

    request = created(
        post(api, "requests", {"item": GLOVE, "quantity": 2000, "priority": "high", "needed_by": ago(days=-3)})
    )

    request_id = request["request_id"]
    assert isinstance(request_id, str) and request_id
    assert api.get(f"/v1/depots/{A_NORTH}").json()["open_requests"] == 1
    [event] = feed(api, type="SupplyRequested")
    assert event["data"]["request_id"] == request_id
    assert (event["data"]["quantity"], event["data"]["priority"]) == (2000, "high")

    closed = created(post(api, f"requests/{request_id}/close", {"outcome": "fulfilled"}))

    assert ENVELOPE_FIELDS <= set(closed)
    assert (closed["request_id"], closed["version"]) == (request_id, request["version"] + 1)
    assert api.get(f"/v1/depots/{A_NORTH}").json()["open_requests"] == 0


def test_each_supply_request_gets_its_own_id_and_defaults_to_normal_priority(api):
    seed(api)

    first = created(post(api, "requests", {"item": FFP2, "quantity": 10}))["request_id"]
    second = created(post(api, "requests", {"item": FFP2, "quantity": 10}))["request_id"]

    assert first != second
    assert [event["data"]["priority"] for event in feed(api, type="SupplyRequested")] == ["normal", "normal"]


def test_closing_a_request_twice_is_a_conflict(api):
    seed(api)
    request_id = created(post(api, "requests", {"item": FFP2, "quantity": 10}))["request_id"]
    created(post(api, f"requests/{request_id}/close", {"outcome": "withdrawn"}))

    with nothing_stored(api):
        problem(post(api, f"requests/{request_id}/close", {"outcome": "fulfilled"}), 409)


def test_closing_an_unknown_request_is_404(api):
    seed(api)

    with nothing_stored(api):
        problem(post(api, "requests/R-000000000000/close", {"outcome": "fulfilled"}), 404)


def test_closing_a_request_needs_a_known_outcome(api):
    seed(api)
    request_id = created(post(api, "requests", {"item": FFP2, "quantity": 10}))["request_id"]

    with nothing_stored(api):
        problem(post(api, f"requests/{request_id}/close", {"outcome": "forgotten"}), 422)


# --- stock view ---------------------------------------------------------------------------------


def test_the_stock_view_lists_every_item_the_depot_has_touched(api):
    seed(api)
    receive_stock(api, A_NORTH, 100)
    receive_stock(api, A_NORTH, 400, item=GLOVE)

    body = api.get(f"/v1/depots/{A_NORTH}/stock").json()

    assert [(line["item"], line["on_hand"]) for line in body["items"]] == [(FFP2, 100), (GLOVE, 400)]
    assert body["position"] == api.position()
    assert is_utc_text(body["as_of"]) and is_utc_text(body["known_at"])


def test_the_stock_of_an_unknown_item_is_404(api):
    seed(api)

    assert problem(api.get(f"/v1/depots/{A_NORTH}/stock", item="NOTHING"), 404)["title"] == "Unknown item"
