"""Time as the ledger sees it: aware UTC everywhere, `Z` on the way out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

FUTURE_TOLERANCE = timedelta(minutes=5)


def now() -> datetime:
    return datetime.now(UTC)


def utc_text(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
