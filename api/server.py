"""Running the API under uvicorn, in one process or several sharing one socket."""

from __future__ import annotations

import os
import socket
import sys

import uvicorn
from uvicorn.supervisors import Multiprocess


class _TCPConfig(uvicorn.Config):
    """uvicorn binds the socket that several workers share without naming TCP as its
    protocol, so asyncio never sets TCP_NODELAY on accepted connections and every
    keep-alive response waits for the client's delayed ACK (about 40 ms). Bind it as TCP."""

    def bind_socket(self) -> socket.socket:
        family = socket.AF_INET6 if self.host and ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        sock.set_inheritable(True)
        return sock


SWITCH_INTERVAL = 0.001


def tune_interpreter() -> None:
    """A request holding the ledger's write lock must not wait 5 ms (Python's default
    switch interval) for the GIL while another request computes: every writer waits on it."""
    sys.setswitchinterval(SWITCH_INTERVAL)


def run_workers(host: str, port: int, workers: int) -> None:
    """Several processes, each opening its own stores from SUPPLY_LEDGER_DATABASE_URL.
    uvicorn's own logging setup is left out (`log_config=None`): the supervisor's lines and
    the workers' go through ours, as JSON."""
    from api.observability import configure_logging

    configure_logging(os.environ.get("SUPPLY_LEDGER_LOG_LEVEL", "INFO"))
    config = _TCPConfig(
        "api.app:app_from_environment",
        factory=True,
        workers=workers,
        host=host,
        port=port,
        log_level="warning",
        log_config=None,
        access_log=False,
    )
    Multiprocess(config, sockets=[config.bind_socket()]).run()
