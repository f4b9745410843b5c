"""The materialised stock projection is exactly-once: restarts and races never double count.

DESIGN.md core idea 7: the current views are kept as materialised projections "with tracked
positions (exactly-once, rebuildable)"; docs/architecture.md: a batch lands with its
tracking record or not at all, "a restart resumes after the tracked position, and a second
runner racing on the same view gets `StaleBatch` and re-reads".

- A projector that crashes in the middle of a batch (while folding it, after writing some
  of its rows, or just before its tracking record) leaves the view exactly as it was: the
  same rows, the same tracked position. A new projector over a re-opened view, started
  after the ledger moved on, catches up to the same rows as a full rebuild, and those rows
  agree with the on-demand fold (hypothesis: random scenarios, batch sizes, crash points).
- Two runners following the ledger while commands arrive (sharing one view object, or
  each with its own connection to the same tables, as separate workers have) end with the
  rows one runner alone would have written. Like `Projector.run`, a runner whose batch
  fails goes on with the next one.
- Deterministic interleavings of two runners (paused at a chosen point of a batch) check
  that the runner that loses a race gives way instead of failing, and that a rebuild's
  reset racing a batch in flight leaves nothing of that batch behind.

Obligations (`min_days`) are compared with a rebuild only: which obligation is in force
is the subject of `test_views_properties`.

Scenarios come from `test_views_properties`; everything runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Literal, Self
from unittest import mock

import psycopg
import pytest
from conftest import fresh_postgres_schema
from hypothesis import event, example, given, settings
from hypothesis import strategies as st
from test_views_properties import (
    CONSUMPTION,
    CTX,
    POSTGRES,
    SQLITE,
    TRANSFERS_AND_LATE_REPORTS,
    Scenario,
    UrlFactory,
    execute,
    fresh_stores,
    journal_rows,
    scenarios,
    start,
)

from api.app import Stores
from domain import commands as cmd
from ledger.settings import Database
from projections import current as current_module
from projections.history import History
from projections.runner import Projector, open_view
from projections.stock_view import StockView

TABLES = {"stock": "depot, item", "transfers": "transfer_id", "consumption": "position, line", "depots": "id"}


class Crash(Exception):
    """The projector dies here (a bug, a lost connection, the process killed)."""


@pytest.fixture(scope="module")
def sqlite_urls(tmp_path_factory: pytest.TempPathFactory) -> UrlFactory:
    """A new, empty SQLite database for each example."""
    directory = tmp_path_factory.mktemp("restart")
    return lambda: f"sqlite:///{directory}/x-{uuid.uuid4().hex}.sqlite3"


@pytest.fixture(scope="module")
def postgres_urls(postgres_server_url: str) -> UrlFactory:
    """A new, empty PostgreSQL schema for each example."""
    return lambda: fresh_postgres_schema(postgres_server_url)


@contextmanager
def reopened_view(stores: Stores, url: str) -> Iterator[StockView]:
    """The same view tables through a connection of their own, as a restarted worker opens them."""
    view = open_view(Database(url), stores.ledger)
    try:
        yield view
    finally:
        view.datastore.close()  # type: ignore[attr-defined]


# --- reading a view -------------------------------------------------------------------------


def snapshot(view: StockView) -> dict[str, list[dict[str, Any]]]:
    """Every row of every view table, in a fixed order."""
    return {name: view.query(f"SELECT * FROM {{t}}{name} ORDER BY {order}") for name, order in TABLES.items()}


def agrees_with_the_fold(stores: Stores, rows: dict[str, list[dict[str, Any]]]) -> None:
    """The view's stock rows are the on-demand fold at now, its consumption rows the journal's."""
    ledger = stores.ledger
    history = History(ledger.index_store)
    cut = history.cut(None, None, ledger.position())
    journal = journal_rows(ledger)
    assert {(r["depot"], r["item"]) for r in rows["stock"]} == {(r["depot"], r["item"]) for r in journal}
    for row in rows["stock"]:
        state = history.item_fold(row["depot"], row["item"], cut).state
        assert (row["on_hand"], row["transit_in"], row["transit_out"], row["reserved"]) == (
            state.on_hand,
            state.transit_in,
            state.transit_out,
            state.reserved,
        ), f"view row {row} differs from the fold"
    consumed = sorted(
        (r["position"], r["line"], r["depot"], r["item"], -r["delta"])
        for r in journal
        if r["event_type"] == CONSUMPTION
    )
    assert (
        sorted((r["position"], r["line"], r["depot"], r["item"], r["quantity"]) for r in rows["consumption"])
        == consumed
    )
    transfers = sorted(
        (t["transfer_id"], t["source"], t["destination"], t["status"]) for t in ledger.journal.transfers()
    )
    assert (
        sorted((r["transfer_id"], r["source"], r["destination"], r["status"]) for r in rows["transfers"]) == transfers
    )


def rebuilt(projector: Projector) -> dict[str, list[dict[str, Any]]]:
    projector.rebuild()
    assert projector.position() == projector.ledger.position()
    return snapshot(projector.view)


# --- crashes --------------------------------------------------------------------------------

Where = Literal["fold", "write", "tracking"]


@contextmanager
def crashing(view: StockView, where: Where, after: int) -> Iterator[None]:
    """Make the next batch die: while folding its `after`-th event, after its `after`-th
    table write (rows already sent to the database), or just before its tracking record."""
    if where == "fold":
        original_apply = current_module.CurrentStock._apply
        folded = 0

        def apply(self: Any, position: int, domain_event: Any) -> None:
            nonlocal folded
            if folded == after:
                raise Crash(f"while folding event {position}")
            folded += 1
            original_apply(self, position, domain_event)

        with mock.patch.object(current_module.CurrentStock, "_apply", apply):
            yield
    elif where == "write":
        original_write = StockView._write

        def write(self: StockView, cursor: Any, changes: Any) -> None:
            writes = 0

            class Cursor:
                def __getattr__(self, name: str) -> Any:
                    return getattr(cursor, name)

                def executemany(self, sql: Any, rows: Any) -> None:
                    nonlocal writes
                    cursor.executemany(sql, rows)
                    writes += 1
                    if writes > after:
                        raise Crash(f"after {writes} table writes")

            original_write(self, Cursor(), changes)
            raise Crash(f"after all {writes} table writes")

        with mock.patch.object(type(view), "_write", write):
            yield
    else:

        def write_tracking(self: StockView, cursor: Any, tracking: Any) -> None:
            raise Crash(f"before tracking {tracking.notification_id}")

        with mock.patch.object(type(view), "_write_tracking", write_tracking):
            yield


# --- restart after a crash mid-batch ----------------------------------------------------------


def check_restart(
    urls: UrlFactory, scenario: Scenario, split: float, steps: int, batch: int, where: Where, after: int, new_batch: int
) -> None:
    url = urls()
    with fresh_stores(url) as stores:
        ledger, view = stores.ledger, stores.projector.view
        run = start(ledger, scenario)
        cut = round(len(scenario.ops) * split)
        for op in scenario.ops[:cut]:
            execute(run, op)

        # Project part of the ledger, then die in the middle of the next batch.
        projector = Projector(ledger, view, batch=batch)
        for _ in range(steps):
            if ledger.position() - projector.position() > batch:  # leave something to crash on
                projector.step()
        position, rows = projector.position(), snapshot(view)
        pending = len(ledger.recorder.select_notifications(start=position + 1, limit=batch))
        assert pending > 0
        with crashing(view, where, after % pending), pytest.raises(Crash):
            projector.step()
        assert projector.position() == position, "a crashed batch moves no tracked position"
        assert snapshot(view) == rows, "nothing of a crashed batch lands in the view"
        event(f"crashed {where} at position {'0' if position == 0 else '>0'}")

        # The ledger moves on while the projection is down; a new worker takes over.
        for op in scenario.ops[cut:]:
            execute(run, op)
        with reopened_view(stores, url) as fresh_view:
            restarted = Projector(ledger, fresh_view, batch=new_batch)
            assert restarted.position() == position, "the new worker resumes from the tracked position"
            restarted.catch_up()
            assert restarted.position() == ledger.position()
            caught_up = snapshot(fresh_view)
            assert caught_up == rebuilt(restarted), "restarted projection vs full rebuild"
        agrees_with_the_fold(stores, caught_up)


restarts = {
    "scenario": scenarios(max_ops=30),
    "split": st.floats(0.3, 1.0),  # how much of the ledger is recorded before the crash
    "steps": st.integers(0, 4),  # batches projected before the crash
    "batch": st.integers(1, 10),
    "where": st.sampled_from(["fold", "write", "tracking"]),
    "after": st.integers(0, 6),
    "new_batch": st.integers(1, 12),
}
RESTART_EXAMPLE = {"scenario": TRANSFERS_AND_LATE_REPORTS, "split": 0.5, "steps": 1, "batch": 7, "where": "write",
                   "after": 1, "new_batch": 3}  # fmt: skip


@settings(SQLITE, max_examples=25)
@given(**restarts)
@example(**RESTART_EXAMPLE)
def test_a_projector_restarted_after_a_crash_mid_batch_equals_a_rebuild_sqlite(
    sqlite_urls: UrlFactory, **drawn: Any
) -> None:
    check_restart(sqlite_urls, **drawn)


@settings(POSTGRES, max_examples=12)
@given(**restarts)
@example(**RESTART_EXAMPLE)
def test_a_projector_restarted_after_a_crash_mid_batch_equals_a_rebuild_postgres(
    postgres_urls: UrlFactory, **drawn: Any
) -> None:
    check_restart(postgres_urls, **drawn)


def test_a_crash_in_the_first_batch_leaves_an_empty_view(database_url: str) -> None:
    """Nothing tracked yet, nothing written yet: still nothing after the crash, and then all of it once."""
    with fresh_stores(database_url) as stores:
        run = start(stores.ledger, TRANSFERS_AND_LATE_REPORTS)
        for op in TRANSFERS_AND_LATE_REPORTS.ops:
            execute(run, op)
        view = stores.projector.view
        projector = Projector(stores.ledger, view, batch=7)
        empty = snapshot(view)
        assert all(rows == [] for rows in empty.values())
        for where in ("fold", "write", "tracking"):
            with crashing(view, where, 3), pytest.raises(Crash):  # type: ignore[arg-type]
                projector.step()
            assert projector.position() == 0
            assert snapshot(view) == empty, f"crash while {where}: nothing lands"
        with reopened_view(stores, database_url) as fresh_view:
            restarted = Projector(stores.ledger, fresh_view, batch=7)
            restarted.catch_up()
            caught_up = snapshot(fresh_view)
            assert caught_up == rebuilt(restarted)
        agrees_with_the_fold(stores, caught_up)


# --- projectors racing ------------------------------------------------------------------------


class Worker(threading.Thread):
    """A thread that keeps what its function raised."""

    def __init__(self, function: Callable[[], Any]) -> None:
        super().__init__(daemon=True)
        self.function = function
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.function()
        except BaseException as error:  # noqa: BLE001 - the test reports it
            self.error = error

    def finish(self) -> BaseException | None:
        self.join(timeout=60)
        assert not self.is_alive(), "hung"
        return self.error


def follow(projector: Projector, done: threading.Event, errors: list[BaseException]) -> None:
    """What `Projector.run` does: project until told to stop; a failed batch is retried."""
    while True:
        finished = done.is_set()
        try:
            if projector.catch_up() == 0:
                time.sleep(0.002)
            if finished:
                return
        except Exception as error:  # like `run`, go on (the interleaving tests assert on errors)
            errors.append(error)
            if len(errors) > 10_000:
                raise
            time.sleep(0.005)  # `run` waits a poll interval


def receipts_and_consumption(stores: Stores, n: int) -> None:
    for i in range(n):
        stores.ledger.record_receipt("DEPOT-B", cmd.RecordReceipt(item="GLOVE-M", quantity=i + 1, lot="L2"), CTX)
        stores.ledger.report_consumption("DEPOT-A", cmd.ReportConsumption(item="FFP2", quantity=1), CTX)


def recorded(stores: Stores, scenario: Scenario = TRANSFERS_AND_LATE_REPORTS) -> None:
    run = start(stores.ledger, scenario)
    for op in scenario.ops:
        execute(run, op)


@pytest.mark.parametrize("views", ["one view object", "a view each"])
@pytest.mark.parametrize("batches", [(1, 1), (7, 3), (2, 5)], ids=lambda b: f"batches {b[0]} and {b[1]}")
def test_projectors_racing_on_one_view_project_every_event_exactly_once(
    database_url: str, views: str, batches: tuple[int, int]
) -> None:
    """Two runners follow the ledger while commands arrive: the view is what one runner makes of it."""
    with fresh_stores(database_url) as stores, reopened_view(stores, database_url) as second_view:
        recorded(stores)
        ledger, shared = stores.ledger, stores.projector.view
        other = shared if views == "one view object" else second_view
        projectors = [Projector(ledger, shared, batch=batches[0]), Projector(ledger, other, batch=batches[1])]
        done, errors = threading.Event(), []
        runners = [Worker(lambda p=p: follow(p, done, errors)) for p in projectors]  # type: ignore[misc]
        for runner in runners:
            runner.start()
        receipts_and_consumption(stores, 10)
        done.set()
        for runner in runners:
            assert runner.finish() is None
        event_errors = sorted({type(e).__name__ for e in errors})
        assert all(p.position() == ledger.position() for p in projectors)
        raced = snapshot(shared)
        assert raced == rebuilt(stores.projector), f"raced ({event_errors or 'no errors'}) vs one projector"
        agrees_with_the_fold(stores, raced)


# --- a runner that loses a race gives way (deterministic interleavings) ------------------------


class Pause:
    """Stop a view the first time it reaches `method` (before or after running it) until released."""

    def __init__(self, view: StockView, method: str, after: bool = False) -> None:
        self.reached, self.release = threading.Event(), threading.Event()
        self.view, self.method = view, method
        original = getattr(view, method)

        def paused(*args: Any, **kwargs: Any) -> Any:
            first = not self.reached.is_set()
            if first and not after:
                self.reached.set()
                self.release.wait(10)
            result = original(*args, **kwargs)
            if first and after:
                self.reached.set()
                self.release.wait(10)
            return result

        setattr(view, method, paused)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        delattr(self.view, self.method)


def wait_until_blocked(database_url: str) -> None:
    """Until another transaction waits for a lock (PostgreSQL), or long enough to be sure (SQLite)."""
    if not database_url.startswith("postgres"):
        time.sleep(0.5)
        return
    server = database_url.split("?", 1)[0]
    with psycopg.connect(server, autocommit=True) as conn:
        for _ in range(250):
            waiting = conn.execute(
                "SELECT COUNT(*) AS n FROM pg_stat_activity"
                " WHERE wait_event_type = 'Lock' AND datname = current_database()"
            ).fetchone()
            if waiting and waiting[0]:
                return
            time.sleep(0.01)
    raise AssertionError("no transaction ever waited for the paused one")


def settle(stores: Stores, view: StockView) -> dict[str, list[dict[str, Any]]]:
    """Finish projecting with a fresh runner; the rows must be a rebuild's and the fold's."""
    projector = Projector(stores.ledger, view, batch=3)
    projector.catch_up()
    rows = snapshot(view)
    agrees_with_the_fold(stores, rows)
    assert rows == rebuilt(projector)
    return rows


@pytest.mark.parametrize("tracked", [False, True], ids=["from an empty view", "from a tracked position"])
def test_a_runner_overtaken_in_the_middle_of_its_batch_gives_way(database_url: str, tracked: bool) -> None:
    """Runner 1 has checked the tracked position and is folding its batch when runner 2 (its
    own connection, as a second worker has) projects past it: runner 1's batch is stale and
    must be dropped as `StaleBatch` (DESIGN.md 7; docs/architecture.md: "a second runner
    racing on the same view gets StaleBatch and re-reads"), not fail."""
    with fresh_stores(database_url) as stores, reopened_view(stores, database_url) as other:
        recorded(stores)
        slow = Projector(stores.ledger, stores.projector.view, batch=4)
        fast = Projector(stores.ledger, other, batch=3)
        if tracked:
            slow.step()
        with Pause(slow.view, "_depots") as pause:  # the first thing after the tracking check
            runner1 = Worker(slow.step)
            runner1.start()
            assert pause.reached.wait(5)
            runner2 = Worker(fast.catch_up)
            runner2.start()
            runner2.join(timeout=1.0)  # SQLite: it finishes; PostgreSQL: it waits for runner 1's row lock
            pause.release.set()
            errors = {"runner 1": runner1.finish(), "runner 2": runner2.finish()}
        settle(stores, other)
        assert errors == {"runner 1": None, "runner 2": None}, f"the runner that lost the race failed: {errors!r}"


def test_runners_starting_together_on_an_empty_view_give_way(database_url: str) -> None:
    """Runner 1 (a big batch) has written its rows, not yet its tracking record, when runner 2
    (small batches, its own connection) starts on the same empty view: one of them loses
    and must give way, not fail."""
    with fresh_stores(database_url) as stores, reopened_view(stores, database_url) as other:
        recorded(stores)
        big = Projector(stores.ledger, stores.projector.view, batch=6)
        small = Projector(stores.ledger, other, batch=2)
        with Pause(big.view, "_write_tracking") as pause:
            runner1 = Worker(big.step)
            runner1.start()
            assert pause.reached.wait(5)
            runner2 = Worker(small.catch_up)
            runner2.start()
            wait_until_blocked(database_url)  # runner 2 waits for runner 1's rows or write lock
            pause.release.set()
            errors = {"runner 1": runner1.finish(), "runner 2": runner2.finish()}
        settle(stores, other)
        assert errors == {"runner 1": None, "runner 2": None}, f"the runner that lost the race failed: {errors!r}"


def test_a_rebuild_racing_a_batch_in_flight_starts_from_an_empty_view(database_url: str) -> None:
    """`projections rebuild` (reset, then catch up) while a worker is writing a batch: the
    reset waits for the batch, then empties the view, so the rebuild counts each event once."""
    with fresh_stores(database_url) as stores, reopened_view(stores, database_url) as other:
        recorded(stores)
        worker = stores.projector
        worker.catch_up()
        # The next batch changes an existing row and creates a new one (DEPOT-C has no gloves yet).
        stores.ledger.record_receipt("DEPOT-A", cmd.RecordReceipt(item="FFP2", quantity=1), CTX)
        stores.ledger.record_receipt("DEPOT-C", cmd.RecordReceipt(item="GLOVE-M", quantity=7), CTX)
        with Pause(worker.view, "_write_tracking") as pause:
            batch = Worker(worker.step)
            batch.start()
            assert pause.reached.wait(5)
            reset = Worker(lambda: other.reset(stores.ledger.name))
            reset.start()
            wait_until_blocked(database_url)  # the reset waits for the batch's locks
            pause.release.set()
            assert batch.finish() is None
            assert reset.finish() is None
        left = snapshot(other)
        assert other.max_tracking_id(stores.ledger.name) is None
        assert all(rows == [] for rows in left.values()), f"rows survived the reset: {left}"
        settle(stores, other)
