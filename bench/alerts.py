#!/usr/bin/env python3
"""The shortage watch (issue 14) on PostgreSQL: alert projection catch-up, national
`GET /v1/alerts` and webhook fan-out, each beside a baseline measured in the same run.

What it does, in one run:

1. creates a fresh PostgreSQL database (`bench/scratch.py`) on `--server-url` and generates a
   national ledger of `--depots` depots x `--items` items over six weeks with
   `bench/views.py`'s `NationalSimulation` (through the domain and `Ledger.save`, no HTTP);
2. projection catch-up over the whole ledger: `Projector.catch_up()` on an emptied view with
   the alert watch plugged in (what `open_view` does: `view.alerts = AlertWatch(...)`),
   beside the same catch-up of the stock projection alone (`view.alerts = None`), both after
   a warm-up rebuild that writes the fold checkpoints; then one `AlertWatch.tick()` over
   every depot;
3. national `GET /v1/alerts` (the projection current: `source: view`) beside national
   `GET /v1/stock`, interleaved, over FastAPI's TestClient; then a few on-demand
   `GET /v1/alerts?as_of=<now>` (`source: fold`, every depot's history evaluated);
4. webhook fan-out: `--subscriptions` subscriptions to a threaded receiver on 127.0.0.1;
   the kept alerts are emptied and a tick opens them again (one delivery per alert per
   subscription); `Deliverer.deliver_due` runs until the outbox is empty (deliveries/s),
   beside plain httpx POSTs of the same bodies to the same receiver, one thread per
   subscription as the deliverer sends them, and one after the other;
5. prints the machine, the date, every figure beside its baseline, and drops the database.

    PYTHONPATH=$PWD python bench/alerts.py                      # 100 depots x 20 items
    PYTHONPATH=$PWD python bench/alerts.py --depots 1000 --items 20
"""

from __future__ import annotations

import argparse
import random
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psycopg
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
    say,
    timed,
)

from domain.events import recorded_by  # noqa: E402
from ledger.application import Ledger  # noqa: E402
from ledger.settings import Database  # noqa: E402
from ledger.webhooks import DELIVERY_HEADER, SIGNATURE_HEADER, Deliverer, signature  # noqa: E402
from projections.alert_watch import TICK_CHUNK  # noqa: E402

TARGET_ALERTS_VS_STOCK = 2.0
LIBRARY_IDLE_TIMEOUT = 5.0
"""eventsourcing's default `idle_in_transaction_session_timeout` (s), which the product runs with:
PostgreSQL closes a view connection idle that long inside its transaction."""


class BenchDatabase(Database):
    """The database, with the view's `idle_in_transaction_session_timeout` set by `--idle-timeout`
    (default: the library's, as the product runs). Before the alert watch moved its evaluation out
    of the view's transactions, one evaluation outlasted the library's 5 s at 100 depots."""

    idle_timeout: float | None = None

    def view_env(self, ledger: str = "ledger") -> dict[str, str]:
        env = super().view_env(ledger)
        if self.idle_timeout is not None:
            env["POSTGRES_IDLE_IN_TRANSACTION_SESSION_TIMEOUT"] = str(int(self.idle_timeout))
        return env


SECRET = "whsec-bench-0123456789abcdef"


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms"


def p50_p95(samples: list[float]) -> str:
    return f"p50 {ms(percentile(samples, 50))}, p95 {ms(percentile(samples, 95))} (n={len(samples)})"


# --- the history -------------------------------------------------------------------------------


def generate(ledger: Ledger, depots: int, items: list[str], seed: int, clock: Clock) -> tuple[int, float]:
    """The national ledger, each simulated day recorded shortly after it ends; (events, seconds)."""
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
    return national.events, time.perf_counter() - started


# --- the webhook receiver ----------------------------------------------------------------------


