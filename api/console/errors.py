"""Errors on console pages are pages: the same refusals the API answers as problem+json,
shown in the reader's language with the problem's own words, and a way back."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from api.console.i18n import N_
from api.console.pages import render, see_other
from api.console.session import FormExpired, SignInRequired
from api.problems import status_of
from domain import exceptions as ex

Handler = Callable[[Request, Any], Response | Awaitable[Response]]


def install(app: FastAPI) -> None:
    """Wraps the API's handlers: a console request gets a page, every other request what it got before."""
    for kind in (ex.LedgerError, RequestValidationError, StarletteHTTPException):
        api_handler = app.exception_handlers.get(kind)
        if api_handler is not None:
            app.exception_handlers[kind] = _or_page(api_handler)

    @app.exception_handler(SignInRequired)
    async def sign_in_first(request: Request, error: SignInRequired) -> Response:
        return see_other(f"/sign-in?next={quote(error.next_path, safe='/')}")

    @app.exception_handler(FormExpired)
    async def form_expired(request: Request, error: FormExpired) -> Response:
        return _page(request, 403, N_("This form has expired"), "reload the page and send the form again")


def _or_page(api_handler: Handler) -> Callable[[Request, Any], Awaitable[Response]]:
    async def handle(request: Request, error: Any) -> Response:
        if not getattr(request.state, "console", False):
            answered = api_handler(request, error)
            return answered if isinstance(answered, Response) else await answered
        if isinstance(error, ex.LedgerError):
            return _page(request, status_of(error), error.title, error.detail)
        if isinstance(error, RequestValidationError):
            where = "; ".join(f"{e['loc'][-1]}: {e['msg']}" for e in error.errors()[:5])
            return _page(request, 422, N_("Invalid request"), where)
        status = error.status_code
        return _page(request, status, N_("Not found") if status == 404 else N_("Error"), str(error.detail))

    return handle


def _page(request: Request, status: int, title: str, detail: str) -> Response:
    return render(request, "error.html", status=status, title=title, detail=detail)
