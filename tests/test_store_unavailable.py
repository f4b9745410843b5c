"""Which errors mean "the store is unavailable" (503, retry later) and which are bugs (500).

The fault tests meet some of these for real (a stopped server, a read-only server, a file
the kernel will not let grow); the rest are named here as the drivers raise them, wrapped
the way the `eventsourcing` library wraps them."""

from __future__ import annotations

import sqlite3

import psycopg
import psycopg_pool
import pytest
from eventsourcing.persistence import ConnectionUnavailableError, OperationalError, ProgrammingError

from ledger.outage import StoreUnavailable, unavailable


def wrapped(library_error: type[Exception], driver_error: Exception) -> Exception:
    try:
        try:
            raise driver_error
        except Exception as error:
            raise library_error(str(error)) from error
    except Exception as error:  # noqa: BLE001 - the wrapped error, with its cause, is the point
        return error


@pytest.mark.parametrize(
    "error",
    [
        wrapped(OperationalError, sqlite3.OperationalError("database or disk is full")),
        wrapped(OperationalError, sqlite3.OperationalError("attempt to write a readonly database")),
        wrapped(OperationalError, sqlite3.OperationalError("disk I/O error")),
        wrapped(OperationalError, sqlite3.OperationalError("unable to open database file")),
        wrapped(OperationalError, psycopg_pool.PoolTimeout("couldn't get a connection after 1.00 sec")),
        wrapped(OperationalError, psycopg.OperationalError("server closed the connection unexpectedly")),
        wrapped(OperationalError, psycopg.errors.AdminShutdown("terminating connection due to administrator command")),
        wrapped(OperationalError, psycopg.errors.DiskFull("could not extend file")),
        psycopg.errors.ReadOnlySqlTransaction("cannot execute INSERT in a read-only transaction"),
        ConnectionUnavailableError("timed out waiting for a connection"),
        StoreUnavailable("no database connection within 1 s"),
    ],
    ids=lambda error: str(error)[:40],
)
def test_an_unreachable_or_unwritable_store_is_unavailable(error: Exception) -> None:
    assert unavailable(error)


@pytest.mark.parametrize(
    "error",
    [
        wrapped(OperationalError, sqlite3.OperationalError('near "SELEC": syntax error')),
        wrapped(OperationalError, sqlite3.OperationalError("no such table: sl_movements")),
        wrapped(ProgrammingError, psycopg.errors.UndefinedTable('relation "x" does not exist')),
        ZeroDivisionError("a bug"),
    ],
    ids=lambda error: str(error)[:40],
)
def test_a_bug_is_not_an_unavailable_store(error: Exception) -> None:
    assert unavailable(error) is None
