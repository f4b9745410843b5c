"""Running the stock projection: catch up in batches, follow the ledger, rebuild on demand.

The projection is the library's `Projection` with a `TrackingRecorder` view; what we add
is the loop that feeds it. SQLite has no subscription (see the eventsourcing notes), so
the runner pulls the notification log from the view's tracked position, on both
databases, in batches of `BATCH` events per view transaction: one transaction per event
would cap catch-up at a few hundred events a second. Inside `serve` a write wakes the
runner at once; a separate worker (`supply-ledger projections run`) polls. After each
batch the runner also writes fold checkpoints ahead of the historical questions
(`projections.checkpoints`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Any

import psycopg
import structlog
from eventsourcing.persistence import InfrastructureFactory, IntegrityError, Tracking
from eventsourcing.projection import Projection
from eventsourcing.utils import Environment

from domain.alerts import Alert
from ledger.application import Ledger
from ledger.outage import unavailable
from ledger.schema_lock import side_connection
from ledger.settings import Database
from projections.alert_watch import AlertWatch
from projections.checkpoints import CheckpointsAhead
from projections.stock_view import (
    PostgresStockView,
    SQLiteStockView,
    StaleBatch,
    StockView,
)

BATCH = 1000
POLL_SECONDS = 0.5
# Woken by a write, the runner lets the commands stored meanwhile gather this long and
# projects them in one view transaction: one batch per command cost the database more
# transactions than the commands themselves. Readers of current figures never wait for it
# (`wait` projects what they need in their own thread).
GATHER_SECONDS = 0.1
ALERT_TICK_SECONDS = 300.0
"""How often the follower re-evaluates every depot's alerts (time passing opens some without any event)."""

log = structlog.get_logger("supply_ledger.projections")


class StockProjection(Projection[StockView]):
    """Current stock per depot and item, transfers and recent consumption (`projections.current`)."""

    name = "stock"

    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        self.view.apply(
            [(tracking.notification_id, domain_event)], tracking, self.view.max_tracking_id(tracking.application_name)
        )

    def process_batch(self, events: list[tuple[int, Any]], tracking: Tracking, after: int | None) -> None:
        self.view.apply(events, tracking, after)


def open_view(database: Database, ledger: Ledger, ledger_key: str = "ledger") -> StockView:
    """The stock view of one ledger, created if missing (tables named after the ledger)."""
    env = Environment(name=f"{ledger.name}View", env=database.view_env(ledger_key))
    factory = InfrastructureFactory.construct(env)
    view_class = SQLiteStockView if database.kind == "sqlite" else PostgresStockView
    view = factory.tracking_recorder(view_class)
    assert isinstance(view, StockView)  # the class given (the library types it as any tracking recorder)
    if view.upgrade(ledger.name):
        log.warning("stock_view_recreated", reason="written by an earlier version; it is rebuilt from the ledger")
    view.alerts = AlertWatch(view, partial(evaluate_alerts, ledger), ledger.clock)
    return view


def evaluate_alerts(ledger: Ledger, depots: frozenset[str], now: datetime) -> list[Alert]:
    """The alert projection's evaluation: the on-demand view's (`alerts_for`), with everything
    recorded, at `now` — so the projection and the on-demand path cannot disagree."""
    from projections.alerts.evaluate import alerts_for

    return alerts_for(ledger, depots, now)


