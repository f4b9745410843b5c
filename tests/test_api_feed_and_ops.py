"""The ledger feed (GET /v1/events) and operations: health, metrics, request ids."""

from __future__ import annotations

import pytest
from api_helpers import (
    A_CLINIC,
    A_NORTH,
    B_SOUTH,
    FFP2,
    GLOVE,
    created,
    dispatch,
    feed,
    is_utc_text,
    ok,
    problem,
    production_logging,  # noqa: F401 - an autouse fixture
    receive_stock,
    seed,
)

ENTRY_FIELDS = {"position", "depot", "type", "version", "occurred_at", "recorded_at", "actor", "data"}


@pytest.fixture
def busy(api):
    """Seeded (2 items, 3 depots), then 5 more events: a receipt, a consumption, and a
    transfer (two events) and a count."""
    seed(api)
    receive_stock(api, A_NORTH, 100, role="operator")
    created(api.post(f"/v1/depots/{A_NORTH}/consumption", {"item": FFP2, "quantity": 10}, role="operator"))
    created(dispatch(api, A_NORTH, B_SOUTH, 20))
    created(api.post(f"/v1/depots/{B_SOUTH}/counts", {"item": GLOVE, "counted": 7}))
    return api


EXPECTED_TYPES = [
    ("ItemDefined", None),
    ("ItemDefined", None),
    ("DepotRegistered", A_NORTH),
    ("DepotRegistered", A_CLINIC),
    ("DepotRegistered", B_SOUTH),
    ("ReceiptRecorded", A_NORTH),
    ("ConsumptionReported", A_NORTH),
    ("TransferDispatched", A_NORTH),
    ("TransferExpected", B_SOUTH),
    ("StockCounted", B_SOUTH),
]


# --- the feed ---------------------------------------------------------------------------------------


def test_the_feed_lists_every_event_in_position_order(busy):
    page = ok(busy.get("/v1/events"))

    events = page["events"]
    assert [(e["type"], e["depot"]) for e in events] == EXPECTED_TYPES
    positions = [e["position"] for e in events]
    assert positions == sorted(positions) and len(set(positions)) == len(positions)
    assert page["next_after"] == positions[-1] == busy.position()


def test_each_feed_entry_carries_its_envelope_and_data(busy):
    events = ok(busy.get("/v1/events"))["events"]

    for event in events:
        assert ENTRY_FIELDS <= set(event), event
        assert is_utc_text(event["occurred_at"]) and is_utc_text(event["recorded_at"])
        assert isinstance(event["data"], dict)
    receipt = next(e for e in events if e["type"] == "ReceiptRecorded")
    assert (receipt["depot"], receipt["version"], receipt["actor"]) == (A_NORTH, 2, "test-operator")
    assert receipt["data"]["item"] == FFP2
    assert receipt["data"]["quantity"] == 100
    count = next(e for e in events if e["type"] == "StockCounted")
    assert (count["data"]["counted"], count["data"]["book_at_recording"], count["version"]) == (7, 0, 3)
    assert count["actor"] == "test-coordinator"


def test_the_feed_pages_with_after_limit_and_next_after(busy):
    everything = ok(busy.get("/v1/events"))["events"]

    pages, after = [], 0
    while True:
        page = ok(busy.get("/v1/events", after=after, limit=3))
        if not page["events"]:
            assert page["next_after"] == after
            break
        assert len(page["events"]) <= 3
        assert page["next_after"] == page["events"][-1]["position"]
        pages.append(page["events"])
        after = page["next_after"]

    assert [len(p) for p in pages] == [3, 3, 3, 1]
    assert [e for p in pages for e in p] == everything


def test_the_feed_after_a_position_starts_just_after_it(busy):
    everything = ok(busy.get("/v1/events"))["events"]
    fifth = everything[4]["position"]

    page = ok(busy.get("/v1/events", after=fifth, limit=2))

    assert page["events"] == everything[5:7]
    assert ok(busy.get("/v1/events", after=busy.position()))["events"] == []


def test_the_feed_filters_by_depot(busy):
    north = ok(busy.get("/v1/events", depot=A_NORTH))["events"]
    south = ok(busy.get("/v1/events", depot=B_SOUTH))["events"]
    clinic = ok(busy.get("/v1/events", depot=A_CLINIC))["events"]

    assert [e["type"] for e in north] == [
        "DepotRegistered",
        "ReceiptRecorded",
        "ConsumptionReported",
        "TransferDispatched",
    ]
    assert [e["type"] for e in south] == ["DepotRegistered", "TransferExpected", "StockCounted"]
    assert [e["type"] for e in clinic] == ["DepotRegistered"]
    assert {e["depot"] for e in north} == {A_NORTH}
    assert [e["version"] for e in north] == [1, 2, 3, 4]


def test_the_feed_filters_by_type(busy):
    registrations = ok(busy.get("/v1/events", type="DepotRegistered"))["events"]
    transfers = ok(busy.get("/v1/events", type="TransferDispatched"))["events"]

    assert [e["depot"] for e in registrations] == [A_NORTH, A_CLINIC, B_SOUTH]
    assert [(e["depot"], e["data"]["counterpart"]) for e in transfers] == [(A_NORTH, B_SOUTH)]
    assert ok(busy.get("/v1/events", type="TransferCancelled"))["events"] == []


