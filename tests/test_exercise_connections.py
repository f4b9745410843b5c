"""On PostgreSQL, exercises must not cost server connections one by one.

Each exercise is a ledger of its own, opened on first use and kept open. With a pool
apiece, a process that had touched a handful of exercises held `pool_size` + 1 server
connections for each of them until it stopped, and PostgreSQL (100 connections by
default) ran out. This is about server connections, so there is no SQLite half: SQLite
exercise ledgers are files of the process's own.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from urllib.parse import urlparse, urlunparse

import psycopg
import pytest
from fastapi.testclient import TestClient

from api.app import Stores, create_app
from ledger.settings import Database
from tests.api_helpers import A_NORTH, FFP2, ok
from tests.conftest import Api, fresh_database
from tests.exercise_world import DAY, S, advance, build_live, create, utc


@pytest.fixture
def own_database(postgres_server_url: str) -> Iterator[str]:
    """A database of this test's own, so that counting its server connections counts only ours."""
    with fresh_database(postgres_server_url) as url:
        yield url


def connections(database_url: str) -> int:
    parts = urlparse(database_url)
    with psycopg.connect(urlunparse(parts._replace(path="/postgres", query="")), autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (parts.path.lstrip("/"),)
        ).fetchone()
    assert row is not None
    return int(row[0])


def play_a_day(api: Api, code: str, fork_at) -> None:  # type: ignore[no-untyped-def]
    create(api, fork_at, code=code)
    advance(api, utc(S + DAY), code)
    [line] = ok(api.get(f"/v1/exercises/{code}/depots/{A_NORTH}/stock", item=FFP2))["items"]
    assert line["on_hand"] == 800  # 810 forked, a day at 10 a day


def test_exercises_share_the_server_connections_of_one_pool(own_database: str) -> None:
    url = f"{own_database}?pool_size=2&max_overflow=4"
    stores = Stores.open(Database(url))
    with TestClient(create_app(stores=stores), raise_server_exceptions=False) as client:
        api = Api(client, stores)
        fork_at = build_live(api)
        before = connections(url)
        play_a_day(api, "first", fork_at)
        with_one = connections(url)
        for number in range(2, 8):
            play_a_day(api, f"ex{number}", fork_at)
        with_seven = connections(url)
    stores.close()
    # The exercises' pool: at least its two, at most its six, however many exercises.
    assert before + 2 <= with_one <= before + 6
    assert with_seven == with_one, f"{with_seven - with_one} more connections for six more exercises"

    # Closing the service gives every one of them back (the server notices within moments).
    deadline = time.monotonic() + 5
    while connections(url) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert connections(url) == 0
