"""Running the API under uvicorn, in one process or several sharing one socket."""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import socket
import sys
import threading
import time

import uvicorn
from fastapi import FastAPI
from uvicorn.supervisors import Multiprocess

SWITCH_INTERVAL = 0.001
BACKLOG = 2048  # uvicorn's default
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
ORPHAN_CHECK_SECONDS = 0.5
ORPHAN_GRACE_SECONDS = 5.0
"""A worker whose supervisor died is asked to stop (SIGTERM: finish what it is answering,
close its pools); if it is still there this long after, it exits at once."""


def listening_socket(host: str, port: int) -> socket.socket:
    """The server's socket, listening before anything else starts, so a port in use is told at
    once (and connections that arrive while the stores open wait in the backlog).

    Bound as TCP explicitly: uvicorn's own socket for several workers names no protocol, so
    asyncio never sets TCP_NODELAY on accepted connections and every keep-alive response waits
    for the client's delayed ACK (about 40 ms)."""
    family = socket.AF_INET6 if host and ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(BACKLOG)  # now: a socket only bound still lets another SO_REUSEADDR socket bind the port
    except BaseException:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def tune_interpreter() -> None:
    """A request holding the ledger's write lock must not wait 5 ms (Python's default
    switch interval) for the GIL while another request computes: every writer waits on it."""
    sys.setswitchinterval(SWITCH_INTERVAL)


def _config(workers: int, app: FastAPI | str = "api.server:worker_app") -> uvicorn.Config:
    return uvicorn.Config(
        app, factory=isinstance(app, str), workers=workers, log_level="warning", log_config=None, access_log=False
    )


def run_single(sock: socket.socket, app: FastAPI) -> None:
    """One process: the CLI's already-open stores serve on the bound socket."""
    tune_interpreter()
    uvicorn.Server(_config(1, app)).run(sockets=[sock])


def run_workers(sock: socket.socket, workers: int) -> None:
    """Several processes sharing the bound socket, each opening its own stores from
    SUPPLY_LEDGER_DATABASE_URL (the supervisor created the schema before starting them).
    uvicorn's own logging setup is left out (`log_config=None`): the supervisor's lines and
    the workers' go through ours, as JSON."""
    from api.observability import configure_logging

    configure_logging(os.environ.get("SUPPLY_LEDGER_LOG_LEVEL", "INFO"))
    Multiprocess(_config(workers), sockets=[sock]).run()


def worker_app() -> FastAPI:
    """uvicorn's factory in each worker process: dies with its supervisor, then opens its stores."""
    from api.app import create_app
    from ledger.settings import Database

    supervisor = multiprocessing.parent_process()
    if supervisor is not None and supervisor.pid is not None:
        die_with(supervisor.pid)
    tune_interpreter()
    return create_app(Database.from_environment())


def die_with(supervisor: int) -> None:
    """Stop this process when its supervisor dies, however it dies (SIGKILL included), so no
    orphaned worker keeps serving, and keeps the port, after its supervisor is gone.

    Linux sends PR_SET_PDEATHSIG's signal when the parent exits; a thread watching getppid()
    covers other systems and a supervisor that died before the prctl call, and ends the
    process outright if the graceful stop has not finished within ORPHAN_GRACE_SECONDS."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        except (OSError, AttributeError):
            pass
    threading.Thread(target=_watch_supervisor, args=(supervisor,), name="supervisor-watch", daemon=True).start()


def _watch_supervisor(supervisor: int) -> None:
    while os.getppid() == supervisor:
        time.sleep(ORPHAN_CHECK_SECONDS)
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(ORPHAN_GRACE_SECONDS)
    os._exit(1)
