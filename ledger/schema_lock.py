"""Creating a ledger's PostgreSQL tables and functions one process at a time.

The `eventsourcing` library creates every store's tables, indexes and functions when the
store opens (`CREATE ... IF NOT EXISTS`, `CREATE OR REPLACE FUNCTION`). Two processes doing
that at once on one database (the workers of `serve --workers N`, or two hosts starting
together) collide in PostgreSQL's catalogue: `tuple concurrently updated`, and the start
fails. This factory runs each store's creation under one session-level advisory lock of
the database, so the second creator waits for the first and then finds everything there.
The lock is a session lock on its own connection: it is released if the holder dies.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import psycopg
from eventsourcing.persistence import OperationalError
from eventsourcing.postgres import PostgresDatastore, PostgresFactory, PostgresRecorder

SCHEMA_LOCK = 0x5350_4C53_4348_4D41  # "SPLSCHMA": one key per database, shared by every store
R = TypeVar("R")


def side_connection(pool: Any, connect_timeout: int) -> psycopg.Connection[Any]:
    """An autocommit connection to a store's database beside its pool, for a session-level
    advisory lock: a lock held on a pooled connection would go back to the pool with it, and
    a pool of one would wait for the connection holding the lock. `connect_timeout` applies
    unless the pool's own settings name one."""
    settings = {key: value for key, value in (pool.kwargs or {}).items() if key not in ("row_factory", "autocommit")}
    settings.setdefault("connect_timeout", connect_timeout)
    return psycopg.connect(pool.conninfo, autocommit=True, **settings)


@contextmanager
def schema_lock(datastore: PostgresDatastore) -> Iterator[None]:
    """Hold the database's schema-creation lock (waits for another holder to finish), on a
    `side_connection`: creation itself needs a pool connection."""
    pool = datastore.pool
    try:
        connection = side_connection(pool, max(1, int(pool.timeout)))
    except psycopg.OperationalError as error:  # as the library raises it from its own connections
        raise OperationalError(str(error)) from error
    with connection:
        connection.execute("SELECT pg_advisory_lock(%s)", (SCHEMA_LOCK,))
        try:
            yield
        finally:
            connection.execute("SELECT pg_advisory_unlock(%s)", (SCHEMA_LOCK,))


class SchemaLockedPostgresFactory(PostgresFactory):
    """The library's PostgreSQL factory, creating each recorder's schema under `schema_lock`."""

    def env_create_table(self) -> bool:
        return False  # the library's own creation, outside the lock, never runs; see _created

    def _created(self, recorder: R) -> R:
        if super().env_create_table():  # the CREATE_TABLE setting, as the library reads it
            if not isinstance(recorder, PostgresRecorder):
                raise TypeError(f"{type(recorder).__name__} is not a PostgreSQL recorder: it cannot create its tables")
            with schema_lock(self.datastore):
                recorder.create_table()
        return recorder

    def aggregate_recorder(self, purpose: str = "events") -> Any:
        return self._created(super().aggregate_recorder(purpose))

    def application_recorder(self) -> Any:
        return self._created(super().application_recorder())

    def tracking_recorder(self, tracking_recorder_class: Any = None) -> Any:
        return self._created(super().tracking_recorder(tracking_recorder_class))

    def process_recorder(self) -> Any:
        return self._created(super().process_recorder())


Factory = SchemaLockedPostgresFactory
