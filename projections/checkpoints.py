"""Fold checkpoints written ahead of the questions, by the projection, as events arrive.

A historical question folds a depot's items from their nearest usable checkpoint
(`projections.history`). Checkpoints left behind by earlier questions help only cuts
near those questions; the first question about a part of a long history would fold it
from the start. So the projection runner, after each batch it projects, counts the
journal rows recorded in the batch per depot and item, and for every book that has
`every` rows or more since its nearest checkpoint it folds the book as known at the
batch's last position and leaves a checkpoint at its last row.

This runs in the projection's thread, never in a command's transaction. A checkpoint is
a cache (true forever, written with ON CONFLICT DO NOTHING), so a failure here is
logged and skipped, and a restart or a rebuild only changes which books are looked at
next: the counts kept here live in memory, and each fold tells again how many rows a
book has since its nearest checkpoint, whoever wrote that one.
"""

from __future__ import annotations

import threading
from collections import defaultdict

from ledger.persistence import IndexStore
from projections.history import History

AHEAD_EVERY = 100  # journal rows of one depot and item between checkpoints written ahead
CHUNK = 1000  # positions counted at a time, so checkpoints are known at positions spread like batches


class CheckpointsAhead:
    """Follows the journal behind the projection and keeps each book's checkpoints near its end."""

    def __init__(self, store: IndexStore, every: int | None = AHEAD_EVERY) -> None:
        """`every` None writes nothing (the benchmark's baseline)."""
        self.store = store
        self.history = History(store)
        self.every = every
        self.position: int | None = None  # journal counted up to here; None: not started
        self.since: dict[tuple[str, str], int] = {}  # rows since the nearest checkpoint, as far as counted
        self._lock = threading.Lock()

    def start_at(self, position: int) -> None:
        """Count from `position` on (the projection's position when it starts or rebuilds)."""
        with self._lock:
            self.position = position
            self.since.clear()

    def advance(self, upto: int) -> int:
        """Count the rows recorded after the last call up to `upto` and write the checkpoints that
        are due, as known at the end of each chunk; the number of books whose nearest checkpoint
        is now at their last row. Should it fail, the chunk is counted again next time: a book
        then looks due early, and its fold says how many rows it really has."""
        if self.every is None:
            return 0
        with self._lock:
            if self.position is None or self.position > upto:
                self.position, self.since = upto, {}
                return 0
            written = 0
            while self.position < upto:
                end = min(upto, self.position + CHUNK)
                written += self._count(self.position, end)
                self.position = end
            return written

    def _count(self, after: int, upto: int) -> int:
        every = self.every or 0
        for row in self.store.query(
            "SELECT depot, item, COUNT(*) AS n FROM {t}movements WHERE position > :after AND position <= :upto"
            " GROUP BY depot, item",
            after=after,
            upto=upto,
        ):
            key = (row["depot"], row["item"])
            self.since[key] = self.since.get(key, 0) + int(row["n"])
        due: dict[str, list[str]] = defaultdict(list)
        for (depot, item), rows in self.since.items():
            if rows >= every:
                due[depot].append(item)
        written = 0
        for depot, items in sorted(due.items()):
            for item, rows in self.history.checkpoint_ahead(depot, sorted(items), upto, every).items():
                written += rows == 0
                if rows:
                    self.since[depot, item] = rows
                else:
                    del self.since[depot, item]
        return written
