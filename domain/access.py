"""Who may do what: bearer tokens with a role and, for operators, their organisations.

A token is stored only as its SHA-256; the aggregate id is derived from that hash so a
request's token is found with one read, and the stored hash is compared in constant time.
"""

from __future__ import annotations

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


class Token(Aggregate):
    name: str
    role: Role
    organisations: tuple[str, ...] = ()
    token_hash: str
    issued_by: str

    @classmethod
    def created(cls, event: TokenIssued) -> Self:
        return cls(
            **cls.born(event),
            name=event.name,
            role=event.role,
            organisations=event.organisations,
            token_hash=event.token_hash,
            issued_by=event.issued_by,
        )

    def mutate(self, event: object) -> None:
        raise TypeError(f"Token cannot apply {type(event).__name__}")
