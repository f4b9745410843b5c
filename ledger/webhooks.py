"""The webhook delivery worker: POSTs the outbox's deliveries, signed, in order per subscription.

It needs no ledger, only the outbox tables (`projections.outbox`): it runs as a thread
inside `serve` or as `supply-ledger alerts deliver`, as many as you like on one database.
Each pass claims the oldest pending delivery of every subscription whose attempt is due,
POSTs it (body as stored, so every retry carries the same bytes, delivery id and
signature), keeps the attempt, and marks it delivered on a 2xx or schedules the next
attempt: 5 s after the first failure, doubling, at most 15 minutes apart, for as long as
the subscription exists. A worker stopped or killed mid-attempt loses nothing: its claim
runs out after `lease` and the delivery is sent again (at least once).
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
import structlog

from domain.webhooks import MAX_RESPONSE_BYTES, Attempt, Claimed
from ledger import clock as ledger_clock
from ledger.outage import unavailable
from projections.outbox import Outbox

DELIVERY_HEADER = "X-Supply-Ledger-Delivery"
SIGNATURE_HEADER = "X-Supply-Ledger-Signature"
TIMEOUT_SECONDS = 10.0
POLL_SECONDS = 1.0
SENDERS = 8
"""Subscriptions served at once: one slow receiver must not hold up the others."""

log = structlog.get_logger("supply_ledger.webhooks")


def signature(secret: str, body: bytes) -> str:
    """The `X-Supply-Ledger-Signature` value: `sha256=` and the hex HMAC-SHA256 of the body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Backoff:
    """When to try again after the n-th failed attempt: `first` seconds, doubling, capped at `cap`."""

    first: float = 5.0
    cap: float = 15 * 60.0

    def delay(self, failures: int) -> timedelta:
        return timedelta(seconds=min(self.first * 2 ** max(failures - 1, 0), self.cap))


class Deliverer:
    """Sends due deliveries; `clock`, `backoff` and `transport` are injectable for tests."""

    def __init__(
        self,
        outbox: Outbox,
        backoff: Backoff = Backoff(),  # noqa: B008 - frozen, shared safely
        clock: Callable[[], datetime] = ledger_clock.now,
        timeout: float = TIMEOUT_SECONDS,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.outbox = outbox
        self.backoff = backoff
        self.clock = clock
        self.lease = timedelta(seconds=timeout * 3)  # longer than any attempt can take
        self.client = httpx.Client(timeout=timeout, follow_redirects=False, transport=transport)
        self._senders = ThreadPoolExecutor(SENDERS, thread_name_prefix="webhook")

    def close(self) -> None:
        self._senders.shutdown(wait=True)
        self.client.close()

    def deliver_due(self, stop: threading.Event | None = None) -> int:
        """One pass: every subscription's due head, then its next ones while they succeed
        (until `stop` is set). Returns the number of attempts made."""
        made = 0
        while stop is None or not stop.is_set():
            claimed = self.outbox.claim_due(self.clock(), self.lease)
            if not claimed:
                return made
            delivered = list(self._senders.map(self.attempt, claimed))
            made += len(claimed)
            if not any(delivered):
                return made  # every head failed: their retries are scheduled
        return made

    def attempt(self, claimed: Claimed) -> bool:
        """POST one delivery and keep the attempt; whether the receiver took it (2xx)."""
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "supply-ledger-webhooks",
            DELIVERY_HEADER: claimed.delivery_id,
            SIGNATURE_HEADER: signature(claimed.secret, claimed.body),
        }
        at = self.clock()
        started = time.monotonic()
        status: int | None = None
        error: str | None = None
        answer: str | None = None
        try:
            with self.client.stream("POST", claimed.url, content=claimed.body, headers=headers) as response:
                status = response.status_code
                answer = _first_bytes(response).decode("utf-8", errors="replace")
            if not 200 <= status < 300:
                error = f"the receiver answered {status}"
        except httpx.HTTPError as failure:
            error = f"{type(failure).__name__}: {failure}"[:MAX_RESPONSE_BYTES]
        delivered = error is None
        attempt = Attempt(0, at, status, error, answer, int((time.monotonic() - started) * 1000))
        number = self.outbox.record(
            claimed, attempt, delivered, lambda failures: self.clock() + self.backoff.delay(failures)
        )
        fields = {"delivery_id": claimed.delivery_id, "subscription_id": claimed.subscription_id, "attempt": number}
        if delivered:
            log.info("webhook_delivered", status=status, **fields)
        else:
            log.warning("webhook_failed", status=status, error=error, **fields)
        return delivered

    def run(self, stop: threading.Event, poll: float = POLL_SECONDS) -> None:
        """Deliver until `stop` is set; a database that is away is waited for, not fatal."""
        while not stop.is_set():
            try:
                self.deliver_due(stop)
            except Exception as error:
                reason = unavailable(error)
                if reason is not None:
                    log.warning("webhooks_waiting_for_database", reason=reason)
                else:
                    log.error("webhooks_failed", exc_info=error)
            stop.wait(poll)


def _first_bytes(response: httpx.Response) -> bytes:
    """At most `MAX_RESPONSE_BYTES` of the answer: the rest is never read."""
    kept = b""
    for chunk in response.iter_raw():
        kept += chunk
        if len(kept) >= MAX_RESPONSE_BYTES:
            break
    return kept[:MAX_RESPONSE_BYTES]


class DeliveryThread:
    """The deliverer running beside the API in `serve` (the default deployment)."""

    def __init__(self, deliverer: Deliverer, poll: float = POLL_SECONDS) -> None:
        self.deliverer = deliverer
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=deliverer.run, args=(self._stop, poll), name="webhook-delivery", daemon=True
        )

    def start(self) -> DeliveryThread:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=TIMEOUT_SECONDS + 5)
        self.deliverer.close()


__all__ = ["DELIVERY_HEADER", "SIGNATURE_HEADER", "Backoff", "Deliverer", "DeliveryThread", "signature"]
