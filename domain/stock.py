"""Stock arithmetic over movements in business order, shared by commands and views.

A movement either changes the balance by `delta` or, for a count, resets it to
`counted`. Order is (`occurred_at`, ledger position): a count is ground truth for
everything dated before it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction

CONSUMPTION_WINDOW = timedelta(days=14)
"""Average daily consumption is the consumption dated in the 14 days up to a time, over 14."""

COUNT_VARIANCE_SHARE = Fraction(1, 10)
"""API.md's `count_variance` default: a count that differs from the book by more than this share
of the book disagrees with it, and the views flag a discrepancy until the next count."""


def count_disagrees(book: int, counted: int, share: Fraction = COUNT_VARIANCE_SHARE) -> bool:
    """Whether a count differs from the book just before it by more than `share` of the book:
    |counted - book| / book > share, in exact arithmetic. A book of 0 or below has no share to
    measure by, so any count that differs from it disagrees (counted 5 against a book of 0 does;
    a count of 0 against a book of 0 does not; a negative book always does)."""
    if book <= 0:
        return counted != book
    return abs(counted - book) > share * book


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
