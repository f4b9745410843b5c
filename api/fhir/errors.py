"""/fhir errors are FHIR OperationOutcomes; /v1 keeps its problem details.

A FHIR client reads an OperationOutcome, not RFC 9457. Rather than a second set of refusals,
every problem the service answers on a /fhir path (from the routes, the exception handlers,
the token check, the body limit, a 500 or 503) is rewritten on its way out: the same status,
an `error` issue whose `code` is FHIR's issue type for that status and whose `diagnostics` is
the problem's `detail`, then one issue per field error with its FHIRPath in `expression`.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import FastAPI
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.fhir.models import FhirOperationOutcome
from api.problems import PROBLEM_JSON

FHIR_JSON = "application/fhir+json"
PREFIX = "/fhir"
ISSUE_TYPE = {
    400: "structure",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    409: "conflict",
    413: "too-costly",
    422: "invalid",
    500: "exception",
    503: "transient",
}
OUTCOME_CONTENT = {FHIR_JSON: {"schema": {"$ref": "#/components/schemas/FhirOperationOutcome"}}}
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "No or bad token (OperationOutcome, issue code `login`)"},
    403: {"description": "Not allowed for this role or organisation (OperationOutcome, `forbidden`)"},
    404: {"description": "Unknown depot, transfer or supply request (OperationOutcome, `not-found`)"},
    409: {"description": "A conflict the ledger reports, as on /v1 (OperationOutcome, `conflict`)"},
    422: {"description": "Invalid request or resource, every error as an issue (OperationOutcome, `invalid`)"},
    500: {"description": "A bug: it is logged with its traceback (OperationOutcome, `exception`)"},
    503: {
        "description": "The database is unavailable: retry after `Retry-After` seconds (OperationOutcome, `transient`)",
        "headers": {"Retry-After": {"description": "Seconds to wait before a retry", "schema": {"type": "integer"}}},
    },
}


def outcome(problem: dict[str, Any]) -> dict[str, Any]:
    """A problem-details body as an OperationOutcome."""
    status = int(problem.get("status") or 500)
    code = ISSUE_TYPE.get(status, "processing")
    issues: list[dict[str, Any]] = [{"severity": "error", "code": code, "diagnostics": str(problem.get("detail", ""))}]
    for error in problem.get("errors") or []:
        loc = [str(part) for part in error.get("loc", [])]
        where = ".".join(loc[1:] if loc[:1] == ["body"] else loc)
        issue = {"severity": "error", "code": code, "diagnostics": str(error.get("msg", ""))}
        issues.append(issue | ({"expression": [where]} if where else {}))
    return FhirOperationOutcome.model_validate({"issue": issues}).model_dump(exclude_none=True)


class OperationOutcomes:
    """ASGI middleware, outermost: on /fhir paths, a problem+json response becomes an OperationOutcome."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PREFIX):
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        body: list[bytes] = []

        async def rewrite(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                if MutableHeaders(raw=message["headers"]).get("content-type", "").startswith(PROBLEM_JSON):
                    start = message
                    return
            elif message["type"] == "http.response.body" and start is not None:
                body.append(message.get("body", b""))
                if message.get("more_body", False):
                    return
                converted = orjson.dumps(outcome(orjson.loads(b"".join(body))))
                headers = MutableHeaders(raw=list(start["headers"]))
                headers["content-type"] = FHIR_JSON
                headers["content-length"] = str(len(converted))
                await send({**start, "headers": headers.raw})
                await send({"type": "http.response.body", "body": converted})
                return
            await send(message)

        await self.app(scope, receive, rewrite)


def document_errors(app: FastAPI) -> None:
    """In /openapi.json, every error of a /fhir operation is an OperationOutcome (after
    `api.openapi` made every error a Problem)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            for path, operations in document["paths"].items():
                if not path.startswith(PREFIX):
                    continue
                for operation in operations.values():
                    for status, response in operation["responses"].items():
                        if status[0] in "45":
                            response["content"] = OUTCOME_CONTENT
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]
