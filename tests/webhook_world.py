"""What the webhook tests share: a real HTTP receiver on 127.0.0.1, a clock the test moves,
and an alert evaluation of their own (the shortage watch's is plugged in the same way).

The evaluation, `LowStock`, reads each depot's FFP2 line from the ledger (the journal, as
the depot stock view does): below 100 on hand is a warning, 0 is critical. An episode opens
at the first business time it was evaluated true and closes when it is no longer true.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson
import pytest

from domain.alerts import Alert
from projections.alert_watch import AlertWatch

SECRET = "whsec-test-7f3a9c1e5b2d4680"
LOW = 100


@dataclass
class Received:
    delivery_id: str
    signature: str
    body: bytes

    @property
    def json(self) -> dict[str, Any]:
        return orjson.loads(self.body)

    def signed_with(self, secret: str) -> bool:
        expected = "sha256=" + hmac.new(secret.encode(), self.body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, self.signature)


@dataclass
class Receiver:
    """A webhook receiver: answers the queued status codes first (and `answer_body`), then 200."""

    answers: list[int] = field(default_factory=list)
    answer_body: bytes = b"ok"
    received: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the standard library's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with lock:
                    receiver.received.append(
                        Received(
                            self.headers["X-Supply-Ledger-Delivery"], self.headers["X-Supply-Ledger-Signature"], body
                        )
                    )
                    status = receiver.answers.pop(0) if receiver.answers else 200
                self.send_response(status)
                self.send_header("Content-Length", str(len(receiver.answer_body)))
                self.end_headers()
                self.wfile.write(receiver.answer_body)

            def log_message(self, *_: Any) -> None:
                pass

        lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def ids(self) -> list[str]:
        return [r.delivery_id for r in self.received]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.stop()


class Clock:
    """A clock the test moves; it starts a second after the real one, so deliveries enqueued
    at the real time are due."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=1)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


class LowStock:
    """The test's alert evaluation (see the module's docstring)."""

    def __init__(self, stores: Any) -> None:
        self.stores = stores
        self.opened: dict[str, datetime] = {}

    def __call__(self, depots: frozenset[str], now: datetime) -> list[Alert]:
        found = []
        for code in sorted(depots):
            lines = [line for line in self.stores.views.depot_stock(code).items if line.item == "FFP2"]
            if not lines or lines[0].on_hand >= LOW:
                self.opened.pop(code, None)
                continue
            since = self.opened.setdefault(code, now.astimezone(UTC))
            severity = "critical" if lines[0].on_hand == 0 else "warning"
            depot = self.stores.ledger.depot(code)
            found.append(
                Alert(
                    kind="projected_stockout",
                    severity=severity,
                    depot=code,
                    region=depot.region,
                    item="FFP2",
                    since=since,
                    message=f"{code} holds {lines[0].on_hand} FFP2",
                    figures={"on_hand": lines[0].on_hand},
                )
            )
        return found


def watch(stores: Any) -> AlertWatch:
    """Plug `LowStock` into the stores' stock view, as the shortage watch is plugged in."""
    view = stores.projector.view
    view.alerts = AlertWatch(view, LowStock(stores), stores.ledger.clock)
    return view.alerts
