"""Console sessions as two workers see them: one signs in, the other finds the session; signing
out, revoking the token, the token's expiry and the session's own lifetime each end it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from ledger.access import Access, TokenRefused
from ledger.console_sessions import ConsoleSessions
from ledger.settings import Database


@pytest.fixture
def workers(database_url: str) -> Iterator[tuple[Access, Access]]:
    first = Access(Database(database_url).env("access", indexed=False))
    second = Access(Database(database_url).env("access", indexed=False))
    yield first, second
    first.close()
    second.close()


def _fresh(access: Access) -> None:
    """Past the access cache's refresh interval: the next check reads the store again."""
    access._checked = float("-inf")


def test_a_session_started_by_one_worker_is_found_by_another_and_ended_for_both(
    workers: tuple[Access, Access],
) -> None:
    first, second = workers
    token = first.issue("storekeeper", "operator", ("org-a",))
    secret, signed = ConsoleSessions(first).start(token)
    assert signed.principal.name == "storekeeper"
    assert token not in secret and len(secret) >= 40
    other = ConsoleSessions(second)
    found = other.find(secret)
    assert found is not None and found.principal.organisations == frozenset({"org-a"})
    assert found.csrf == signed.csrf
    ConsoleSessions(first).end(secret)
    _fresh(second)
    assert other.find(secret) is None
    assert other.find("not-a-session") is None


def test_revoking_the_token_ends_its_sessions(workers: tuple[Access, Access]) -> None:
    first, second = workers
    token = first.issue("coordinator-1", "coordinator")
    secret, _ = ConsoleSessions(first).start(token)
    other = ConsoleSessions(second)
    assert other.find(secret) is not None
    first.revoke("coordinator-1", by="admin")
    _fresh(second)
    assert other.find(secret) is None


def test_a_session_ends_with_its_lifetime_or_its_token_whichever_is_first(
    workers: tuple[Access, Access],
) -> None:
    first, _ = workers
    start = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)
    first.clock = lambda: start
    short = first.issue("short-lived", "auditor", expires_in=timedelta(hours=2))
    sessions = ConsoleSessions(first, lifetime=timedelta(hours=8))
    secret, _ = sessions.start(short)
    first.clock = lambda: start + timedelta(hours=1, minutes=59)
    assert sessions.find(secret) is not None
    first.clock = lambda: start + timedelta(hours=2)
    assert sessions.find(secret) is None

    first.clock = lambda: start
    long = first.issue("long-lived", "auditor")
    secret, _ = sessions.start(long)
    first.clock = lambda: start + timedelta(hours=7, minutes=59)
    assert sessions.find(secret) is not None
    first.clock = lambda: start + timedelta(hours=8)
    assert sessions.find(secret) is None


def test_a_bad_token_starts_no_session(workers: tuple[Access, Access]) -> None:
    first, _ = workers
    with pytest.raises(TokenRefused, match="not valid"):
        ConsoleSessions(first).start("sl_nothing")
    assert first.recorder.max_notification_id() in (None, 0)
