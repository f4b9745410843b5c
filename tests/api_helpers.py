"""Small helpers shared by the HTTP-level tests (tests/test_api_*.py).

The world they set up is always the same, so that tests read like the rules they check:

- items `FFP2` (respirators, ppe) and `GLOVE` (nitrile gloves, ppe);
- depots `A-NORTH` (org-a, region north, regional), `A-CLINIC` (org-a, region north,
  municipal) and `B-SOUTH` (org-b, region south, hospital, population 50 000).

The `api` fixture's operator belongs to org-a: it may write to A-NORTH and A-CLINIC only.

Test modules import `production_logging` (autouse): requests are logged as
`supply-ledger serve` logs them, one JSON line each, to the captured stderr.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import structlog

from api.observability import configure_logging

PROBLEM_JSON = "application/problem+json"

FFP2 = "FFP2"
GLOVE = "GLOVE"
A_NORTH = "A-NORTH"
A_CLINIC = "A-CLINIC"
B_SOUTH = "B-SOUTH"

ITEMS = [
    {"code": FFP2, "name": "FFP2 respirator", "unit": "piece", "category": "ppe"},
    {"code": GLOVE, "name": "Nitrile glove", "unit": "pair", "category": "ppe"},
]
DEPOTS = [
    {"code": A_NORTH, "name": "North regional store", "region": "north", "organisation": "org-a", "kind": "regional"},
    {"code": A_CLINIC, "name": "North clinic", "region": "north", "organisation": "org-a", "kind": "municipal"},
    {
        "code": B_SOUTH,
        "name": "South hospital",
        "region": "south",
        "organisation": "org-b",
        "kind": "hospital",
        "population_served": 50_000,
    },
]

ENVELOPE_FIELDS = {"event_id", "depot", "version", "position", "recorded_at", "warnings"}


def seed(api: Any) -> None:
    """The two items and three depots above, registered by the coordinator."""
    for item in ITEMS:
        created(api.post("/v1/items", item))
    for depot in DEPOTS:
        created(api.post("/v1/depots", depot))


def created(response: Any, status: int = 201) -> dict[str, Any]:
    """The JSON body of a successful response, failing with the body when the status differs."""
    assert response.status_code == status, f"expected {status}, got {response.status_code}: {response.text}"
    assert response.headers["content-type"].startswith("application/json"), response.headers["content-type"]
    return response.json()


def ok(response: Any) -> dict[str, Any]:
    return created(response, 200)


def problem(response: Any, status: int, field_errors: bool = True) -> dict[str, Any]:
    """An RFC 9457 problem with the given status: `type`, `title`, `status`, `detail`;
    a 422 also lists its field errors in `errors` (`field_errors=False` leaves that to
    tests/test_api_bad_input.py::test_every_422_lists_the_field_in_error, so that a test
    of another rule checks that rule)."""
    assert response.status_code == status, f"expected {status}, got {response.status_code}: {response.text}"
    assert response.headers["content-type"].split(";")[0] == PROBLEM_JSON, response.headers["content-type"]
    body = response.json()
    for member in ("type", "title", "status", "detail"):
        assert member in body, f"problem without {member}: {body}"
    assert body["status"] == status
    assert isinstance(body["type"], str) and body["type"]
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    if status == 422 and field_errors:
        assert isinstance(body.get("errors"), list) and body["errors"], f"a 422 without field errors: {body}"
    return body


def error_locations(body: dict[str, Any]) -> set[str]:
    """The field errors of a 422 as dotted paths, e.g. {"body.quantity"}."""
    return {".".join(str(part) for part in error["loc"]) for error in body["errors"]}


def receive_stock(api: Any, depot: str, quantity: int, item: str = FFP2, role: str = "coordinator", **fields: Any):
    """A receipt of `quantity` at `depot`; returns the command's answer."""
    return created(api.post(f"/v1/depots/{depot}/receipts", {"item": item, "quantity": quantity, **fields}, role=role))


def stock(api: Any, depot: str, item: str = FFP2) -> dict[str, Any]:
    """The depot's stock line for one item (GET /v1/depots/{code}/stock?item=)."""
    body = ok(api.get(f"/v1/depots/{depot}/stock", item=item))
    assert body["depot"] == depot
    [line] = body["items"]
    assert line["item"] == item
    return line


def on_hand(api: Any, depot: str, item: str = FFP2) -> int:
    return stock(api, depot, item)["on_hand"]


def dispatch(
    api: Any,
    source: str,
    destination: str,
    quantity: int,
    item: str = FFP2,
    role: str = "coordinator",
    headers: dict[str, str] | None = None,
    **fields: Any,
):
    """A transfer of one line (`fields` go into the body); returns the raw response."""
    body = {"from": source, "to": destination, "lines": [{"item": item, "quantity": quantity}], **fields}
    return api.post("/v1/transfers", body, role=role, **(headers or {}))


def feed(api: Any, **params: Any) -> list[dict[str, Any]]:
    """Every event of the ledger feed, paging until the end."""
    events: list[dict[str, Any]] = []
    after = params.pop("after", 0)
    while True:
        page = ok(api.get("/v1/events", after=after, limit=1000, **params))
        events.extend(page["events"])
        if not page["events"]:
            return events
        after = page["next_after"]


@contextmanager
def nothing_stored(api: Any) -> Iterator[None]:
    """Asserts that the block stores nothing: same ledger position, same feed."""
    position, before = api.position(), feed(api)
    yield
    assert api.position() == position, "the ledger position moved"
    assert feed(api) == before, "the ledger feed changed"


def utc(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def ago(**delta: float) -> str:
    """A time in the past (or future, with negative values), as ISO 8601 with `Z`."""
    return utc(datetime.now(UTC) - timedelta(**delta))


def is_utc_text(value: str) -> bool:
    """ISO 8601 in UTC with a `Z` suffix, as every response writes its times."""
    if not isinstance(value, str) or not value.endswith("Z"):
        return False
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed.utcoffset() == timedelta(0)


class _CurrentStderr:
    """Whatever `sys.stderr` is when a line is written (pytest swaps it between phases)."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


@pytest.fixture(autouse=True)
def production_logging() -> Iterator[None]:
    """The JSON logging `supply-ledger serve` configures, for the length of one test.

    Loggers are not cached, so nothing keeps a test's captured stream afterwards, and the
    previous structlog configuration is put back."""
    previous = structlog.get_config()
    configure_logging("INFO")
    structlog.configure(
        cache_logger_on_first_use=False, logger_factory=structlog.PrintLoggerFactory(file=_CurrentStderr())
    )
    try:
        yield
    finally:
        structlog.configure(**previous)


def race(count: int, action):  # type: ignore[no-untyped-def]
    """Runs `action(i)` on `count` threads released together; returns their results in order."""
    start = threading.Barrier(count)

    def run(i: int):  # type: ignore[no-untyped-def]
        start.wait()
        return action(i)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


def legacy_token(access: Any, name: str, role: str = "admin", organisations: tuple[str, ...] = ()) -> str:
    """A token stored as before names were claimed, when nothing stopped two tokens sharing
    a name; returns the token."""
    from domain.access import Token, TokenIssued
    from domain.ids import token_id
    from ledger.access import hash_token

    token = f"sl_legacy_{name}_{role}"
    token_hash = hash_token(token)
    access.save(
        Token.start(
            TokenIssued,
            token_id(token_hash),
            name=name,
            role=role,
            organisations=organisations,
            token_hash=token_hash,
            issued_by="cli",
        )
    )
    return token
