"""Tokens in the access store (both backends): names identify one principal, tokens are
listed without their secret, revoked as an event, expire, and a revocation reaches every
worker (each its own `Access` on the one database) within the refresh interval."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from api_helpers import legacy_token, race

from domain.ids import token_id
from ledger import access as access_module
from ledger.access import Access, TokenRefused, UnknownToken, hash_token
from ledger.settings import Database


@pytest.fixture
def workers(database_url: str) -> Iterator[tuple[Access, Access]]:
    """Two token stores on one database, as two server workers have."""
    first = Access(Database(database_url).env("access", indexed=False))
    second = Access(Database(database_url).env("access", indexed=False))
    yield first, second
    first.close()
    second.close()


class Monotonic:
    """`time.monotonic` as the token cache sees it, moved by hand (no sleeping in tests)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def monotonic(monkeypatch: pytest.MonkeyPatch) -> Monotonic:
    fake = Monotonic()
    monkeypatch.setattr(access_module.time, "monotonic", fake)
    return fake


def refused(access: Access, token: str) -> str:
    with pytest.raises(TokenRefused) as caught:
        access.check(token)
    return caught.value.reason


# --- names ----------------------------------------------------------------------------------------


def test_a_name_is_issued_once_whatever_its_case_or_spaces_and_even_after_revocation(workers):
    access, _ = workers
    access.issue("kari", "admin")
    for again in ("kari", " Kari ", "KARI"):
        with pytest.raises(ValueError, match="already in use"):
            access.issue(again, "auditor")
    access.revoke("kari", by="test")
    with pytest.raises(ValueError, match="already in use"):
        access.issue("kari", "auditor")
    assert [t.name for t in access.tokens()] == ["kari"]


def test_two_workers_issuing_one_name_at_once_store_one_token(workers):
    results = race(6, lambda i: _try_issue(workers[i % 2], "ops-desk"))
    assert sorted(results) == ["in use"] * 5 + ["issued"]
    assert [t.name for t in workers[0].tokens()] == ["ops-desk"]


def _try_issue(access: Access, name: str) -> str:
    try:
        access.issue(name, "coordinator")
    except ValueError as error:
        assert "already in use" in str(error)
        return "in use"
    return "issued"


def test_a_name_shared_by_tokens_from_before_names_were_unique_is_refused_and_revoked_only_by_id(workers):
    access, _ = workers
    admin = legacy_token(access, "admin")
    operator = legacy_token(access, "admin", "operator", ("org-a",))
    with pytest.raises(ValueError, match="already in use"):
        access.issue("admin", "auditor")
    ids = [t.id for t in access.tokens()]
    assert [access.check(admin).id, access.check(operator).id] == ids and ids[0] != ids[1]
    with pytest.raises(UnknownToken, match="2 tokens are named 'admin'; revoke one by its id"):
        access.revoke("admin", by="test")
    access.revoke(ids[1], by="test")
    assert access.check(admin).id == ids[0]
    assert refused(access, operator) == "the bearer token was revoked"
    assert [t.revoked for t in access.tokens()] == [False, True]


# --- listing ------------------------------------------------------------------------------------


def test_the_list_shows_every_token_without_its_secret(workers):
    access, _ = workers
    kari = access.issue("kari", "operator", ("DK-84", "DK-10"), issued_by="admin", expires_in=timedelta(days=30))
    access.issue("desk", "coordinator")
    listed = access.tokens()

    assert [t.name for t in listed] == ["kari", "desk"]
    first = listed[0].as_json()
    assert set(first) == {
        "id",
        "name",
        "role",
        "organisations",
        "issued_at",
        "issued_by",
        "expires_at",
        "revoked",
        "revoked_at",
        "revoked_by",
    }
    assert (first["role"], first["organisations"], first["issued_by"], first["revoked"]) == (
        "operator",
        ["DK-10", "DK-84"],
        "admin",
        False,
    )
    assert first["id"] == access.check(kari).id == str(token_id(hash_token(kari)))
    assert listed[0].expires_at - listed[0].issued_at == pytest.approx(timedelta(days=30), abs=timedelta(seconds=5))
    assert listed[1].expires_at is None and first["issued_at"].endswith("Z")
    text = repr(listed) + repr([t.as_json() for t in listed])
    assert kari not in text and hash_token(kari) not in text


# --- revocation and expiry --------------------------------------------------------------------------


def test_a_revoked_token_is_refused_and_the_revocation_is_listed(workers):
    access, _ = workers
    token = access.issue("kari", "coordinator")
    assert access.check(token).name == "kari"
    by_id = access.tokens()[0].id

    revoked = access.revoke(by_id, by="admin", reason="laptop lost")
    assert (revoked.revoked, revoked.revoked_by) == (True, "admin")
    assert refused(access, token) == "the bearer token was revoked"
    assert access.authenticate(token) is None
    with pytest.raises(ValueError, match="already revoked"):
        access.revoke("kari", by="admin")
    with pytest.raises(UnknownToken, match="no token with the id or name 'nobody'"):
        access.revoke("nobody", by="admin")
    assert refused(access, "sl_never-issued") == "the bearer token is not valid"


def test_a_token_expires_at_the_end_of_its_lifetime(workers):
    access, _ = workers
    token = access.issue("temp", "auditor", expires_in=timedelta(hours=12))
    issued_at = access.tokens()[0].issued_at
    access.clock = lambda: issued_at + timedelta(hours=12) - timedelta(seconds=5)
    assert access.check(token).name == "temp"
    access.clock = lambda: issued_at + timedelta(hours=12, seconds=1)
    assert access.cached(token) is None  # the cache never answers for an expired token
    assert refused(access, token) == "the bearer token has expired"
    for lifetime in (timedelta(0), timedelta(hours=-1)):
        with pytest.raises(ValueError, match="lifetime must be positive"):
            access.issue("other", "auditor", expires_in=lifetime)


def test_a_revocation_by_one_worker_reaches_the_other_within_the_refresh_interval(workers, monotonic):
    revoking, serving = workers
    token = revoking.issue("kari", "coordinator")
    assert serving.check(token).name == "kari"
    assert serving.cached(token) is not None  # answered without a database read

    revoking.revoke("kari", by="admin")
    assert revoking.cached(token) is None  # the revoking worker knows at once
    assert refused(revoking, token) == "the bearer token was revoked"
    monotonic.now += access_module.REFRESH_SECONDS / 2
    assert serving.cached(token) is not None  # the other may answer from its cache meanwhile

    monotonic.now += access_module.REFRESH_SECONDS / 2
    assert serving.cached(token) is None
    assert refused(serving, token) == "the bearer token was revoked"
    assert REFRESH_BOUND >= access_module.REFRESH_SECONDS


REFRESH_BOUND = 2.0
"""Seconds within which the issue asks every worker to stop a revoked token."""


def test_a_new_token_from_another_worker_works_at_once_and_others_stay_cached(workers, monotonic):
    first, second = workers
    old = first.issue("old", "auditor")
    assert second.check(old).name == "old"
    new = first.issue("new", "auditor")
    assert second.check(new).name == "new"  # not cached: read from the store
    monotonic.now += access_module.REFRESH_SECONDS
    assert second.check(old).name == "old" and second.cached(old) is not None
