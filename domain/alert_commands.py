"""The alert commands, which are also the request bodies of the alert routes."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from domain.commands import Code, Command, Envelope, Note
from domain.events import ItemCategory


class RuleScope(Command):
    """Where a rule applies; every member given must match. None given: everywhere."""

    category: ItemCategory | None = None
    item: Code | None = None
    region: Code | None = None
    depot: Code | None = None


class SetAlertRule(Envelope):
    threshold: Annotated[
        float,
        Field(
            strict=True,
            ge=0,
            le=36500,
            allow_inf_nan=False,
            description="Days (low_days_of_supply, projected_stockout, expiring_lots, silent_depot), "
            "hours (transfer_overdue, request_unanswered for critical requests; high ones 3x) or a share "
            "of the book (count_variance)",
        ),
    ]
    scope: RuleScope = RuleScope()


class AcknowledgeAlert(Command):
    note: Note = None
