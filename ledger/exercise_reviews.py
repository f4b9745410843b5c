"""Each exercise's latest review per policy, kept with the state it was computed from.

A review reads the whole exercise ledger and re-runs it under a policy (seconds for the
demo), and any reader may ask for it; but it changes only when the exercise does. The
state is what determines it (the exercise aggregate's version, the exercise ledger's
position, and the review's format), read *before* computing: a review is answered only for
exactly the state it was stored with, so a changed exercise is never answered from an
older review.

The result is stored in the control store's `exercise_reviews` table, one row per exercise
and policy (the newest replaces the one before), so every worker of a server shares it and
a restart keeps it; the last few are also kept parsed in this process. Within a process one
request computes a given review while the others wait for it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, TypeVar

import structlog
from eventsourcing.persistence import PersistenceError

from ledger.persistence import IndexStore

R = TypeVar("R")
log = structlog.get_logger("supply_ledger.exercises")

_READ = "SELECT state, review FROM {t}exercise_reviews WHERE exercise = :exercise AND policy = :policy"
_WRITE = """INSERT INTO {t}exercise_reviews (exercise, policy, state, review)
    VALUES (:exercise, :policy, :state, :review)
    ON CONFLICT (exercise, policy) DO UPDATE SET state = excluded.state, review = excluded.review"""


class StoredReviews:
    def __init__(self, store: IndexStore, kept: int = 8) -> None:
        self.store = store
        self.kept = kept
        self._parsed: OrderedDict[tuple[str, str], tuple[str, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self._computing: dict[tuple[str, str], threading.Lock] = {}

    def get_or_compute(
        self,
        exercise: str,
        policy: str,
        state: str,
        compute: Callable[[], R],
        dump: Callable[[R], str],
        load: Callable[[str], R | None],
    ) -> R:
        """The review of `exercise` under `policy` at `state`: kept, stored, or computed now
        (and stored). `load` returns None for a stored text it cannot read (an older format)."""
        key = (exercise, policy)
        with self._lock:
            computing = self._computing.setdefault(key, threading.Lock())
        with computing:
            kept = self._kept(key, state)
            if kept is not None:
                return kept
            rows = self.store.query(_READ, exercise=exercise, policy=policy)
            result = load(rows[0]["review"]) if rows and rows[0]["state"] == state else None
            if result is None:
                result = compute()
                self._store(exercise, policy, state, dump(result))
            self._keep(key, state, result)
            return result

    def _kept(self, key: tuple[str, str], state: str) -> Any:
        with self._lock:
            found = self._parsed.get(key)
            if found is None or found[0] != state:
                return None
            self._parsed.move_to_end(key)
            return found[1]

    def _keep(self, key: tuple[str, str], state: str, result: Any) -> None:
        with self._lock:
            self._parsed[key] = (state, result)
            self._parsed.move_to_end(key)
            while len(self._parsed) > self.kept:
                self._parsed.popitem(last=False)

    def _store(self, exercise: str, policy: str, state: str, text: str) -> None:
        """A cache: a failed write costs the next worker a computation, not this reader its answer."""
        try:
            self.store.write(_WRITE, [{"exercise": exercise, "policy": policy, "state": state, "review": text}])
        except PersistenceError as error:
            log.warning("review_not_stored", exercise=exercise, policy=policy, error=str(error))
