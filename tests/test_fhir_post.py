"""POST /fhir/InventoryReport: a hospital system reports its own stock as an R5 InventoryReport
(API.md, "Interoperability"; docs/fhir.md), on SQLite and PostgreSQL.

Each posted report is compared with the same figures posted over /v1 to a twin depot: the
two depots' stock views must then be equal in every figure.
"""

from __future__ import annotations

from typing import Any

import orjson
from fhir.resources.inventoryreport import InventoryReport
from fhir.resources.operationoutcome import OperationOutcome

from tests.api_helpers import (
    A_CLINIC,
    A_NORTH,
    B_SOUTH,
    FFP2,
    GLOVE,
    ago,
    created,
    nothing_stored,
    ok,
    production_logging,  # noqa: F401 - autouse
    receive_stock,
    seed,
)
from tests.test_fhir_read import DEPOT_SYSTEM, FHIR_JSON, ITEM_SYSTEM, fhir, outcome


def post(api: Any, resource: object, role: str = "operator") -> Any:
    body = resource if isinstance(resource, bytes) else orjson.dumps(resource)
    headers = {**api.headers(role), "Content-Type": FHIR_JSON}
    return api.client.post("/fhir/InventoryReport", content=body, headers=headers)


def line(item: str, value: object, unit: str | None = "piece", **more: Any) -> dict[str, Any]:
    quantity = {"value": value} | ({"unit": unit} if unit else {})
    return {"item": {"concept": {"coding": [{"system": ITEM_SYSTEM, "code": item}]}} | more, "quantity": quantity}


def report(depot: str, lines: list[dict[str, Any]], at: str, count_type: str = "snapshot", **more: Any) -> dict:
    resource = {
        "resourceType": "InventoryReport",
        "status": "active",
        "countType": count_type,
        "reportedDateTime": at,
        "inventoryListing": [{"location": {"identifier": {"system": DEPOT_SYSTEM, "value": depot}}, "item": lines}],
        **more,
    }
    InventoryReport.model_validate(resource)  # what a hospital system posts is valid FHIR
    return resource


def stock_view(api: Any, depot: str) -> list[dict[str, Any]]:
    return ok(api.get(f"/v1/depots/{depot}/stock"))["items"]


def twins(api: Any) -> None:
    """A-NORTH and A-CLINIC (both org-a, the operator's) with the same history."""
    seed(api)
    for depot in (A_NORTH, A_CLINIC):
        receive_stock(api, depot, 100, occurred_at=ago(days=3))
        receive_stock(api, depot, 50, item=GLOVE, occurred_at=ago(days=3))
        created(api.post(f"/v1/depots/{depot}/consumption", {"item": FFP2, "quantity": 10, "occurred_at": ago(days=2)}))


def test_a_snapshot_report_counts_stock_as_the_same_counts_over_v1_would(api) -> None:  # type: ignore[no-untyped-def]
    twins(api)
    at = ago(hours=1)
    before = api.position()
    answer = fhir(post(api, report(A_NORTH, [line(FFP2, 60), line(GLOVE, 45, "pair")], at)), 201)
    OperationOutcome.model_validate(answer)
    assert answer["issue"][0]["severity"] == "information"
    extensions = {extension["url"]: extension for extension in answer["extension"]}
    assert extensions["urn:supply-ledger:position"]["valueInteger"] == api.position() == before + 3  # 2 counts, record
    for item, counted in ((FFP2, 60), (GLOVE, 45)):
        created(api.post(f"/v1/depots/{A_CLINIC}/counts", {"item": item, "counted": counted, "occurred_at": at}))
    north, clinic = stock_view(api, A_NORTH), stock_view(api, A_CLINIC)
    assert north == clinic
    assert [(line["item"], line["on_hand"]) for line in north] == [(FFP2, 60), (GLOVE, 45)]
    entries = ok(api.get(f"/v1/depots/{A_NORTH}/timeline", item=FFP2))["entries"]
    assert (entries[-1]["type"], entries[-1]["source"], entries[-1]["delta"]) == ("StockCounted", "import", -30)


def test_a_difference_report_is_consumption_and_receipts_as_over_v1(api) -> None:  # type: ignore[no-untyped-def]
    twins(api)
    at, start = ago(hours=1), ago(days=1)
    lot = {
        "resourceType": "InventoryItem",
        "id": "glove-lot",
        "status": "active",
        "instance": {"lotNumber": "L7", "expiry": "2028-01-31"},
    }
    lines = [line(FFP2, -20), line(GLOVE, 30, "pair", reference={"reference": "#glove-lot"}), line(GLOVE, 0, "pair")]
    resource = report(A_NORTH, lines, at, "difference", contained=[lot], reportingPeriod={"start": start, "end": at})
    fhir(post(api, resource), 201)
    consumption = {"item": FFP2, "quantity": 20, "period_start": start, "occurred_at": at}
    created(api.post(f"/v1/depots/{A_CLINIC}/consumption", consumption))
    receipt = {"item": GLOVE, "quantity": 30, "lot": "L7", "expires_on": "2028-01-31", "occurred_at": at}
    created(api.post(f"/v1/depots/{A_CLINIC}/receipts", receipt))
    north, clinic = stock_view(api, A_NORTH), stock_view(api, A_CLINIC)
    assert north == clinic
    assert [(line["item"], line["on_hand"]) for line in north] == [(FFP2, 70), (GLOVE, 80)]
    assert {"lot": "L7", "expires_on": "2028-01-31", "quantity": 30} in north[1]["lots"]


