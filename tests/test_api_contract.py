"""The OpenAPI document tells the truth about the answers (issue 12, "contract details"):
a 405 names the path's methods in `Allow`; every operation that can answer 400 declares it,
and one that does not declare it never gives it; errors are problem+json as documented;
`/metrics` is text; time parameters say their format."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.api_helpers import PROBLEM_JSON, created, problem, production_logging  # noqa: F401 - autouse fixture
from tests.exercise_world import S

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
EXERCISE = "drill"
FHIR_JSON = "application/fhir+json"


@pytest.fixture
def document(api) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """The OpenAPI document, with an exercise in the ledger so its routes answer past 404."""
    created(
        api.post("/v1/exercises", {"code": EXERCISE, "name": "Drill", "scenario_start": S.isoformat()}, role="admin")
    )
    return api.client.app.openapi()


def refusal(response: Any, status: int, path: str) -> dict[str, Any]:
    """A problem on /v1; on /fhir the same refusal as an OperationOutcome (docs/fhir.md), whose
    first issue's diagnostics is the problem's detail."""
    if not path.startswith("/fhir/"):
        return problem(response, status)
    assert response.status_code == status, (path, response.status_code, response.text)
    assert response.headers["content-type"] == FHIR_JSON, (path, response.headers["content-type"])
    body = response.json()
    assert body["resourceType"] == "OperationOutcome" and body["issue"][0]["severity"] == "error", body
    return {"detail": body["issue"][0]["diagnostics"]}


def concrete(path: str, exercise: str = EXERCISE) -> str:
    """The path with every parameter filled in (an unknown id, the test's exercise)."""
    return re.sub(r"\{[^}]+\}", "x", path.replace("{exercise}", exercise))


def test_a_405_names_in_allow_exactly_the_methods_the_path_answers(api, document) -> None:  # type: ignore[no-untyped-def]
    """`Allow` lists every method that does not answer 405 on that URL (Starlette's own named
    only the first route matching the path: GET on /v1/depots, without POST)."""
    refused = 0
    for path in document["paths"]:
        url = concrete(path, exercise="unknown")  # an unknown exercise: no request here changes one
        answers = {method: api.client.request(method, url, headers=api.headers("admin")) for method in METHODS}
        answered = {method for method, response in answers.items() if response.status_code != 405}
        assert {method.upper() for method in document["paths"][path]} <= answered, path
        allowed = answered | ({"HEAD"} if "GET" in answered else set())
        for method, response in answers.items():
            if response.status_code == 405:
                refusal(response, 405, path)
                assert set(response.headers["Allow"].split(", ")) == allowed, (method, path, response.headers["Allow"])
                refused += 1
    assert refused > 150


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, operation)
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    ]


def test_every_write_declares_400_and_gives_it_for_a_body_that_is_not_text(api, document) -> None:  # type: ignore[no-untyped-def]
    """Every POST and PUT may answer 400 (a body that cannot be read, bad headers), and says
    so; no read declares it, and none gives it, however malformed the request."""
    declaring = {(method, path) for method, path, operation in operations(document) if "400" in operation["responses"]}
    assert declaring == {(method, path) for method, path, _ in operations(document) if method in ("post", "put")}
    for method, path, _ in operations(document):
        response = api.client.request(
            method.upper(),
            concrete(path),
            content=b"\xff\xfe{",
            headers={
                **api.headers("admin"),
                "Content-Type": "application/json",
                "Idempotency-Key": "k" * 201,
                "If-Match": "x",
            },
        )
        if (method, path) in declaring:
            refusal(response, 400, path)
        else:
            assert response.status_code != 400, (method, path, response.text)


@pytest.mark.parametrize(
    ("header", "value"), [("Idempotency-Key", "k" * 201), ("Idempotency-Key", ""), ("If-Match", '"v2"')]
)
def test_each_malformed_header_is_a_declared_400(api, document, header, value) -> None:  # type: ignore[no-untyped-def]
    """Each reason a 400 names, alone, on every operation that reads that header: every write
    but verification reads Idempotency-Key; only the six depot commands read If-Match."""
    reading = {
        (method, path)
        for method, path, operation in operations(document)
        if any(p["in"] == "header" and p["name"] == header for p in operation.get("parameters", ()))
    }
    writes = {(method, path) for method, path, _ in operations(document) if method in ("post", "put")}
    if header == "Idempotency-Key":
        assert reading == {(m, p) for m, p in writes if not p.endswith("/ledger/verify")}
    else:
        assert {path.replace("/v1/exercises/{exercise}", "/v1") for _, path in reading} == {
            f"/v1/depots/{{code}}/{name}" for name in ("receipts", "consumption", "counts", "adjustments", "requests")
        } | {"/v1/depots/{code}/requests/{request_id}/close"}
        assert len(reading) == 12
    for method, path in reading:
        assert header in document["paths"][path][method]["responses"]["400"]["description"]
        response = api.client.request(
            method.upper(), concrete(path), json={}, headers={**api.headers("admin"), header: value}
        )
        assert header in refusal(response, 400, path)["detail"], (method, path)


def test_every_error_is_documented_as_problem_json(document) -> None:  # type: ignore[no-untyped-def]
    assert set(document["components"]["schemas"]["Problem"]["required"]) == {"type", "title", "status", "detail"}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if status[0] in "45":
                    expected = FHIR_JSON if path.startswith("/fhir/") else PROBLEM_JSON  # docs/fhir.md
                    assert list(response["content"]) == [expected], (method, path, status)


def test_metrics_are_documented_and_answered_as_text(api, document) -> None:  # type: ignore[no-untyped-def]
    assert list(document["paths"]["/metrics"]["get"]["responses"]["200"]["content"]) == ["text/plain"]
    response = api.client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")


TIME_PARAMETERS = {"as_of", "known_at", "until", "since"}


def test_time_parameters_say_their_format_with_examples(document) -> None:  # type: ignore[no-untyped-def]
    described = set()
    for path, operations in document["paths"].items():
        for operation in operations.values():
            for parameter in operation.get("parameters", ()):
                name = parameter["name"]
                is_time = name in TIME_PARAMETERS or (name in ("from", "to") and path.endswith("/timeline"))
                if parameter["in"] != "query" or not is_time:
                    continue
                assert "ISO 8601" in parameter["description"] and "1900-2200" in parameter["description"], (path, name)
                assert "2020-03-05" in parameter["schema"]["examples"], (path, name)
                described.add(name)
    assert described == TIME_PARAMETERS | {"from", "to"}
