"""`serve --workers N` on PostgreSQL (workers are PostgreSQL-only): it starts every time, even
as two servers on one fresh database at once, and its workers die with their supervisor."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx

from tests.conftest import fresh_database
from tests.serving import free_port, wait_healthy

HEALTHY_SECONDS = 120  # bounds a broken start; a sound one is healthy in seconds
GONE_SECONDS = 10  # PR_SET_PDEATHSIG acts at once; the watchdog within ORPHAN_GRACE_SECONDS


@contextmanager
def _serving(database_url: str, cwd: Path, port: int, workers: int = 2) -> Iterator[subprocess.Popen[str]]:
    small_pools = f"{database_url}?pool_size=1&max_overflow=4"  # the test server's connections are shared
    command = [
        sys.executable,
        "-m",
        "api",
        "serve",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--database",
        small_pools,
        "--log-level",
        "WARNING",
    ]
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
        try:
            process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()


def _output(process: subprocess.Popen[str]) -> Callable[[], str]:
    """What a server that has exited printed (its pipes are read to the end), for the failure."""

    def read() -> str:
        out, err = process.communicate(timeout=30)
        return f"{out}\n{err}"

    return read


def _children(parent: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == parent:
                found.add(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _workers(supervisor: int, count: int) -> set[int]:
    """The supervisor's worker processes, once all `count` have started (uvicorn's spawn may
    add a resource tracker; it is one of the children that must go too)."""
    deadline = time.monotonic() + HEALTHY_SECONDS
    while time.monotonic() < deadline:
        children = _children(supervisor)
        if len(children) >= count:
            return children
        time.sleep(0.2)
    raise AssertionError(f"expected {count} workers of {supervisor}, found {_children(supervisor)}")


def test_two_servers_with_two_workers_each_start_together_on_a_fresh_database(
    postgres_server_url: str, tmp_path: Path
) -> None:
    """Four workers and two supervisors create the schema at the same moment (before the
    advisory lock, one of the two servers failed in 3 of 3 such starts)."""
    with fresh_database(postgres_server_url) as url, ExitStack() as running:
        ports = [free_port(), free_port()]
        servers = [running.enter_context(_serving(url, tmp_path, port)) for port in ports]
        for port, server in zip(ports, servers, strict=True):
            wait_healthy(f"http://127.0.0.1:{port}", server, HEALTHY_SECONDS, output=_output(server))
        for port, server in zip(ports, servers, strict=True):
            assert server.poll() is None
            assert len(_workers(server.pid, 2)) >= 2
            assert httpx.get(f"http://127.0.0.1:{port}/healthz").json()["database"] == "ok"


def test_workers_exit_when_their_supervisor_is_killed_and_the_port_is_free_again(
    postgres_server_url: str, tmp_path: Path
) -> None:
    with fresh_database(postgres_server_url) as url:
        port = free_port()
        with _serving(url, tmp_path, port) as first:
            wait_healthy(f"http://127.0.0.1:{port}", first, HEALTHY_SECONDS, output=_output(first))
            workers = _workers(first.pid, 2)
            os.kill(first.pid, signal.SIGKILL)
            first.wait(timeout=10)
            deadline = time.monotonic() + GONE_SECONDS
            while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
                time.sleep(0.1)
            assert not [pid for pid in workers if _alive(pid)]
        with _serving(url, tmp_path, port) as second:
            wait_healthy(f"http://127.0.0.1:{port}", second, HEALTHY_SECONDS, output=_output(second))
            assert "admin token" not in (second.stdout.readline() if second.stdout else "")
