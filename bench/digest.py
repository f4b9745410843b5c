#!/usr/bin/env python3
"""Time to compute the ledger's hash-chain digest over N stored events, against a baseline.

One run, in one process:

1. a fresh ledger (a temporary SQLite file, or a fresh schema on `--postgres URL`, dropped
   afterwards) gets N stored events of realistic size (receipt-like JSON states, about
   450 bytes) written straight through the ledger's recorder in batches of 1,000;
2. baseline: plain SHA-256 over the same rows' state bytes, already in memory;
3. reading the raw rows in position order (`replay.digest.stored_rows`);
4. the first `GET /v1/ledger/digest` (`replay.digest.digest`): read, hash the chain and
   record every link;
5. a second digest (answered from the recorded links);
6. `verify` of the whole ledger: read, hash, compare every recorded link.

Prints a Markdown table for docs/benchmarks.md.

    .venv/bin/python bench/digest.py --events 20000
    .venv/bin/python bench/digest.py --events 20000 --postgres postgresql://postgres@127.0.0.1:5432/postgres
"""

from __future__ import annotations

import argparse
import hashlib
import os
import platform
import sys
import tempfile
import time
import uuid
from pathlib import Path

import orjson
import psycopg
from eventsourcing.persistence import StoredEvent

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ledger.application import Ledger  # noqa: E402
from ledger.settings import Database  # noqa: E402
from replay import digest as chain  # noqa: E402

TOPIC = "domain.events:ReceiptRecorded"


def fill(ledger: Ledger, events: int) -> None:
    depots = [uuid.uuid4() for _ in range(50)]
    versions = dict.fromkeys(depots, 0)
    batch: list[StoredEvent] = []
    for n in range(events):
        depot = depots[n % len(depots)]
        versions[depot] += 1
        state = orjson.dumps(
            {
                "originator_id": str(depot),
                "originator_version": versions[depot],
                "timestamp": "2026-12-01T12:00:00.000000+00:00",
                "occurred_at": "2026-12-01T11:59:00+00:00",
                "actor": "bench-coordinator",
                "source": "api",
                "command_id": uuid.uuid4().hex,
                "note": None,
                "item": "BENCH-GLOVES",
                "quantity": 100 + n % 900,
                "lot": f"LOT-{n % 97}",
                "expires_on": "2028-06-30",
                "supplier": "Bench Medical A/S",
                "reference": f"PO-{n:08d}",
            }
        )
        batch.append(StoredEvent(depot, versions[depot], TOPIC, state))
        if len(batch) == 1000:
            ledger.recorder.insert_events(batch)
            batch = []
    if batch:
        ledger.recorder.insert_events(batch)


def timed(action):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    result = action()
    return time.perf_counter() - start, result


def run(url: str, events: int) -> list[tuple[str, float]]:
    ledger = Ledger(Database(url).env())
    try:
        fill(ledger, events)
        recorder = ledger.recorder
        last = ledger.position()
        rows = list(chain.stored_rows(recorder, 0, last))
        assert len(rows) == events

        def baseline() -> str:
            hasher = hashlib.sha256()
            for row in rows:
                hasher.update(row.state)  # type: ignore[arg-type]
            return hasher.hexdigest()

        figures = [
            ("baseline: plain SHA-256 over the same state bytes, in memory", timed(baseline)[0]),
            ("reading the raw rows in position order", timed(lambda: sum(1 for _ in chain.stored_rows(recorder)))[0]),
            ("hash chain over rows in memory (canonical bytes + SHA-256)", timed(lambda: list(chain.chain(rows)))[0]),
        ]
        first_time, first = timed(lambda: chain.digest(recorder))
        figures.append(("first digest: read, chain, record every link", first_time))
        again_time, again = timed(lambda: chain.digest(recorder))
        assert again == first
        figures.append(("digest again (recorded link)", again_time))
        verify_time, verified = timed(lambda: chain.verify(recorder))
        assert verified.valid and verified.digest == first.digest
        figures.append(("verify the whole ledger: read, chain, compare every link", verify_time))
        return figures
    finally:
        ledger.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--postgres", help="a PostgreSQL server URL; a fresh schema is created and dropped")
    args = parser.parse_args()

    schema = None
    with tempfile.TemporaryDirectory() as tmp:
        if args.postgres:
            schema = f"bench_digest_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(args.postgres, autocommit=True) as conn:
                conn.execute(f'CREATE SCHEMA "{schema}"')
            url, backend = f"{args.postgres}?schema={schema}", "PostgreSQL"
        else:
            url, backend = f"sqlite:///{tmp}/ledger.sqlite3", "SQLite"
        try:
            figures = run(url, args.events)
        finally:
            if schema:
                with psycopg.connect(args.postgres, autocommit=True) as conn:
                    conn.execute(f'DROP SCHEMA "{schema}" CASCADE')

    base = figures[0][1]
    print(
        f"Digest over {args.events:,} events on {backend}, Python {platform.python_version()}, "
        f"{platform.machine()}, {os.cpu_count()} CPUs\n"
    )
    print("| step | ms | events/s | × baseline |")
    print("| --- | ---: | ---: | ---: |")
    for name, seconds in figures:
        rate = f"{args.events / seconds:,.0f}" if seconds else "-"
        print(f"| {name} | {seconds * 1000:,.1f} | {rate} | {seconds / base:,.1f} |")


if __name__ == "__main__":
    main()
