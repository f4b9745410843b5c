"""GET /fhir: stock as R5 InventoryReports, transfers as SupplyDeliveries, requests as
SupplyRequests (API.md, "Interoperability"; docs/fhir.md), on SQLite and PostgreSQL.

Every resource answered is validated with the `fhir.resources` R5 models, and the stock
figures are those of GET /v1/depots/{code}/stock at the same cut.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from fhir.resources.bundle import Bundle
from fhir.resources.inventoryreport import InventoryReport
from fhir.resources.operationoutcome import OperationOutcome
from fhir.resources.supplydelivery import SupplyDelivery
from fhir.resources.supplyrequest import SupplyRequest

from tests.api_helpers import (
    A_CLINIC,
    A_NORTH,
    B_SOUTH,
    FFP2,
    GLOVE,
    ago,
    created,
    dispatch,
    ok,
    production_logging,  # noqa: F401 - autouse
    receive_stock,
    seed,
)

FHIR_JSON = "application/fhir+json"
ITEM_SYSTEM = "urn:supply-ledger:item"
DEPOT_SYSTEM = "urn:supply-ledger:depot"


def fhir(response: Any, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, f"expected {status}, got {response.status_code}: {response.text}"
    assert response.headers["content-type"].startswith(FHIR_JSON), response.headers["content-type"]
    return response.json()


def outcome(response: Any, status: int, code: str) -> dict[str, Any]:
    """An error as a valid OperationOutcome whose first issue has FHIR's issue type `code`."""
    body = fhir(response, status)
    OperationOutcome.model_validate(body)
    assert body["issue"][0]["severity"] == "error" and body["issue"][0]["code"] == code, body
    return body


def totals(report: dict[str, Any]) -> dict[str, int]:
    """Each item's quantity summed over its lines (a line per lot, one for stock of no known lot)."""
    summed: Counter[str] = Counter()
    for line in report["inventoryListing"][0].get("item", []):
        [coding] = [c for c in line["item"]["concept"]["coding"] if c["system"] == ITEM_SYSTEM]
        summed[coding["code"]] += line["quantity"]["value"]
    return dict(summed)


def v1_on_hand(api: Any, depot: str, **cut: str) -> dict[str, int]:
    return {line["item"]: line["on_hand"] for line in ok(api.get(f"/v1/depots/{depot}/stock", **cut))["items"]}


def stocked_world(api: Any) -> str:
    """A-NORTH: 100 FFP2 of lot L1 three days ago, 40 of no lot and 30 GLOVE two days ago, 25 FFP2
    used yesterday (drawn from L1 first). Returns a time between the first and second day."""
    seed(api)
    receive_stock(api, A_NORTH, 100, lot="L1", expires_on="2027-12-31", occurred_at=ago(days=3))
    receive_stock(api, A_NORTH, 40, occurred_at=ago(days=2))
    receive_stock(api, A_NORTH, 30, item=GLOVE, occurred_at=ago(days=2))
    created(api.post(f"/v1/depots/{A_NORTH}/consumption", {"item": FFP2, "quantity": 25, "occurred_at": ago(days=1)}))
    return ago(days=2.5)


def test_a_depots_inventory_report_is_its_stock_view_split_by_lot(api) -> None:  # type: ignore[no-untyped-def]
    between = stocked_world(api)
    report = fhir(api.get("/fhir/InventoryReport", location=A_NORTH))
    InventoryReport.model_validate(report)
    assert (report["resourceType"], report["status"], report["countType"]) == ("InventoryReport", "active", "snapshot")
    [listing] = report["inventoryListing"]
    assert listing["location"]["identifier"] == {"system": DEPOT_SYSTEM, "value": A_NORTH}
    assert listing["location"]["display"] == "North regional store"
    assert listing["countingDateTime"] == report["reportedDateTime"]
    lines = [
        (line["item"]["concept"]["coding"][0]["code"], line["quantity"], line["item"].get("reference"))
        for line in listing["item"]
    ]
    assert lines == [
        (FFP2, {"value": 75, "unit": "piece"}, {"reference": "#lot1"}),  # 100 of L1 less the 25 used
        (FFP2, {"value": 40, "unit": "piece"}, None),
        (GLOVE, {"value": 30, "unit": "pair"}, None),
    ]
    [lot] = report["contained"]
    assert lot["resourceType"] == "InventoryItem" and lot["id"] == "lot1"
    assert lot["instance"] == {"lotNumber": "L1", "expiry": "2027-12-31"}
    assert lot["code"][0]["coding"][0] == {"system": ITEM_SYSTEM, "code": FFP2, "display": "FFP2 respirator"}
    assert totals(report) == v1_on_hand(api, A_NORTH) == {FFP2: 115, GLOVE: 30}

    past = fhir(api.get("/fhir/InventoryReport", location=A_NORTH, as_of=between))
    InventoryReport.model_validate(past)
    assert totals(past) == v1_on_hand(api, A_NORTH, as_of=between) == {FFP2: 100, GLOVE: 0}  # GLOVE came later
    assert past["reportedDateTime"] == ok(api.get(f"/v1/depots/{A_NORTH}/stock", as_of=between))["as_of"]
    position = api.position()
    receive_stock(api, A_NORTH, 5, occurred_at=ago(days=2.9))  # recorded late: known only from now on
    known_then = fhir(api.get("/fhir/InventoryReport", location=A_NORTH, as_of=between, known_at=f"pos:{position}"))
    assert totals(known_then) == {FFP2: 100, GLOVE: 0}
    assert totals(fhir(api.get("/fhir/InventoryReport", location=A_NORTH, as_of=between))) == {FFP2: 105, GLOVE: 0}


def test_without_a_location_a_searchset_bundle_has_every_depots_report(api) -> None:  # type: ignore[no-untyped-def]
    stocked_world(api)
    receive_stock(api, B_SOUTH, 12, item=GLOVE)
    bundle = fhir(api.get("/fhir/InventoryReport"))
    Bundle.model_validate(bundle)
    assert (bundle["type"], bundle["total"]) == ("searchset", 3)
    reports = [entry["resource"] for entry in bundle["entry"]]
    for report in reports:
        InventoryReport.model_validate(report)
    depots = [report["inventoryListing"][0]["location"]["identifier"]["value"] for report in reports]
    assert depots == [A_CLINIC, A_NORTH, B_SOUTH]
    assert [totals(report) for report in reports] == [{}, {FFP2: 115, GLOVE: 30}, {GLOVE: 12}]
    assert all(entry["fullUrl"].startswith("urn:uuid:") for entry in bundle["entry"])
    assert len({entry["fullUrl"] for entry in bundle["entry"]}) == 3


def test_fhir_errors_are_operation_outcomes(api) -> None:  # type: ignore[no-untyped-def]
    seed(api)
    unknown = outcome(api.get("/fhir/InventoryReport", location="NOWHERE"), 404, "not-found")
    assert "NOWHERE" in unknown["issue"][0]["diagnostics"]
    bad = outcome(api.get("/fhir/InventoryReport", location=A_NORTH, as_of="yesterday"), 422, "invalid")
    assert [issue.get("expression") for issue in bad["issue"][1:]] == [["query.as_of"]]
    outcome(api.client.get("/fhir/InventoryReport"), 401, "login")
    outcome(api.client.get("/fhir/InventoryReport", headers={"Authorization": "Bearer nope"}), 401, "login")
    outcome(api.get("/fhir/SupplyDelivery/T-000000000000"), 404, "not-found")
    outcome(api.get("/fhir/SupplyRequest/R-000000000000"), 404, "not-found")
    # /v1 keeps its problem details
    assert api.get("/v1/depots/NOWHERE/stock").headers["content-type"] == "application/problem+json"


