"""A small exercise whose every figure is computed by hand (tests/test_exercise_*.py).

Live ledger (tests/api_helpers.py's world), FFP2 only, dated before `t0` (when it is built):

| depot | region | received (t0-20d) | consumed | in the 14 days before the fork | on hand | rate/day |
| --- | --- | --- | --- | --- | --- | --- |
| A-NORTH | north | 1000 | 50 at t0-20d, 140 at t0-1d | 140 | 810 | 10 |
| A-CLINIC | north | 100 | 70 at t0-2d | 70 | 30 | 5 |
| B-SOUTH | south | 300 | 280 at t0-3d | 280 | 20 | 20 |

A-NORTH has an FFP2 obligation of 30 days. The exercise forks the live ledger as known
after all of that, and starts at S = 2020-03-02T00:00Z with the clock standing still.

Injects: a x2 surge in region north for the days ending S+2d and S+3d (I-0001); a delivery
of 50 to B-SOUTH from Acme at S+2d6h (I-0002) that fails, since Acme fails for a day from
S+2d (I-0003); a delivery of 40 to A-CLINIC from Nordic at S+3d12h (I-0004); A-NORTH loses
half its stock to fire at S+1d12h (I-0005); B-SOUTH asks for 100 (critical) at S+1d8h
(I-0006); a message at S+1d (I-0007).

Played (as the players act in `play`):

| end of | A-NORTH | A-CLINIC | B-SOUTH |
| --- | --- | --- | --- |
| day 1 | 810-10 = 800 | 30-5 = 25 | 20-20 = 0 |
| S+1d12h fire | 800-400 = 400 | | |
| day 2 (surge north) | 400-20 = 380 | 25-10 = 15 | 0 (20 unmet) |
| S+2d12h decision | 380-100 = 280 (20 to A-CLINIC, 80 to B-SOUTH, override) | | |
| day 3 (surge north) | 280-20 = 260 | 15-10 = 5 | 0 (20 unmet) |
| S+3d6h receipts | | 5+20 = 25 | 0+75 = 75 (5 lost in transit) |
| S+3d12h delivery | | 25+40 = 65 | |
| day 4 | 260-10 = 250 | 65-5 = 60 | 75-20 = 55 |

So: one stockout (B-SOUTH, S+1d to S+3d, 2 depot-days, 40 unmet); request to allocation
28 h; both transfers 18 h in transit; fill rate 75/100; 5 units lost; one departure.

Had equal days of supply decided at S+2d12h (same state): A-CLINIC 15 on hand, 85 consumed in
the 14-day window; B-SOUTH 0 and 300. Level L with L*85/14 - 15 + L*300/14 = 100, L = 1610/385:
shares 10.39 and 89.61, so lines 10 and 90. B-SOUTH then receives 90: fill rate 0.9, no
loss, no departure, the same 2 stockout days (the transfer arrives after day 3 either way).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.api_helpers import A_CLINIC, A_NORTH, B_SOUTH, FFP2, created, ok, seed, utc

S = datetime(2020, 3, 2, tzinfo=UTC)
DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
CODE = "drill"


def at(days: float = 0, hours: float = 0) -> str:
    return utc(S + days * DAY + hours * HOUR)


def build_live(api: Any) -> datetime:
    """The live ledger above; returns the time to fork at (after it is all recorded)."""
    seed(api)
    t0 = datetime.now(UTC)
    for depot, received in ((A_NORTH, 1000), (A_CLINIC, 100), (B_SOUTH, 300)):
        created(
            api.post(
                f"/v1/depots/{depot}/receipts", {"item": FFP2, "quantity": received, "occurred_at": utc(t0 - 20 * DAY)}
            )
        )
    for depot, quantity, days in ((A_NORTH, 50, 20), (A_NORTH, 140, 1), (A_CLINIC, 70, 2), (B_SOUTH, 280, 3)):
        created(
            api.post(
                f"/v1/depots/{depot}/consumption",
                {"item": FFP2, "quantity": quantity, "occurred_at": utc(t0 - days * DAY)},
            )
        )
    ok(api.put(f"/v1/depots/{A_NORTH}/obligations/{FFP2}", {"min_days": 30}))
    return datetime.now(UTC)


INJECTS = [
    {
        "at": at(1),
        "kind": "consumption_surge",
        "region": "north",
        "item": FFP2,
        "factor": 2,
        "days": 2,
        "title": "Outbreak in the north",
    },
    {"at": at(2, 6), "kind": "delivery", "depot": B_SOUTH, "item": FFP2, "quantity": 50, "supplier": "Acme"},
    {"at": at(2), "kind": "delivery_failure", "supplier": "Acme", "days": 1, "title": "Acme's plant closes"},
    {"at": at(3, 12), "kind": "delivery", "depot": A_CLINIC, "item": FFP2, "quantity": 40, "supplier": "Nordic"},
    {"at": at(1, 12), "kind": "depot_loss", "depot": A_NORTH, "fraction": 0.5, "title": "Fire at the north store"},
    {"at": at(1, 8), "kind": "request", "depot": B_SOUTH, "item": FFP2, "quantity": 100, "priority": "critical"},
    {"at": at(1), "kind": "message", "text": "The ministry asks for a daily situation report."},
]


def create(api: Any, fork_known_at: datetime, code: str = CODE, **extra: Any) -> dict[str, Any]:
    body = {
        "code": code,
        "name": "North outbreak drill",
        "scenario_start": utc(S),
        "fork_known_at": utc(fork_known_at),
        **extra,
    }
    return created(api.post("/v1/exercises", body, role="admin"))


def advance(api: Any, until: str, code: str = CODE) -> dict[str, Any]:
    return ok(api.post(f"/v1/exercises/{code}/advance", {"until": until}, role="admin"))


def play(api: Any, code: str = CODE) -> dict[str, Any]:
    """Everything after creation, as the table above; returns the allocation's answer."""
    created(api.post(f"/v1/exercises/{code}/injects", {"injects": INJECTS}, role="admin"))
    advance(api, at(2, 12), code)
    decision = created(
        api.post(
            f"/v1/exercises/{code}/allocations",
            {
                "from": A_NORTH,
                "item": FFP2,
                "quantity": 100,
                "recipients": [A_CLINIC, B_SOUTH],
                "policy": "equal_days_of_supply",
                "lines": [{"to": A_CLINIC, "quantity": 20}, {"to": B_SOUTH, "quantity": 80}],
                "rationale": "B-SOUTH asked first; the clinic serves the outbreak",
                "dispatch": True,
            },
        )
    )
    advance(api, at(3, 6), code)
    for transfer in decision["transfers"]:
        lines = [{"item": FFP2, "quantity_received": 75}] if transfer["to"] == B_SOUTH else None
        ok(
            api.post(
                f"/v1/exercises/{code}/transfers/{transfer['transfer_id']}/receipt", {"lines": lines} if lines else {}
            )
        )
    advance(api, at(4), code)
    created(
        api.post(
            f"/v1/exercises/{code}/observations",
            {
                "text": "Allocation took a day after the critical request",
                "capability": "Resource allocation",
                "rating": "S",
            },
            role="auditor",
        )
    )
    return decision


@pytest.fixture
def second_worker(api: Any, database_url: str) -> Any:
    """Another app on the `api` fixture's database, as a second worker of `serve --workers 2`
    runs it: its own stores and caches, the same tokens."""
    from fastapi.testclient import TestClient

    from api.app import Stores, create_app
    from ledger.settings import Database

    stores = Stores.open(Database(database_url))
    with TestClient(create_app(stores=stores), raise_server_exceptions=False) as client:
        yield client
    stores.close()
