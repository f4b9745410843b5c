"""The OpenAPI document as a contract clients can check answers against: every error
response is `application/problem+json` with the `Problem` schema (`api.problems.Problem`,
so a generated client reads errors as a typed model), every operation that can answer 400
declares it, with the reasons that operation can have, and every `/v1` operation declares
the 500 and 503 any of them may give."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from api.deps import MAX_KEY_LENGTH
from api.problems import PROBLEM_JSON, Problem

PROBLEM_CONTENT = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
EVERY_CALL: dict[str, dict[str, Any]] = {
    "500": {"description": "A bug: it is logged with its traceback; the connection stays usable (problem+json)"},
    "503": {
        "description": "The database is unavailable (down, full or read-only): retry after `Retry-After` "
        "seconds, a write with the same Idempotency-Key (problem+json)",
        "headers": {"Retry-After": {"description": "Seconds to wait before a retry", "schema": {"type": "integer"}}},
    },
}
WITH_A_BODY: dict[str, dict[str, Any]] = {
    "413": {"description": "The request body is larger than the service accepts (problem+json)"}
}
FASTAPI_VALIDATION = ("HTTPValidationError", "ValidationError")
"""FastAPI's own 422 body, which `api.problems` never answers: it answers a Problem."""


def install(app: FastAPI) -> None:
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            declare_errors(generate())
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]


def declare_errors(document: dict[str, Any]) -> None:
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}", mode="serialization")
    schemas.update(problem.pop("$defs", {}))
    schemas["Problem"] = problem
    for name in FASTAPI_VALIDATION:
        schemas.pop(name, None)
    for path, operations in document["paths"].items():
        for operation in operations.values():
            responses = operation["responses"]
            reasons = _malformed(operation)
            if reasons:
                responses["400"] = {"description": f"Malformed request: {'; '.join(reasons)} (problem+json)"}
            if path.startswith("/v1/"):
                for status, response in {**(WITH_A_BODY if "requestBody" in operation else {}), **EVERY_CALL}.items():
                    responses.setdefault(status, dict(response))
            for status, response in responses.items():
                # 422 replaces FastAPI's own HTTPValidationError: `api.problems` answers it as a
                # problem. Any other error a route documents with its own content keeps it.
                if status[0] in "45" and ("content" not in response or status == "422"):
                    response["content"] = PROBLEM_CONTENT


def _malformed(operation: dict[str, Any]) -> list[str]:
    """Why this operation may answer 400: what it reads that FastAPI or `api.deps` refuse with it."""
    headers = {parameter["name"] for parameter in operation.get("parameters", ()) if parameter["in"] == "header"}
    reasons = []
    if "requestBody" in operation:
        reasons.append("a body that cannot be read as JSON text")
    if "Idempotency-Key" in headers:
        reasons.append(f"an empty Idempotency-Key or one over {MAX_KEY_LENGTH} characters")
    if "If-Match" in headers:
        reasons.append('an If-Match that is not a depot version in quotes, e.g. "12"')
    return reasons
