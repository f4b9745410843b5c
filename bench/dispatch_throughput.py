"""Dispatches per second through the service layer (no HTTP), on PostgreSQL, beside receipts
per second measured in the same run on the same ledger.

A dispatch is a decision: it checks the source's stock at its own time and, since issue 13,
works out which lots first-expiry-first-out draws (and refuses a lot the source does not
hold). A receipt is a fact and draws nothing, so the ratio dispatch : receipt is the price of
those checks, comparable across machines and commits.

    python bench/dispatch_throughput.py --duration 10 --lots 20 --history 2000
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

from scratch import DEFAULT_SERVER_URL, scratch_database

from domain import commands as c
from ledger.application import Context, Ledger
from ledger.settings import Database

SOURCE, DESTINATIONS = "SRC", [f"D{n}" for n in range(10)]


def prepare(ledger: Ledger, ctx: Context, lots: int, history: int) -> None:
    """A source holding `lots` lots of FFP2 with `history` consumption reports behind it."""
    ledger.define_item(c.DefineItem(code="FFP2", name="FFP2 respirator", unit="piece", category="ppe"), ctx)
    for code in [SOURCE, *DESTINATIONS]:
        depot = c.RegisterDepot(code=code, name=code, region="R", organisation="O", kind="regional")
        ledger.register_depot(depot, ctx)
    start = datetime.now(UTC) - timedelta(days=60)
    for number in range(lots):
        expiry = date(2027, 1, 1) + timedelta(days=30 * number)
        receipt = c.RecordReceipt(
            item="FFP2", quantity=10**7, lot=f"L{number:03}", expires_on=expiry, occurred_at=start
        )
        ledger.record_receipt(SOURCE, receipt, ctx)
    step = timedelta(days=59) / max(history, 1)
    for number in range(history):
        at = start + step * (number + 1)
        ledger.report_consumption(SOURCE, c.ReportConsumption(item="FFP2", quantity=3, period_end=at), ctx)


def rate(seconds: float, command: Callable[[int], object]) -> float:
    """Commands per second of `command(n)` for `seconds`, after 20 to warm caches."""
    for number in range(20):
        command(number)
    count, deadline = 0, time.perf_counter() + seconds
    started = time.perf_counter()
    while time.perf_counter() < deadline:
        command(count)
        count += 1
    return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server-url", default=DEFAULT_SERVER_URL)
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--lots", type=int, default=20)
    parser.add_argument("--history", type=int, default=2000)
    args = parser.parse_args()
    with scratch_database(args.server_url) as url:
        ledger = Ledger(Database(url).env())
        ctx = Context(actor="bench")
        try:
            prepare(ledger, ctx, args.lots, args.history)

            def receipt(number: int) -> object:
                return ledger.record_receipt(SOURCE, c.RecordReceipt(item="FFP2", quantity=1), ctx)

            def dispatch(number: int) -> object:
                line = c.LineRequest(item="FFP2", quantity=2)
                to = DESTINATIONS[number % len(DESTINATIONS)]
                return ledger.dispatch_transfer(c.DispatchTransfer(source=SOURCE, destination=to, lines=[line]), ctx)

            receipts = rate(args.duration, receipt)
            dispatches = rate(args.duration, dispatch)
        finally:
            ledger.close()
    print(f"### Dispatch throughput, {datetime.now(UTC).strftime('%Y-%m-%dT%H:%M:%SZ')}")
    print(f"- source: {args.lots} lots, {args.history} consumption reports before the run")
    print(f"- baseline: {receipts:,.0f} receipts/s at the source through Ledger (one thread)")
    print(f"- dispatches (first-expiry-first-out, one line): {dispatches:,.0f} dispatches/s")
    print(f"- ratio dispatches/s : receipts/s = {dispatches / receipts:.3f}")


if __name__ == "__main__":
    main()
