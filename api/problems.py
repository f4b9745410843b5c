"""Every failure as RFC 9457 problem details (`application/problem+json`), never a bare 500 for bad input."""

from __future__ import annotations

import re
import traceback
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from domain import exceptions as ex
from ledger.outage import RETRY_AFTER_SECONDS

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://supply-ledger.example/problems/"


class FieldError(BaseModel):
    """One reason a request is not valid: where (`loc`, e.g. `["body", "quantity"]`), why, and its kind."""

    model_config = ConfigDict(extra="allow")

    loc: list[str | int]
    msg: str
    type: str


class Problem(BaseModel):
    """Every error's body (RFC 9457 problem details, `application/problem+json`).

    Besides the standard members a problem carries what a client needs to act on it;
    which members appear depends on the problem (e.g. `available` and `requested` on
    insufficient stock, `errors` on every 422). Clients should ignore members they do not
    know: new ones may be added."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(description="A URI naming the kind of problem", examples=[TYPE_BASE + "insufficient-stock"])
    title: str = Field(description="The kind of problem, in words", examples=["Insufficient stock"])
    status: int = Field(description="The HTTP status code", examples=[409])
    detail: str = Field(description="What went wrong with this request")
    instance: str | None = Field(None, description="This occurrence of the problem, when it has a name")
    errors: list[FieldError] | None = Field(None, description="422: every field error, not just the first")
    available: int | None = Field(None, description="Insufficient stock: what the depot has available")
    requested: int | None = Field(None, description="Insufficient stock, allocation exceeded: what was asked for")
    remaining: int | None = Field(None, description="Allocation exceeded: what the allocation still holds")
    depot: str | None = Field(None, description="The depot concerned")
    item: str | None = Field(None, description="The item concerned")
    lot: str | None = Field(None, description="The lot concerned")
    destination: str | None = Field(None, description="Allocation exceeded: the recipient depot")
    items: list[str] | None = Field(None, description="Receipts: the items the transfer does not carry or exceeds")
    transfer_id: str | None = None
    transfer_status: str | None = Field(None, description="Transfer already closed: received or cancelled")
    allocation_id: str | None = None
    allocation_status: str | None = Field(None, description="Allocation closed: its status")
    recommended_lines: list[dict[str, Any]] | None = Field(
        None, description="Lines that differ without a rationale: the recommendation's lines"
    )
    request_id: str | None = None
    code: str | None = Field(None, description="Duplicate code: the code already registered")
    exercise: str | None = None
    corrects: str | None = Field(None, description="Corrections: the event_id of the corrected event")
    key: str | None = Field(None, description="Idempotency key reused with another request")
    expected: int | None = Field(None, description="Version mismatch: the version If-Match named")
    actual: int | None = Field(None, description="Version mismatch: the depot's version")
    position: int | None = None
    last: int | None = Field(None, description="Position beyond the ledger: its last position")


STATUS = {
    ex.NotFound: 404,
    ex.Conflict: 409,
    ex.InvalidCommand: 422,
    ex.Forbidden: 403,
}


def problem(
    status: int, title: str, detail: str, kind: str | None = None, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    slug = kind or title.lower().replace(" ", "-")
    body = {"type": TYPE_BASE + slug, "title": title, "status": status, "detail": detail, **extra}
    if status == 401:
        headers = {**(headers or {}), "WWW-Authenticate": "Bearer"}
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def invalid_request(errors: list[dict[str, Any]]) -> JSONResponse:
    """422 with every field error, each `{loc, msg, type}`; the detail names the first few."""
    where = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors[:5])
    return problem(422, "Invalid request", f"the request is not valid: {where}", "invalid-request", errors=errors)


def status_of(error: ex.LedgerError) -> int:
    for cls in type(error).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


def _field_errors(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Pydantic's errors as field errors; a validator's own words lose pydantic's "Value error, " prefix,
    which tells a storekeeper nothing (the GS1 label's reason is the message, as docs/gs1.md shows)."""
    return [
        {
            "loc": list(error.get("loc", ())),
            "msg": str(error.get("msg", "")).removeprefix("Value error, "),
            "type": error.get("type", ""),
        }
        for error in errors
    ]


def install(app: FastAPI) -> None:
    @app.exception_handler(ex.LedgerError)
    async def ledger_error(_: Request, error: ex.LedgerError) -> JSONResponse:
        status = status_of(error)
        extra = _jsonable(error.extra)
        if status == 422:
            # Every field error has the `type` the OpenAPI's Problem schema promises.
            errors = extra.get("errors") or [{"loc": ["body"], "msg": error.detail}]
            extra["errors"] = [{**e, "type": e.get("type") or "invalid_command"} for e in errors]
        return problem(status, error.title, error.detail, **extra)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, error: RequestValidationError) -> JSONResponse:
        return invalid_request(_field_errors(list(error.errors())))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> JSONResponse:
        titles = {
            400: "Bad request",
            401: "Unauthorized",
            403: "Forbidden",
            404: "Not found",
            405: "Method not allowed",
        }
        title = titles.get(error.status_code, "Error")
        headers = dict(error.headers or {})
        if error.status_code == 405:
            headers["Allow"] = allowed_methods(request, headers.get("Allow", ""))
        return problem(error.status_code, title, str(error.detail), title.lower().replace(" ", "-"), headers=headers)


def unexpected(reason: str | None) -> JSONResponse:
    """The answer to an exception no handler took, given `reason`, why the store is
    unavailable if that is what the exception means (`ledger.outage.unavailable`).

    A store that cannot be reached or written is no bug: 503 with `Retry-After`. Anything
    else is one (500). A write the store refused stored nothing, or stored everything with
    its Idempotency-Key (in one transaction), so a retry with the same key is safe."""
    if reason is None:
        return problem(500, "Internal error", "the server failed to handle this request; it was logged", "internal")
    response = problem(
        503,
        "Service unavailable",
        f"the database is unavailable ({reason}); retry later, with the same Idempotency-Key for a write",
        "unavailable",
    )
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def traceback_text(error: BaseException) -> str:
    """Formatted here, without local variables, so that no logging setup can render the
    request's Authorization header into the log."""
    return "".join(traceback.format_exception(type(error), error, error.__traceback__))


def allowed_methods(request: Request, fallback: str) -> str:
    """Every method the OpenAPI document gives the request's path (Starlette's own `Allow`,
    the `fallback`, names only the first route that matched, e.g. GET where POST is there too)."""
    templates = getattr(request.app.state, "path_templates", None)
    if templates is None:
        templates = [
            (re.compile("^" + re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(path)) + "$"), {m.upper() for m in methods})
            for path, methods in request.app.openapi()["paths"].items()
        ]
        request.app.state.path_templates = templates
    methods = {m.strip() for m in fallback.split(",") if m.strip()}
    for template, documented in templates:
        if template.match(request.url.path):
            methods |= documented | ({"HEAD"} if "GET" in documented else set())
    return ", ".join(sorted(methods))


RESERVED = {"type", "title", "status", "detail", "instance"}


def _jsonable(extra: dict[str, Any]) -> dict[str, Any]:
    """Extra members of a problem: JSON values, never overriding the standard ones."""
    return {
        k: v if isinstance(v, (str, int, float, bool, list, dict, type(None))) else str(v)
        for k, v in extra.items()
        if k not in RESERVED
    }
