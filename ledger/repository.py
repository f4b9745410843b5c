"""The ledger's aggregate cache: safe to read from many threads at once.

The `eventsourcing` repository fast-forwards a cached aggregate *in place* (under a lock)
and deep-copies it for the caller *outside* that lock, so a request copying a depot while
another request fast-forwards it failed with "dictionary changed size during iteration"
(a 500). Here a cached aggregate is never changed once cached: a reader copies it, brings
its copy up to date from the store, and offers the newer copy back to the cache, which
keeps whichever is newest. No lock is held across a database round trip.

A command may also take its cached depots as they are (`trusting`), without asking the
store whether another process wrote them since: every depot a command reads it also
writes, at the next version, so a stale copy cannot be saved (the save conflicts and the
command is decided again on fresh state). That saves a database transaction per command.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from copy import deepcopy
from typing import Any
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Repository, project_aggregate


class LedgerRepository(Repository[UUID]):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._offering = threading.Lock()
        self._trusted: ContextVar[list[Any] | None] = ContextVar("trusted", default=None)

    @contextmanager
    def trusting(self) -> Iterator[list[Any]]:
        """Within: cached aggregates are taken as current; yields the ids of those so read."""
        read: list[Any] = []
        token = self._trusted.set(read)
        try:
            yield read
        finally:
            self._trusted.reset(token)

    def get(
        self,
        aggregate_id: Any,
        *,
        version: int | None = None,
        projector_func: Any = project_aggregate,
        fastforward_skipping: bool = False,
        deepcopy_from_cache: bool = True,
    ) -> Any:
        if self.cache is None or version is not None:
            return super().get(aggregate_id, version=version, projector_func=projector_func)
        try:
            cached = self.cache.get(aggregate_id)
        except KeyError:
            aggregate = self._reconstruct_aggregate(aggregate_id, None, projector_func)
            self.offer([deepcopy(aggregate)])
            return aggregate
        aggregate = deepcopy(cached)
        trusted = self._trusted.get()
        if trusted is not None:
            trusted.append(aggregate_id)
            return aggregate
        new_events = list(self.event_store.get(originator_id=aggregate_id, gt=aggregate.version))
        if new_events:
            aggregate = projector_func(aggregate, new_events)
            if aggregate is None:
                raise AggregateNotFoundError(aggregate_id)
            self.offer([deepcopy(aggregate)])
        return aggregate

    def offer(self, aggregates: Iterable[Any]) -> None:
        """Cache these aggregates (just read, or just saved) unless the cache has newer ones.
        The caller gives them up: nothing may change them from now on."""
        if self.cache is None:
            return
        for aggregate in aggregates:
            aggregate._effects = {}  # what its last save wrote to the journal
            with self._offering:
                try:
                    current = self.cache.get(aggregate.id)
                except KeyError:
                    current = None
                if current is None or current.version < aggregate.version:
                    self.cache.put(aggregate.id, aggregate)
