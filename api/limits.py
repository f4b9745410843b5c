"""Bounds on what one request can make the server hold or parse.

- Body size: at most `SUPPLY_LEDGER_MAX_BODY_BYTES` (default 10 MiB). A declared
  `Content-Length` over it is refused before a byte is read; a chunked body is counted
  as it arrives and refused once it passes the limit, the rest never read.
- JSON nesting: at most `MAX_JSON_DEPTH` levels. The stdlib parser FastAPI uses, the
  request fingerprint and the error rendering all recurse, so a body nested thousands deep
  would otherwise end in RecursionError. No request of this API nests beyond a handful.

Both answer problem+json (413, 422) and store nothing. Every route takes a JSON body of
bounded size, so the body is read here in full and handed on in one piece.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.problems import problem

MAX_BODY_VARIABLE = "SUPPLY_LEDGER_MAX_BODY_BYTES"
DEFAULT_MAX_BODY_BYTES = 10 * 1024 * 1024
MAX_JSON_DEPTH = 32

_FOLD = bytes.maketrans(b"{}", b"[]")
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b'[]{}"')


class BadLimit(ValueError):
    """A limit set in the environment that is not a positive whole number of bytes."""


def max_body_bytes(environ: Mapping[str, str] = os.environ) -> int:
    text = environ.get(MAX_BODY_VARIABLE, "").strip()
    if not text:
        return DEFAULT_MAX_BODY_BYTES
    if not text.isdigit() or int(text) < 1:
        raise BadLimit(
            f"{MAX_BODY_VARIABLE}={text!r}: give the largest request body accepted, in bytes (e.g. 10485760)"
        )
    return int(text)


def nested_too_deep(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether JSON text nests arrays and objects deeper than `limit`, found with byte
    operations instead of a parse: escapes and string contents dropped, braces folded
    into brackets, then the innermost `[]` pairs peeled off once per level. Text that is
    not JSON is left to the parser, unless it opens more than `limit` levels in a row."""
    if body.count(b"[") + body.count(b"{") <= limit:
        return False
    text = body.replace(b"\\\\", b"").replace(b'\\"', b"").translate(_FOLD, _NOT_STRUCTURE)
    brackets = b"".join(text.split(b'"')[::2])  # outside strings: the even pieces between quotes
    for peeled in range(limit):
        if peeled + len(brackets) // 2 <= limit:  # too few brackets left to go deeper
            return False
        inner = brackets.replace(b"[]", b"")
        if len(inner) == len(brackets):  # unbalanced: not JSON
            return b"[" * (limit + 1) in inner
        brackets = inner
    return bool(brackets)


class BodyLimit:
    """ASGI middleware: the size limit and the nesting bound, before any route sees the body."""

    def __init__(self, app: ASGIApp, max_bytes: int | None = None) -> None:
        self.app = app
        self.max_bytes = max_body_bytes() if max_bytes is None else max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if not ("content-length" in headers or "transfer-encoding" in headers):
            await self.app(scope, receive, send)
            return
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._too_large(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._too_large(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        del chunks
        if nested_too_deep(body):
            detail = f"the JSON body nests deeper than {MAX_JSON_DEPTH} levels"
            error = {"loc": ["body"], "msg": detail, "type": "json_too_deep"}
            await problem(422, "Invalid request", detail, "invalid-request", errors=[error])(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem(
            413, "Content too large", f"the request body is larger than {self.max_bytes} bytes", "content-too-large"
        )
        response.headers["Connection"] = "close"  # the rest of the body is never read
        await response(scope, receive, send)


def _replay(body: bytes, receive: Receive) -> Receive:
    """The body already read, as one message; after it, the connection's own messages."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay
