#!/usr/bin/env python3
"""The web console (issue 16) on PostgreSQL: server time to render its pages beside the JSON
the same figures come from, in one run on one world.

What it does:

1. creates a fresh PostgreSQL database (`bench/scratch.py`) on `--server-url` and generates,
   with `bench/views.py`'s simulations (through the domain and `Ledger.save`, no HTTP), a
   national ledger of `--depots` depots x `--items` items in 20 regions and a regional
   warehouse (`HIST-LONG`) with `--depot-events` events; then rebuilds the projections;
2. signs in to the console as a coordinator (the sign-in form, a session cookie) and, over
   FastAPI's TestClient, interleaves each page with its JSON baseline, `--queries` rounds:
   - the national dashboard `GET /` beside `GET /v1/stock` (target: within 1.5x of it);
   - a region page `GET /regions/R01` (its depots x items and the weekly trend chart: 9
     folds of the region) beside `GET /v1/stock?group_by=depot&region=R01`;
   - the depot page of the long-history depot `GET /depots/HIST-LONG` beside
     `GET /v1/depots/HIST-LONG/stock` + `GET /v1/depots/HIST-LONG/timeline` (skipped, with a
     note, while the console has no depot page: it answers 404);
3. prints the machine, its load, every figure beside its baseline, and drops the database.
   With `--profile`, the dashboard's service calls are run once more under cProfile.

    PYTHONPATH=$PWD python bench/console.py                                   # the full run
    PYTHONPATH=$PWD python bench/console.py --depots 50 --depot-events 5000 --queries 3   # a quick one
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scratch import DEFAULT_SERVER_URL, scratch_database

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/views.py, run from anywhere
from views import (  # noqa: E402 - bench/views.py puts the repository on sys.path first
    HOME_REGION,
    ITEMS,
    LONG,
    Clock,
    CpuMeter,
    define_items,
    generate,
    load_average,
    machine,
    percentile,
    print_report,
    profile_call,
    say,
)

from ledger.settings import Database  # noqa: E402

TARGET = 1.5  # the dashboard within 1.5x of the JSON view it shows


class Pair:
    """A page and its JSON baseline, measured in turns so both see the same machine."""

    def __init__(self, label: str, page: Callable[[], Any], baseline: Callable[[], list[Any]]) -> None:
        self.label = label
        self.page = page
        self.baseline = baseline
        self.page_s: list[float] = []
        self.baseline_s: list[float] = []
        self.page_bytes = 0

    def round(self) -> None:
        started = time.perf_counter()
        answer = self.page()
        body = answer.content
        self.page_s.append(time.perf_counter() - started)
        assert answer.status_code == 200, (self.label, answer.status_code, answer.text[:300])
        self.page_bytes = len(body)
        started = time.perf_counter()
        for answer in self.baseline():
            assert answer.status_code == 200, (self.label, answer.status_code, answer.text[:300])
            answer.content  # noqa: B018 - read whole, as the page is
        self.baseline_s.append(time.perf_counter() - started)

    def lines(self, page_text: str, baseline_text: str, target: float | None = None) -> list[str]:
        page, base = percentile(self.page_s, 50), percentile(self.baseline_s, 50)
        ratio = page / base
        verdict = "" if target is None else f" (target <= {target}x: {'met' if ratio <= target else 'MISSED'})"
        return [
            f"{page_text}: p50 {page * 1000:,.0f} ms, p95 {percentile(self.page_s, 95) * 1000:,.0f} ms "
            f"(n={len(self.page_s)}, {self.page_bytes / 1e3:,.0f} kB)",
            f"  beside {baseline_text}: p50 {base * 1000:,.0f} ms, "
            f"p95 {percentile(self.baseline_s, 95) * 1000:,.0f} ms; **{ratio:.2f}x**{verdict}",
        ]


def sign_in(client: Any, token: str) -> None:
    """As a browser does: the sign-in form's CSRF token, then the session cookie."""
    form = client.get("/sign-in")
    found = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert found, form.text[:300]
    answer = client.post("/sign-in", data={"token": token, "csrf": found.group(1), "next": "/"}, follow_redirects=False)
    assert answer.status_code == 303, answer.text[:300]


def dashboard_parts(stores: Any) -> None:
    """What `GET /` asks the service layer, as `api.console.dashboard` asks it."""
    from api.console.dashboard import matrix
    from projections.alerts.view import AlertViews

    stock = stores.views.stock(None, None, "region", None)
    _, _, alerts = AlertViews(stores.ledger, stores.views.projector).found(None, None)
    obligations = stores.views.obligations()
    matrix(stock.rows, alerts, obligations, by_depot=False)


