"""Signing in and out, and what every console request depends on: its session (a cookie,
HttpOnly and SameSite=Strict), its role, and for forms the session's CSRF token.

The token a person signs in with is read once, from the sign-in form's body; the browser
keeps only a random session cookie, so the token never appears in a URL, a page or a log.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from api.console.i18n import COOKIE as LANGUAGE_COOKIE
from api.console.i18n import LANGUAGES
from api.console.pages import chrome, local_path, render, see_other
from api.deps import exercise_scope
from domain.exceptions import Forbidden
from ledger.access import TokenRefused
from ledger.console_sessions import ConsoleSessions, SignedIn

SESSION_COOKIE = "sl_session"
SIGN_IN_COOKIE = "sl_sign_in"  # the sign-in form's CSRF token, before there is a session
YEAR = 365 * 24 * 3600


class SignInRequired(Exception):
    """No open session: the page sends the browser to sign in, and back here afterwards."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class FormExpired(Exception):
    """A form posted without its session's CSRF token: refused, nothing stored (403)."""


async def console_request(request: Request) -> None:
    """Every console route: errors become pages (`api.console.errors`), not problem+json."""
    request.state.console = True
    chrome(request)


def sessions(request: Request) -> ConsoleSessions:
    found: ConsoleSessions | None = getattr(request.app.state, "console_sessions", None)
    if found is None:
        found = ConsoleSessions(request.app.state.access)
        request.app.state.console_sessions = found
    return found


def signed_in(request: Request) -> SignedIn:
    """The session's principal, as `request.state.principal` for the service layer and the log."""
    found = sessions(request).find(request.cookies.get(SESSION_COOKIE, ""))
    if found is None:
        raise SignInRequired(chrome(request).path)
    request.state.principal = found.principal
    request.state.actor = found.principal.name
    chrome(request).signed = found
    return found


SignedInDep = Annotated[SignedIn, Depends(signed_in)]


def needs(*roles: str) -> Callable[[SignedIn], SignedIn]:
    """Only these roles (admin always) may open the page; others get a 403 page saying who may."""
    allowed = {*roles, "admin"}

    def check(signed: SignedInDep) -> SignedIn:
        if signed.principal.role not in allowed:
            raise Forbidden(
                f"a {signed.principal.role} may not open this page; it is for {' or '.join(sorted(allowed))}"
            )
        return signed

    return check


def console_exercise(request: Request, exercise: str) -> None:
    """Pages under `/exercises/{exercise}/`: that exercise's ledger (404 if none; writes refused
    once it has ended), drawn in the exercise's own colour."""
    exercise_scope(request, exercise)
    chrome(request).exercise = exercise


async def check_csrf(request: Request, signed: SignedInDep) -> None:
    """Every console POST: the form's `csrf` field must be its session's token."""
    form = await request.form()
    sent = form.get("csrf")
    if not isinstance(sent, str) or not hmac.compare_digest(sent, signed.csrf):
        raise FormExpired()


router = APIRouter(include_in_schema=False, dependencies=[Depends(console_request)])


@router.get("/sign-in", response_class=HTMLResponse)
def sign_in_page(request: Request, next: str | None = None) -> Response:
    return _sign_in_form(request, local_path(next))


def _sign_in_form(request: Request, next_path: str, error: str | None = None, status: int = 200) -> Response:
    token = secrets.token_urlsafe(24)
    page = render(request, "sign_in.html", status=status, next_path=next_path, form_token=token, error=error)
    page.set_cookie(SIGN_IN_COOKIE, token, httponly=True, samesite="strict", secure=_https(request), path="/sign-in")
    return page


@router.post("/sign-in", response_class=HTMLResponse)
async def sign_in(
    request: Request,
    token: Annotated[str, Form(max_length=200)] = "",
    csrf: Annotated[str, Form(max_length=100)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    expected = request.cookies.get(SIGN_IN_COOKIE, "")
    if not expected or not hmac.compare_digest(csrf, expected):
        raise FormExpired()
    try:
        secret, signed = await run_in_threadpool(sessions(request).start, token)
    except TokenRefused as refused:
        return _sign_in_form(request, local_path(next), refused.reason.replace("bearer token", "token"), 401)
    home = "/depots" if signed.principal.role == "operator" else "/"
    response = see_other(local_path(next, home) if next != "/" else home)
    lifetime = int((sessions(request).lifetime).total_seconds())
    response.set_cookie(
        SESSION_COOKIE, secret, max_age=lifetime, httponly=True, samesite="strict", secure=_https(request), path="/"
    )
    response.delete_cookie(SIGN_IN_COOKIE, path="/sign-in")
    return response


@router.post("/sign-out", dependencies=[Depends(check_csrf)])
def sign_out(request: Request) -> Response:
    sessions(request).end(request.cookies.get(SESSION_COOKIE, ""))
    response = see_other("/sign-in")
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict", secure=_https(request))
    return response


@router.get("/language/{language}")
def switch_language(language: str, next: str | None = None) -> Response:
    """The switch on every page: the choice is kept in a cookie for a year."""
    response: Response = RedirectResponse(local_path(next), status_code=303)
    if language in LANGUAGES:
        response.set_cookie(LANGUAGE_COOKIE, language, max_age=YEAR, samesite="lax", path="/")
    return response


def _https(request: Request) -> bool:
    return request.url.scheme == "https"
