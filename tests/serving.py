"""What tests that run a real `supply-ledger serve` share: a free port, and waiting until
the server answers /healthz (failing at once, with its output, if it exits instead)."""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Callable
from typing import Any

import httpx


def free_port() -> int:
    """A port on 127.0.0.1 nothing listens on (bound and released just now)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_healthy(
    url: str, process: subprocess.Popen[Any], seconds: float = 60, output: Callable[[], str] = lambda: ""
) -> None:
    """Until `url`/healthz answers 200; an AssertionError with `output()` if the server exits
    first or is not healthy within `seconds`."""
    deadline = time.monotonic() + seconds
    with httpx.Client(base_url=url, timeout=2.0) as client:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise AssertionError(f"serve exited with {process.returncode}: {output()[-3000:]}")
            try:
                if client.get("/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
    raise AssertionError(f"serve did not become healthy in {seconds:.0f} s: {output()[-3000:]}")
