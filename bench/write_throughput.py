#!/usr/bin/env python3
"""Write throughput of depot commands through the real HTTP stack on PostgreSQL.

What it does, in one run:

1. creates a scratch PostgreSQL database on `--server-url` (bench/scratch.py);
2. measures two baselines in that database: single-row `INSERT` + `COMMIT` transactions from
   one psycopg connection (autocommit off) into a scratch table, and the `eventsourcing`
   library's own single-event save rate (a plain `Application`, one new one-event aggregate
   per `save()`, one thread) -- the INSERT baseline mostly measures the disk's flushes, so
   only the second compares across machines;
3. starts the real server as a subprocess (`supply-ledger serve --database ... --port ...`),
   reads the admin token it prints on first start, and sets up one item and `--depots`
   depots with an initial receipt each through the API;
4. for each client count in `--clients`: that many client processes, each with its own
   keep-alive `httpx.Client`, send depot commands back-to-back (70% consumption reports,
   20% receipts, 10% stock counts) to their own subset of depots for `--warmup` +
   `--duration` seconds; only the commands completed in the measured window count;
5. prints commands/s and latency percentiles beside the baseline, the CPU split between
   the server, PostgreSQL and the clients, and the machine, as Markdown for
   docs/benchmarks.md;
6. optionally (`--profile`) runs one more phase at the largest client count with py-spy
   attached to the server and summarises where the server spends its samples (this phase
   is not part of the figures above, since sampling slows the server down);
7. terminates the server and drops the database, also on failure or Ctrl-C.

All traffic goes to 127.0.0.1 (and to the PostgreSQL server given). Every loop ends by time.

    . .venv/bin/activate
    python bench/write_throughput.py                 # 10 s per phase, 1, 4 and 8 clients
    python bench/write_throughput.py --duration 5 --clients 1,2,4 --profile
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import multiprocessing as mp
import os
import platform
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import psycopg

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
from scratch import scratch_database  # noqa: E402 - bench/ is not a package

ITEM = "BENCH-GLOVES"
MIX = (("consumption", 0.70), ("receipts", 0.20), ("counts", 0.10))
INITIAL_STOCK = 1_000_000
HEALTH_TIMEOUT = 60.0
REQUEST_TIMEOUT = 30.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# --- small helpers ---------------------------------------------------------------------------


def percentile(sorted_values: list[float], p: float) -> float:
    """Nearest-rank percentile of an already sorted list (nan when empty)."""
    if not sorted_values:
        return float("nan")
    rank = max(1, min(len(sorted_values), int(round(p / 100.0 * len(sorted_values) + 0.5))))
    return sorted_values[rank - 1]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def machine() -> dict[str, str]:
    cpu_model = "unknown"
    mem_total = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_total = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    try:
        nproc = subprocess.run(["nproc"], capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        nproc = str(len(os.sched_getaffinity(0)))
    try:
        commit = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5
        ).stdout.strip()
        changed = subprocess.run(
            ["git", "-C", str(REPO), "diff", "--name-only", "HEAD"], capture_output=True, text=True, timeout=10
        ).stdout.split()
        if commit and changed:
            commit += f" + uncommitted changes in {len(changed)} file{'s' if len(changed) != 1 else ''}"
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return {
        "nproc": nproc,
        "cpu": cpu_model,
        "memory": mem_total,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "commit": commit or "unknown",
    }


# --- CPU accounting from /proc -----------------------------------------------------------------


def _proc_stat(pid: int) -> tuple[str, int, int] | None:
    """(comm, ppid, utime+stime ticks) of a process, or None if it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    comm = raw[raw.index("(") + 1 : raw.rindex(")")]
    rest = raw[raw.rindex(")") + 2 :].split()
    # rest[0] is field 3 (state); utime and stime are fields 14 and 15.
    return comm, int(rest[1]), int(rest[11]) + int(rest[12])


def _all_procs() -> dict[int, tuple[str, int, int]]:
    procs = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _proc_stat(int(entry))
            if stat is not None:
                procs[int(entry)] = stat
    return procs


def _machine_busy_idle() -> tuple[int, int]:
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields[:8]) - idle, idle


@dataclass
class CpuSample:
    at: float
    busy: int
    idle: int
    procs: dict[int, tuple[str, str, int]]  # pid -> (group, label, ticks)


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


_PASSWORD = re.compile(r"(://[^:/@\s]+):[^@\s]+@")


def _label(pid: int, comm: str) -> str:
    """A short, password-free name for a process: its command line, or [comm] for kernel threads."""
    cmdline = _cmdline(pid)
    if not cmdline:
        return f"[{re.sub(r'[/:-][0-9].*$', '', comm)}]"  # kworker/0:1-events -> [kworker]
    cmdline = _PASSWORD.sub(r"\1:***@", cmdline)
    cmdline = re.sub(r"\d+\.\d+\.\d+\.\d+\(\d+\)", "", cmdline)  # postgres: client address(port)
    cmdline = re.sub(r" (idle|idle in transaction|[A-Z]+( waiting)?)$", "", cmdline.strip())
    return cmdline[:90]


def cpu_sample(server_pid: int | None, dbname: str) -> CpuSample:
    """CPU ticks used so far by every process, grouped: the server (and its children), the
    PostgreSQL backends of the bench database, this script with its clients, and the rest."""
    procs = _all_procs()
    children: dict[int, list[int]] = collections.defaultdict(list)
    for pid, (_, ppid, _) in procs.items():
        children[ppid].append(pid)

    def tree(root: int | None) -> set[int]:
        found, stack = set(), [root] if root else []
        while stack:
            pid = stack.pop()
            found.add(pid)
            stack.extend(children.get(pid, ()))
        return found

    server = tree(server_pid)
    ours = tree(os.getpid()) - server
    sample: dict[int, tuple[str, str, int]] = {}
    for pid, (comm, _, ticks) in procs.items():
        if pid in server:
            group = "server"
        elif pid in ours:
            group = "clients"
        elif comm.startswith("postgres") and f" {dbname} " in _cmdline(pid):
            group = "bench_postgres"
        else:
            group = "other"
        sample[pid] = (group, _label(pid, comm) if group == "other" else group, ticks)
    busy, idle = _machine_busy_idle()
    return CpuSample(time.monotonic(), busy, idle, sample)


