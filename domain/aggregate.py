"""A small aggregate base for pydantic events.

The library's own `Aggregate` expects dataclass events; ours are pydantic models, so the
aggregate is a mutable pydantic model that triggers events, applies them to itself and
hands them to the application's `save()` through `collect_events()`. Its JSON dump is
its snapshot.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any, Self, TypeVar
from uuid import UUID

from pydantic import BaseModel, ConfigDict, PrivateAttr

from domain.events import Snapshot, StoredEvent

E = TypeVar("E", bound=StoredEvent)
"""An event of any aggregate: depots and items trigger ledger events, exercises and tokens their own."""


class Aggregate(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=False)

    id: UUID
    version: int
    created_on: datetime
    modified_on: datetime
    _pending: list[StoredEvent] = PrivateAttr(default_factory=list)
    _effects: dict[int, list[Any]] = PrivateAttr(default_factory=dict)

    @classmethod
    def created(cls, event: Any) -> Self:
        raise NotImplementedError

    @staticmethod
    def born(event: StoredEvent) -> dict[str, Any]:
        """The fields every aggregate takes from the event that creates it."""
        return {
            "id": event.originator_id,
            "version": event.originator_version,
            "created_on": event.timestamp,
            "modified_on": event.timestamp,
        }

    def mutate(self, event: Any) -> None:
        raise NotImplementedError

    def effects(self, event: Any) -> list[Any]:
        """What `event` does to the aggregate's books, judged on the state before it (for the journal)."""
        return []

    def effects_of(self, event: StoredEvent) -> list[Any]:
        """The effects recorded when this aggregate triggered `event`."""
        return self._effects.get(event.originator_version, [])

    @classmethod
    def start(cls, event_class: type[StoredEvent], aggregate_id: UUID, **fields: Any) -> Self:
        event = event_class(originator_id=aggregate_id, originator_version=1, **fields)
        aggregate = cls.created(event)
        aggregate._pending.append(event)
        return aggregate

    def trigger(self, event_class: type[E], **fields: Any) -> E:
        event = event_class(originator_id=self.id, originator_version=self.version + 1, **fields)
        self._effects[event.originator_version] = self.effects(event)
        self.apply(event)
        self._pending.append(event)
        return event

    def apply(self, event: StoredEvent) -> None:
        self.mutate(event)
        self.version = event.originator_version
        self.modified_on = event.timestamp

    def collect_events(self) -> list[StoredEvent]:
        events, self._pending = self._pending, []
        return events

    @property
    def pending_events(self) -> list[StoredEvent]:
        return list(self._pending)


A = TypeVar("A", bound=Aggregate)


def projector(cls: type[A]) -> Callable[[A | None, Iterable[StoredEvent]], A | None]:
    """The repository's projector for `cls`: start from a snapshot or the creation event, apply the rest."""

    def project(aggregate: A | None, events: Iterable[StoredEvent]) -> A | None:
        for event in events:
            if isinstance(event, Snapshot):
                aggregate = cls.model_validate(event.state)
            elif aggregate is None:
                aggregate = cls.created(event)
            else:
                aggregate.apply(event)
        return aggregate

    return project