class Receiver:
    """A threaded HTTP server on 127.0.0.1 answering every POST 200, counting what it got and
    the distinct delivery ids (delivery is at least once: a connection reset after the receiver
    took a delivery makes the deliverer send it again)."""

    def __init__(self) -> None:
        self.count = 0
        self.ids: set[str] = set()
        lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as httpx's pooled client expects
            disable_nagle_algorithm = True  # else the body waits ~40 ms for the ACK of the headers

            def do_POST(self) -> None:  # noqa: N802 - the standard library's name
                self.rfile.read(int(self.headers["Content-Length"]))
                with lock:
                    receiver.count += 1
                    receiver.ids.add(self.headers.get(DELIVERY_HEADER, ""))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def plain_posts(url: str, bodies: dict[str, list[tuple[str, bytes]]], threads: int) -> float:
    """Seconds to POST every body with plain httpx (signed as the deliverer signs), one
    subscription's bodies in order per thread; `threads` 1: all one after the other."""
    import httpx

    def send(client: httpx.Client, batch: list[tuple[str, bytes]]) -> None:
        for delivery_id, body in batch:
            headers = {
                "Content-Type": "application/json",
                DELIVERY_HEADER: delivery_id,
                SIGNATURE_HEADER: signature(SECRET, body),
            }
            response = client.post(url, content=body, headers=headers)
            assert response.status_code == 200, response.status_code

    with httpx.Client(timeout=10) as client:
        started = time.perf_counter()
        if threads == 1:
            for batch in bodies.values():
                send(client, batch)
        else:
            with ThreadPoolExecutor(threads) as pool:
                list(pool.map(lambda batch: send(client, batch), bodies.values()))
        return time.perf_counter() - started


# --- the run -----------------------------------------------------------------------------------