def test_the_feed_filters_by_depot_and_type_together(busy):
    events = ok(busy.get("/v1/events", depot=B_SOUTH, type="StockCounted"))["events"]

    assert [(e["type"], e["depot"]) for e in events] == [("StockCounted", B_SOUTH)]


def test_a_filtered_feed_pages_on_with_next_after(busy):
    seen, after = [], 0
    while True:
        page = ok(busy.get("/v1/events", type="DepotRegistered", after=after, limit=1))
        if not page["events"]:
            break
        seen.extend(e["depot"] for e in page["events"])
        after = page["next_after"]

    assert seen == [A_NORTH, A_CLINIC, B_SOUTH]
    assert feed(busy, depot=A_NORTH) == ok(busy.get("/v1/events", depot=A_NORTH))["events"]


def test_an_unknown_event_type_is_invalid(busy):
    body = problem(busy.get("/v1/events", type="StockStolen"), 422)

    assert "StockStolen" in body["detail"]


def test_an_unknown_depot_in_the_feed_is_404(busy):
    assert problem(busy.get("/v1/events", depot="NOWHERE"), 404)["title"] == "Unknown depot"


def test_the_feed_refuses_bad_paging(busy):
    for params in ({"limit": 0}, {"limit": 1001}, {"limit": "ten"}, {"after": -1}, {"after": "start"}):
        problem(busy.get("/v1/events", **params), 422)


def test_every_reader_may_read_the_feed(busy):
    for role in ("auditor", "operator", "coordinator", "admin"):
        assert len(ok(busy.get("/v1/events", role=role))["events"]) == len(EXPECTED_TYPES)


# --- operations ---------------------------------------------------------------------------------------


def test_healthz_reports_the_service_and_its_database_ok(api):
    response = api.client.get("/healthz")

    body = ok(response)
    assert (body["status"], body["database"]) == ("ok", "ok")


def test_metrics_count_requests_by_route_template_and_status(api):
    seed(api)
    receive_stock(api, A_NORTH, 5)
    problem(api.get("/v1/depots/NOWHERE"), 404)

    response = api.client.get("/metrics")

    assert response.status_code == 200
    text = response.text
    assert "supply_ledger_http_requests_total" in text
    assert (
        'supply_ledger_http_requests_total{method="POST",route="/v1/depots/{code}/receipts",status="201"} 1.0' in text
    )
    assert 'supply_ledger_http_requests_total{method="POST",route="/v1/depots",status="201"} 3.0' in text
    assert 'supply_ledger_http_requests_total{method="GET",route="/v1/depots/{code}",status="404"} 1.0' in text
    assert "supply_ledger_http_request_seconds" in text
    assert "NOWHERE" not in text  # route templates, never raw paths


def test_every_response_carries_an_x_request_id(api):
    seed(api)
    responses = {
        "healthz": api.client.get("/healthz"),
        "metrics": api.client.get("/metrics"),
        "201": api.post(f"/v1/depots/{A_NORTH}/receipts", {"item": FFP2, "quantity": 1}),
        "200": api.get("/v1/items"),
        "401": api.client.get("/v1/items"),
        "403": api.post(f"/v1/depots/{A_NORTH}/receipts", {"item": FFP2, "quantity": 1}, role="auditor"),
        "404": api.get("/v1/depots/NOWHERE"),
        "404 route": api.get("/v1/nothing-here"),
        "405": api.client.delete("/v1/items", headers=api.headers()),
        "409": dispatch(api, A_NORTH, B_SOUTH, 1000),
        "422": api.post(f"/v1/depots/{A_NORTH}/receipts", {"item": FFP2, "quantity": "1"}),
    }

    ids = {}
    for what, response in responses.items():
        assert response.headers.get("x-request-id"), f"no x-request-id on the {what} response"
        ids[what] = response.headers["x-request-id"]
    assert len(set(ids.values())) == len(ids), "each request gets its own id"


def test_a_request_id_sent_by_the_client_is_echoed(api):
    response = api.client.get("/healthz", headers={"X-Request-ID": "trace-0001"})

    assert response.headers["x-request-id"] == "trace-0001"


def test_a_server_error_is_a_problem_with_a_request_id_too(api, monkeypatch):
    seed(api)

    def unavailable() -> int:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(api.stores.ledger, "position", unavailable)
    response = api.get(f"/v1/depots/{A_NORTH}/stock")

    body = problem(response, 500)
    assert "went away" not in body["detail"]  # internals stay in the log
    assert response.headers.get("x-request-id"), "no x-request-id on a 500 response"


def test_healthz_is_503_when_the_database_does_not_answer(api, monkeypatch):
    from ledger.outage import StoreUnavailable

    def away(*args: object, **kwargs: object) -> None:
        raise StoreUnavailable("the database went away")

    monkeypatch.setattr(api.client.app.state.health, "_probe", away)  # tests/test_fault_*.py stop real databases
    response = api.client.get("/healthz")

    assert response.status_code == 503
    assert response.headers["retry-after"] == "2"
    assert response.json() == {"status": "degraded", "database": "unavailable", "detail": "the database went away"}


def test_unknown_routes_and_methods_are_problems(api):
    problem(api.get("/v1/nothing-here"), 404)
    problem(api.client.delete("/v1/items", headers=api.headers()), 405)
