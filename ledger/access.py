"""Issuing, listing, revoking and checking bearer tokens, in an event store of their own
(`access`), so that tokens never appear in the ledger's feed or digest.

Checked principals are cached per process. The cache is dropped whenever the access store
has changed (a token issued or revoked, by any process): at most once every
`REFRESH_SECONDS` a request reads the store's last notification id, one indexed read, so a
revocation reaches every worker within about a second without a read per request.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError
from eventsourcing.utils import get_topic

from domain.access import (
    ROLES,
    Role,
    Token,
    TokenIssued,
    TokenName,
    TokenNameClaimed,
    TokenRevoked,
    has_expired,
    name_key,
)
from domain.aggregate import projector
from domain.ids import token_id, token_name_id
from ledger import clock
from ledger.clock import utc_text

project_token = projector(Token)
REFRESH_SECONDS = 1.0
"""How stale a worker's view of revocations may be: the cache is re-validated this often."""
MAX_NAME_LENGTH = 200


@dataclass(frozen=True)
class Principal:
    id: str  # the token's aggregate id: stable and unique, unlike a name chosen by a person
    name: str  # unique too; what the ledger records as actor
    role: Role
    organisations: frozenset[str]
    expires_at: datetime | None = None

    def may_write_everywhere(self) -> bool:
        return self.role in ("coordinator", "admin")

    @property
    def writable_organisations(self) -> frozenset[str] | None:
        """The organisations whose depots this principal writes to, as a `Context` limits them
        (None: every depot)."""
        return None if self.may_write_everywhere() else self.organisations


@dataclass(frozen=True)
class TokenListing:
    """What `token list` shows of a token: never its hash, never the token."""

    id: str
    name: str
    role: Role
    organisations: tuple[str, ...]
    issued_at: datetime
    issued_by: str
    expires_at: datetime | None
    revoked_at: datetime | None = None
    revoked_by: str | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def as_json(self) -> dict[str, Any]:
        times = {"issued_at": self.issued_at, "expires_at": self.expires_at, "revoked_at": self.revoked_at}
        return {
            "id": self.id,
            "name": self.name,
            "role": self.role,
            "organisations": list(self.organisations),
            "issued_by": self.issued_by,
            "revoked": self.revoked,
            "revoked_by": self.revoked_by,
            **{key: None if value is None else utc_text(value) for key, value in times.items()},
        }


class TokenRefused(Exception):
    """A bearer token that does not let its holder in; `reason` is what the 401 says."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UnknownToken(ValueError):
    pass


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class NameInUse(ValueError):
    """A token's name already names another token (the ledger records names as actors)."""


