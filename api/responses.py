"""Shared response helpers."""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi import Response

from ledger.outcomes import Outcome

OutcomeT = TypeVar("OutcomeT", bound=Outcome)


def answer(result: tuple[OutcomeT, bool], response: Response) -> OutcomeT:
    """The outcome of a command; a replayed one says so in `Idempotent-Replayed: true`."""
    outcome, replayed = result
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return outcome


ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "No or bad token (problem+json)"},
    403: {"description": "Not allowed for this role or organisation (problem+json)"},
    404: {"description": "Unknown depot, item or transfer (problem+json)"},
    409: {"description": "Conflict: insufficient stock, duplicate, closed, version or key reuse (problem+json)"},
    422: {"description": "Invalid request, with every field error (problem+json)"},
}
