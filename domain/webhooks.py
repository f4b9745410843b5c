"""Webhook subscriptions to alert changes, and what a delivery carries (API.md, "Alerts").

A subscription is operational, not a ledger fact: it holds a secret, so it is kept beside
the views and never in the ledger's feed or digest. Only `http` and `https` targets are
taken. A delivery's body is fixed when it is enqueued, so every retry carries the same
bytes, the same delivery id and the same signature.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlsplit
from uuid import uuid5

import orjson
from pydantic import Field, SecretStr, StringConstraints, field_validator

from domain.alerts import Alert, AlertChange, AlertKind
from domain.commands import Command, refuse_nul
from domain.ids import NAMESPACE

MAX_RESPONSE_BYTES = 1024
"""A receiver's answer is kept only this long: it is the receiver's text, not ours."""
MAX_URL_LENGTH = 2000
Region = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class Subscribe(Command):
    """`POST /v1/subscriptions`: where to POST alert changes, which ones, and the signing secret."""

    url: str = Field(max_length=MAX_URL_LENGTH, description="An http or https URL that receives the POSTs")
    kinds: list[AlertKind] | None = Field(None, max_length=20, description="Only these alert kinds; default all")
    regions: list[Region] | None = Field(None, max_length=1000, description="Only these regions; default all")
    secret: SecretStr = Field(
        min_length=16,
        max_length=256,
        description="Signs every delivery (HMAC-SHA256). Never shown again, in any answer, log or feed",
    )

    @field_validator("url")
    @classmethod
    def _http_only(cls, url: str) -> str:
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - a port that is no number raises here
        except ValueError:
            raise ValueError("not a URL") from None
        if parts.scheme not in ("http", "https"):
            raise ValueError("only http and https URLs can receive webhooks")
        if not parts.hostname:
            raise ValueError("the URL names no host")
        if any(c.isspace() for c in url):
            raise ValueError("a URL holds no whitespace")
        return url

    @field_validator("secret")
    @classmethod
    def _no_nul_in_secret(cls, secret: SecretStr) -> SecretStr:
        refuse_nul(secret.get_secret_value())  # its message never repeats the value
        return secret


@dataclass(frozen=True)
class Subscription:
    """What anyone may see of a subscription: never its secret."""

    subscription_id: str
    url: str
    kinds: tuple[str, ...] | None
    regions: tuple[str, ...] | None
    created_at: datetime
    created_by: str

    def wants(self, alert: Alert) -> bool:
        return (self.kinds is None or alert.kind in self.kinds) and (
            self.regions is None or alert.region in self.regions
        )


@dataclass(frozen=True)
class Attempt:
    """One POST of a delivery: the receiver's status code (None when it did not answer),
    why it failed, and at most `MAX_RESPONSE_BYTES` of its answer."""

    attempt: int
    at: datetime
    status_code: int | None
    error: str | None
    response_body: str | None
    duration_ms: int


@dataclass(frozen=True)
class Delivery:
    delivery_id: str
    subscription_id: str
    sequence: int
    alert_id: str
    change: str
    body: dict[str, Any]
    status: str  # pending or delivered
    created_at: datetime
    next_attempt_at: datetime | None  # None once delivered
    attempts: int
    delivered_at: datetime | None
    attempt_log: tuple[Attempt, ...] = ()


@dataclass(frozen=True)
class Claimed:
    """A delivery a worker holds for a while: what it takes to send it, secret included
    (only the delivery worker ever sees this)."""

    delivery_id: str
    subscription_id: str
    sequence: int
    body: bytes
    claims: int
    url: str
    secret: str


def delivery_id(subscription_id: str, change: AlertChange) -> str:
    """One id per subscription and alert change, whenever and however often it is enqueued."""
    key = f"delivery:{subscription_id}:{change.alert.alert_id}:{change.change}:{change.alert.severity}"
    return str(uuid5(NAMESPACE, key))


def _utc(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def alert_json(alert: Alert) -> dict[str, Any]:
    return {**alert.fields(), "since": _utc(alert.since)}


def body_of(subscription_id: str, sequence: int, change: AlertChange) -> str:
    """The JSON POSTed for one change: `{delivery_id, subscription_id, sequence, change, at, alert}`."""
    body = {
        "delivery_id": delivery_id(subscription_id, change),
        "subscription_id": subscription_id,
        "sequence": sequence,
        "change": change.change,
        "at": _utc(change.at),
        "alert": alert_json(change.alert),
    }
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS, default=str).decode()


__all__ = [
    "MAX_RESPONSE_BYTES",
    "Attempt",
    "Claimed",
    "Delivery",
    "Subscribe",
    "Subscription",
    "alert_json",
    "body_of",
    "delivery_id",
]
