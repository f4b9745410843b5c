"""Idempotency over HTTP (API.md, Conventions): a POST repeated with the same
`Idempotency-Key` and body gets the original response back and stores nothing new."""

from __future__ import annotations

from api_helpers import (
    A_NORTH,
    B_SOUTH,
    FFP2,
    created,
    dispatch,
    feed,
    nothing_stored,
    ok,
    on_hand,
    problem,
    production_logging,  # noqa: F401 - an autouse fixture
    race,
    receive_stock,
    seed,
    stock,
)

RECEIPT = {"item": FFP2, "quantity": 10, "lot": "L-1", "note": "pallet 4"}


def key(value: str, **more: str) -> dict[str, str]:
    return {"Idempotency-Key": value, **more}


def replayed(response) -> bool:
    return response.headers.get("Idempotent-Replayed") == "true"


# --- depot commands ------------------------------------------------------------------------------


def test_a_repeat_with_the_same_key_and_body_returns_the_original_response_and_stores_nothing(api):
    seed(api)
    first = api.post(f"/v1/depots/{A_NORTH}/receipts", RECEIPT, role="operator", **key("receipt-1"))
    original = created(first)
    assert not replayed(first)

    with nothing_stored(api):
        again = api.post(f"/v1/depots/{A_NORTH}/receipts", RECEIPT, role="operator", **key("receipt-1"))

    assert again.status_code == 201
    assert again.json() == original
    assert replayed(again)
    assert on_hand(api, A_NORTH) == 10


def test_the_key_is_the_command_id_of_the_stored_event(api):
    seed(api)

    api.post(f"/v1/depots/{A_NORTH}/receipts", RECEIPT, role="operator", **key("receipt-1"))

    [event] = feed(api, type="ReceiptRecorded")
    assert event["command_id"] == "receipt-1"


def test_a_replay_keeps_warnings_and_variance_of_the_original_answer(api):
    seed(api)
    receive_stock(api, A_NORTH, 100)
    count = {"item": FFP2, "counted": 93}
    original = created(api.post(f"/v1/depots/{A_NORTH}/counts", count, **key("count-1")))
    created(api.post(f"/v1/depots/{A_NORTH}/consumption", {"item": FFP2, "quantity": 3}))

    with nothing_stored(api):
        again = api.post(f"/v1/depots/{A_NORTH}/counts", count, **key("count-1"))

    assert created(again) == original
    assert (original["variance"], len(original["warnings"])) == (-7, 1)
    assert on_hand(api, A_NORTH) == 90


def test_a_repeat_is_the_same_request_whatever_its_json_whitespace_or_key_order(api):
    seed(api)
    headers = {**api.headers("operator"), "Content-Type": "application/json", **key("receipt-1")}
    url = f"/v1/depots/{A_NORTH}/receipts"
    original = created(api.client.post(url, content=b'{"item": "FFP2", "quantity": 10}', headers=headers))

    with nothing_stored(api):
        again = api.client.post(url, content=b'{\n  "quantity": 10,\n  "item": "FFP2"\n}', headers=headers)

    assert (again.status_code, again.json(), replayed(again)) == (201, original, True)


def test_a_retry_after_the_depot_moved_on_still_gets_the_original_answer(api):
    seed(api)
    version = ok(api.get(f"/v1/depots/{A_NORTH}"))["version"]
    headers = key("receipt-1", **{"If-Match": f'"{version}"'})
    original = created(api.post(f"/v1/depots/{A_NORTH}/receipts", RECEIPT, **headers))
    receive_stock(api, A_NORTH, 5)

    with nothing_stored(api):
        again = api.post(f"/v1/depots/{A_NORTH}/receipts", RECEIPT, **headers)

    assert (again.status_code, again.json(), replayed(again)) == (201, original, True)


def test_the_same_key_with_a_different_body_is_a_conflict(api):
    seed(api)
    created(api.post(f"/v1/depots/{A_NORTH}/receipts", RECEIPT, role="operator", **key("receipt-1")))

    with nothing_stored(api):
        body = problem(
            api.post(
                f"/v1/depots/{A_NORTH}/receipts", {**RECEIPT, "quantity": 11}, role="operator", **key("receipt-1")
            ),
            409,
        )
        assert "receipt-1" in body["detail"]
        problem(
            api.post(
                f"/v1/depots/{A_NORTH}/consumption", {"item": FFP2, "quantity": 10}, role="operator", **key("receipt-1")
            ),
            409,
        )

    assert on_hand(api, A_NORTH) == 10


def test_keys_are_per_principal(api):
    seed(api)
    mine = created(api.post(f"/v1/depots/{A_NORTH}/receipts", RECEIPT, role="operator", **key("shared-key")))

    theirs = api.post(f"/v1/depots/{A_NORTH}/receipts", RECEIPT, role="coordinator", **key("shared-key"))

    assert created(theirs)["event_id"] != mine["event_id"]
    assert not replayed(theirs)
    assert on_hand(api, A_NORTH) == 20
    assert [e["actor"] for e in feed(api, type="ReceiptRecorded")] == ["test-operator", "test-coordinator"]


