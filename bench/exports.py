#!/usr/bin/env python3
"""Exports (issue 15) on PostgreSQL: a national view of `--depots` depots x `--items` items
(`group_by=depot`) exported as CSV and XLSX, beside the JSON view of the same cut, in one run.

What it does:

1. creates a fresh PostgreSQL database (`bench/scratch.py`) on `--server-url` and generates the
   national ledger with `bench/views.py`'s `NationalSimulation` (through the domain and
   `Ledger.save`, no HTTP), then rebuilds the stock projection;
2. `GET /v1/stock?group_by=depot` as JSON, `format=csv` and `format=xlsx`, interleaved, over
   FastAPI's TestClient, each body read whole (the view's current figures, `source: view`), and
   the same at a past cut (`as_of` a week ago, `known_at=pos:N`: the on-demand fold);
3. checks that every export has one row per JSON row, prints the machine, the date and every
   figure beside the JSON's, and drops the database.

    PYTHONPATH=$PWD python bench/exports.py                      # 1,000 depots x 20 items
    PYTHONPATH=$PWD python bench/exports.py --depots 100 --queries 5
"""

from __future__ import annotations

import argparse
import csv
import io
import random
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from scratch import DEFAULT_SERVER_URL, scratch_database

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/views.py, run from anywhere
from views import (  # noqa: E402 - bench/views.py puts the repository on sys.path first
    ITEMS,
    NATIONAL_DAYS,
    REGIONS,
    Clock,
    NationalSimulation,
    RecordingClock,
    Stamper,
    define_items,
    load_average,
    machine,
    percentile,
    print_report,
    say,
)

from domain.events import recorded_by  # noqa: E402
from ledger.application import Ledger  # noqa: E402
from ledger.settings import Database  # noqa: E402


def generate(ledger: Ledger, depots: int, items: list[str], seed: int, clock: Clock) -> float:
    define_items(ledger, items)
    end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    start = end - timedelta(days=NATIONAL_DAYS)
    national = NationalSimulation(ledger, depots, items, start, random.Random(seed), Stamper())
    recording = RecordingClock(start - timedelta(days=1))
    started = time.perf_counter()
    with recorded_by(recording):
        recording.entered = start
        national.register()
        for day in range(NATIONAL_DAYS):
            recording.entered = start + timedelta(days=day + 1, hours=1)
            national.one_day(day)
            if day % 7 == 6:
                say(f"[{clock}]   day {day + 1}/{NATIONAL_DAYS}: {national.events:,} events")
        recording.entered = datetime.now(UTC)
        national.finish()
    return time.perf_counter() - started


def rows_in(export: str, content: bytes) -> int:
    if export == "csv":
        return sum(1 for _ in csv.reader(io.StringIO(content.decode("utf-8-sig")))) - 1
    import openpyxl

    sheet = openpyxl.load_workbook(io.BytesIO(content), read_only=True).worksheets[0]
    return sum(1 for _ in sheet.iter_rows(values_only=True)) - 1


def measure(get: Callable[[str], Any], queries: int, label: str, clock: Clock) -> dict[str, list[float]]:
    """Each format in turn, `queries` rounds; every answer checked to have the JSON's rows."""
    samples: dict[str, list[float]] = {"json": [], "csv": [], "xlsx": []}
    sizes: dict[str, int] = {}
    for round_ in range(queries):
        rows = None
        for export in samples:
            started = time.perf_counter()
            response = get(export)
            content = response.content
            samples[export].append(time.perf_counter() - started)
            assert response.status_code == 200, response.text[:500]
            sizes[export] = len(content)
            if export == "json":
                rows = len(response.json()["rows"])
            elif round_ == 0:
                assert rows_in(export, content) == rows, (export, rows)
        say(f"[{clock}]   {label} round {round_ + 1}: " + ", ".join(f"{e} {s[-1]:.2f} s" for e, s in samples.items()))
    samples["_sizes"] = [float(sizes[e]) for e in ("json", "csv", "xlsx")]
    samples["_rows"] = [float(rows or 0)]
    return samples


