"""Every storage test runs on SQLite and on PostgreSQL.

PostgreSQL comes from SUPPLY_LEDGER_TEST_POSTGRES_URL (`.ci/run` sets it). Each test run
creates its own database and drops it afterwards; each test gets its own schema in it.
Without the variable the PostgreSQL half is skipped, summed up in one line; under CI (CI=true)
a missing variable or an unreachable server is a failure, never a skip.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Generator, Iterator
from contextlib import ExitStack, contextmanager
from typing import NoReturn
from urllib.parse import urlparse, urlunparse

import psycopg
import pytest

from ledger.application import Ledger
from ledger.settings import Database

# fixtures shared by modules (`second_worker`), requested by name rather than imported into each module
pytest_plugins = ["tests.exercise_world", "tests.console_browser"]

POSTGRES_URL_VARIABLE = "SUPPLY_LEDGER_TEST_POSTGRES_URL"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _with_path(url: str, dbname: str) -> str:
    return urlunparse(urlparse(url)._replace(path=f"/{dbname}"))


@contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """A new database on the server of `server_url`, dropped on leaving."""
    dbname = f"supply_ledger_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server_url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{dbname}"')
    try:
        yield _with_path(server_url, dbname)
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


class PostgresMissing(pytest.skip.Exception):
    """The PostgreSQL half skipped: reported as one line for all of them (see below)."""


def skip_postgres(reason: str) -> NoReturn:
    raise PostgresMissing(reason)


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """A fresh database for this test run, dropped at the end."""
    url = os.environ.get(POSTGRES_URL_VARIABLE)
    if not url:
        if IN_CI:
            pytest.fail(f"{POSTGRES_URL_VARIABLE} is not set: CI must run the PostgreSQL tests")
        skip_postgres(f"PostgreSQL tests need {POSTGRES_URL_VARIABLE}=postgresql://user@host:port/db to run")
    with ExitStack() as stack:
        try:
            database_url = stack.enter_context(fresh_database(url))
        except psycopg.OperationalError as error:
            if IN_CI:
                pytest.fail(f"PostgreSQL at {url} is unreachable: {error}")
            skip_postgres(f"PostgreSQL tests need a reachable server: {url} is unreachable: {error}")
        yield database_url


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Every PostgreSQL skip at one location (`skip_postgres`), so `-ra` folds them into a
    single summary line `SKIPPED [N] ...` instead of one line per test (hundreds)."""
    report: pytest.TestReport = yield
    if report.skipped and call.excinfo is not None and call.excinfo.errisinstance(PostgresMissing):
        reason = f"Skipped: {call.excinfo.value}"  # as pytest words any skip
        report.longrepr = (__file__, skip_postgres.__code__.co_firstlineno, reason)
    return report


def fresh_postgres_schema(server_url: str) -> str:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    # Production fails fast (a pooled connection within 1 s, else 503); tests share a loaded
    # 2-core machine and one server, where a first connection can take longer. The outage tests
    # keep the 1 s on their own servers (tests/fault_helpers.py).
    return f"{server_url}?schema={schema}&pool_size=2&max_overflow=20&connect_timeout=5"


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path) -> str:  # type: ignore[no-untyped-def]
    """A fresh, empty ledger database on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    return fresh_postgres_schema(request.getfixturevalue("postgres_server_url"))


@pytest.fixture
def ledger(database_url: str) -> Iterator[Ledger]:
    app = Ledger(Database(database_url).env())
    yield app
    app.close()


class Api:
    """A TestClient on a fresh ledger, with a token per role (operator of organisation `org-a`)."""

    def __init__(self, client, stores) -> None:  # type: ignore[no-untyped-def]
        self.client = client
        self.stores = stores
        self.tokens = {
            "admin": stores.access.issue("test-admin", "admin"),
            "coordinator": stores.access.issue("test-coordinator", "coordinator"),
            "auditor": stores.access.issue("test-auditor", "auditor"),
            "operator": stores.access.issue("test-operator", "operator", ("org-a",)),
        }

    def headers(self, role: str = "coordinator", **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}", **extra}

    def post(self, path: str, json: object = None, role: str = "coordinator", **headers: str):  # type: ignore[no-untyped-def]
        return self.client.post(path, json=json, headers=self.headers(role, **headers))

    def put(self, path: str, json: object = None, role: str = "coordinator", **headers: str):  # type: ignore[no-untyped-def]
        return self.client.put(path, json=json, headers=self.headers(role, **headers))

    def get(self, path: str, role: str = "auditor", **params: object):  # type: ignore[no-untyped-def]
        return self.client.get(path, params=params, headers=self.headers(role))

    def position(self) -> int:
        return self.stores.ledger.position()


@pytest.fixture
def api(database_url: str) -> Iterator[Api]:
    from fastapi.testclient import TestClient

    from api.app import Stores, create_app

    stores = Stores.open(Database(database_url))
    with TestClient(create_app(stores=stores), raise_server_exceptions=False) as client:
        yield Api(client, stores)
    stores.close()