def test_concurrent_requests_with_the_same_key_store_exactly_one_event(api):
    seed(api)

    responses = race(8, lambda i: api.post(f"/v1/depots/{A_NORTH}/receipts", RECEIPT, role="operator", **key("racing")))

    assert [r.status_code for r in responses] == [201] * 8
    assert len({r.json()["event_id"] for r in responses}) == 1
    assert len({r.json()["position"] for r in responses}) == 1
    assert sum(not replayed(r) for r in responses) == 1
    assert [e["command_id"] for e in feed(api, type="ReceiptRecorded")] == ["racing"]
    assert on_hand(api, A_NORTH) == 10


def test_without_a_key_a_repeat_is_a_new_command(api):
    seed(api)

    created(api.post(f"/v1/depots/{A_NORTH}/receipts", RECEIPT))
    created(api.post(f"/v1/depots/{A_NORTH}/receipts", RECEIPT))

    assert on_hand(api, A_NORTH) == 20


# --- reference data --------------------------------------------------------------------------------


def test_a_repeated_registration_with_its_key_is_a_replay_not_a_duplicate(api):
    depot = {"code": "C-EAST", "name": "East", "region": "east", "organisation": "org-c", "kind": "municipal"}
    item = {"code": "MASK", "name": "Mask", "unit": "piece", "category": "ppe"}
    first_depot = created(api.post("/v1/depots", depot, **key("depot-1")))
    first_item = created(api.post("/v1/items", item, **key("item-1")))

    with nothing_stored(api):
        again_depot = api.post("/v1/depots", depot, **key("depot-1"))
        again_item = api.post("/v1/items", item, **key("item-1"))

    assert (again_depot.status_code, again_depot.json(), replayed(again_depot)) == (201, first_depot, True)
    assert (again_item.status_code, again_item.json(), replayed(again_item)) == (201, first_item, True)
    problem(api.post("/v1/depots", depot), 409)


# --- transfers ----------------------------------------------------------------------------------


def test_a_replayed_dispatch_returns_the_same_transfer_and_moves_stock_once(api):
    seed(api)
    receive_stock(api, A_NORTH, 100)
    original = created(dispatch(api, A_NORTH, B_SOUTH, 30, role="operator", headers=key("dispatch-1")))

    with nothing_stored(api):
        again = dispatch(api, A_NORTH, B_SOUTH, 30, role="operator", headers=key("dispatch-1"))

    assert (again.status_code, again.json(), replayed(again)) == (201, original, True)
    line = stock(api, A_NORTH)
    assert (line["on_hand"], line["in_transit_out"]) == (70, 30)
    assert [t["transfer_id"] for t in ok(api.get("/v1/transfers"))["transfers"]] == [original["transfer_id"]]


def test_a_replayed_dispatch_is_answered_even_when_the_stock_has_gone_since(api):
    seed(api)
    receive_stock(api, A_NORTH, 30)
    original = created(dispatch(api, A_NORTH, B_SOUTH, 30, headers=key("dispatch-1")))

    again = dispatch(api, A_NORTH, B_SOUTH, 30, headers=key("dispatch-1"))

    assert (again.status_code, again.json(), replayed(again)) == (201, original, True)
    assert on_hand(api, A_NORTH) == 0


def test_concurrent_dispatches_with_the_same_key_make_one_transfer(api):
    seed(api)
    receive_stock(api, A_NORTH, 100)

    responses = race(6, lambda i: dispatch(api, A_NORTH, B_SOUTH, 30, headers=key("dispatch-race")))

    assert [r.status_code for r in responses] == [201] * 6
    assert len({r.json()["transfer_id"] for r in responses}) == 1
    assert len(ok(api.get("/v1/transfers"))["transfers"]) == 1
    line = stock(api, A_NORTH)
    assert (line["on_hand"], line["in_transit_out"]) == (70, 30)
    assert stock(api, B_SOUTH)["in_transit_in"] == 30


def test_a_replayed_receipt_of_a_transfer_returns_the_original_answer(api):
    seed(api)
    receive_stock(api, A_NORTH, 100)
    transfer_id = created(dispatch(api, A_NORTH, B_SOUTH, 30))["transfer_id"]
    body = {"lines": [{"item": FFP2, "quantity_received": 27}]}
    original = ok(api.post(f"/v1/transfers/{transfer_id}/receipt", body, **key("arrival-1")))

    with nothing_stored(api):
        again = api.post(f"/v1/transfers/{transfer_id}/receipt", body, **key("arrival-1"))

    assert (again.status_code, again.json(), replayed(again)) == (200, original, True)
    assert original["shortfall"] == [{"item": FFP2, "quantity_dispatched": 30, "quantity_received": 27, "shortfall": 3}]
    assert on_hand(api, B_SOUTH) == 27


def test_a_replayed_cancellation_returns_the_original_answer(api):
    seed(api)
    receive_stock(api, A_NORTH, 100)
    transfer_id = created(dispatch(api, A_NORTH, B_SOUTH, 30))["transfer_id"]
    original = ok(api.post(f"/v1/transfers/{transfer_id}/cancel", {"reason": "no driver"}, **key("cancel-1")))

    with nothing_stored(api):
        again = api.post(f"/v1/transfers/{transfer_id}/cancel", {"reason": "no driver"}, **key("cancel-1"))

    assert (again.status_code, again.json(), replayed(again)) == (200, original, True)
    assert on_hand(api, A_NORTH) == 100
