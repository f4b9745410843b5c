"""What the fault tests share: a private PostgreSQL server, a real `serve` process, and
clients that keep writing receipts with Idempotency-Keys while something breaks.

Everything here stops only what it started, by its own data directory or PID.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from ledger.settings import Database
from tests.serving import free_port, wait_healthy

DEPOT = "A-NORTH"
ITEM = "FFP2"


class PrivatePostgres:
    """A PostgreSQL server of the test's own (initdb + pg_ctl) on its own port and data directory.

    Run as `nobody` when the tests run as root (initdb refuses root)."""

    def __init__(self) -> None:
        binaries = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
        assert binaries, "the fault tests need PostgreSQL's server binaries (initdb, pg_ctl)"
        self.bin = Path(binaries[-1]).parent
        self.root = Path(tempfile.mkdtemp(prefix="supply-ledger-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._as = ["runuser", "-u", "nobody", "--"] if os.geteuid() == 0 else []
        if self._as:
            shutil.chown(self.root, "nobody")
        self.root.chmod(0o755)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8")

    def _run(self, tool: str, *args: str) -> None:
        done = subprocess.run([*self._as, str(self.bin / tool), *args], capture_output=True, text=True, timeout=90)
        assert done.returncode == 0, f"{tool} failed: {done.stdout}\n{done.stderr}"

    def start(self) -> None:
        options = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=60"
        self._run(
            "pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.root / "log"), "-w", "-t", "60", "start"
        )

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def remove(self) -> None:
        if self.running():
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


class Service:
    """`python -m api serve` as a user runs it. Its output is drained by a thread (a full
    pipe would stall it) into a file beside the database, which the test can read."""

    def __init__(self, database_url: str, workdir: Path) -> None:
        self.database_url = database_url
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / f"serve-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._drain: threading.Thread | None = None

    def start(self) -> None:
        command = [sys.executable, "-m", "api", "serve", "--database", self.database_url, "--port", str(self.port)]
        self.process = subprocess.Popen(command, cwd=self.workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self._drain = threading.Thread(target=self._copy_output, args=(self.process,), daemon=True)
        self._drain.start()
        wait_healthy(self.url, self.process, 60, self.log)

    def _copy_output(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        with open(self.log_path, "ab") as log:
            for line in process.stdout:
                log.write(line)
                log.flush()

    def log(self) -> str:
        if self._drain is not None and self.process is not None and self.process.poll() is not None:
            self._drain.join(timeout=5)
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    @property
    def token(self) -> str:
        return (self.workdir / Database(self.database_url).token_file("admin")).read_text().strip()

    def kill(self) -> None:
        """SIGKILL, by PID: no shutdown, no flush, as a crash or the OOM killer would."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=10)


def seed(service: Service) -> None:
    with service.client() as client:
        item = {"code": ITEM, "name": "FFP2 respirator", "unit": "piece", "category": "ppe"}
        depot = {
            "code": DEPOT,
            "name": "North regional store",
            "region": "north",
            "organisation": "org-a",
            "kind": "regional",
        }
        assert client.post("/v1/items", json=item).status_code == 201
        assert client.post("/v1/depots", json=depot).status_code == 201


@dataclass
class Answer:
    key: str
    status: int | None  # None: no answer (connection refused or reset)
    seconds: float
    retry_after: str | None
    at: float  # monotonic time the answer came


@dataclass
class Writers:
    """Threads posting one-unit receipts, each with a fresh Idempotency-Key, until stopped."""

    service: Service
    count: int = 3
    pause: float = 0.02
    answers: list[Answer] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> Writers:
        for number in range(self.count):
            thread = threading.Thread(target=self._write, args=(number,), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=30)

    def _write(self, number: int) -> None:
        with httpx.Client(
            base_url=self.service.url, timeout=15, headers={"Authorization": f"Bearer {self.service.token}"}
        ) as client:
            sent = 0
            while not self._stop.is_set():
                key = f"w{number}-{sent}"
                sent += 1
                started = time.monotonic()
                try:
                    response = client.post(
                        f"/v1/depots/{DEPOT}/receipts",
                        json={"item": ITEM, "quantity": 1},
                        headers={"Idempotency-Key": key},
                    )
                    status, retry_after = response.status_code, response.headers.get("retry-after")
                except httpx.HTTPError:
                    status, retry_after = None, None
                now = time.monotonic()
                with self._lock:
                    self.answers.append(Answer(key, status, now - started, retry_after, now))
                time.sleep(self.pause)

    def acknowledged(self) -> set[str]:
        return {answer.key for answer in self.answers if answer.status == 201}

    def unacknowledged(self) -> set[str]:
        return {answer.key for answer in self.answers} - self.acknowledged()


def retry_until_stored(service: Service, keys: set[str], attempts: int = 20) -> None:
    """Send each unacknowledged key again until it is answered 201 (a replay or a first store)."""
    with service.client() as client:
        for key in sorted(keys):
            for _ in range(attempts):
                response = client.post(
                    f"/v1/depots/{DEPOT}/receipts", json={"item": ITEM, "quantity": 1}, headers={"Idempotency-Key": key}
                )
                if response.status_code == 201:
                    break
                time.sleep(0.2)
            else:
                raise AssertionError(f"{key} was never stored: {response.status_code} {response.text}")


def stored_keys(service: Service) -> Counter[str]:
    """How many receipts the ledger holds for each Idempotency-Key, read through the feed."""
    counts: Counter[str] = Counter()
    after = 0
    with service.client() as client:
        while True:
            page = client.get("/v1/events", params={"after": after, "limit": 1000, "type": "ReceiptRecorded"}).json()
            for event in page["events"]:
                counts[event["command_id"]] += 1
            if page["next_after"] == after:
                return counts
            after = page["next_after"]


def on_hand(service: Service) -> int:
    with service.client() as client:
        body = client.get(f"/v1/depots/{DEPOT}/stock", params={"item": ITEM}).json()
    return int(body["items"][0]["on_hand"]) if body["items"] else 0