def run(args: argparse.Namespace, url: str, lines: list[str]) -> None:  # noqa: PLR0915 - one scenario, in order
    from fastapi.testclient import TestClient

    from api.app import Stores, create_app

    clock = Clock()
    database = BenchDatabase(url)
    object.__setattr__(database, "idle_timeout", args.idle_timeout)  # a frozen dataclass
    stores = Stores.open(database)
    ledger, projector = stores.ledger, stores.projector
    view = projector.view
    watch = view.alerts
    assert watch is not None, "open_view plugs the alert watch into the stock view"
    try:
        items = [code for code, *_ in ITEMS][: args.items]
        items += [f"ITEM-{n:03d}" for n in range(len(items) + 1, args.items + 1)]
        say(
            f"[{clock}] generating {args.depots:,} depots x {len(items)} items, {REGIONS} regions, {NATIONAL_DAYS} days"
        )
        events, generation = generate(ledger, args.depots, items, args.seed, clock)
        total = ledger.position()
        say(f"[{clock}]   {events:,} events ({total:,} in the ledger) in {generation:.1f} s")
        lines.append(
            f"History: {args.depots:,} depots x {len(items)} items in {REGIONS} regions over {NATIONAL_DAYS} days "
            f"(`NationalSimulation`), {total:,} events in the ledger, generated in {generation:.1f} s "
            f"({total / generation:,.0f} events/s)"
        )
        with psycopg.connect(url.split("?")[0], autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")

        # 1. projection catch-up -------------------------------------------------------------------
        view.alerts = None
        say(f"[{clock}] warm-up rebuild, stock projection alone (writes the fold checkpoints)")
        seconds, _ = timed(projector.rebuild)
        say(f"[{clock}]   {total / seconds:,.0f} events/s")

        evaluations: list[tuple[int, float]] = []  # (depots, seconds) of each evaluation the watch ran
        evaluate = watch.evaluate

        def timed_evaluate(depots: frozenset[str], now: datetime) -> list[Any]:
            seconds, found = timed(lambda: evaluate(depots, now))
            evaluations.append((len(depots), seconds))
            return found  # type: ignore[no-any-return]

        watch.evaluate = timed_evaluate

        def catch_up_from_empty(alerts: Any) -> float:
            view.alerts = alerts
            view.reset(ledger.name)
            with view._transaction(commit=True) as cursor:
                cursor.execute(view._sql("DELETE FROM {t}current_alerts"))
            projector._projected = None
            started = time.perf_counter()

            def progress(position: int) -> None:
                if alerts is not None:  # the slow one: say how far it got
                    rate = position / (time.perf_counter() - started)
                    say(f"[{clock}]   view at {position:,}/{total:,}: {rate:,.0f} events/s so far")

            seconds, covered = timed(lambda: projector.catch_up(progress=progress))
            assert covered == total, (covered, total)
            return seconds

        say(f"[{clock}] catch-up, stock projection alone (view.alerts = None)")
        stock_seconds = catch_up_from_empty(None)
        say(f"[{clock}]   {total:,} events in {stock_seconds:.1f} s: {total / stock_seconds:,.0f} events/s")
        say(f"[{clock}] catch-up with the alert watch plugged in (view.alerts = AlertWatch(...))")
        watch_seconds = catch_up_from_empty(watch)
        kept = len(watch.current())
        longest = max(evaluations, key=lambda e: e[1])
        per_depot = sum(s for _, s in evaluations) / sum(n for n, _ in evaluations)
        idle = (
            f"the longest evaluation ({longest[0]} depots) {longest[1]:.1f} s, outside the view's transactions "
            f"(settled {TICK_CHUNK} depots at a time); {len(evaluations)} evaluations, "
            f"{per_depot * 1000:,.0f} ms per depot evaluated"
        )
        say(f"[{clock}]   {idle}")
        evaluations.clear()
        say(
            f"[{clock}]   {total:,} events in {watch_seconds:.1f} s: {total / watch_seconds:,.0f} events/s; "
            f"{kept:,} alerts kept"
        )
        lines.append(
            f"Projection catch-up over {total:,} events, `Projector.catch_up()` from an empty view: with the alert "
            f"watch {total / watch_seconds:,.0f} events/s ({watch_seconds:.1f} s) beside the stock projection alone "
            f"{total / stock_seconds:,.0f} events/s ({stock_seconds:.1f} s): "
            f"{watch_seconds / stock_seconds:.1f}x the time; {kept:,} alerts open afterwards; {idle}"
        )
        ticks = []
        for _ in range(args.ticks):
            seconds, found = timed(watch.tick)
            ticks.append(seconds)
            say(f"[{clock}]   AlertWatch.tick() over {args.depots:,} depots: {seconds:.2f} s, {len(found)} changes")
        lines.append(
            f"`AlertWatch.tick()` over every depot ({args.depots:,}): "
            + ", ".join(f"{s:.2f} s" for s in ticks)
            + f" ({args.depots / min(ticks):,.0f} depots/s at best)"
        )

        # 2. national GET /v1/alerts beside GET /v1/stock -----------------------------------------------
        auditor = stores.access.issue("bench", "auditor")
        headers = {"Authorization": f"Bearer {auditor}"}
        app = create_app(stores=stores, projections=False, deliveries=False)
        with TestClient(app, raise_server_exceptions=True) as client:
            say(f"[{clock}] national GET /v1/alerts and GET /v1/stock, {args.queries} requests each, interleaved")
            for path in ("/v1/alerts", "/v1/stock"):
                assert client.get(path, headers=headers).status_code == 200  # warm-up
            alerts_samples, stock_samples = [], []
            for _ in range(args.queries):
                seconds, response = timed(lambda: client.get("/v1/alerts", headers=headers))
                assert response.status_code == 200, response.text
                assert response.json()["source"] == "view", response.json()["source"]
                alerts_samples.append(seconds)
                seconds, response = timed(lambda: client.get("/v1/stock", headers=headers))
                assert response.status_code == 200, response.text
                stock_samples.append(seconds)
            alerts_count = len(client.get("/v1/alerts", headers=headers).json()["alerts"])
            rows = len(response.json()["rows"])
            ratio = percentile(alerts_samples, 95) / percentile(stock_samples, 95)
            say(f"[{clock}]   GET /v1/alerts ({alerts_count} alerts): {p50_p95(alerts_samples)}")
            say(f"[{clock}]   GET /v1/stock ({rows} rows): {p50_p95(stock_samples)}; p95 ratio {ratio:.2f}")
            lines.append(
                f"National `GET /v1/alerts` (source: view, {alerts_count:,} alerts), TestClient: "
                f"{p50_p95(alerts_samples)}; beside national `GET /v1/stock` ({rows} rows): {p50_p95(stock_samples)}; "
                f"p95 ratio {ratio:.2f} (target <= {TARGET_ALERTS_VS_STOCK:.0f}x: "
                f"{'met' if ratio <= TARGET_ALERTS_VS_STOCK else 'MISSED'})"
            )
            fold_samples = []
            now = ledger.clock().strftime("%Y-%m-%dT%H:%M:%SZ")
            for _ in range(args.fold_queries):
                seconds, response = timed(lambda: client.get("/v1/alerts", params={"as_of": now}, headers=headers))
                assert response.status_code == 200, response.text
                assert response.json()["source"] == "fold", response.json()["source"]
                fold_samples.append(seconds)
                say(f"[{clock}]   GET /v1/alerts?as_of=now (fold): {seconds:.2f} s")
            fold_count = len(response.json()["alerts"])
            lines.append(
                f"On-demand `GET /v1/alerts?as_of=<now>` (source: fold, {fold_count:,} alerts): "
                + ", ".join(f"{s:.2f} s" for s in fold_samples)
                + f" ({percentile(fold_samples, 50) / percentile(alerts_samples, 50):,.0f}x the view's p50)"
            )

        # 3. webhook fan-out -------------------------------------------------------------------------
        receiver = Receiver()
        outbox = stores.outbox
        try:
            for _ in range(args.subscriptions):
                outbox.subscribe(receiver.url, SECRET, "bench", ledger.clock())
            with view._transaction(commit=True) as cursor:
                cursor.execute(view._sql("DELETE FROM {t}current_alerts"))
            seconds, opened = timed(watch.tick)
            pending = outbox.pending()
            say(
                f"[{clock}] webhook fan-out: {len(opened):,} alerts opened again x {args.subscriptions} subscriptions"
                f" = {pending:,} deliveries pending (tick {seconds:.2f} s)"
            )
            bodies: dict[str, list[tuple[str, bytes]]] = {}
            for row in view.query("SELECT delivery_id, subscription_id, body FROM {t}deliveries ORDER BY sequence"):
                bodies.setdefault(row["subscription_id"], []).append((row["delivery_id"], row["body"].encode()))
            deliverer = Deliverer(outbox)
            try:
                started = time.perf_counter()
                attempts = 0
                while outbox.pending():
                    attempts += deliverer.deliver_due()
                delivery_seconds = time.perf_counter() - started
            finally:
                deliverer.close()
            assert len(receiver.ids) == pending, (len(receiver.ids), pending)  # every one, at least once
            repeats = receiver.count - pending
            say(
                f"[{clock}]   Deliverer: {pending:,} in {delivery_seconds:.2f} s, {attempts:,} attempts, "
                f"{repeats} received twice"
            )
            parallel = plain_posts(receiver.url, bodies, len(bodies))
            serial = plain_posts(receiver.url, bodies, 1)
            say(f"[{clock}]   plain httpx: {parallel:.2f} s one thread per subscription, {serial:.2f} s in one")
            lines.append(
                f"Webhook fan-out, {pending:,} deliveries ({len(opened):,} openings x {args.subscriptions} "
                f"subscriptions) to a local receiver, `Deliverer.deliver_due` until the outbox is empty: "
                f"{pending / delivery_seconds:,.0f} deliveries/s ({delivery_seconds:.2f} s, {repeats} received twice); "
                "beside plain httpx POSTs "
                f"of the same bodies, one thread per subscription {pending / parallel:,.0f}/s, one after the other "
                f"{pending / serial:,.0f}/s"
            )
        finally:
            receiver.stop()
    finally:
        stores.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    parser.add_argument("--server-url", default=DEFAULT_SERVER_URL)
    parser.add_argument("--depots", type=int, default=100)
    parser.add_argument("--items", type=int, default=20)
    parser.add_argument("--queries", type=int, default=50, help="national GET /v1/alerts and /v1/stock each")
    parser.add_argument("--fold-queries", type=int, default=3, help="on-demand GET /v1/alerts?as_of=now")
    parser.add_argument("--ticks", type=int, default=2, help="AlertWatch.tick() over every depot")
    parser.add_argument("--subscriptions", type=int, default=5)
    parser.add_argument(
        "--idle-timeout",
        type=float,
        default=None,
        help="the view connections' idle_in_transaction_session_timeout in s (0: off; default: the library's "
        f"{LIBRARY_IDLE_TIMEOUT:.0f} s, as the product runs)",
    )
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--keep", action="store_true", help="do not drop the database (prints its URL)")
    args = parser.parse_args()
    for option in ("depots", "items", "queries", "fold_queries", "ticks", "subscriptions"):
        if getattr(args, option) < 1:
            parser.error(f"--{option.replace('_', '-')} must be at least 1")
    started = time.perf_counter()
    lines = [*machine(), f"Load average at the start: {load_average()}"]
    lines.append(
        "View connections' idle_in_transaction_session_timeout: "
        + (
            f"the library's {LIBRARY_IDLE_TIMEOUT:.0f} s, as the product runs"
            if args.idle_timeout is None
            else f"{args.idle_timeout:g} s" + (" (off)" if not args.idle_timeout else "")
        )
    )
    with scratch_database(
        args.server_url, "supply_ledger_bench_alerts", "pool_size=4&max_overflow=8", args.keep
    ) as url:
        with psycopg.connect(url.split("?")[0], autocommit=True) as conn:
            version = conn.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
        lines.append(f"PostgreSQL {version}")
        run(args, url, lines)
    command = "python bench/alerts.py " + " ".join(sys.argv[1:])
    print()
    print(f"### Shortage watch, {datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}")
    print()
    for line in lines:
        print(f"- {line}")
    print(f"- Command: `{command.strip()}`; total runtime {(time.perf_counter() - started) / 60:.1f} min.")


if __name__ == "__main__":
    main()