class Access(Application):
    name = "Access"

    def __init__(self, env: dict[str, str] | None = None) -> None:
        super().__init__(env)
        self.clock: Callable[[], datetime] = clock.now  # expiry is judged on it
        self._cache: dict[str, Principal] = {}
        self._position = -1  # the store's last notification id when the cache was last valid
        self._checked = float("-inf")  # time.monotonic() of that check
        self._lock = threading.Lock()

    # --- issuing, listing, revoking ----------------------------------------------------------

    def issue(
        self,
        name: str,
        role: str,  # any text: refused below unless one of the roles
        organisations: tuple[str, ...] = (),
        issued_by: str = "cli",
        expires_in: timedelta | None = None,
    ) -> str:
        """A new token; only its hash is stored, so this is the one time it can be seen."""
        name = name.strip()
        if not 0 < len(name) <= MAX_NAME_LENGTH:
            raise ValueError(f"a token needs a name of 1 to {MAX_NAME_LENGTH} characters")
        if role not in ROLES:
            raise ValueError(f"unknown role {role!r}: one of {', '.join(ROLES)}")
        if role == "operator" and not organisations:
            raise ValueError("an operator token needs at least one organisation")
        if expires_in is not None and expires_in <= timedelta(0):
            raise ValueError("a token's lifetime must be positive")
        in_use = NameInUse(
            f"the name {name!r} is already in use: the ledger records names as actors, so each names one token"
        )
        if any(name_key(known.name) == name_key(name) for known in self.tokens()):
            raise in_use  # also covers tokens issued before names were claimed
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
            expires_at=None if expires_in is None else self.clock() + expires_in,
        )
        claim = TokenName.start(TokenNameClaimed, token_name_id(name_key(name)), name=name)
        try:
            self.save(aggregate, claim)
        except IntegrityError:
            raise in_use from None
        return token

    def tokens(self) -> list[TokenListing]:
        """Every token ever issued, oldest first, with whether it was revoked."""
        listed: dict[UUID, TokenListing] = {}
        for event in self._events(TokenIssued, TokenRevoked):
            if isinstance(event, TokenIssued):
                listed[event.originator_id] = TokenListing(
                    id=str(event.originator_id),
                    name=event.name,
                    role=event.role,
                    organisations=event.organisations,
                    issued_at=event.timestamp,
                    issued_by=event.issued_by,
                    expires_at=event.expires_at,
                )
            elif event.originator_id in listed:
                issued = listed[event.originator_id]
                listed[event.originator_id] = replace(issued, revoked_at=event.timestamp, revoked_by=event.revoked_by)
        return list(listed.values())

    def revoke(self, id_or_name: str, by: str, reason: str = "") -> TokenListing:
        """Stops a token for good, as an event; named by its id or its (unique) name."""
        wanted = id_or_name.strip()
        try:
            wanted_id = str(UUID(wanted))
        except ValueError:
            wanted_id = None
        found = [t for t in self.tokens() if t.id == wanted_id or name_key(t.name) == name_key(wanted)]
        if not found:
            raise UnknownToken(f"no token with the id or name {wanted!r}")
        if len(found) > 1:  # only tokens issued before names were unique can share one
            raise UnknownToken(
                f"{len(found)} tokens are named {wanted!r}; revoke one by its id: {', '.join(t.id for t in found)}"
            )
        [listing] = found
        if listing.revoked_at is not None:
            raise ValueError(
                f"token {listing.name} ({listing.id}) was already revoked at {utc_text(listing.revoked_at)}"
            )
        token = self.repository.get(UUID(listing.id), projector_func=project_token)
        revoked = token.revoke(by, reason)
        try:
            self.save(token)
        except IntegrityError:
            raise ValueError(f"token {listing.name} ({listing.id}) was revoked meanwhile") from None
        self._checked = float("-inf")  # this process knows at once
        return replace(listing, revoked_at=revoked.timestamp, revoked_by=by)

    def has_tokens(self) -> bool:
        return bool(self.recorder.max_notification_id())

    def _events(self, *types: type) -> Iterator[Any]:
        topics = tuple(get_topic(t) for t in types)
        start = 1
        while True:
            batch = self.recorder.select_notifications(start, 500, topics=topics)
            yield from (self.mapper.to_domain_event(n) for n in batch)
            if len(batch) < 500:
                return
            start = batch[-1].id + 1

    # --- checking ------------------------------------------------------------------------------

    def cached(self, token: str) -> Principal | None:
        """The principal if it is known and the cache is fresh (no database read, so callable
        on the event loop); None means: ask `check` in a thread."""
        token_hash = hash_token(token)
        with self._lock:
            fresh = time.monotonic() - self._checked < REFRESH_SECONDS
            principal = self._cache.get(token_hash) if fresh else None
        return principal if principal is not None and not self._expired(principal) else None

    def check(self, token: str) -> Principal:
        """The principal of a valid token; `TokenRefused` says why a token is not valid."""
        token_hash = hash_token(token)
        generation = self._refresh()
        with self._lock:
            principal = self._cache.get(token_hash)
        if principal is None:
            principal = self._load(token_hash)
            with self._lock:
                if self._position == generation:  # not loaded across a change: safe to keep
                    self._cache[token_hash] = principal
        if self._expired(principal):
            raise TokenRefused("the bearer token has expired")
        return principal

    def authenticate(self, token: str) -> Principal | None:
        try:
            return self.check(token)
        except TokenRefused:
            return None

    def principal(self, principal_id: str) -> Principal:
        """The principal of a token named by its id (a console session keeps only that id), if
        the token is still valid: revoking or expiring a token ends its sessions too."""
        try:
            stored = self.repository.get(UUID(principal_id), projector_func=project_token)
        except (AggregateNotFoundError, ValueError):
            raise TokenRefused("the token of this session is not valid") from None
        principal = self._principal(stored)
        if self._expired(principal):
            raise TokenRefused("the token of this session has expired")
        return principal

    def generation(self) -> int:
        """The store's position the per-process caches are valid for (see `_refresh`)."""
        return self._refresh()

    def _load(self, token_hash: str) -> Principal:
        try:
            stored = self.repository.get(token_id(token_hash), projector_func=project_token)
        except AggregateNotFoundError:
            raise TokenRefused("the bearer token is not valid") from None
        if not hmac.compare_digest(stored.token_hash, token_hash):
            raise TokenRefused("the bearer token is not valid")
        return self._principal(stored)

    @staticmethod
    def _principal(stored: Token) -> Principal:
        if stored.revoked:
            raise TokenRefused("the bearer token was revoked")
        return Principal(str(stored.id), stored.name, stored.role, frozenset(stored.organisations), stored.expires_at)

    def _refresh(self) -> int:
        """Drops the cache if the store changed since it was last checked (at most once per
        REFRESH_SECONDS); returns the position the cache is valid for. The position is read
        before any token is loaded, so an entry loaded before a revocation is never kept
        under a position that includes it."""
        with self._lock:
            if time.monotonic() - self._checked < REFRESH_SECONDS:
                return self._position
        position = self.recorder.max_notification_id() or 0
        with self._lock:
            if position != self._position:
                self._cache.clear()
                self._position = position
            self._checked = time.monotonic()
            return self._position

    def _expired(self, principal: Principal) -> bool:
        return has_expired(principal.expires_at, self.clock())
