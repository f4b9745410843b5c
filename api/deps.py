"""Dependencies: who is calling, what they may do, which ledger they act on, and how."""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Annotated

import orjson
from fastapi import Depends, Header, HTTPException, Path, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from domain.access import Role
from ledger.access import Principal
from ledger.application import Context, Ledger
from ledger.exercises import Exercises, Once
from ledger.feed import Feed
from projections.views import Views

bearer = HTTPBearer(auto_error=False, description="A token from `supply-ledger token create` or the demo")


# Dependencies that only read request state are `async`: FastAPI runs sync ones in the
# thread pool, a hop per dependency per request.


ExerciseCodeInPath = Annotated[
    str,
    Path(
        description="The exercise's code, case-insensitive: `EX1` and `ex1` name the same exercise",
        max_length=24,
    ),
]


def exercise_scope(request: Request, exercise: ExerciseCodeInPath) -> None:
    """On routes under `/v1/exercises/{exercise}/`: choose that exercise's ledger (404 if
    there is none) and refuse writes once it has ended (409). Sync: opening a ledger the
    first time touches the database, so it runs in the thread pool."""
    exercises: Exercises = request.app.state.exercises
    opened = exercises.opened(exercise)
    if request.method != "GET":
        exercises.exercise(exercise).running()
    request.state.exercise_ledger = opened


async def get_ledger(request: Request) -> Ledger:
    """The live ledger, or under `/v1/exercises/{exercise}/` that exercise's ledger."""
    opened = getattr(request.state, "exercise_ledger", None)
    return request.app.state.ledger if opened is None else opened.ledger


def feed_for(request: Request) -> Feed:
    opened = getattr(request.state, "exercise_ledger", None)
    return request.app.state.feed if opened is None else opened.feed


async def get_principal(
    request: Request,
    _: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],  # documents the scheme in /docs
) -> Principal:
    """Set by the `Authentication` middleware, which has already refused requests without a valid token."""
    principal = getattr(request.state, "principal", None)
    if principal is None:
        raise HTTPException(401, "a bearer token is required: Authorization: Bearer <token>")
    return principal


def requires(*roles: Role) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that lets only these roles through (admin always may)."""
    allowed = {*roles, "admin"}

    async def check(principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if principal.role not in allowed:
            raise HTTPException(403, f"role {principal.role} may not do this; needs {' or '.join(sorted(allowed))}")
        return principal

    return check


async def get_views(request: Request) -> Views:
    opened = getattr(request.state, "exercise_ledger", None)
    return request.app.state.views if opened is None else opened.views


Reader = Annotated[Principal, Depends(get_principal)]
Writer = Annotated[Principal, Depends(requires("operator", "coordinator"))]
Coordinator = Annotated[Principal, Depends(requires("coordinator"))]
Admin = Annotated[Principal, Depends(requires())]
Evaluator = Annotated[Principal, Depends(requires("auditor"))]
LedgerDep = Annotated[Ledger, Depends(get_ledger)]
ViewsDep = Annotated[Views, Depends(get_views)]

_VERSION = re.compile(r'^\s*(?:W/)?"?(\d{1,18})"?\s*$')
MAX_KEY_LENGTH = 200


async def command_context(
    request: Request,
    principal: Writer,
    idempotency_key: Annotated[
        str | None, Header(alias="Idempotency-Key", description="Retry-safe: a repeat returns the first response")
    ] = None,
) -> Context:
    """Who writes, and under which Idempotency-Key (every command; If-Match only on depot commands)."""
    if idempotency_key is not None and not (0 < len(idempotency_key) <= MAX_KEY_LENGTH):
        raise HTTPException(400, f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters")
    return Context(
        actor=principal.name,
        principal_id=principal.id,
        organisations=principal.writable_organisations,
        request_id=getattr(request.state, "request_id", None) or uuid.uuid4().hex,
        idempotency_key=idempotency_key,
        fingerprint=await _fingerprint(request) if idempotency_key else None,
    )


async def _fingerprint(request: Request) -> str:
    """The same request, whatever its JSON whitespace or key order, has the same fingerprint;
    no body at all is the same request as `{}` (where a body may be left out, it means that)."""
    body = await request.body()
    try:
        canonical = orjson.dumps(orjson.loads(body or b"{}"), option=orjson.OPT_SORT_KEYS)
    except orjson.JSONDecodeError:
        canonical = body
    digest = hashlib.sha256()
    for part in (request.method.encode(), request.url.path.encode(), canonical):
        digest.update(part + b"\0")
    return digest.hexdigest()


CommandContext = Annotated[Context, Depends(command_context)]


async def depot_command_context(
    ctx: CommandContext,
    if_match: Annotated[
        str | None,
        Header(alias="If-Match", description='"<version>": refuse (409) unless the depot is at that version'),
    ] = None,
) -> Context:
    """A depot command's context: it alone may name the depot version it expects (API.md).
    Other writes touch several depots or none, so If-Match would not say which it means."""
    if if_match is None:
        return ctx
    match = _VERSION.match(if_match)
    if match is None:
        raise HTTPException(400, 'If-Match must be a depot version in quotes, e.g. If-Match: "12"')
    return replace(ctx, expected_version=int(match.group(1)))


DepotCommandContext = Annotated[Context, Depends(depot_command_context)]


async def control_once(
    request: Request,
    principal: Annotated[Principal, Depends(get_principal)],
    idempotency_key: Annotated[
        str | None, Header(alias="Idempotency-Key", description="Retry-safe: a repeat returns the first response")
    ] = None,
) -> Once | None:
    """The Idempotency-Key of an exercise control request (create, injects, advance, observations, end)."""
    if idempotency_key is None:
        return None
    if not 0 < len(idempotency_key) <= MAX_KEY_LENGTH:
        raise HTTPException(400, f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters")
    return Once(scope=principal.id, key=idempotency_key, fingerprint=await _fingerprint(request))


OnceDep = Annotated[Once | None, Depends(control_once)]