def test_a_transfer_is_a_supply_delivery_in_each_of_its_states(api) -> None:  # type: ignore[no-untyped-def]
    seed(api)
    receive_stock(api, A_NORTH, 100, occurred_at=ago(days=1))
    dispatched_at = ago(hours=5)
    moving = created(dispatch(api, A_NORTH, A_CLINIC, 10, occurred_at=dispatched_at))["transfer_id"]
    delivery = fhir(api.get(f"/fhir/SupplyDelivery/{moving}"))
    SupplyDelivery.model_validate(delivery)
    assert delivery["id"] == moving and delivery["status"] == "in-progress"
    assert delivery["identifier"] == [{"system": "urn:supply-ledger:transfer", "value": moving}]
    assert delivery["supplier"]["identifier"] == {"system": DEPOT_SYSTEM, "value": A_NORTH}
    assert delivery["destination"]["identifier"] == {"system": DEPOT_SYSTEM, "value": A_CLINIC}
    assert delivery["occurrencePeriod"] == {"start": ok(api.get(f"/v1/transfers/{moving}"))["dispatched_at"]}
    [line] = delivery["suppliedItem"]
    assert line["quantity"] == {"value": 10, "unit": "piece"}
    assert line["itemCodeableConcept"]["coding"][0]["code"] == FFP2

    received_at = ago(hours=1)
    body = {"lines": [{"item": FFP2, "quantity_received": 8}], "occurred_at": received_at}
    ok(api.post(f"/v1/transfers/{moving}/receipt", body))
    delivery = fhir(api.get(f"/fhir/SupplyDelivery/{moving}"))
    SupplyDelivery.model_validate(delivery)
    assert delivery["status"] == "completed"
    assert delivery["suppliedItem"][0]["quantity"]["value"] == 8  # what arrived: 2 lost in transit
    transfer = ok(api.get(f"/v1/transfers/{moving}"))
    assert delivery["occurrencePeriod"] == {"start": transfer["dispatched_at"], "end": transfer["received_at"]}

    dropped = created(dispatch(api, A_NORTH, B_SOUTH, 5))["transfer_id"]
    ok(api.post(f"/v1/transfers/{dropped}/cancel", {"reason": "road closed"}))
    delivery = fhir(api.get(f"/fhir/SupplyDelivery/{dropped}"))
    SupplyDelivery.model_validate(delivery)
    assert delivery["status"] == "abandoned"
    assert delivery["occurrencePeriod"]["end"] == ok(api.get(f"/v1/transfers/{dropped}"))["cancelled_at"]


def test_a_supply_request_maps_priority_status_and_dates(api) -> None:  # type: ignore[no-untyped-def]
    seed(api)
    needed_by = "2031-01-15T12:00:00Z"

    def request(priority: str, **fields: Any) -> str:
        body = {"item": FFP2, "quantity": 50, "priority": priority, **fields}
        return created(api.post(f"/v1/depots/{B_SOUTH}/requests", body))["request_id"]

    critical, high, normal = request("critical", needed_by=needed_by), request("high"), request("normal")
    created(api.post(f"/v1/depots/{B_SOUTH}/requests/{critical}/close", {"outcome": "fulfilled"}))
    created(api.post(f"/v1/depots/{B_SOUTH}/requests/{high}/close", {"outcome": "withdrawn"}))
    answers = {}
    for request_id in (critical, high, normal):
        resource = fhir(api.get(f"/fhir/SupplyRequest/{request_id}"))
        SupplyRequest.model_validate(resource)
        answers[request_id] = resource
    assert [(answers[r]["priority"], answers[r]["status"]) for r in (critical, high, normal)] == [
        ("stat", "completed"),
        ("urgent", "cancelled"),
        ("routine", "active"),
    ]
    first = answers[critical]
    assert first["id"] == critical and first["occurrenceDateTime"] == needed_by
    assert first["deliverTo"]["identifier"] == {"system": DEPOT_SYSTEM, "value": B_SOUTH}
    assert first["quantity"] == {"value": 50, "unit": "piece"}
    assert first["item"]["concept"]["coding"][0] == {"system": ITEM_SYSTEM, "code": FFP2, "display": "FFP2 respirator"}
    assert "occurrenceDateTime" not in answers[normal]


def test_readers_may_read_fhir_and_every_role_has_the_same_answer(api) -> None:  # type: ignore[no-untyped-def]
    stocked_world(api)
    answers = [fhir(api.get("/fhir/InventoryReport", role=role, location=A_NORTH)) for role in api.tokens]
    assert all(totals(answer) == {FFP2: 115, GLOVE: 30} for answer in answers)