def test_a_report_read_from_get_posts_back_as_counts_that_change_nothing(api) -> None:  # type: ignore[no-untyped-def]
    twins(api)
    before = stock_view(api, A_NORTH)
    resource = fhir(api.get("/fhir/InventoryReport", location=A_NORTH))
    fhir(post(api, resource), 201)
    after = stock_view(api, A_NORTH)
    assert [(line["item"], line["on_hand"]) for line in after] == [(line["item"], line["on_hand"]) for line in before]
    assert [(line["item"], line["on_hand"]) for line in after] == [(FFP2, 90), (GLOVE, 50)]


def test_the_same_report_twice_is_stored_once(api) -> None:  # type: ignore[no-untyped-def]
    twins(api)
    resource = report(A_NORTH, [line(FFP2, 60)], ago(hours=1))
    first = post(api, resource)
    fhir(first, 201)
    assert "Idempotent-Replayed" not in first.headers
    with nothing_stored(api):
        again = post(api, orjson.dumps(dict(reversed(list(resource.items())))))  # other key order: same resource
        assert fhir(again, 201) == first.json()
        assert again.headers["Idempotent-Replayed"] == "true"
    assert [(line["item"], line["on_hand"]) for line in stock_view(api, A_NORTH)] == [(FFP2, 60), (GLOVE, 50)]


def expressions(body: dict[str, Any]) -> list[str]:
    return [expression for issue in body["issue"][1:] for expression in issue.get("expression", [])]


def test_bad_reports_are_refused_whole_with_every_error_and_nothing_stored(api) -> None:  # type: ignore[no-untyped-def]
    twins(api)
    at = ago(hours=1)
    good = report(A_NORTH, [line(FFP2, 60)], at)
    listing = "InventoryReport.inventoryListing[0]"
    cases: list[tuple[object, list[str]]] = [
        ({"resourceType": "Patient"}, ["InventoryReport.resourceType"]),
        ({**good, "status": None, "countType": "sometimes"}, ["InventoryReport.status", "InventoryReport.countType"]),
        (
            report("NOWHERE", [line("NOTHING", 1), line(FFP2, 2.5), line(GLOVE, -1, "pair"), line(FFP2, 1, "box")], at),
            [
                f"{listing}.item[2].quantity.value",  # a snapshot cannot be negative
                f"{listing}.item[3].quantity.unit",  # FFP2 is counted in pieces
                f"{listing}.item[1].quantity.value",  # whole units
            ],
        ),
        (report("NOWHERE", [line("NOTHING", 1)], at), [f"{listing}.location", f"{listing}.item[0].item"]),
        (report(A_NORTH, [line(FFP2, 1)], ago(days=-2)), [f"{listing}.countingDateTime"]),
        (report(A_NORTH, [], at), ["InventoryReport.inventoryListing"]),
        (b"{not json", []),
    ]
    with nothing_stored(api):
        for resource, where in cases:
            refused = outcome(post(api, resource), 422, "invalid")
            assert sorted(expressions(refused)) == sorted(where), (resource, refused)


def test_a_bad_fhir_value_is_reported_where_it_is(api) -> None:  # type: ignore[no-untyped-def]
    twins(api)
    resource = report(A_NORTH, [line(FFP2, 1)], ago(hours=1))
    resource["inventoryListing"][0]["item"][0]["quantity"]["value"] = "many"
    with nothing_stored(api):
        refused = outcome(post(api, resource), 422, "invalid")
    assert expressions(refused) == ["InventoryReport.inventoryListing[0].item[0].quantity.value"]


def test_only_writers_post_and_operators_only_for_their_own_depots(api) -> None:  # type: ignore[no-untyped-def]
    twins(api)
    receive_stock(api, B_SOUTH, 20, occurred_at=ago(days=1))
    at = ago(hours=1)
    with nothing_stored(api):
        outcome(post(api, report(A_NORTH, [line(FFP2, 1)], at), role="auditor"), 403, "forbidden")
        headers = {"Content-Type": FHIR_JSON}
        no_token = api.client.post(
            "/fhir/InventoryReport", content=orjson.dumps(report(A_NORTH, [], at)), headers=headers
        )
        outcome(no_token, 401, "login")
        other = outcome(post(api, report(B_SOUTH, [line(FFP2, 5)], at)), 422, "invalid")  # org-b: not the operator's
        assert expressions(other) == ["InventoryReport.inventoryListing[0].location"]
        assert other["issue"][0]["diagnostics"].startswith(
            "1 mistake in the InventoryReport, nothing stored: InventoryReport.inventoryListing[0].location: "
        ), other
    fhir(post(api, report(B_SOUTH, [line(FFP2, 5)], at), role="coordinator"), 201)
    assert [(line["item"], line["on_hand"]) for line in stock_view(api, B_SOUTH)] == [(FFP2, 5)]
