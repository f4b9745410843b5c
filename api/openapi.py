"""The OpenAPI document as a contract clients can check answers against: every error
response is `application/problem+json` with its schema, and every operation that can
answer 400 declares it, with the reasons that operation can have."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from api.deps import MAX_KEY_LENGTH
from api.problems import PROBLEM_JSON

PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "Problem",
    "description": "RFC 9457 problem details; some problems add members (e.g. `available`, `requested`).",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {
            "type": "array",
            "description": "Every field error (422)",
            "items": {
                "type": "object",
                "required": ["loc", "msg", "type"],
                "properties": {
                    "loc": {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]}},
                    "msg": {"type": "string"},
                    "type": {"type": "string"},
                },
            },
        },
    },
}
PROBLEM_CONTENT = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}


def install(app: FastAPI) -> None:
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            declare_errors(generate())
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]


def declare_errors(document: dict[str, Any]) -> None:
    document.setdefault("components", {}).setdefault("schemas", {})["Problem"] = PROBLEM_SCHEMA
    for operations in document["paths"].values():
        for operation in operations.values():
            responses = operation["responses"]
            reasons = _malformed(operation)
            if reasons:
                responses["400"] = {"description": f"Malformed request: {'; '.join(reasons)} (problem+json)"}
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