def cpu_split(before: CpuSample, after: CpuSample) -> dict[str, Any]:
    """Percent of one core used by each group between two samples (100% = one core busy);
    'unattributed' is machine time no live process accounts for (interrupts, exited processes)."""
    seconds = max(after.at - before.at, 1e-9)

    def pct(ticks: int) -> float:
        return 100.0 * ticks / CLOCK_TICKS / seconds

    groups: collections.Counter[str] = collections.Counter()
    others: collections.Counter[str] = collections.Counter()
    for pid, (group, label, ticks) in after.procs.items():
        earlier = before.procs.get(pid)
        delta = ticks - earlier[2] if earlier is not None and earlier[1] == label else ticks
        groups[group] += delta
        if group == "other" and delta > 0:
            others[label] += delta
    split: dict[str, Any] = {group: pct(groups[group]) for group in ("server", "bench_postgres", "clients", "other")}
    split["machine_busy"] = pct(after.busy - before.busy)
    split["unattributed"] = max(
        0.0, split["machine_busy"] - sum(split[g] for g in ("server", "bench_postgres", "clients", "other"))
    )
    split["top_others"] = [(label, pct(ticks)) for label, ticks in others.most_common(4) if pct(ticks) >= 2]
    return split


def background_load(dbname: str, seconds: float = 2.0) -> dict[str, Any]:
    """What the machine does over `seconds` while this benchmark does nothing."""
    before = cpu_sample(None, dbname)
    time.sleep(seconds)
    return cpu_split(before, cpu_sample(None, dbname))


def describe_others(split: dict[str, Any]) -> str:
    return ", ".join(f"{label} {load:.0f}%" for label, load in split.get("top_others", ())) or "nothing notable"


def wait_for_quiet(dbname: str, limit: float, max_wait: float, log: Any) -> dict[str, Any]:
    """Wait (at most `max_wait` s) until the machine is below `limit` % of one core busy; the last reading."""
    deadline = time.monotonic() + max_wait
    load = background_load(dbname)
    while load["machine_busy"] > limit and time.monotonic() < deadline:
        log(
            f"machine busy at {load['machine_busy']:.0f}% of one core without the benchmark "
            f"({describe_others(load)}); waiting for it to quieten"
        )
        time.sleep(3)
        load = background_load(dbname)
    return load


# --- the database ----------------------------------------------------------------------------


def postgres_version(server_url: str) -> str:
    with psycopg.connect(server_url, autocommit=True, connect_timeout=5) as conn:
        row = conn.execute("SHOW server_version").fetchone()
        settings = dict(
            conn.execute(
                "SELECT name, setting FROM pg_settings WHERE name IN ('synchronous_commit', 'fsync', 'shared_buffers')"
            ).fetchall()
        )
    return (
        f"{row[0] if row else '?'} "
        f"(fsync={settings.get('fsync')}, synchronous_commit={settings.get('synchronous_commit')})"
    )


@dataclass
class Baseline:
    transactions: int
    seconds: float
    latencies_ms: list[float]
    cpu: dict[str, float] = field(default_factory=dict)
    attempts: int = 1

    @property
    def per_second(self) -> float:
        return self.transactions / self.seconds


def measure_baseline(db_url: str, dbname: str, duration: float, warmup: float) -> Baseline:
    """Single-row INSERT transactions from one client: autocommit off, one INSERT + COMMIT per row."""
    depots = [f"BENCH-D{i:03d}" for i in range(20)]
    rng = random.Random(1)
    with psycopg.connect(db_url, autocommit=False, connect_timeout=5) as conn:
        conn.execute(
            "CREATE TABLE bench_scratch ("
            " id bigserial PRIMARY KEY, depot text NOT NULL, item text NOT NULL, quantity integer NOT NULL,"
            " occurred_at timestamptz NOT NULL, recorded_at timestamptz NOT NULL DEFAULT now())"
        )
        conn.commit()
        sql = "INSERT INTO bench_scratch (depot, item, quantity, occurred_at) VALUES (%s, %s, %s, %s)"

        def insert() -> None:
            conn.execute(sql, (rng.choice(depots), ITEM, rng.randint(1, 50), dt.datetime.now(dt.UTC)))
            conn.commit()

        baseline = timed(insert, dbname, duration, warmup)  # sampled while the connection (and its backend) exists
        conn.execute("DROP TABLE bench_scratch")
        conn.commit()
    return baseline


def timed(operation: Callable[[], object], dbname: str, duration: float, warmup: float) -> Baseline:
    """Run `operation` back to back for `warmup` + `duration` seconds; the latencies and the CPU
    split of the operations wholly inside the measured window."""
    latencies: list[float] = []
    window_start = time.monotonic() + warmup
    window_end = window_start + duration
    before = None
    while True:
        t0 = time.monotonic()
        if t0 >= window_end:
            break
        if before is None and t0 >= window_start:
            before = cpu_sample(None, dbname)
        operation()
        t1 = time.monotonic()
        if t0 >= window_start and t1 <= window_end:
            latencies.append((t1 - t0) * 1000.0)
    after = cpu_sample(None, dbname)
    latencies.sort()
    return Baseline(len(latencies), duration, latencies, cpu_split(before, after) if before else {})


def measure_library_baseline(db_url: str, dbname: str, duration: float, warmup: float) -> Baseline:
    """The `eventsourcing` library's own save rate in the same database: a plain `Application`
    saving one new one-event aggregate per `save()`, from one thread. Unlike the INSERT baseline
    (which mostly measures the disk's flush), this is the work every command of the ledger does
    at least once, so commands/s divided by it compares across machines."""
    from eventsourcing.application import Application
    from eventsourcing.domain import Aggregate

    class Noted(Aggregate):
        pass

    parts = urlparse(db_url)
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": parts.path.lstrip("/"),
        "POSTGRES_HOST": parts.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(parts.port or 5432),
        "POSTGRES_USER": parts.username or "postgres",
        "POSTGRES_PASSWORD": parts.password or "",
    }

    class LibraryBaseline(Application):  # type: ignore[type-arg]
        pass

    app = LibraryBaseline(env)
    try:
        baseline = timed(lambda: app.save(Noted()), dbname, duration, warmup)
    finally:
        app.close()
    with psycopg.connect(db_url, autocommit=True, connect_timeout=5) as conn:
        conn.execute("DROP TABLE IF EXISTS librarybaseline_events")
    return baseline


