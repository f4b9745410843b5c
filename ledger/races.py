"""How a command that lost a race is tried again until it is stored.

Commands are optimistic: each decides on the depots as loaded and saves only if none
changed meanwhile. Many people writing to one busy depot at once would then mostly redo
work that another command made stale, and a command could lose again and again. So a
command that lost once waits its turn: it takes the in-process locks of the aggregates it
touched (striped, always in the same order, so two commands never wait on each other)
and decides again holding them. Commands of this process on the same depot then follow
one another; a race with another process is still possible and simply retried, with a
short random pause, for up to RETRY_SECONDS.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

RETRY_SECONDS = 10.0
MAX_BACKOFF = 0.05
STRIPES = 256

_locks = [threading.Lock() for _ in range(STRIPES)]


@contextmanager
def turn_of(aggregate_ids: Iterable[Any]) -> Iterator[None]:
    """Hold the locks of these aggregates (in one fixed order)."""
    stripes = sorted({hash(aggregate_id) % STRIPES for aggregate_id in aggregate_ids})
    with ExitStack() as held:
        for stripe in stripes:
            held.enter_context(_locks[stripe])
        yield


class Attempts:
    """The tries of one command: the first free, later ones in turn, until the deadline."""

    def __init__(self) -> None:
        self.deadline = time.monotonic() + RETRY_SECONDS
        self.lost = 0

    def expired(self) -> bool:
        return time.monotonic() >= self.deadline

    def pause(self) -> None:
        """A short random pause after a lost race, longer each time."""
        self.lost += 1
        if self.lost > 1:  # the first retry waits for the lock instead
            time.sleep(random.uniform(0, min(MAX_BACKOFF, 0.001 * 2**self.lost)))
