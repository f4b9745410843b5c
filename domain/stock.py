"""Stock arithmetic over movements in business order, shared by commands and views.

A movement either changes the balance by `delta` or, for a count, resets it to
`counted`. Order is (`occurred_at`, ledger position): a count is ground truth for
everything dated before it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

CONSUMPTION_WINDOW = timedelta(days=14)
"""Average daily consumption is the consumption dated in the 14 days up to a time, over 14."""


@dataclass(frozen=True, slots=True)
class Movement:
    occurred_at: datetime
    position: int
    delta: int = 0
    counted: int | None = None

    @property
    def is_count(self) -> bool:
        return self.counted is not None


def balance(movements: Iterable[Movement], start: int = 0) -> int:
    """The balance after folding `movements` (already in business order) onto `start`."""
    running = start
    for movement in movements:
        running = movement.counted if movement.counted is not None else running + movement.delta
    return running


def dispatchable(balance_at: int, later: Iterable[Movement], reaches_now: bool, available_now: int) -> int:
    """How much can leave at a (possibly backdated) time without any later balance going negative.

    `balance_at` is the balance at the dispatch's time; `later` are the movements after it
    up to, not including, the next count (a count after the dispatch already saw it, so
    balances from then on do not change). When no count follows, the dispatch also lowers
    today's stock, where reservations count too: `available_now` is on hand less reserved.
    """
    lowest = running = balance_at
    for movement in later:
        running += movement.delta
        lowest = min(lowest, running)
    if reaches_now:
        lowest = min(lowest, available_now)
    return lowest