# --- the server ------------------------------------------------------------------------------


def supply_ledger_executable() -> str:
    beside = Path(sys.executable).parent / "supply-ledger"
    if beside.exists():
        return str(beside)
    found = shutil.which("supply-ledger")
    if not found:
        raise SystemExit("supply-ledger is not installed: activate the venv (. .venv/bin/activate)")
    return found


def serve_supports(option: str) -> bool:
    out = subprocess.run(
        [supply_ledger_executable(), "serve", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1"},
    )
    return option in (out.stdout + out.stderr)


class Server:
    """`supply-ledger serve` as a subprocess in its own session and working directory."""

    def __init__(self, db_url: str, dbname: str, workdir: Path, workers: int | None, log_level: str) -> None:
        self.dbname = dbname
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.workdir = workdir
        self.stdout_path = workdir / "serve.out"
        self.stderr_path = workdir / "serve.err"
        argv = [
            supply_ledger_executable(),
            "serve",
            "--database",
            db_url,
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--log-level",
            log_level,
        ]
        if workers is not None:
            argv += ["--workers", str(workers)]
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "NO_COLOR": "1"}
        env.pop("SUPPLY_LEDGER_DATABASE_URL", None)
        self._out = open(self.stdout_path, "wb")  # noqa: SIM115 - closed in stop()
        self._err = open(self.stderr_path, "wb")  # noqa: SIM115
        # cwd: the admin token file goes to ./supply-ledger-data/, which must not be the repository.
        self.proc = subprocess.Popen(
            argv, cwd=workdir, stdout=self._out, stderr=self._err, env=env, start_new_session=True
        )

    def tail(self, lines: int = 20) -> str:
        text = ""
        for path in (self.stdout_path, self.stderr_path):
            try:
                text += "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) + "\n"
            except OSError:
                pass
        return text

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + HEALTH_TIMEOUT
        with httpx.Client(base_url=self.base_url, timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"the server exited with {self.proc.returncode}:\n{self.tail()}")
                try:
                    if client.get("/healthz").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
        raise RuntimeError(f"the server did not become healthy in {HEALTH_TIMEOUT:.0f} s:\n{self.tail()}")

    def admin_token(self, db_url: str) -> str:
        """The token `serve` prints on the first start of an empty ledger, else a new coordinator token."""
        lines = self.stdout_path.read_text(errors="replace").splitlines()
        for i, line in enumerate(lines):
            if line.startswith("Created the admin token") and i + 1 < len(lines) and lines[i + 1].strip():
                return lines[i + 1].strip()
        out = subprocess.run(
            [
                supply_ledger_executable(),
                "token",
                "create",
                "--name",
                "bench",
                "--role",
                "coordinator",
                "--database",
                db_url,
            ],
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return out.stdout.strip().splitlines()[-1].strip()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)
        # Workers (if any) live in the session this script created for the server.
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self._out.close()
        self._err.close()


# --- setup through the API ----------------------------------------------------------------------


def setup_ledger(base_url: str, token: str, depots: int) -> list[str]:
    codes = [f"BENCH-D{i:03d}" for i in range(depots)]
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base_url, headers=headers, timeout=REQUEST_TIMEOUT) as client:

        def post(path: str, body: dict[str, Any]) -> None:
            response = client.post(path, json=body)
            if response.status_code != 201:
                raise RuntimeError(f"setup POST {path} -> {response.status_code}: {response.text[:500]}")

        post("/v1/items", {"code": ITEM, "name": "Nitrile gloves, size M", "unit": "piece", "category": "ppe"})
        for i, code in enumerate(codes):
            post(
                "/v1/depots",
                {
                    "code": code,
                    "name": f"Bench depot {i}",
                    "region": f"R{i % 4}",
                    "organisation": f"ORG-{i % 4}",
                    "kind": "hospital" if i % 3 else "municipal",
                    "population_served": 10_000 + i,
                },
            )
            post(
                f"/v1/depots/{code}/receipts",
                {"item": ITEM, "quantity": INITIAL_STOCK, "lot": "L-INIT", "supplier": "Bench Supply"},
            )
    return codes


# --- the clients ---------------------------------------------------------------------------------


