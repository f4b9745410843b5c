#!/usr/bin/env python3
"""Latency of allocation recommendations and decision replays on the demo ledger, against
the depot stock view of the source (the baseline) timed in the same process.

One run: the demo (16 depots, about 4,100 events) loaded into a temporary SQLite file, or
into a fresh schema on `--postgres URL` (dropped afterwards); then, `--runs` times each:

- baseline: `GET /v1/depots/DK-NATIONAL/stock?item=FFP3` as the service computes it;
- a recommendation of 6,000 FFP3 among the three university hospitals (equal days of supply);
- the replay of each of the demo's four decisions (known then, hindsight, late information).

Prints median and p95 in milliseconds and the ratio of each median to the baseline's.

    .venv/bin/python bench/allocations.py --runs 50
    .venv/bin/python bench/allocations.py --runs 50 --postgres postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from domain import allocation_commands as alloc  # noqa: E402
from ledger.application import Context, Ledger  # noqa: E402
from ledger.demo import load_demo  # noqa: E402
from ledger.settings import Database  # noqa: E402
from projections.allocations import allocation_list  # noqa: E402
from projections.views import Views  # noqa: E402
from replay.decisions import replay_allocation  # noqa: E402


def timed(action: Callable[[], Any], runs: int) -> tuple[float, float]:
    action()  # warm the caches once, as a running service has them
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[max(0, int(len(samples) * 0.95) - 1)]


def run(url: str, runs: int) -> None:
    ledger = Ledger(Database(url).env())
    try:
        started = time.perf_counter()
        summary = load_demo(ledger)
        print(f"demo: {summary.events} events loaded in {time.perf_counter() - started:.1f} s")
        views = Views(ledger, projector=None)
        recommendation = alloc.RecommendAllocation(
            source="DK-NATIONAL",
            item="FFP3",
            quantity=6_000,
            policy="equal_days_of_supply",
            recipients=["DK-83-OUH", "DK-84-RH", "DK-85-SUH"],
        )
        ctx = Context(actor="bench")
        rows = [
            (
                "baseline: depot stock, DK-NATIONAL FFP3",
                timed(lambda: views.depot_stock("DK-NATIONAL", item="FFP3"), runs),
            )
        ]
        rows.append(("recommend 6,000 FFP3 to 3 hospitals", timed(lambda: ledger.recommend(recommendation, ctx), runs)))
        for allocation in allocation_list(ledger, None, None, None, 100).allocations:
            label = f"replay {allocation.item} ({len(allocation.recipients)} recipients)"
            rows.append((label, timed(lambda a=allocation.allocation_id: replay_allocation(ledger, a), runs)))
        base = rows[0][1][0]
        print(f"\n{platform.processor() or platform.machine()}, Python {platform.python_version()}, {runs} runs each\n")
        print("| what | median ms | p95 ms | median / baseline |")
        print("| --- | ---: | ---: | ---: |")
        for label, (median, p95) in rows:
            print(f"| {label} | {median:.1f} | {p95:.1f} | {median / base:.1f}× |")
    finally:
        ledger.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--postgres", help="a PostgreSQL server URL; a fresh schema is created and dropped")
    args = parser.parse_args()
    if args.postgres is None:
        with tempfile.TemporaryDirectory() as folder:
            run(f"sqlite:///{folder}/bench.sqlite3", args.runs)
        return
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(args.postgres, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        run(f"{args.postgres}?schema={schema}", args.runs)
    finally:
        with psycopg.connect(args.postgres, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


if __name__ == "__main__":
    main()