def describe(label: str, samples: dict[str, list[float]]) -> list[str]:
    json_p50 = percentile(samples["json"], 50)
    sizes = dict(zip(("json", "csv", "xlsx"), samples["_sizes"], strict=True))
    lines = [f"{label}: {samples['_rows'][0]:,.0f} rows"]
    for export in ("json", "csv", "xlsx"):
        values = samples[export]
        lines.append(
            f"  {export}: p50 {percentile(values, 50) * 1000:,.0f} ms, p95 {percentile(values, 95) * 1000:,.0f} ms "
            f"(n={len(values)}), {sizes[export] / 1e6:.1f} MB"
            + ("" if export == "json" else f", {percentile(values, 50) / json_p50:.2f}x the JSON's p50")
        )
    return lines


def run(args: argparse.Namespace, url: str, lines: list[str]) -> None:
    from fastapi.testclient import TestClient

    from api.app import Stores, create_app

    clock = Clock()
    stores = Stores.open(Database(url))
    ledger = stores.ledger
    try:
        items = [code for code, *_ in ITEMS][: args.items]
        items += [f"ITEM-{n:03d}" for n in range(len(items) + 1, args.items + 1)]
        say(
            f"[{clock}] generating {args.depots:,} depots x {len(items)} items, {REGIONS} regions, {NATIONAL_DAYS} days"
        )
        seconds = generate(ledger, args.depots, items, args.seed, clock)
        total = ledger.position()
        lines.append(
            f"History: {args.depots:,} depots x {len(items)} items (`NationalSimulation`), {total:,} events, "
            f"generated in {seconds:.1f} s"
        )
        say(f"[{clock}] rebuilding the stock projection over {total:,} events")
        stores.projector.rebuild()
        token = stores.access.issue("bench", "coordinator")
        app = create_app(stores=stores, projections=False, deliveries=False)
        with TestClient(app) as client:
            client.headers["Authorization"] = f"Bearer {token}"

            def now(export: str) -> Any:
                return client.get("/v1/stock", params={"group_by": "depot", "format": export})

            past = {
                "group_by": "depot",
                "as_of": (datetime.now(UTC) - timedelta(days=7)).date().isoformat(),
                "known_at": f"pos:{total - total // 10}",
            }

            def at_past_cut(export: str) -> Any:
                return client.get("/v1/stock", params={**past, "format": export})

            say(f"[{clock}] national view by depot, now (source: view)")
            current = measure(now, args.queries, "now", clock)
            say(f"[{clock}] national view by depot at {past['as_of']}, known at {past['known_at']} (fold)")
            folded = measure(at_past_cut, args.fold_queries, "past cut", clock)
        lines += describe("`GET /v1/stock?group_by=depot`, now (the projection's figures)", current)
        lines += describe(
            f"`GET /v1/stock?group_by=depot&as_of={past['as_of']}&known_at={past['known_at']}` (on-demand fold)",
            folded,
        )
    finally:
        stores.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--server-url", default=DEFAULT_SERVER_URL)
    parser.add_argument("--depots", type=int, default=1000)
    parser.add_argument("--items", type=int, default=20)
    parser.add_argument("--queries", type=int, default=10, help="rounds of JSON, CSV and XLSX, now")
    parser.add_argument("--fold-queries", type=int, default=2, help="rounds at a past cut (the fold)")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--keep", action="store_true", help="do not drop the database (prints its URL)")
    args = parser.parse_args()
    started = time.perf_counter()
    lines = [*machine(), f"Load average at the start: {load_average()}"]
    with scratch_database(
        args.server_url, "supply_ledger_bench_exports", "pool_size=4&max_overflow=8", args.keep
    ) as url:
        run(args, url, lines)
    print_report("Exports", lines, started)


if __name__ == "__main__":
    main()