def client_main(
    index: int,
    base_url: str,
    token: str,
    depots: list[str],
    warmup: float,
    duration: float,
    seed: int,
    barrier: Any,
    results: Any,
) -> None:
    """One client process: back-to-back depot commands on its own depots for warmup + duration."""
    try:
        rng = random.Random(seed)
        kinds = [kind for kind, _ in MIX]
        weights = [weight for _, weight in MIX]
        on_hand = dict.fromkeys(depots, INITIAL_STOCK)  # this client alone writes to these depots
        latencies: dict[str, list[float]] = {kind: [] for kind in kinds}
        statuses: collections.Counter[int] = collections.Counter()
        errors: list[str] = []
        transport_errors = 0
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        import orjson  # the server's own dependency; faster than json on the client side

        with httpx.Client(base_url=base_url, headers=headers, timeout=REQUEST_TIMEOUT) as client:
            client.get("/healthz")  # open the keep-alive connection before the clock starts
            barrier.wait(timeout=120)
            cpu_start = time.process_time()
            started = time.monotonic()
            window_start = started + warmup
            window_end = window_start + duration
            n = 0
            while True:
                t0 = time.monotonic()
                if t0 >= window_end:
                    break
                depot = depots[n % len(depots)]
                n += 1
                kind = rng.choices(kinds, weights)[0]
                if kind == "consumption":
                    quantity = rng.randint(1, 40)
                    body: dict[str, Any] = {"item": ITEM, "quantity": quantity}
                    change = -quantity
                elif kind == "receipts":
                    quantity = rng.randint(100, 1000)
                    body = {
                        "item": ITEM,
                        "quantity": quantity,
                        "lot": f"L-{rng.randint(1, 999):03d}",
                        "supplier": "Bench Supply",
                        "reference": f"PO-{n}",
                    }
                    change = quantity
                else:
                    # a count that mostly agrees with the book, now and then a small variance
                    counted = max(0, on_hand[depot] - (rng.randint(1, 5) if rng.random() < 0.2 else 0))
                    body = {"item": ITEM, "counted": counted}
                    change = counted - on_hand[depot]
                try:
                    response = client.post(f"/v1/depots/{depot}/{kind}", content=orjson.dumps(body))
                    status = response.status_code
                except httpx.TransportError as error:
                    transport_errors += 1
                    if len(errors) < 5:
                        errors.append(f"{type(error).__name__}: {error}")
                    continue
                t1 = time.monotonic()
                if status == 201:
                    on_hand[depot] += change
                elif len(errors) < 5:
                    errors.append(f"{status} {kind} {depot}: {response.text[:300]}")
                if window_start <= t0 and t1 <= window_end:
                    statuses[status] += 1
                    if status == 201:
                        latencies[kind].append((t1 - t0) * 1000.0)
            cpu_used = time.process_time() - cpu_start
        results.put(
            {
                "index": index,
                "latencies": latencies,
                "statuses": dict(statuses),
                "errors": errors,
                "transport_errors": transport_errors,
                "cpu_seconds": cpu_used,
                "sent": n,
            }
        )
    except BaseException as error:  # noqa: BLE001 - reported by the parent
        results.put({"index": index, "failed": f"{type(error).__name__}: {error}\n{traceback.format_exc()}"})


