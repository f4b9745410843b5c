"""Who asks the ledger to do something, and how: the principal, its idempotency key, the
version it expects. Built by the API from the request (or by the CLI and the demo)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field

from domain import events as ev
from domain.depot import Depot
from domain.exceptions import Forbidden


@dataclass(frozen=True)
class Context:
    """Who asks, and how: the principal, the idempotency key and the version it expects."""

    actor: str  # the principal's unique name, recorded on its events
    organisations: frozenset[str] | None = None  # None: every depot
    source: ev.Source = "api"
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    idempotency_key: str | None = None
    fingerprint: str | None = None
    expected_version: int | None = None
    principal_id: str | None = None  # a token's stable id; callers without a token (CLI, demo) go by actor

    @property
    def idempotency_scope(self) -> str:
        """Whose keys these are: a key belongs to one principal, never to a display name."""
        return self.principal_id or self.actor

    @property
    def command_id(self) -> str:
        return self.idempotency_key or self.request_id

    def writes_for(self, organisation: str) -> bool:
        """Whether this principal may write to depots of `organisation` (None: every depot)."""
        return self.organisations is None or organisation in self.organisations

    def may_write(self, depot: Depot) -> None:
        if not self.writes_for(depot.organisation):
            raise Forbidden(
                f"{self.actor} may not write to depot {depot.code} of organisation {depot.organisation}",
                depot=depot.code,
            )
