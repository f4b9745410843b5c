"""When the database is away: fail within about two seconds, and come back by itself.

A database that is down, full or read-only is not a bug in the request: callers get
"store unavailable" (`StoreUnavailable`, or any error `unavailable()` recognises), which
the API answers with 503 and `Retry-After`. A write that fails this way stored nothing,
or stored everything with its Idempotency-Key, so repeating it is safe.

PostgreSQL needs help from us to fail fast. The library's recorders retry every
connection error ten times, and its pool waits `POSTGRES_CONNECT_TIMEOUT` for a
connection on each try; psycopg_pool keeps reconnecting in the background with a
backoff that grows to minutes, and lends out connections the server closed while they
sat idle. Measured before this module: requests hung up to 37 s during an outage and
failed for another 22 s after it. `ResilientPostgresFactory` therefore tunes the pool
the library builds (`harden`): a wait for a connection (POSTGRES_CONNECT_TIMEOUT, one
second by default, `ledger.settings`; `OUTAGE_WAIT` once an outage is known) that ends in
`StoreUnavailable`, which the library does not retry; reconnection attempts that give up
after a second or two so that waiting requests start fresh ones; a bounded connect time;
and, once a connection comes back broken, a check of every idle connection so the dead
ones go at once instead of one failed request each.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from typing import Any

import psycopg
import psycopg_pool
from eventsourcing.persistence import ConnectionUnavailableError
from eventsourcing.postgres import ConnectionPool
from eventsourcing.utils import Environment, EnvType
from psycopg import Connection
from psycopg.rows import DictRow

from ledger.schema_lock import SchemaLockedPostgresFactory

OUTAGE_WAIT = 0.25
"""Seconds a request waits for a connection once the pool knows the database is away (a
connection broke or none came in time, and none has worked since): the first request
of an outage waits the full time-out, the others are answered 503 at once."""
RECONNECT_SECONDS = 1.5
"""How long one background reconnection keeps trying; then a waiting request starts another."""
CONNECT_TIMEOUT = 2
"""Seconds to establish one connection (libpq's minimum), for a server that does not answer at all."""
RETRY_AFTER_SECONDS = 2


class StoreUnavailable(Exception):
    """The database cannot be reached or written just now; retrying later is the remedy."""


# Messages of SQLite's errors that mean the file cannot be written or read now, as
# opposed to a malformed statement (which is a bug and stays one).
SQLITE_UNAVAILABLE = (
    "database or disk is full",
    "readonly database",
    "disk i/o error",
    "unable to open database",
    "database is locked",
)
# PostgreSQL error classes that mean unwritable or unreachable, beyond the connection ones:
# read-only transaction, insufficient resources (disk full, out of memory, too many
# connections), operator intervention (shutdown, cannot connect now).
POSTGRES_UNAVAILABLE = ("25006", "53", "57P01", "57P02", "57P03", "08")


def unavailable(error: BaseException) -> str | None:
    """Why `error` means the store is unavailable (a short reason), or None if it does not.

    The library wraps psycopg's and sqlite3's errors in its own classes, so the chain of
    causes is read, not only the error itself."""
    return next((reason for cause in causes(error) if (reason := _reason(cause)) is not None), None)


def causes(error: BaseException, depth: int = 8) -> Iterator[BaseException]:
    """`error` and what it was raised from, outermost first (at most `depth` of them): what the
    driver said is often wrapped in the library's own exception classes."""
    current: BaseException | None = error
    while current is not None and depth > 0:
        yield current
        current = current.__cause__ or current.__context__
        depth -= 1


def _reason(error: BaseException) -> str | None:
    if isinstance(error, StoreUnavailable):
        return str(error)
    if isinstance(error, ConnectionUnavailableError):  # the library's own pool (SQLite) timed out
        return _first_line(error)
    if isinstance(error, (psycopg_pool.PoolTimeout, psycopg_pool.TooManyRequests, psycopg_pool.PoolClosed)):
        return "no database connection became available"
    if isinstance(error, psycopg.Error):
        state = error.sqlstate or ""
        if isinstance(error, (psycopg.OperationalError, psycopg.InterfaceError)) or state.startswith(
            POSTGRES_UNAVAILABLE
        ):
            return _first_line(error)
        return None
    if isinstance(error, sqlite3.Error):
        text = str(error).lower()
        if any(message in text for message in SQLITE_UNAVAILABLE):
            return _first_line(error)
    return None


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return (text[0] if text else type(error).__name__)[:200]


# --- PostgreSQL -----------------------------------------------------------------------------


class ResilientPool(ConnectionPool[Connection[DictRow]]):
    """The library's pool, failing fast and noticing an outage (see the module docstring).

    Instances are the library's own pool with this class swapped in by `harden`, so that
    the settings the library parsed and passed to it stay the only copy."""

    _outage_lock: threading.Lock
    _checking: bool
    _down: bool  # a connection broke or none came in time, and none has worked since

    def getconn(self, timeout: float | None = None) -> Any:
        if timeout is None:
            timeout = OUTAGE_WAIT if self._down else self.timeout
        try:
            return super().getconn(timeout)
        except psycopg_pool.PoolTimeout as error:
            self._down = True
            self._check_idle()  # also asks the pool to grow: a fresh connection attempt
            raise StoreUnavailable(f"no database connection within {timeout:g} s") from error

    def putconn(self, conn: Any) -> None:
        broken = conn.broken or conn.closed
        super().putconn(conn)
        self._down = broken
        if broken:
            self._check_idle()

    def _check_idle(self) -> None:
        """Test the idle connections in the background (once at a time): after the server
        went away they are all dead, and each would otherwise fail one request."""
        with self._outage_lock:
            if self._checking or self.closed:
                return
            self._checking = True

        def check() -> None:
            try:
                self.check()
            except Exception:  # noqa: BLE001, S110 - a closed pool or a dead server: nothing to check
                pass
            finally:
                self._checking = False

        threading.Thread(target=check, name="pool-check", daemon=True).start()


def harden(pool: ConnectionPool[Connection[DictRow]]) -> None:
    """Make the library's (not yet opened) pool a `ResilientPool` with our timeouts."""
    pool.__class__ = ResilientPool
    assert isinstance(pool, ResilientPool)  # it is one now (and the type checker knows)
    pool._outage_lock = threading.Lock()
    pool._checking = False
    pool._down = False
    pool.reconnect_timeout = RECONNECT_SECONDS
    if isinstance(pool.kwargs, dict):
        pool.kwargs["connect_timeout"] = CONNECT_TIMEOUT


class ResilientPostgresFactory(SchemaLockedPostgresFactory):
    """The library's PostgreSQL persistence, with `harden`ed connection pools (and its schema
    created under the database's schema lock)."""

    def __init__(self, env: Environment | EnvType | None) -> None:
        super().__init__(env)
        harden(self.datastore.pool)
