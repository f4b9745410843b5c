"""Aggregate ids derived from business codes, so that a code can be registered only once:
two registrations of one code are two version-1 events of one aggregate, and the event
store's optimistic concurrency refuses the second."""

from __future__ import annotations

from uuid import UUID, uuid5

NAMESPACE = UUID("6f1c0a52-8d0e-4a57-9f8e-5b7d2b1c9a11")


def depot_id(code: str) -> UUID:
    return uuid5(NAMESPACE, f"depot:{code}")


def item_id(code: str) -> UUID:
    return uuid5(NAMESPACE, f"item:{code}")


def token_id(token_hash: str) -> UUID:
    return uuid5(NAMESPACE, f"token:{token_hash}")


def token_name_id(key: str) -> UUID:
    return uuid5(NAMESPACE, f"token-name:{key}")


def console_session_id(secret_hash: str) -> UUID:
    """A console session is found by the hash of its cookie, as a token by the hash of itself."""
    return uuid5(NAMESPACE, f"console-session:{secret_hash}")


def event_id(originator_id: UUID, version: int) -> str:
    """The id of a stored event as the API answers it (`event_id`): its aggregate's id and its version."""
    return f"{originator_id}:{version}"


def parse_event_id(text: str) -> tuple[UUID, int] | None:
    """An event id (`<uuid>:<version>`, the uuid with or without hyphens, any case) as its parts; None if malformed."""
    head, _, tail = text.strip().rpartition(":")
    if not tail.isdigit() or not 1 <= int(tail) <= 10**18:
        return None
    try:
        return UUID(head), int(tail)
    except ValueError:
        return None


def exercise_id(code: str) -> UUID:
    return uuid5(NAMESPACE, f"exercise:{code}")


def alert_rules_id() -> UUID:
    """The one aggregate that holds every alert rule set (`AlertRuleSet`) of a ledger."""
    return uuid5(NAMESPACE, "alert-rules")


def import_id(scope: str, kind: str, content_hash: str) -> UUID:
    """An import's record: one per principal, kind and file content, so the same file again
    is the same aggregate and cannot be stored twice."""
    return uuid5(NAMESPACE, f"import:{scope}:{kind}:{content_hash}")


def distribution_models_id() -> UUID:
    """The one aggregate that holds every version of every distribution model of a ledger."""
    return uuid5(NAMESPACE, "distribution-models")
