"""Every `/v1` and `/fhir` request needs a valid bearer token, checked before its body is read, so a
caller without one learns that first (401), whatever else is wrong with the request."""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from api.problems import problem
from ledger.access import TokenRefused

PROTECTED = ("/v1", "/fhir")


class Authentication:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PROTECTED):
            await self.app(scope, receive, send)
            return
        token = _bearer_token(scope)
        if token is None:
            response = problem(401, "Unauthorized", "a bearer token is required: Authorization: Bearer <token>")
            await response(scope, receive, send)
            return
        access = scope["app"].state.access
        try:
            principal = access.cached(token) or await run_in_threadpool(access.check, token)
        except TokenRefused as refused:  # not valid, expired or revoked
            await problem(401, "Unauthorized", refused.reason)(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        state["principal"] = principal
        state["actor"] = principal.name
        await self.app(scope, receive, send)


def _bearer_token(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            token = token.strip()
            return token if scheme.lower() == "bearer" and token else None
    return None
