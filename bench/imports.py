"""Rows per second of a bulk import beside the same rows posted one by one, on PostgreSQL.

    python bench/imports.py [--server-url postgresql://...] [--depots 1000] [--items 10] [--days 5]
                            [--sample 500] [--profile]

A scratch database (`bench/scratch.py`) gets `--items` items and `--depots` depots; then a
`supply-ledger serve` process on it receives, over HTTP:

1. one stock report of depots × items × days rows (default 50,000), each row a count and the
   week's consumption (two events), as `POST /v1/imports` with a CSV body, timed end to end;
2. `--sample` rows of the same kind (on later dates) posted one by one: per row a
   `POST /v1/depots/{code}/consumption` and a `POST /v1/depots/{code}/counts`, timed in sequence.

It prints rows per second of both and the ratio (issue 15's target: at least 20×). With
`--profile` the import also runs in this process under cProfile on a second scratch
database, and the top of the profile is printed.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from scratch import DEFAULT_SERVER_URL, scratch_database

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from domain import commands as cmd  # noqa: E402
from ledger.access import Access  # noqa: E402
from ledger.application import Context, Ledger  # noqa: E402
from ledger.settings import Database  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CTX = Context(actor="bench-imports")


def world(db_url: str, depots: int, items: int, since: datetime) -> tuple[list[str], list[str]]:
    """The items and depots, registered directly on the ledger (not part of what is timed)."""
    ledger = Ledger(Database(db_url).env("ledger"))
    try:
        item_codes = [f"ITEM-{n:02d}" for n in range(items)]
        depot_codes = [f"DEPOT-{n:04d}" for n in range(depots)]
        for code in item_codes:
            ledger.define_item(cmd.DefineItem(code=code, name=code, unit="piece", category="ppe"), CTX)
        for n, code in enumerate(depot_codes):
            registration = cmd.RegisterDepot(
                code=code,
                name=code,
                region=f"R{n % 5}",
                organisation=f"ORG-{n % 50}",
                kind="municipal",
                occurred_at=since,
            )
            ledger.register_depot(registration, CTX)
    finally:
        ledger.close()
    return depot_codes, item_codes


def stock_report(depots: list[str], items: list[str], dates: list[str]) -> bytes:
    lines = ["depot;item;date;on_hand;consumed;period_start"]
    for d, day in enumerate(dates):
        start = (datetime.fromisoformat(day) - timedelta(days=6)).date().isoformat()
        for depot in depots:
            for i, item in enumerate(items):
                lines.append(f"{depot};{item};{day};{1000 - 10 * d + i};{10 + i};{start}")
    return ("\n".join(lines) + "\n").encode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """`supply-ledger serve` on the scratch database, as a subprocess of this worktree's code."""

    def __init__(self, db_url: str, workdir: Path) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "PYTHONPATH": str(ROOT), "SUPPLY_LEDGER_LOG_LEVEL": "WARNING"}
        env.pop("SUPPLY_LEDGER_DATABASE_URL", None)
        argv = [sys.executable, "-m", "api", "serve", "--database", db_url, "--port", str(self.port)]
        argv += ["--log-level", "WARNING"]
        self.log = open(workdir / "serve.log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(argv, cwd=workdir, stdout=self.log, stderr=self.log, env=env)

    def wait_healthy(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"the server exited with {self.proc.returncode}")
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise SystemExit("the server did not become healthy within 60 s")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.log.close()


def one_by_one(client: httpx.Client, depots: list[str], items: list[str], rows: int, day: datetime) -> float:
    """Seconds to post `rows` rows as a consumption and a count each, one request after another."""
    start = time.perf_counter()
    for n in range(rows):
        depot, item = depots[n % len(depots)], items[(n // len(depots)) % len(items)]
        when = (day + timedelta(seconds=n)).isoformat()
        consumption = {"item": item, "quantity": 7, "period_end": when}
        count = {"item": item, "counted": 500, "occurred_at": when}
        for path, body in (("consumption", consumption), ("counts", count)):
            response = client.post(f"/v1/depots/{depot}/{path}", json=body)
            if response.status_code != 201:
                raise SystemExit(f"{path}: {response.status_code} {response.text}")
    return time.perf_counter() - start


def profile_import(server_url: str, args: argparse.Namespace, dates: list[str], since: datetime) -> None:
    with scratch_database(server_url, prefix="supply_ledger_bench_imports_profile") as db_url:
        depots, items = world(db_url, args.depots, args.items, since)
        from domain.import_files import read_csv

        sheet = read_csv(stock_report(depots, items, dates))
        ledger = Ledger(Database(db_url).env("ledger"))
        try:
            profiler = cProfile.Profile()
            profiler.enable()
            ledger.import_rows("stock_report", sheet.rows, CTX, content_hash="profile")
            profiler.disable()
        finally:
            ledger.close()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(30)
        print(out.getvalue())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--server-url", default=os.environ.get("SUPPLY_LEDGER_BENCH_POSTGRES_URL", DEFAULT_SERVER_URL))
    parser.add_argument("--depots", type=int, default=1000)
    parser.add_argument("--items", type=int, default=10)
    parser.add_argument("--days", type=int, default=5)
    parser.add_argument("--sample", type=int, default=500, help="rows posted one by one (two posts each)")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    since = today - timedelta(days=7 * args.days + 14)
    dates = [(today - timedelta(days=7 * (args.days - d))).date().isoformat() for d in range(args.days)]
    with (
        scratch_database(args.server_url, prefix="supply_ledger_bench_imports") as db_url,
        tempfile.TemporaryDirectory() as tmp,
    ):
        started = time.perf_counter()
        depots, items = world(db_url, args.depots, args.items, since)
        access = Access(Database(db_url).env("access", indexed=False))
        token = access.issue("bench-imports", "coordinator")
        access.close()
        csv_body = stock_report(depots, items, dates)
        rows = args.depots * args.items * args.days
        print(
            f"world: {args.depots} depots x {args.items} items in {time.perf_counter() - started:.1f} s; "
            f"report: {rows:,} rows, {len(csv_body) / 1e6:.1f} MB"
        )
        server = Server(db_url, Path(tmp))
        try:
            server.wait_healthy()
            headers = {"Authorization": f"Bearer {token}"}
            with httpx.Client(base_url=server.base_url, headers=headers, timeout=600) as client:
                start = time.perf_counter()
                response = client.post(
                    "/v1/imports",
                    params={"kind": "stock_report", "file_name": "bench.csv"},
                    content=csv_body,
                    headers={"Content-Type": "text/csv"},
                )
                imported = time.perf_counter() - start
                if response.status_code != 201:
                    raise SystemExit(f"import: {response.status_code} {response.text[:2000]}")
                outcome = response.json()
                posted = one_by_one(client, depots, items, args.sample, datetime.now(UTC) - timedelta(hours=2))
        finally:
            server.stop()
    bulk_rate, single_rate = rows / imported, args.sample / posted
    print(f"import:      {rows:,} rows ({outcome['events']:,} events) in {imported:.1f} s = {bulk_rate:,.0f} rows/s")
    print(
        f"one by one:  {args.sample:,} rows ({2 * args.sample:,} posts) in {posted:.1f} s = {single_rate:,.1f} rows/s"
    )
    print(f"ratio:       {bulk_rate / single_rate:.1f}x (target >= 20x)")
    if args.profile:
        profile_import(args.server_url, args, dates, since)


if __name__ == "__main__":
    main()
