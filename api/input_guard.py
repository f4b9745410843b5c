"""Refuses a NUL character in the path, the query or a header before any route sees it.

PostgreSQL cannot store or compare text holding NUL (\\x00), and no person types it: it is
always bad input, answered 422 like every other invalid request. Request bodies are checked
by the commands themselves (`domain.commands.Command`)."""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.types import ASGIApp, Receive, Scope, Send

from api.problems import invalid_request
from domain.commands import NUL_MESSAGE


class RefuseNul:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            errors = nul_errors(scope)
            if errors:
                await invalid_request(errors)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def nul_errors(scope: Scope) -> list[dict[str, object]]:
    """A field error for each place of the request that holds a NUL character."""
    errors: list[dict[str, object]] = []
    if "\x00" in scope["path"]:
        errors.append({"loc": ["path"], "msg": NUL_MESSAGE, "type": "nul_character"})
    query = scope.get("query_string", b"").decode("latin-1")
    if "\x00" in query or "%00" in query:
        for name, value in parse_qsl(query, keep_blank_values=True):
            if "\x00" in name or "\x00" in value:
                errors.append({"loc": ["query", name.replace("\x00", "")], "msg": NUL_MESSAGE, "type": "nul_character"})
    for name, value in scope.get("headers", ()):
        if b"\x00" in value:
            errors.append({"loc": ["header", name.decode("latin-1")], "msg": NUL_MESSAGE, "type": "nul_character"})
    return errors
