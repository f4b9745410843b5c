"""Depot commands per second through the service layer alone (no HTTP), on PostgreSQL,
beside single-row INSERT transactions measured in the same run on the same database.

Together with bench/write_throughput.py it splits a command's cost between the ledger
(domain, event store, indexes) and the HTTP stack.

    python bench/write_throughput.py            # through uvicorn
    python bench/service_throughput.py          # this: in-process, one thread
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime

import psycopg
from scratch import DEFAULT_SERVER_URL, scratch_database

from domain import commands as c
from ledger.application import Context, Ledger
from ledger.settings import Database


def baseline(url: str, seconds: float) -> float:
    with psycopg.connect(url) as conn:
        conn.execute("CREATE TABLE bench_baseline (id bigint, depot text, quantity int, at timestamptz)")
        conn.commit()
        count, deadline = 0, time.perf_counter() + seconds
        started = time.perf_counter()
        while time.perf_counter() < deadline:
            conn.execute("INSERT INTO bench_baseline VALUES (%s, %s, %s, now())", (count, "D1", 3))
            conn.commit()
            count += 1
        return count / (time.perf_counter() - started)


def commands(url: str, seconds: float, depots: int) -> tuple[float, float]:
    ledger = Ledger(Database(url).env())
    ctx = Context(actor="bench")
    try:
        ledger.define_item(c.DefineItem(code="FFP2", name="FFP2 respirator", unit="piece", category="ppe"), ctx)
        for number in range(depots):
            code = f"D{number}"
            ledger.register_depot(
                c.RegisterDepot(code=code, name=code, region="R", organisation="O", kind="hospital"), ctx
            )
            ledger.record_receipt(code, c.RecordReceipt(item="FFP2", quantity=10**8), ctx)
        consumption = c.ReportConsumption(item="FFP2", quantity=3)
        for number in range(100):  # warm-up: caches, prepared statements
            ledger.report_consumption(f"D{number % depots}", consumption, ctx)
        count, deadline = 0, time.perf_counter() + seconds
        started, cpu = time.perf_counter(), time.process_time()
        while time.perf_counter() < deadline:
            ledger.report_consumption(f"D{count % depots}", consumption, ctx)
            count += 1
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        return count / elapsed, cpu / count * 1000
    finally:
        ledger.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server-url", default=DEFAULT_SERVER_URL)
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--depots", type=int, default=20)
    args = parser.parse_args()
    with scratch_database(args.server_url) as url:
        inserts = baseline(url, args.duration)
        rate, cpu_ms = commands(url, args.duration, args.depots)
    print(f"### Service layer throughput, {datetime.now(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}")
    print(f"- baseline: {inserts:,.0f} single-row INSERT transactions/s (one connection)")
    print(
        f"- consumption reports through Ledger, one thread: {rate:,.0f} commands/s, {cpu_ms:.2f} ms of CPU per command"
    )
    print(f"- ratio commands/s : baseline = {rate / inserts:.3f}")


if __name__ == "__main__":
    main()