class Projector:
    """Feeds one ledger's events to its stock projection, exactly once, in batches."""

    def __init__(
        self, ledger: Ledger, view: StockView, batch: int = BATCH, checkpoints: CheckpointsAhead | None = None
    ) -> None:
        self.ledger = ledger
        self.view = view
        self.projection = StockProjection(view=view)
        self.batch = batch
        self.checkpoints = checkpoints or CheckpointsAhead(ledger.index_store)
        self._woken = threading.Event()
        self._projected: int | None = None  # where this projector last left the view, so a step need not ask
        self.alert_tick = ALERT_TICK_SECONDS
        self._ticked = float("-inf")  # time.monotonic() of the last alert tick

    def position(self) -> int:
        return self.view.max_tracking_id(self.ledger.name) or 0

    def step(self) -> int:
        """Project the next batch; the number of ledger events it covered (0 when caught up)."""
        after = self._projected if self._projected is not None else self.view.max_tracking_id(self.ledger.name)
        notifications = self.ledger.recorder.select_notifications(start=(after or 0) + 1, limit=self.batch)
        if not notifications:
            return 0
        events = [(n.id, self.ledger.mapper.to_domain_event(n)) for n in notifications]
        try:
            self.projection.process_batch(events, Tracking(self.ledger.name, notifications[-1].id), after)
            self._projected = notifications[-1].id
        except (StaleBatch, IntegrityError):
            self._projected = None
            if self.position() == (after or 0):
                raise  # nobody else moved the view: a real failure, not a lost race
            log.debug("projection_batch_superseded", after=after)  # another runner got there first
        return len(notifications)

    def catch_up(self, until: int | None = None, progress: Callable[[int], None] | None = None) -> int:
        """Project until the view reaches `until` (default: the ledger's position now)."""
        target = self.ledger.position() if until is None else until
        done = 0
        self.checkpoint_ahead()
        while self.position() < target:
            covered = self.step()
            if covered == 0:
                break
            done += covered
            self.checkpoint_ahead()
            if progress:
                progress(self.position())
        self.settle_alerts()
        return done

    def rebuild(self, progress: Callable[[int], None] | None = None) -> int:
        """Empty the view and project the whole ledger again. Fold checkpoints are kept (they
        are true forever); those written ahead are checked again, and new ones written only
        where a book has none near."""
        self.view.reset(self.ledger.name)
        self._projected = None
        self.checkpoints.start_at(0)
        return self.catch_up(progress=progress)

    def checkpoint_ahead(self) -> None:
        """Write the fold checkpoints due up to the view's position (see `projections.checkpoints`).
        The first call starts counting at the view's position; so does a call after the view was
        reset behind it. A failure only costs a cache entry: it is logged, and retried next time."""
        try:
            self.checkpoints.advance(self._projected if self._projected is not None else self.position())
        except Exception:
            log.exception("fold_checkpoints_not_written", position=self.checkpoints.position)

    def wait(self, position: int, timeout: float) -> bool:
        """Whether the view reached `position` within `timeout` seconds. The caller's thread
        projects the missing batches itself rather than wait for the runner's next poll."""
        deadline = time.monotonic() + timeout
        while self.position() < position:
            if time.monotonic() >= deadline:
                return False
            try:
                if self.step() == 0:
                    time.sleep(0.005)
            except Exception as error:
                _failed(error)
                return False
        return True

    def settle_alerts(self, at_most: int | None = None) -> None:
        """Evaluate the alerts of the depots projected batches touched (`AlertWatch.settle`)."""
        if self.view.alerts is not None:
            self.view.alerts.settle(at_most=at_most)  # at the watch's clock

    def tick_alerts(self) -> None:
        """Re-evaluate every depot's alerts once `alert_tick` seconds have passed (when an alert
        projection is plugged into the view, see `projections.alert_watch`)."""
        if self.view.alerts is None or time.monotonic() - self._ticked < self.alert_tick:
            return
        self._ticked = time.monotonic()
        self.view.alerts.tick()  # at the watch's clock

    def wake(self) -> None:
        self._woken.set()

    def run(self, stop: threading.Event, poll: float = POLL_SECONDS) -> None:
        """Follow the ledger until `stop` is set; a failing batch is logged and retried.
        Of several processes serving one ledger only one follows it at a time (`Turn`), and
        that one also writes the fold checkpoints ahead of the questions."""
        with Turn(self.view) as turn:
            self._follow(stop, poll, turn)

    def _follow(self, stop: threading.Event, poll: float, turn: Turn) -> None:
        self.checkpoint_ahead()  # count the journal from where the view is now
        while not stop.is_set():
            if not turn.mine():
                stop.wait(poll)
                continue
            try:
                done = self.step()
                if done:
                    self.checkpoint_ahead()
                if done >= self.batch:
                    continue  # catching up: there is more
                self.settle_alerts()
                self.tick_alerts()
            except Exception as error:
                self._projected = None
                _failed(error)
                stop.wait(poll)
            self._woken.wait(poll)
            self._woken.clear()
            stop.wait(GATHER_SECONDS)


class Turn:
    """Whether this process is the one that follows the ledger: on PostgreSQL, the holder of a
    session advisory lock on the view, on a connection of its own (released when the process
    ends, so another takes over within a poll). Every worker of `serve --workers N` following
    the ledger cost the database N times the transactions for the same view. SQLite has one
    process, always its turn."""

    def __init__(self, view: StockView) -> None:
        self.view = view
        self._conn: Any = None
        self._held = False

    def __enter__(self) -> Turn:
        return self

    def __exit__(self, *_: object) -> None:
        if self._conn is not None:
            self._conn.close()

    def mine(self) -> bool:
        if not isinstance(self.view, PostgresStockView):
            return True
        if self._held and not self._conn.broken:
            return True
        try:
            if self._conn is None or self._conn.closed or self._conn.broken:
                self._conn = side_connection(self.view.datastore.pool, 5)
            row = self._conn.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (self.view.follower_lock,)).fetchone()
            self._held = bool(row[0])
        except psycopg.Error:
            self._conn, self._held = None, False
        return self._held


def _failed(error: Exception) -> None:
    """A failed batch is logged, and tried again: while the database is away that is a
    warning without a traceback, and the log line asks nothing of the database."""
    reason = unavailable(error)
    if reason is not None:
        log.warning("projection_waiting_for_database", reason=reason)
    else:
        log.error("projection_failed", exc_info=error)


class ProjectionThread:
    """The projector running beside the API in `serve` (the default deployment)."""

    def __init__(self, projector: Projector) -> None:
        self.projector = projector
        self._stop = threading.Event()
        self._thread = threading.Thread(target=projector.run, args=(self._stop,), name="stock-projection", daemon=True)

    def start(self) -> ProjectionThread:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self.projector.wake()
        self._thread.join(timeout=10)
