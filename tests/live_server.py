"""The real server as a subprocess, for tests that need real concurrency (threads, workers).

`python -m api serve` on a free port of 127.0.0.1: one process on SQLite, `--workers 2`
on PostgreSQL (as deployed). The ledger's tables and a coordinator token are made in
the test process first, so the workers start on an existing schema. Stopped by its
process group, which this helper created, on leaving.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from ledger.settings import Database
from tests.serving import free_port, wait_healthy

START_TIMEOUT = 60.0


@dataclass
class LiveServer:
    base_url: str
    token: str
    log: Path

    def client(self, **headers: str) -> httpx.Client:
        """A keep-alive client of its own (one per thread)."""
        return httpx.Client(
            base_url=self.base_url, timeout=60.0, headers={"Authorization": f"Bearer {self.token}", **headers}
        )

    def tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-40:])


def _prepare(database_url: str) -> str:
    """Create the stores (tables) once and issue a coordinator token."""
    from api.app import Stores

    stores = Stores.open(Database(database_url))
    try:
        return stores.access.issue("concurrency-test", "coordinator")
    finally:
        stores.close()


@contextmanager
def live_server(database_url: str, workdir: Path) -> Iterator[LiveServer]:
    token = _prepare(database_url)
    port = free_port()
    workers = "2" if Database(database_url).kind == "postgres" else "1"
    argv = [sys.executable, "-m", "api", "serve", "--database", database_url, "--host", "127.0.0.1",
            "--port", str(port), "--workers", workers, "--log-level", "WARNING"]  # fmt: skip
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("SUPPLY_LEDGER_DATABASE_URL", None)
    log = workdir / "serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            argv, cwd=workdir, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )
    server = LiveServer(f"http://127.0.0.1:{port}", token, log)
    try:
        wait_healthy(server.base_url, proc, START_TIMEOUT, server.tail)
        yield server
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=15)
        except ProcessLookupError:
            pass
