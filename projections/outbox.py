"""Webhook subscriptions and their transactional outbox, kept beside the stock view.

A subscription holds a secret, so it lives in these operational tables and never in the
ledger (its feed and digest), as tokens live in their own store. Deliveries are enqueued
by the alert projection in the same transaction as its tracking record (`enqueue` takes
that transaction's cursor): a batch lands with its deliveries or not at all. The delivery
worker (`ledger.webhooks`) claims the oldest pending delivery of each subscription with a
compare-and-set on `claims`, so several workers on one database never send one twice at
once, and a later delivery of a subscription waits until the earlier one is delivered.

A delivery's id derives from subscription, alert episode, change and severity: the same
change enqueued again (say, after current alerts were rebuilt) is the same row, not a
second delivery.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from uuid import uuid4

import orjson

from domain.alerts import AlertChange
from domain.exceptions import IdempotencyKeyReused, NotFound
from domain.webhooks import MAX_RESPONSE_BYTES, Attempt, Claimed, Delivery, Subscription, body_of, delivery_id

if TYPE_CHECKING:
    from projections.stock_view import StockView

OUTBOX_TABLES = [
    """CREATE TABLE IF NOT EXISTS {t}current_alerts (
        alert_id TEXT PRIMARY KEY, kind TEXT NOT NULL, severity TEXT NOT NULL, depot TEXT NOT NULL,
        region TEXT NOT NULL, item TEXT, since {ts} NOT NULL, figures TEXT NOT NULL, message TEXT NOT NULL,
        acknowledged TEXT)""",
    "CREATE TABLE IF NOT EXISTS {t}alert_dirty (depot TEXT PRIMARY KEY, mark BIGINT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS {n}current_alerts_by_depot ON {t}current_alerts (depot)",
    "CREATE INDEX IF NOT EXISTS {n}current_alerts_by_region ON {t}current_alerts (region, severity)",
    """CREATE TABLE IF NOT EXISTS {t}subscriptions (
        subscription_id TEXT PRIMARY KEY, url TEXT NOT NULL, kinds TEXT, regions TEXT, secret TEXT NOT NULL,
        created_at {ts} NOT NULL, created_by TEXT NOT NULL, last_sequence BIGINT NOT NULL,
        request_scope TEXT, request_key TEXT, request_fingerprint TEXT)""",
    "CREATE UNIQUE INDEX IF NOT EXISTS {n}subscriptions_by_key ON {t}subscriptions (request_scope, request_key)",
    """CREATE TABLE IF NOT EXISTS {t}deliveries (
        delivery_id TEXT PRIMARY KEY, subscription_id TEXT NOT NULL, sequence BIGINT NOT NULL,
        alert_id TEXT NOT NULL, change TEXT NOT NULL, body TEXT NOT NULL, status TEXT NOT NULL,
        created_at {ts} NOT NULL, next_attempt_at {ts} NOT NULL, attempts INTEGER NOT NULL,
        claims INTEGER NOT NULL, delivered_at {ts}, UNIQUE (subscription_id, sequence))""",
    "CREATE INDEX IF NOT EXISTS {n}deliveries_due ON {t}deliveries (status, next_attempt_at)",
    "CREATE INDEX IF NOT EXISTS {n}deliveries_head ON {t}deliveries (subscription_id, status, sequence)",
    """CREATE TABLE IF NOT EXISTS {t}delivery_attempts (
        delivery_id TEXT NOT NULL, attempt INTEGER NOT NULL, at {ts} NOT NULL, status_code INTEGER,
        error TEXT, response_body TEXT, duration_ms INTEGER NOT NULL, PRIMARY KEY (delivery_id, attempt))""",
]
"""Kept by `StockView.reset` (a rebuild): subscriptions and deliveries are not derived from
the ledger, and current alerts kept across a rebuild spare subscribers a second opening."""

INSERT_DELIVERY = """INSERT INTO {t}deliveries (delivery_id, subscription_id, sequence, alert_id, change, body,
    status, created_at, next_attempt_at, attempts, claims) VALUES (:delivery_id, :subscription_id, :sequence,
    :alert_id, :change, :body, 'pending', :created_at, :created_at, 0, 0) ON CONFLICT (delivery_id) DO NOTHING"""
DUE = """SELECT d.delivery_id, d.subscription_id, d.sequence, d.body, d.claims, s.url, s.secret
    FROM {t}subscriptions s JOIN {t}deliveries d ON d.subscription_id = s.subscription_id AND d.sequence = (
        SELECT MIN(p.sequence) FROM {t}deliveries p
        WHERE p.subscription_id = s.subscription_id AND p.status = 'pending')
    WHERE d.next_attempt_at <= :now
    ORDER BY d.next_attempt_at, d.subscription_id LIMIT :limit"""
"""Each subscription's head (its oldest pending delivery) if it is due: driven by the subscriptions,
each head one index seek (`deliveries_head`), however many deliveries are pending."""
CLAIM = """UPDATE {t}deliveries SET claims = claims + 1, next_attempt_at = :lease
    WHERE delivery_id = :delivery_id AND claims = :claims AND status = 'pending' RETURNING delivery_id"""


SELECT_SUBSCRIPTION = "SELECT subscription_id, url, kinds, regions, created_at, created_by FROM {t}subscriptions"


def _names(raw: str | None) -> tuple[str, ...] | None:
    return None if raw is None else tuple(orjson.loads(raw))


class Outbox:
    """Subscriptions, the deliveries enqueued for them, and their attempts, in the view's database."""

    def __init__(self, view: StockView) -> None:
        self.view = view

    # --- subscriptions ---------------------------------------------------------------------

    def subscribe(
        self,
        url: str,
        secret: str,
        created_by: str,
        now: datetime,
        kinds: Sequence[str] | None = None,
        regions: Sequence[str] | None = None,
        request: tuple[str, str, str] | None = None,
    ) -> tuple[Subscription, bool]:
        """A new subscription, and False; or, for a `request` (scope, Idempotency-Key,
        fingerprint) seen before, the subscription it made, and True (409 if the key came
        then with another request)."""
        scope, key, fingerprint = request or (None, None, None)
        row = {
            "subscription_id": str(uuid4()),
            "url": url,
            "kinds": None if kinds is None else orjson.dumps(list(kinds)).decode(),
            "regions": None if regions is None else orjson.dumps(list(regions)).decode(),
            "secret": secret,
            "created_at": self.view.to_db_time(now),
            "created_by": created_by,
            "scope": scope,
            "key": key,
            "fingerprint": fingerprint,
        }
        with self.view._transaction(commit=True) as cursor:
            if request is not None:
                self.view._lock(cursor)  # two requests with one key take turns
                cursor.execute(
                    self.view._sql(
                        "SELECT subscription_id, request_fingerprint FROM {t}subscriptions"
                        " WHERE request_scope = :scope AND request_key = :key"
                    ),
                    row,
                )
                found = cursor.fetchone()
                if found is not None:
                    if found["request_fingerprint"] != fingerprint:
                        raise IdempotencyKeyReused(f"Idempotency-Key {key!r} was used for a different request", key=key)
                    replayed = str(found["subscription_id"])
                    return self._in_cursor(cursor, replayed), True
            cursor.execute(
                self.view._sql(
                    """INSERT INTO {t}subscriptions (subscription_id, url, kinds, regions, secret, created_at,
                    created_by, last_sequence, request_scope, request_key, request_fingerprint) VALUES
                    (:subscription_id, :url, :kinds, :regions, :secret, :created_at, :created_by, 0, :scope, :key,
                    :fingerprint)"""
                ),
                row,
            )
            return self._in_cursor(cursor, str(row["subscription_id"])), False

    def _in_cursor(self, cursor: Any, subscription_id: str) -> Subscription:
        cursor.execute(self.view._sql(SELECT_SUBSCRIPTION + " WHERE subscription_id = :id"), {"id": subscription_id})
        return self._subscription(dict(cursor.fetchone()))

    def subscriptions(self) -> list[Subscription]:
        rows = self.view.query(SELECT_SUBSCRIPTION + " ORDER BY created_at, subscription_id")
        return [self._subscription(row) for row in rows]

    def subscription(self, subscription_id: str) -> Subscription:
        rows = self.view.query(
            SELECT_SUBSCRIPTION + " WHERE subscription_id = :id",
            id=subscription_id,
        )
        if not rows:
            raise NotFound(f"no subscription {subscription_id}", subscription_id=subscription_id)
        return self._subscription(rows[0])

    def unsubscribe(self, subscription_id: str) -> None:
        """Gone with its deliveries, pending or not: nothing more is sent to it."""
        with self.view._transaction(commit=True) as cursor:
            params = {"id": subscription_id}
            cursor.execute(
                self.view._sql("DELETE FROM {t}subscriptions WHERE subscription_id = :id RETURNING subscription_id"),
                params,
            )
            if cursor.fetchone() is None:
                raise NotFound(f"no subscription {subscription_id}", subscription_id=subscription_id)
            cursor.execute(
                self.view._sql(
                    "DELETE FROM {t}delivery_attempts WHERE delivery_id IN"
                    " (SELECT delivery_id FROM {t}deliveries WHERE subscription_id = :id)"
                ),
                params,
            )
            cursor.execute(self.view._sql("DELETE FROM {t}deliveries WHERE subscription_id = :id"), params)

    def _subscription(self, row: dict[str, Any]) -> Subscription:
        created_at = self.view.from_db_time(row["created_at"])
        assert created_at is not None  # NOT NULL
        return Subscription(
            row["subscription_id"], row["url"], _names(row["kinds"]), _names(row["regions"]), created_at,
            row["created_by"],
        )  # fmt: skip

    # --- enqueueing (inside the alert projection's transaction) ----------------------------

    def enqueue(self, cursor: Any, changes: Sequence[AlertChange], now: datetime) -> int:
        """One delivery per change per subscription that wants it, numbered in order per
        subscription. `cursor` is the caller's transaction, which holds the view's lock."""
        if not changes:
            return 0
        cursor.execute(self.view._sql(SELECT_SUBSCRIPTION))
        subscriptions = [self._subscription(dict(row)) for row in cursor.fetchall()]
        rows: list[dict[str, Any]] = []
        for subscription in sorted(subscriptions, key=lambda s: s.subscription_id):
            wanted = [change for change in changes if subscription.wants(change.alert)]
            if not wanted:
                continue
            params = {"id": subscription.subscription_id, "n": len(wanted)}
            cursor.execute(
                self.view._sql(
                    "UPDATE {t}subscriptions SET last_sequence = last_sequence + :n WHERE subscription_id = :id"
                ),
                params,
            )
            cursor.execute(
                self.view._sql("SELECT last_sequence FROM {t}subscriptions WHERE subscription_id = :id"), params
            )
            first = cursor.fetchone()["last_sequence"] - len(wanted) + 1
            for sequence, change in enumerate(wanted, start=first):
                rows.append(
                    {
                        "delivery_id": delivery_id(subscription.subscription_id, change),
                        "subscription_id": subscription.subscription_id,
                        "sequence": sequence,
                        "alert_id": change.alert.alert_id,
                        "change": change.change,
                        "body": body_of(subscription.subscription_id, sequence, change),
                        "created_at": self.view.to_db_time(now),
                    }
                )
        if rows:
            cursor.executemany(self.view._sql(INSERT_DELIVERY), rows)
        return len(rows)

    # --- delivering --------------------------------------------------------------------------

    def claim_due(self, now: datetime, lease: timedelta, limit: int = 50) -> list[Claimed]:
        """The oldest pending delivery of each subscription whose time has come, each held by
        this caller until `now + lease` (a worker that dies lets it go when the lease ends)."""
        found = self.view.query(DUE, now=now, limit=limit)
        claimed: list[Claimed] = []
        for row in found:
            with self.view._transaction(commit=True) as cursor:
                cursor.execute(
                    self.view._sql(CLAIM),
                    {
                        "lease": self.view.to_db_time(now + lease),
                        "delivery_id": row["delivery_id"],
                        "claims": row["claims"],
                    },
                )
                won = cursor.fetchone() is not None
            if won:
                claimed.append(
                    Claimed(
                        row["delivery_id"],
                        row["subscription_id"],
                        row["sequence"],
                        row["body"].encode(),
                        row["claims"] + 1,
                        row["url"],
                        row["secret"],
                    )  # fmt: skip
                )
        return claimed

    def record(self, claimed: Claimed, attempt: Attempt, delivered: bool, retry_at: Callable[[int], datetime]) -> int:
        """Keep an attempt; a 2xx marks the delivery delivered, anything else schedules the
        next attempt at `retry_at(attempts so far)` (unless another worker claimed it
        meanwhile: its lease stands).
        Returns the attempt's number (0 when the delivery is gone with its subscription)."""
        view = self.view
        with view._transaction(commit=True) as cursor:
            params: dict[str, Any] = {"id": claimed.delivery_id}
            cursor.execute(
                view._sql(
                    "UPDATE {t}deliveries SET attempts = attempts + 1 WHERE delivery_id = :id"
                    " RETURNING attempts, claims"
                ),
                params,
            )
            row = cursor.fetchone()
            if row is None:
                return 0  # gone with its subscription
            number, claims = row["attempts"], row["claims"]
            body = attempt.response_body
            cursor.execute(
                view._sql(
                    """INSERT INTO {t}delivery_attempts (delivery_id, attempt, at, status_code, error, response_body,
                    duration_ms) VALUES (:id, :attempt, :at, :status_code, :error, :response_body, :duration_ms)"""
                ),
                {
                    **params,
                    "attempt": number,
                    "at": view.to_db_time(attempt.at),
                    "status_code": attempt.status_code,
                    "error": attempt.error,
                    "response_body": None if body is None else body[:MAX_RESPONSE_BYTES],
                    "duration_ms": attempt.duration_ms,
                },
            )
            if delivered:
                cursor.execute(
                    view._sql(
                        "UPDATE {t}deliveries SET status = 'delivered', delivered_at = :at WHERE delivery_id = :id"
                    ),
                    {**params, "at": view.to_db_time(attempt.at)},
                )
            elif claims == claimed.claims:
                cursor.execute(
                    view._sql("UPDATE {t}deliveries SET next_attempt_at = :next WHERE delivery_id = :id"),
                    {**params, "next": view.to_db_time(retry_at(number))},
                )
            return int(number)

    # --- reading ----------------------------------------------------------------------------

    def deliveries(self, subscription_id: str, after: int = 0, limit: int = 100) -> list[Delivery]:
        """A subscription's deliveries in order from sequence `after` + 1, each with its attempts."""
        self.subscription(subscription_id)
        rows = self.view.query(
            "SELECT * FROM {t}deliveries WHERE subscription_id = :id AND sequence > :after"
            " ORDER BY sequence LIMIT :limit",
            id=subscription_id,
            after=after,
            limit=limit,
        )
        attempts: dict[str, list[Attempt]] = {}
        if rows:
            query, params = self.view._in(
                "SELECT * FROM {t}delivery_attempts WHERE delivery_id", [row["delivery_id"] for row in rows]
            )
            with self.view._transaction(commit=False) as cursor:
                cursor.execute(query + " ORDER BY delivery_id, attempt", params)
                for found in cursor.fetchall():
                    attempts.setdefault(found["delivery_id"], []).append(self._attempt(dict(found)))
        return [self._delivery(row, attempts.get(row["delivery_id"], [])) for row in rows]

    def pending(self) -> int:
        return int(self.view.query("SELECT COUNT(*) AS n FROM {t}deliveries WHERE status = 'pending'")[0]["n"])

    def _attempt(self, row: dict[str, Any]) -> Attempt:
        at = self.view.from_db_time(row["at"])
        assert at is not None
        return Attempt(row["attempt"], at, row["status_code"], row["error"], row["response_body"], row["duration_ms"])

    def _delivery(self, row: dict[str, Any], attempts: Iterable[Attempt]) -> Delivery:
        created_at = self.view.from_db_time(row["created_at"])
        assert created_at is not None
        delivered = row["status"] == "delivered"
        return Delivery(
            delivery_id=row["delivery_id"],
            subscription_id=row["subscription_id"],
            sequence=row["sequence"],
            alert_id=row["alert_id"],
            change=row["change"],
            body=orjson.loads(row["body"]),
            status=row["status"],
            created_at=created_at,
            next_attempt_at=None if delivered else self.view.from_db_time(row["next_attempt_at"]),
            attempts=row["attempts"],
            delivered_at=self.view.from_db_time(row["delivered_at"]),
            attempt_log=tuple(attempts),
        )


__all__ = ["OUTBOX_TABLES", "Outbox"]
