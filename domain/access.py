"""Who may do what: bearer tokens with a role and, for operators, their organisations.

A token is stored only as its SHA-256; the aggregate id is derived from that hash so a
request's token is found with one read, and the stored hash is compared in constant time.
That id is the principal's stable identity (idempotency keys belong to it); the name is
what the ledger records as actor, so each name is claimed once (`TokenName`) and can
never be issued again, even after the token is revoked.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal, Self

from domain.aggregate import Aggregate
from domain.events import StoredEvent

Role = Literal["operator", "coordinator", "auditor", "admin"]
ROLES: tuple[Role, ...] = ("operator", "coordinator", "auditor", "admin")


class TokenIssued(StoredEvent):
    name: str
    role: Role
    organisations: tuple[str, ...] = ()
    token_hash: str
    issued_by: str
    expires_at: datetime | None = None  # tokens issued before expiry existed never expire


class TokenRevoked(StoredEvent):
    revoked_by: str
    reason: str = ""


class Token(Aggregate):
    name: str
    role: Role
    organisations: tuple[str, ...] = ()
    token_hash: str
    issued_by: str
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    revoked_by: str | None = None
    revoke_reason: str | None = None

    @classmethod
    def created(cls, event: TokenIssued) -> Self:
        return cls(
            **cls.born(event),
            name=event.name,
            role=event.role,
            organisations=event.organisations,
            token_hash=event.token_hash,
            issued_by=event.issued_by,
            expires_at=event.expires_at,
        )

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def revoke(self, by: str, reason: str) -> TokenRevoked:
        return self.trigger(TokenRevoked, revoked_by=by, reason=reason)

    def mutate(self, event: object) -> None:
        if not isinstance(event, TokenRevoked):
            raise TypeError(f"Token cannot apply {type(event).__name__}")
        self.revoked_at = event.timestamp
        self.revoked_by = event.revoked_by
        self.revoke_reason = event.reason


class TokenNameClaimed(StoredEvent):
    name: str


class TokenName(Aggregate):
    """A name given to a token: its id is derived from the name, so the event store's
    optimistic concurrency refuses a second claim even when two are issued at once."""

    name: str

    @classmethod
    def created(cls, event: TokenNameClaimed) -> Self:
        return cls(**cls.born(event), name=event.name)

    def mutate(self, event: object) -> None:
        raise TypeError(f"TokenName cannot apply {type(event).__name__}")


def has_expired(expires_at: datetime | None, now: datetime) -> bool:
    """A token with a lifetime stops working at its expiry instant; one without never expires."""
    return expires_at is not None and now >= expires_at


def name_key(name: str) -> str:
    """Names are compared without case or surrounding space: `Admin` and `admin ` are one name."""
    return name.strip().casefold()


class ConsoleSessionStarted(StoredEvent):
    """A person signed in to the web console with a token: the session acts as that token.
    Only the hash of the cookie's secret is stored (in the aggregate id), never the token."""

    principal_id: str
    expires_at: datetime
    csrf: str


class ConsoleSessionEnded(StoredEvent):
    reason: str = "signed out"


class ConsoleSession(Aggregate):
    principal_id: str
    expires_at: datetime
    csrf: str
    ended_at: datetime | None = None

    @classmethod
    def created(cls, event: ConsoleSessionStarted) -> Self:
        return cls(**cls.born(event), principal_id=event.principal_id, expires_at=event.expires_at, csrf=event.csrf)

    def end(self, reason: str) -> ConsoleSessionEnded:
        return self.trigger(ConsoleSessionEnded, reason=reason)

    def mutate(self, event: object) -> None:
        if not isinstance(event, ConsoleSessionEnded):
            raise TypeError(f"ConsoleSession cannot apply {type(event).__name__}")
        self.ended_at = event.timestamp

    def open_at(self, now: datetime) -> bool:
        return self.ended_at is None and now < self.expires_at
