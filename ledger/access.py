"""Issuing and checking bearer tokens, in an event store of their own (`access`), so that
tokens never appear in the ledger's feed or digest."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass

from eventsourcing.application import AggregateNotFoundError, Application

from domain.access import ROLES, Role, Token, TokenIssued
from domain.aggregate import projector
from domain.ids import token_id

project_token = projector(Token)
CACHE_SECONDS = 30.0


@dataclass(frozen=True)
class Principal:
    name: str
    role: Role
    organisations: frozenset[str]

    def may_write_everywhere(self) -> bool:
        return self.role in ("coordinator", "admin")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Access(Application):
    name = "Access"

    def __init__(self, env: dict[str, str] | None = None) -> None:
        super().__init__(env)
        self._cache: dict[str, tuple[float, Principal]] = {}
        self._lock = threading.Lock()

    def issue(self, name: str, role: Role, organisations: tuple[str, ...] = (), issued_by: str = "cli") -> str:
        """A new token; only its hash is stored, so this is the one time it can be seen."""
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}: one of {', '.join(ROLES)}")
        if role == "operator" and not organisations:
            raise ValueError("an operator token needs at least one organisation")
        token = f"sl_{secrets.token_urlsafe(32)}"
        token_hash = hash_token(token)
        aggregate = Token.start(
            TokenIssued,
            token_id(token_hash),
            name=name,
            role=role,
            organisations=tuple(sorted(set(organisations))),
            token_hash=token_hash,
            issued_by=issued_by,
        )
        self.save(aggregate)
        return token

    def cached(self, token: str) -> Principal | None:
        """The principal if this token was checked in the last CACHE_SECONDS (no database read)."""
        return self._cached(hash_token(token))

    def _cached(self, token_hash: str) -> Principal | None:
        with self._lock:
            cached = self._cache.get(token_hash)
        return cached[1] if cached is not None and cached[0] > time.monotonic() else None

    def authenticate(self, token: str) -> Principal | None:
        token_hash = hash_token(token)
        known = self._cached(token_hash)
        if known is not None:
            return known
        now = time.monotonic()
        try:
            stored = self.repository.get(token_id(token_hash), projector_func=project_token)
        except AggregateNotFoundError:
            return None
        if not hmac.compare_digest(stored.token_hash, token_hash):
            return None
        principal = Principal(stored.name, stored.role, frozenset(stored.organisations))
        with self._lock:
            self._cache[token_hash] = (now + CACHE_SECONDS, principal)
        return principal

    def has_tokens(self) -> bool:
        return bool(self.recorder.max_notification_id())
