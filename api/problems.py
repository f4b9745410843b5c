"""Every failure as RFC 9457 problem details (`application/problem+json`), never a bare 500 for bad input."""

from __future__ import annotations

import traceback
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from domain import exceptions as ex
from ledger.outage import RETRY_AFTER_SECONDS, unavailable

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://supply-ledger.example/problems/"

STATUS = {
    ex.NotFound: 404,
    ex.Conflict: 409,
    ex.InvalidCommand: 422,
    ex.Forbidden: 403,
}

def problem(status: int, title: str, detail: str, kind: str | None = None, **extra: Any) -> JSONResponse:
    slug = kind or title.lower().replace(" ", "-")
    body = {"type": TYPE_BASE + slug, "title": title, "status": status, "detail": detail, **extra}
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def status_of(error: ex.LedgerError) -> int:
    for cls in type(error).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 400


def _field_errors(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {"loc": list(error.get("loc", ())), "msg": error.get("msg", ""), "type": error.get("type", "")}
        for error in errors
    ]


def install(app: FastAPI) -> None:
    @app.exception_handler(ex.LedgerError)
    async def ledger_error(_: Request, error: ex.LedgerError) -> JSONResponse:
        status = status_of(error)
        extra = _jsonable(error.extra)
        if status == 422 and "errors" not in extra:
            extra["errors"] = [{"loc": ["body"], "msg": error.detail, "type": "invalid_command"}]
        return problem(status, error.title, error.detail, **extra)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, error: RequestValidationError) -> JSONResponse:
        errors = _field_errors(list(error.errors()))
        where = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in errors[:5])
        return problem(422, "Invalid request", f"the request is not valid: {where}", "invalid-request", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, error: StarletteHTTPException) -> JSONResponse:
        titles = {401: "Unauthorized", 403: "Forbidden", 404: "Not found", 405: "Method not allowed"}
        title = titles.get(error.status_code, "Error")
        return problem(error.status_code, title, str(error.detail), title.lower().replace(" ", "-"))


def unexpected(error: Exception) -> tuple[JSONResponse, str | None]:
    """The answer to an exception no handler took, and why the store is unavailable if it is.

    A store that cannot be reached or written is no bug: 503 with `Retry-After`. Anything
    else is one (500). A write the store refused stored nothing, or stored everything with
    its Idempotency-Key (in one transaction), so a retry with the same key is safe."""
    reason = unavailable(error)
    if reason is None:
        return problem(500, "Internal error", "the server failed to handle this request; it was logged", "internal"), None
    response = problem(
        503,
        "Service unavailable",
        f"the database is unavailable ({reason}); retry later, with the same Idempotency-Key for a write",
        "unavailable",
    )
    response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response, reason


def traceback_text(error: BaseException) -> str:
    """Formatted here, without local variables, so that no logging setup can render the
    request's Authorization header into the log."""
    return "".join(traceback.format_exception(type(error), error, error.__traceback__))


RESERVED = {"type", "title", "status", "detail", "instance"}


def _jsonable(extra: dict[str, Any]) -> dict[str, Any]:
    """Extra members of a problem: JSON values, never overriding the standard ones."""
    return {
        k: v if isinstance(v, (str, int, float, bool, list, dict, type(None))) else str(v)
        for k, v in extra.items()
        if k not in RESERVED
    }
