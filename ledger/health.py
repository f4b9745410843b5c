"""Whether the ledger's database can be read and written now, answered within a second.

`check()` runs a probe in a thread of its own and stops waiting after `DEADLINE`
seconds, so a server that does not answer makes /healthz say so instead of hanging it.
Reading is not enough: a full disk or a read-only file still answers reads. So the probe
also rewrites the one row of the `health_probe` index table whenever a request found the
store unavailable since the last successful write, and otherwise at most every
`WRITE_PROBE_EVERY` seconds; on SQLite it also checks the file's permissions and the free
space on its disk. The last failure is remembered (`failed`) until a write succeeds
(`wrote`, or the probe's own).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ledger.outage import ResilientPool, StoreUnavailable, unavailable

DEADLINE = 0.7
PROBE_POOL_WAIT = 0.3
WRITE_PROBE_EVERY = 5.0
MIN_FREE_BYTES = 1 << 20


@dataclass(frozen=True)
class Health:
    position: int | None
    problem: str | None  # None: the database answers and can be written

    @property
    def ok(self) -> bool:
        return self.problem is None


class StoreHealth:
    """The health of one ledger's store (its `IndexStore` recorder)."""

    def __init__(self, recorder: Any) -> None:
        self.recorder = recorder
        self._failure: str | None = None
        self._written = 0.0  # monotonic time of the last write known to have succeeded
        self._lock = threading.Lock()
        self._probes = ThreadPoolExecutor(max_workers=2, thread_name_prefix="health-probe")

    def failed(self, reason: str) -> None:
        """A request found the store unavailable."""
        with self._lock:
            self._failure = reason

    def wrote(self) -> None:
        """A write was stored: whatever failed before, writing works now."""
        with self._lock:
            self._failure = None
            self._written = time.monotonic()

    async def check(self) -> Health:
        """Awaited on the event loop, so that neither a busy thread pool nor a database
        that does not answer holds the answer back."""
        try:
            probe = asyncio.wrap_future(self._probes.submit(self._probe))
            position = await asyncio.wait_for(probe, DEADLINE)
        except TimeoutError:
            problem = f"the database did not answer within {DEADLINE:g} s"
        except Exception as error:  # noqa: BLE001 - whatever the probe met, the store is not healthy
            problem = unavailable(error) or f"{type(error).__name__}: {error}"[:200]
        else:
            return Health(position, None)
        self.failed(problem)
        return Health(None, problem)

    def close(self) -> None:
        self._probes.shutdown(wait=False, cancel_futures=True)

    def _probe(self) -> int:
        """The ledger's position; raises if the store cannot be read or, when due, written."""
        store = self.recorder
        read = "SELECT max(position) AS position FROM {t}positions"
        pool = getattr(store.datastore, "pool", None)
        if isinstance(pool, ResilientPool):  # PostgreSQL: a shorter wait than a request's
            pool.open(wait=False)
            with pool.connection(timeout=PROBE_POOL_WAIT) as conn:
                rows = [conn.execute(store._sql(read)).fetchone() or {"position": None}]  # max() of no rows: NULL
        else:
            rows = store.query(read)
        position = int(rows[0]["position"] or 0)
        path = Path(getattr(store.datastore, "db_name", "") or "")
        if path.name and "memory" not in path.name:  # SQLite: what a write would need, without writing
            if not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)):
                raise StoreUnavailable(f"{path} is read-only")
            if shutil.disk_usage(path.parent).free < MIN_FREE_BYTES:
                raise StoreUnavailable(f"the disk holding {path} is full")
        with self._lock:
            due = self._failure is not None or time.monotonic() - self._written > WRITE_PROBE_EVERY
        if due:
            store.write(
                "INSERT INTO {t}health_probe (id, at) VALUES (1, :at) ON CONFLICT (id) DO UPDATE SET at = excluded.at",
                [{"at": datetime.now(UTC).isoformat()}],
            )
            self.wrote()
        return position
