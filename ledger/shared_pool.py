"""One PostgreSQL connection pool for all the exercise ledgers of a process.

Each `eventsourcing` application opens its own pool, which holds its minimum number of
connections for as long as the application is open. Exercise ledgers are many, each
opened on first use and kept open, and each sees little traffic: with a pool apiece,
every exercise a process touched cost it `pool_size` + 1 server connections until it
stopped, and a few exercises on a server with two workers ran PostgreSQL out of
connections (`max_connections` is 100 by default). Their tables share one database and
schema (prefixed `ex_<code>_`), so they can share one pool: this factory hands every
application built with the same server, database, user and schema the same datastore,
and closes it when the last of them closes.
"""

from __future__ import annotations

import threading

from eventsourcing.postgres import PostgresDatastore
from eventsourcing.utils import Environment, EnvType

from ledger.outage import ResilientPostgresFactory

_lock = threading.Lock()
_shared: dict[tuple[str, ...], tuple[PostgresDatastore, int]] = {}


class SharedPoolPostgresFactory(ResilientPostgresFactory):
    def __init__(self, env: Environment | EnvType | None) -> None:
        super().__init__(env)
        own = self.datastore  # built, not yet opened: it holds no connection
        settings = own.pool.kwargs if isinstance(own.pool.kwargs, dict) else {}  # the library passes a dict
        self._key = tuple(str(settings.get(name, "")) for name in ("host", "port", "dbname", "user")) + (own.schema,)
        with _lock:
            shared, users = _shared.get(self._key, (own, 0))
            _shared[self._key] = (shared, users + 1)
        self.datastore = shared
        self._holding = True

    def close(self) -> None:
        with _lock:
            if not self._holding:
                return
            self._holding = False
            shared, users = _shared[self._key]
            if users > 1:
                _shared[self._key] = (shared, users - 1)
                return
            del _shared[self._key]
        shared.close()
