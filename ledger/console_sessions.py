"""Sessions of the web console: a person signs in once with a token and the browser then
holds only a random cookie. The session lives in the access store beside the tokens (never
in the ledger's feed), so every worker and host sees it, and signing out or revoking the
token ends it everywhere within the access cache's refresh (`ledger.access`).
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from dataclasses import dataclass
from datetime import timedelta

from eventsourcing.application import AggregateNotFoundError

from domain.access import ConsoleSession, ConsoleSessionStarted
from domain.aggregate import projector
from domain.ids import console_session_id
from ledger.access import Access, Principal, TokenRefused

LIFETIME = timedelta(hours=8)
"""A working shift: a session ends this long after sign-in, or when its token expires if sooner."""

project_session = projector(ConsoleSession)


@dataclass(frozen=True)
class SignedIn:
    """Who a console request acts as, and the CSRF token its forms must carry."""

    principal: Principal
    csrf: str
    session_id: str


class ConsoleSessions:
    def __init__(self, access: Access, lifetime: timedelta = LIFETIME) -> None:
        self.access = access
        self.lifetime = lifetime
        self._cache: dict[str, tuple[int, ConsoleSession]] = {}
        self._lock = threading.Lock()

    def start(self, token: str) -> tuple[str, SignedIn]:
        """A new session for a valid token: the cookie's secret (shown once, to the browser) and
        who signed in. `TokenRefused` says why a token does not let its holder in."""
        principal = self.access.check(token.strip())
        now = self.access.clock()
        expires_at = now + self.lifetime
        if principal.expires_at is not None:
            expires_at = min(expires_at, principal.expires_at)
        secret = secrets.token_urlsafe(32)
        session = ConsoleSession.start(
            ConsoleSessionStarted,
            console_session_id(_hash(secret)),
            principal_id=principal.id,
            expires_at=expires_at,
            csrf=secrets.token_urlsafe(32),
        )
        self.access.save(session)
        return secret, SignedIn(principal, session.csrf, str(session.id))

    def find(self, secret: str) -> SignedIn | None:
        """The open session of a cookie, with its token's principal; None if the cookie names no
        session, or one that ended or expired, or whose token was revoked or expired."""
        if not secret or len(secret) > 100:
            return None
        session = self._session(_hash(secret))
        if session is None or not session.open_at(self.access.clock()):
            return None
        try:
            principal = self.access.principal(session.principal_id)
        except TokenRefused:
            return None
        return SignedIn(principal, session.csrf, str(session.id))

    def end(self, secret: str) -> None:
        """Signs out: the session is ended for every worker, not just forgotten by this browser."""
        session = self._session(_hash(secret))
        if session is None or session.ended_at is not None:
            return
        session.end("signed out")
        self.access.save(session)
        with self._lock:
            self._cache.clear()

    def _session(self, secret_hash: str) -> ConsoleSession | None:
        generation = self.access.generation()
        with self._lock:
            cached = self._cache.get(secret_hash)
        if cached is not None and cached[0] == generation:
            return cached[1]
        try:
            session = self.access.repository.get(console_session_id(secret_hash), projector_func=project_session)
        except AggregateNotFoundError:
            return None
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[secret_hash] = (generation, session)
        return session


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