def run(args: argparse.Namespace, url: str, lines: list[str]) -> None:
    from fastapi.testclient import TestClient

    from api.app import Stores, create_app

    clock = Clock()
    meter = CpuMeter()
    stores = Stores.open(Database(url))
    ledger = stores.ledger
    try:
        items = [code for code, *_ in ITEMS][: args.items]
        items += [f"ITEM-{n:03d}" for n in range(len(items) + 1, args.items + 1)]
        define_items(ledger, items)
        end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        made = generate(ledger, args, items, end, random.Random(args.seed), clock)
        total = ledger.position()
        lines.append(
            f"World: {args.depots:,} depots x {len(items)} items over 20 regions ({made.national_events:,} events) "
            f"and {LONG} with {made.long.events:,} events; {total:,} events in all, generated in {made.seconds:.0f} s"
        )
        say(f"[{clock}] rebuilding the projections over {total:,} events ({meter.lap()})")
        stores.projector.rebuild()
        token = stores.access.issue("bench", "coordinator")
        auth = {"Authorization": f"Bearer {token}"}
        app = create_app(stores=stores, projections=False, deliveries=False)
        with TestClient(app) as client:
            sign_in(client, token)
            dashboard = Pair("dashboard", lambda: client.get("/"), lambda: [client.get("/v1/stock", headers=auth)])
            region = Pair(
                "region",
                lambda: client.get(f"/regions/{HOME_REGION}"),
                lambda: [client.get("/v1/stock", params={"group_by": "depot", "region": HOME_REGION}, headers=auth)],
            )
            depot = Pair(
                "depot",
                lambda: client.get(f"/depots/{LONG}"),
                lambda: [
                    client.get(f"/v1/depots/{LONG}/stock", headers=auth),
                    client.get(f"/v1/depots/{LONG}/timeline", headers=auth),
                ],
            )
            pairs = [dashboard, region]
            if client.get(f"/depots/{LONG}").status_code == 404:
                lines.append(f"Depot page: `GET /depots/{LONG}` answers 404 on this commit (not built yet): skipped")
            else:
                pairs.append(depot)
            check = client.get("/")
            regions = {r["region"] for r in client.get("/v1/stock", headers=auth).json()["rows"]} - {"national"}
            assert check.text.count('<tr data-row="') == len(regions) + 1, "the dashboard shows every region"
            say(f"[{clock}] measuring {', '.join(p.label for p in pairs)}: {args.queries} rounds ({meter.lap()})")
            for n in range(args.queries):
                for pair in pairs:
                    pair.round()
                say(
                    f"[{clock}]   round {n + 1}: "
                    + ", ".join(f"{p.label} {p.page_s[-1]:.2f}/{p.baseline_s[-1]:.2f} s" for p in pairs)
                )
            lines.append(f"While measuring: {meter.lap()}, load average {load_average()}")
            lines += dashboard.lines("National dashboard `GET /`", "`GET /v1/stock` (by region)", TARGET)
            lines += region.lines(
                f"Region page `GET /regions/{HOME_REGION}` (with the 9-point trend chart)",
                f"`GET /v1/stock?group_by=depot&region={HOME_REGION}`",
            )
            if depot in pairs:
                lines += depot.lines(f"Depot page `GET /depots/{LONG}`", "its `/stock` + `/timeline` JSON")
        if args.profile:  # in this thread: cProfile does not follow the TestClient's server thread
            profile_call(lambda: dashboard_parts(stores), "the national dashboard's service calls", 40)
    finally:
        stores.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--server-url", default=DEFAULT_SERVER_URL)
    parser.add_argument("--depots", type=int, default=1000)
    parser.add_argument("--items", type=int, default=20)
    parser.add_argument("--depot-events", type=int, default=100_000, help="events of the long-history depot")
    parser.add_argument("--queries", type=int, default=10, help="rounds of each page and its JSON")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--profile", action="store_true", help="profile the dashboard once after measuring")
    parser.add_argument("--keep", action="store_true", help="do not drop the database (prints its URL)")
    args = parser.parse_args()
    started = time.perf_counter()
    lines = [*machine(), f"Load average at the start: {load_average()}"]
    with scratch_database(
        args.server_url, "supply_ledger_bench_console", "pool_size=4&max_overflow=8", args.keep
    ) as url:
        run(args, url, lines)
    print_report("Console", lines, started)


if __name__ == "__main__":
    main()