class PgActivity:
    """What the bench database's backends are doing, sampled from pg_stat_activity at `hz`,
    and the transaction counters of pg_stat_database over the window."""

    def __init__(self, db_url: str, dbname: str, hz: float = 10.0) -> None:
        self.db_url, self.dbname, self.hz = db_url, dbname, hz
        self.states: collections.Counter[str] = collections.Counter()
        self.samples = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.counters: dict[str, int] = {}

    def _database_counters(self, conn: psycopg.Connection[Any]) -> dict[str, int]:
        row = conn.execute(
            "SELECT xact_commit, xact_rollback, tup_inserted, tup_fetched, blks_hit, blks_read "
            "FROM pg_stat_database WHERE datname = %s",
            (self.dbname,),
        ).fetchone()
        names = ("xact_commit", "xact_rollback", "tup_inserted", "tup_fetched", "blks_hit", "blks_read")
        return dict(zip(names, row, strict=True)) if row else {}

    def start(self) -> None:
        self._conn = psycopg.connect(self.db_url, autocommit=True, connect_timeout=5)
        self._conn.execute("SELECT pg_stat_clear_snapshot()")
        self._before = self._database_counters(self._conn)
        self._thread = threading.Thread(target=self._run, name="pg-activity", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        query = (
            "SELECT state, wait_event_type, wait_event FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
        )
        with psycopg.connect(self.db_url, autocommit=True, connect_timeout=5) as conn:
            while not self._stop.wait(1.0 / self.hz):
                rows = conn.execute(query, (self.dbname,)).fetchall()
                self.samples += 1
                for state, wait_type, wait_event in rows:
                    if state == "idle":
                        continue  # a pooled connection nobody is using
                    what = f"{wait_type}:{wait_event}" if wait_type else "on CPU (no wait event)"
                    self.states[f"{state} / {what}"] += 1

    @property
    def running(self) -> bool:
        return self._thread is not None and not self._stop.is_set()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        # The statistics of a backend reach pg_stat_database when it ends a transaction (at most
        # once a second), so the counters are approximate at the edges of the window.
        self._conn.execute("SELECT pg_stat_clear_snapshot()")
        after = self._database_counters(self._conn)
        self._conn.close()
        self.counters = {name: after[name] - self._before.get(name, 0) for name in after}
        self.counters["xact_commit"] = self.counters.get("xact_commit", 0) - self.samples  # our own SELECTs


@dataclass
class Phase:
    clients: int
    duration: float
    latencies: list[float] = field(default_factory=list)
    by_kind: dict[str, list[float]] = field(default_factory=dict)
    statuses: collections.Counter[int] = field(default_factory=collections.Counter)
    errors: list[str] = field(default_factory=list)
    transport_errors: int = 0
    cpu: dict[str, float] = field(default_factory=dict)
    pg: PgActivity | None = None
    attempts: int = 1

    @property
    def ok(self) -> int:
        return self.statuses.get(201, 0)

    @property
    def per_second(self) -> float:
        return self.ok / self.duration

    @property
    def commits_per_command(self) -> float:
        if self.pg is None or not self.ok:
            return float("nan")
        return self.pg.counters.get("xact_commit", 0) / self.ok

    @property
    def conflicts(self) -> int:
        return self.statuses.get(409, 0)

    @property
    def other_errors(self) -> int:
        return sum(count for status, count in self.statuses.items() if status not in (201, 409)) + self.transport_errors


def run_phase(
    server: Server,
    token: str,
    depots: list[str],
    clients: int,
    warmup: float,
    duration: float,
    seed: int,
    during_window: Any = None,
    pg_activity: PgActivity | None = None,
) -> Phase:
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(clients + 1)
    results = ctx.Queue()
    shares = [depots[i::clients] for i in range(clients)]
    if any(not share for share in shares):
        raise SystemExit(f"--depots ({len(depots)}) must be at least the number of clients ({clients})")
    procs = [
        ctx.Process(
            target=client_main,
            args=(i, server.base_url, token, shares[i], warmup, duration, seed * 100 + i, barrier, results),
            daemon=True,
        )
        for i in range(clients)
    ]
    phase = Phase(clients, duration)
    finished = False
    try:
        for proc in procs:
            proc.start()
        barrier.wait(timeout=120)
        time.sleep(warmup)
        before = cpu_sample(server.proc.pid, server.dbname)
        if pg_activity is not None:
            pg_activity.start()
        if during_window is not None:
            during_window()
        remaining = before.at + duration - time.monotonic()
        if remaining > 0:
            time.sleep(remaining)
        after = cpu_sample(server.proc.pid, server.dbname)
        if pg_activity is not None:
            pg_activity.stop()
            phase.pg = pg_activity
        phase.cpu = cpu_split(before, after)
        collected = []
        deadline = time.monotonic() + REQUEST_TIMEOUT + 30
        while len(collected) < clients:
            timeout = deadline - time.monotonic()
            if timeout <= 0:
                raise RuntimeError("client processes did not report back in time")
            collected.append(results.get(timeout=timeout))
        finished = True
    finally:
        if not finished and pg_activity is not None and pg_activity.running:
            pg_activity.stop()
        for proc in procs:
            if finished:  # they have reported and are exiting
                proc.join(timeout=10)
            if proc.is_alive():  # interrupted (Ctrl-C, SIGTERM, an error): stop them now
                proc.terminate()
                proc.join(timeout=5)
    for result in collected:
        if "failed" in result:
            raise RuntimeError(f"client {result['index']} failed: {result['failed']}")
        for kind, values in result["latencies"].items():
            phase.by_kind.setdefault(kind, []).extend(values)
            phase.latencies.extend(values)
        phase.statuses.update({int(k): v for k, v in result["statuses"].items()})
        phase.errors.extend(result["errors"])
        phase.transport_errors += result["transport_errors"]
    phase.latencies.sort()
    for values in phase.by_kind.values():
        values.sort()
    return phase


# --- py-spy --------------------------------------------------------------------------------------


def py_spy_executable() -> str | None:
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def _frame_key(frame: str) -> tuple[str, str]:
    """('function (short/path.py)', area) for one py-spy frame; line numbers dropped."""
    match = _FRAME.match(frame.strip())
    if not match:
        return frame.strip(), "other"
    func, path = match.group("func"), match.group("file")
    short = path
    for marker in ("site-packages/", "lib/python3.11/", str(REPO) + "/"):
        if marker in path:
            short = path.split(marker, 1)[1]
            break
    return f"{func} ({short})", _area(path)


AREAS = (
    ("psycopg", "psycopg (PostgreSQL driver)"),
    ("eventsourcing", "eventsourcing library"),
    ("pydantic", "pydantic"),
    ("fastapi", "FastAPI"),
    ("starlette", "Starlette"),
    ("uvicorn", "uvicorn / HTTP parsing"),
    ("h11", "uvicorn / HTTP parsing"),
    ("httptools", "uvicorn / HTTP parsing"),
    ("anyio", "anyio (thread pool hand-off)"),
    ("asyncio", "asyncio event loop"),
    ("structlog", "structlog (request log)"),
    ("prometheus_client", "prometheus_client"),
    ("orjson", "orjson"),
    ("/domain/", "app: domain"),
    ("/ledger/", "app: ledger"),
    ("/api/", "app: api"),
    ("/projections/", "app: projections"),
    ("threading.py", "threading / locks"),
    ("concurrent/futures", "threading / locks"),
    ("queue.py", "threading / locks"),
)


def _area(path: str) -> str:
    for marker, area in AREAS:
        if marker in path:
            return area
    return "other (stdlib etc.)"


WAIT_LEAVES = {
    "Connection.wait": "waiting for PostgreSQL (psycopg Connection.wait)",
    "wait_c": "waiting for PostgreSQL (psycopg wait_c)",
    "wait_epoll": "waiting for PostgreSQL (psycopg wait_epoll)",
    "wait_select": "waiting for PostgreSQL (psycopg wait_select)",
    "EpollSelector.select": "event loop idle in epoll (waiting for sockets)",
    "Condition.wait": "thread blocked in Condition.wait",
    "Event.wait": "thread blocked in Event.wait",
    "Lock.acquire": "thread blocked on a lock",
    "Queue.get": "thread blocked in Queue.get",
}


def _wait_category(names: list[str]) -> str | None:
    """The kind of wait a stack ends in, with the nearest library/app caller, or None if it is on CPU."""
    leaf = names[-1].split(" (", 1)[0]
    label = WAIT_LEAVES.get(leaf)
    if label is None:
        return None
    if label.startswith("thread") or label.startswith("event loop"):
        for name in reversed(names[:-1]):
            if (
                "/" in name
                and not name.endswith(("threading.py)", "queue.py)", "selectors.py)"))
                and ("asyncio/" not in name)
            ):
                return f"{label}, under {name}"
    return label


def summarise_profile(raw_path: Path, top: int = 20) -> list[str]:
    """From py-spy raw (collapsed) stacks: how the samples of the server's threads split between
    waiting and running, where the running ones are (by area, by function), and which callers
    account for the most wall-clock time."""
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    areas: collections.Counter[str] = collections.Counter()
    waits: collections.Counter[str] = collections.Counter()
    total = running = 0
    for line in raw_path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [frame for frame in stack.split(";") if frame]
        while frames and (frames[0].startswith("process ") or frames[0].startswith("thread ")):
            frames = frames[1:]
        if not frames:
            continue
        total += count
        keys = [_frame_key(frame) for frame in frames]
        names = [name for name, _ in keys]
        for name in set(names):
            inclusive[name] += count
        wait = _wait_category(names)
        if wait is not None:
            waits[wait] += count
            continue
        running += count
        own[names[-1]] += count
        leaf_area = keys[-1][1]
        if leaf_area == "other (stdlib etc.)":  # a stdlib leaf counts for the nearest library/app caller
            leaf_area = next((area for _, area in reversed(keys) if area != "other (stdlib etc.)"), leaf_area)
        areas[leaf_area] += count
    if not total:
        return ["py-spy collected no samples"]

    def pct(count: int, of: int) -> str:
        return f"{100.0 * count / of:5.1f}%"

    out = [
        f"{total} thread samples: {pct(running, total).strip()} running Python/C code, "
        f"{pct(total - running, total).strip()} blocked or waiting",
        "",
        "Waiting samples (% of all samples):",
        "",
    ]
    out += [f"    {pct(count, total)}  {label}" for label, count in waits.most_common(12)]
    if running:
        out += ["", "Running samples by area (% of running samples; a stdlib leaf counts for its caller):", ""]
        out += [f"    {pct(count, running)}  {area}" for area, count in areas.most_common()]
        out += ["", f"Top {top} functions by running (self) samples (% of running samples):", ""]
        out += [f"    {pct(count, running)}  {name}" for name, count in own.most_common(top)]
    plumbing = (
        "(threading.py)",
        "typer/",
        "(supply-ledger)",
        "asyncio/runners.py",
        "asyncio/base_events.py",
        "asyncio/events.py",
        "uvicorn/main.py",
        "uvicorn/server.py",
        "uvicorn/_compat.py",
        "api/cli.py",
        "anyio/_backends/_asyncio.py",
    )
    relevant = [(name, count) for name, count in inclusive.most_common() if not any(p in name for p in plumbing)]
    out += [
        "",
        f"Top {top} functions by inclusive samples, running or waiting (% of all samples; "
        "thread, event-loop and CLI plumbing left out):",
        "",
    ]
    out += [f"    {pct(count, total)}  {name}" for name, count in relevant[:top]]
    return out


# --- reporting -----------------------------------------------------------------------------------


def fmt(value: float, digits: int = 1) -> str:
    return "n/a" if value != value else f"{value:,.{digits}f}"  # noqa: PLR0124 - nan check


def report_header(
    info: dict[str, str], pg: str, args: argparse.Namespace, workers: str, quiet: dict[str, Any]
) -> list[str]:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    mix = ", ".join(f"{int(w * 100)}% {k}" for k, w in MIX)
    return [
        f"### Write throughput, {now.isoformat().replace('+00:00', 'Z')}",
        "",
        f"- Machine: {info['nproc']} CPUs ({info['cpu']}), {info['memory']} RAM, Linux {info['kernel']}",
        f"- Python {info['python']}, PostgreSQL {pg}, commit {info['commit']}",
        f"- Server: `supply-ledger serve` ({workers}) on the same machine as PostgreSQL and the clients",
        f"- Workload: depot commands ({mix}) over {args.depots} depots, each client process with its own "
        f"keep-alive httpx client and its own depots; {fmt(args.duration, 0)} s measured after "
        f"{fmt(args.warmup, 0)} s warm-up per phase",
        "- Baselines, in the same database: single-row `INSERT` + `COMMIT` transactions from one psycopg "
        "connection (autocommit off) into a scratch table; and the `eventsourcing` library's own "
        "`Application.save()` of one new one-event aggregate per save, from one thread",
        f"- Other load on the machine just before the run: {fmt(quiet['machine_busy'], 0)}% of one core "
        f"({describe_others(quiet)})",
        "",
    ]


def report_table(phases: list[Phase], baseline: Baseline, library: Baseline) -> list[str]:
    lines = [
        "| load | throughput | p50 ms | p95 ms | p99 ms | max ms | 409s | other errors | commits/command "
        "| ÷ INSERT baseline | ÷ library save |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for phase in phases:
        lat = phase.latencies
        lines.append(
            f"| {phase.clients} client{'s' if phase.clients != 1 else ''} | {fmt(phase.per_second)} commands/s "
            f"| {fmt(percentile(lat, 50))} | {fmt(percentile(lat, 95))} | {fmt(percentile(lat, 99))} "
            f"| {fmt(lat[-1] if lat else float('nan'))} | {phase.conflicts} | {phase.other_errors} "
            f"| {fmt(phase.commits_per_command, 2)} | {phase.per_second / baseline.per_second:.3f} "
            f"| {phase.per_second / library.per_second:.3f} |"
        )
    for label, unit, base in (("INSERT + COMMIT", "transactions/s", baseline), ("library save()", "saves/s", library)):
        lat = base.latencies_ms
        lines.append(
            f"| baseline: {label}, 1 client | {fmt(base.per_second)} {unit} "
            f"| {fmt(percentile(lat, 50), 2)} | {fmt(percentile(lat, 95), 2)} | {fmt(percentile(lat, 99), 2)} "
            f"| {fmt(lat[-1] if lat else float('nan'), 2)} | – | – | – | {base.per_second / baseline.per_second:.3f} "
            f"| {base.per_second / library.per_second:.3f} |"
        )
    lines += ["", "Latency by command (ms, p50 / p95 / p99, count in the window):", ""]
    for phase in phases:
        parts = []
        for kind, _ in MIX:
            values = phase.by_kind.get(kind, [])
            parts.append(
                f"{kind} {fmt(percentile(values, 50))} / {fmt(percentile(values, 95))} / "
                f"{fmt(percentile(values, 99))} (n={len(values)})"
            )
        lines.append(f"- {phase.clients} client{'s' if phase.clients != 1 else ''}: " + "; ".join(parts))
    cores = os.cpu_count() or 1
    lines += [
        "",
        f"CPU during the measured windows, in % of one core ({cores} cores: {100 * cores}% is the whole machine). "
        "'PostgreSQL (bench)' is the backends connected to the bench database; 'other processes' is everything "
        "else (other databases' work, PostgreSQL's WAL writer and checkpointer, other users' jobs); "
        "'unattributed' is interrupt time and processes that exited during the window:",
        "",
        "| load | server process | PostgreSQL (bench) | clients + driver | other processes | unattributed "
        "| machine busy |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    rows = [(f"{p.clients} client{'s' if p.clients != 1 else ''}", p.cpu) for p in phases]
    rows += [("INSERT baseline", baseline.cpu), ("library baseline", library.cpu)]
    nan = float("nan")
    for label, cpu in rows:
        lines.append(
            f"| {label} | {fmt(cpu.get('server', nan), 0)}% | {fmt(cpu.get('bench_postgres', nan), 0)}% "
            f"| {fmt(cpu.get('clients', nan), 0)}% | {fmt(cpu.get('other', nan), 0)}% "
            f"| {fmt(cpu.get('unattributed', nan), 0)}% | {fmt(cpu.get('machine_busy', nan), 0)}% |"
        )
    lines.append("")
    attempts = [p.attempts for p in phases] + [baseline.attempts, library.attempts]
    for (label, cpu), tries in zip(rows, attempts, strict=True):
        again = f" (least disturbed of {tries} attempts)" if tries > 1 else ""
        lines.append(f"- Largest other processes during {label}{again}: {describe_others(cpu)}")
    lines += [
        "",
        "PostgreSQL during the measured windows: transactions per command (pg_stat_database, approximate), "
        "and what the bench database's non-idle backends were doing (pg_stat_activity at 10 Hz; "
        "'active' = running a statement, 'idle in transaction' = waiting for the server's next statement; "
        "average number of backends in each state):",
        "",
    ]
    for phase in phases:
        pg = phase.pg
        if pg is None or not pg.samples:
            continue
        counters = pg.counters
        per = max(phase.ok, 1)
        lines.append(
            f"- {phase.clients} client{'s' if phase.clients != 1 else ''}: "
            f"{counters.get('xact_commit', 0) / per:.1f} commits, {counters.get('tup_inserted', 0) / per:.1f} rows "
            f"inserted and {counters.get('tup_fetched', 0) / per:.1f} rows fetched per command; backends: "
            + "; ".join(f"{state} {count / pg.samples:.2f}" for state, count in pg.states.most_common(6))
        )
    return lines


# --- main ----------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--server-url",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="PostgreSQL server to create the scratch database on (default: %(default)s)",
    )
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per phase (default: 10)")
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds per phase (default: 2)")
    parser.add_argument("--clients", default="1,4,8", help="comma-separated client counts (default: 1,4,8)")
    parser.add_argument("--depots", type=int, default=20, help="depots to spread the commands over (default: 20)")
    parser.add_argument(
        "--baseline-duration", type=float, default=None, help="measured seconds of each baseline (default: --duration)"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="pass --workers N to `supply-ledger serve` (only if serve supports it)",
    )
    parser.add_argument(
        "--log-level",
        default="INFO",
        help="server log level (default INFO: one JSON line per request, as in production)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="after the measured phases, sample the server with py-spy during one more phase "
        "at the largest client count and summarise the top functions",
    )
    parser.add_argument("--profile-seconds", type=float, default=10.0, help="py-spy sampling time (default: 10)")
    parser.add_argument(
        "--quiet-below",
        type=float,
        default=25.0,
        help="before starting, wait until other processes use less than this %% of one core (default: 25)",
    )
    parser.add_argument(
        "--quiet-wait",
        type=float,
        default=60.0,
        help="wait at most this many seconds for that (default: 60; 0: do not wait)",
    )
    parser.add_argument(
        "--noisy-retries",
        type=int,
        default=2,
        help="measure a phase again (at most this many times) when other processes disturbed it (default: 2)",
    )
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    try:
        args.client_counts = [int(part) for part in args.clients.split(",") if part.strip()]
    except ValueError:
        parser.error("--clients takes comma-separated integers, e.g. 1,4")
    if not args.client_counts or min(args.client_counts) < 1:
        parser.error("--clients needs positive integers")
    if args.depots < max(args.client_counts):
        parser.error("--depots must be at least the largest client count")
    if args.duration <= 0 or args.warmup < 0:
        parser.error("--duration must be positive and --warmup non-negative")
    if args.workers is not None and args.workers < 1:
        parser.error("--workers must be at least 1")
    if urlparse(args.server_url).scheme not in ("postgresql", "postgres"):
        parser.error("--server-url must be a postgresql:// URL")
    return args


def least_disturbed(label: str, measure: Any, args: argparse.Namespace, dbname: str, log: Any) -> Any:
    """Run a measurement; if other processes used more than --quiet-below during it, wait for the
    machine to quieten and run it again (at most --noisy-retries times); keep the least disturbed."""
    best = None
    for attempt in range(1 + args.noisy_retries):
        if attempt:
            wait_for_quiet(dbname, args.quiet_below, args.quiet_wait, log)
        result = measure()
        result.attempts = attempt + 1
        other = result.cpu.get("other", 0.0)
        if best is None or other < best[0]:
            best = (other, result)
        if other <= args.quiet_below:
            break
        log(
            f"{label}: other processes used {other:.0f}% of one core ({describe_others(result.cpu)})"
            + ("; measuring again" if attempt < args.noisy_retries else "; keeping the least disturbed attempt")
        )
    best[1].attempts = attempt + 1
    return best[1]


def _terminate(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    if args.workers is not None and not serve_supports("--workers"):
        print("error: this `supply-ledger serve` has no --workers option", file=sys.stderr)
        return 2
    info = machine()
    pg = postgres_version(args.server_url)
    log = lambda message: print(f"[bench] {message}", file=sys.stderr, flush=True)  # noqa: E731
    with scratch_database(args.server_url) as db_url:
        dbname = urlparse(db_url).path.lstrip("/")
        print("\n".join(run(args, info, pg, db_url, dbname, log)), flush=True)
        log(f"dropping database {dbname}")
    return 0


def run(args: argparse.Namespace, info: dict[str, str], pg: str, db_url: str, dbname: str, log: Any) -> list[str]:
    """Both baselines, then every client count against one server; the report's lines."""
    workdir = Path(tempfile.mkdtemp(prefix="supply-ledger-bench-"))
    server: Server | None = None
    try:
        quiet = wait_for_quiet(dbname, args.quiet_below, args.quiet_wait, log)
        baseline_seconds = args.baseline_duration or args.duration
        log(
            f"database {dbname}; background load {quiet['machine_busy']:.0f}% of one core; "
            f"baselines for {baseline_seconds:.0f} s each"
        )
        baseline = least_disturbed(
            "INSERT baseline",
            lambda: measure_baseline(db_url, dbname, baseline_seconds, min(args.warmup, 1.0)),
            args,
            dbname,
            log,
        )
        log(f"baseline {baseline.per_second:.0f} INSERT transactions/s")
        library = least_disturbed(
            "library baseline",
            lambda: measure_library_baseline(db_url, dbname, baseline_seconds, min(args.warmup, 1.0)),
            args,
            dbname,
            log,
        )
        log(f"baseline {library.per_second:.0f} library saves/s")

        server = Server(db_url, dbname, workdir, args.workers, args.log_level)
        server.wait_healthy()
        token = server.admin_token(db_url)
        depots = setup_ledger(server.base_url, token, args.depots)
        log(f"server on {server.base_url} (pid {server.proc.pid}); {len(depots)} depots set up")

        phases = []
        for clients in args.client_counts:
            log(f"{clients} client(s): {args.warmup:.0f} s warm-up + {args.duration:.0f} s")
            phase = least_disturbed(
                f"{clients} client(s)",
                lambda clients=clients: run_phase(
                    server,
                    token,
                    depots,
                    clients,
                    args.warmup,
                    args.duration,
                    args.seed + clients,
                    pg_activity=PgActivity(db_url, dbname),
                ),
                args,
                dbname,
                log,
            )
            log(
                f"{clients} client(s): {phase.per_second:.1f} commands/s ({phase.per_second / library.per_second:.2f} "
                f"of the library's saves), p99 {percentile(phase.latencies, 99):.1f} ms, "
                f"{phase.commits_per_command:.2f} commits per command"
            )
            phases.append(phase)
            if server.proc.poll() is not None:
                raise RuntimeError(f"the server died:\n{server.tail()}")

        profile_lines: list[str] = []
        if args.profile:
            profile_lines = profile_phase(server, token, depots, max(args.client_counts), args, workdir, log)

        with psycopg.connect(db_url, autocommit=True) as conn:
            stored = conn.execute("SELECT count(*) FROM supplyledger_events").fetchone()
        expected = 1 + 2 * len(depots)  # the item, and per depot its registration and initial receipt

        workers = f"--workers {args.workers}" if args.workers else "one process: no --workers"
        lines = report_header(info, pg, args, workers, quiet) + report_table(phases, baseline, library)
        lines += [
            "",
            f"Events stored in the run: {stored[0] if stored else '?'} (setup {expected}; the rest are the "
            "commands of the warm-up and measured windows and of any profiled phase).",
        ]
        for phase in phases:
            if phase.errors:
                lines.append(f"First errors at {phase.clients} client(s): " + " | ".join(phase.errors[:3]))
        noisy = [
            label
            for label, cpu in [(f"{p.clients} client(s)", p.cpu) for p in phases]
            + [("INSERT baseline", baseline.cpu), ("library baseline", library.cpu)]
            if cpu.get("other", 0) > args.quiet_below
        ]
        if noisy:
            lines += [
                "",
                f"WARNING: other processes used more than {args.quiet_below:.0f}% of one core during "
                f"{', '.join(noisy)}; those figures are lower than this machine can do alone.",
            ]
        lines += ["", *targets(phases, library)]
        if profile_lines:
            lines += ["", "#### Where the server spends its time (py-spy, separate profiled phase)", "", "```"]
            lines += profile_lines + ["```"]
        return lines
    finally:
        if server is not None:
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def targets(phases: list[Phase], library: Baseline) -> list[str]:
    """Issue 12's targets, judged on this run: at 4 clients at least half the library's save rate,
    no lower at 8 than at 4, p99 under 50 ms at 8, at most 1.5 commits per command."""
    at = {phase.clients: phase for phase in phases}
    lines = []
    if 4 in at:
        ratio = at[4].per_second / library.per_second
        lines.append(
            f"- 4 clients >= 0.5 x the library's save rate: {'MET' if ratio >= 0.5 else 'NOT MET'} ({ratio:.2f})"
        )
    if 4 in at and 8 in at:
        lines.append(
            f"- 8 clients no lower than 4: {'MET' if at[8].per_second >= at[4].per_second else 'NOT MET'} "
            f"({fmt(at[8].per_second)} vs {fmt(at[4].per_second)} commands/s)"
        )
    if 8 in at:
        p99 = percentile(at[8].latencies, 99)
        lines.append(f"- p99 < 50 ms at 8 clients: {'MET' if p99 < 50 else 'NOT MET'} ({fmt(p99)} ms)")
    worst = max((phase.commits_per_command for phase in phases if phase.pg), default=float("nan"))
    lines.append(f"- at most 1.5 commits per command: {'MET' if worst <= 1.5 else 'NOT MET'} (worst {worst:.2f})")
    return ["Targets (issue 12):", "", *lines]


def profile_phase(
    server: Server, token: str, depots: list[str], clients: int, args: argparse.Namespace, workdir: Path, log: Any
) -> list[str]:
    spy = py_spy_executable()
    if spy is None:
        log("py-spy is not installed (pip install py-spy): no profile")
        return ["py-spy not installed"]
    raw = workdir / "profile.txt"
    holder: dict[str, subprocess.Popen[bytes]] = {}

    def start() -> None:
        argv = [
            spy,
            "record",
            "--pid",
            str(server.proc.pid),
            "--duration",
            str(int(args.profile_seconds)),
            "--rate",
            "200",
            "--format",
            "raw",
            "--output",
            str(raw),
            "--nonblocking",
        ]
        if args.workers:
            argv.append("--subprocesses")
        holder["proc"] = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    log(f"profiling: {clients} client(s) with py-spy for {args.profile_seconds:.0f} s")
    phase_seconds = max(args.duration, args.profile_seconds + 1)
    phase = run_phase(server, token, depots, clients, args.warmup, phase_seconds, args.seed + 1000, start)
    proc = holder.get("proc")
    if proc is None:
        return ["py-spy did not start"]
    try:
        _, stderr = proc.communicate(timeout=args.profile_seconds + 60)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, stderr = proc.communicate()
    if proc.returncode != 0 or not raw.exists():
        return [f"py-spy failed ({proc.returncode}): {stderr.decode(errors='replace')[-500:]}"]
    header = [
        f"{clients} clients while sampling at 200 Hz: {fmt(phase.per_second)} commands/s, "
        f"p99 {fmt(percentile(phase.latencies, 99))} ms (a separate phase, not part of the figures above)",
        "",
    ]
    return header + summarise_profile(raw)


if __name__ == "__main__":
    sys.exit(main())
