"""Fold checkpoints written ahead of the questions by the projection (`projections.checkpoints`).

They are a cache, so they must never change an answer:

1. Property (hypothesis, SQLite and PostgreSQL): random histories from
   `test_views_properties` (late reports, backdated movements, counts, transfers,
   allocations), run in three parts. After each part the projection catches up in
   batches of random size and writes checkpoints ahead every 1-3 rows of a book; before
   the last part it may be restarted (a new runner over the same view) or rebuilt. Then
   random cuts (`as_of` and `known_at` anywhere, as in the fold property) are asked of a
   history whose questions leave no checkpoints of their own, so what they resume from
   was written ahead. Each answer (figures, lots, expiry, 14-day consumption,
   discrepancy) equals the fold of the same rows from the start without any checkpoint,
   and the brute-force reference over the journal; at "now" the figures also equal the
   depot aggregate's.
2. Exact checkpoints: one depot's book of 1 receipt and 25 reports, projected in batches
   of 5 with checkpoints every 10 rows, has checkpoints at exactly the positions and rows
   expected, known at the end of the batch that made them due; a rebuild and a restarted
   runner add none but the one due; a question nobody asked before resumes from one of
   them; after a late report dated before all of them, a cut that knows it passes all
   three over and folds from the start, to the same figures.
3. Through the surfaces: `serve`'s embedded projection thread writes them while commands
   arrive over HTTP (never inside a command: right after the command none is new), and
   `supply-ledger projections rebuild` writes them for a ledger that had none.
"""

from __future__ import annotations

import time
import uuid
from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from conftest import fresh_postgres_schema
from fastapi.testclient import TestClient
from hypothesis import example, given, settings
from hypothesis import strategies as st
from test_views_properties import (
    CTX,
    LATE_ROW_BEFORE_A_CHECKPOINT,
    POSTGRES,
    SQLITE,
    TRANSFERS_AND_LATE_REPORTS,
    AsOf,
    CountingHistory,
    KnownAt,
    Scenario,
    UrlFactory,
    aggregate_figures,
    check_cuts,
    cuts_in_sequence,
    differences,
    execute,
    fold_figures,
    fresh_stores,
    journal_keys,
    scenarios,
    start,
    stat,
)
from typer.testing import CliRunner

from api.app import Stores, create_app
from api.cli import app as cli_app
from domain import commands as cmd
from ledger import clock
from ledger.application import Ledger
from ledger.settings import Database
from projections import history as history_module
from projections.checkpoints import CheckpointsAhead
from projections.cut import Cut
from projections.history import History
from projections.runner import Projector

NEVER = 10**9  # questions leave no checkpoints of their own


class FromTheStart(History):
    """The on-demand fold with no checkpoint at all: every book folded from its first row."""

    def _starts(self, depot: str, items: list[str], cut: Cut) -> dict[str, dict[str, Any] | None]:
        return dict.fromkeys(items)

    def _save_checkpoints(self, checkpoints: Any) -> None:
        pass


def checkpoints(ledger: Ledger) -> list[tuple[str, str, int, int, int]]:
    """(depot, item, known position, position, line) of every stored checkpoint."""
    rows = ledger.index_store.query("SELECT depot, item, known_position, position, line FROM {t}fold_checkpoints")
    return sorted((r["depot"], r["item"], int(r["known_position"]), int(r["position"]), int(r["line"])) for r in rows)


# --- 1. the property ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sqlite_urls(tmp_path_factory: pytest.TempPathFactory) -> UrlFactory:
    """A new, empty SQLite database for each example."""
    directory = tmp_path_factory.mktemp("ahead")
    return lambda: f"sqlite:///{directory}/x-{uuid.uuid4().hex}.sqlite3"


@pytest.fixture(scope="module")
def postgres_urls(postgres_server_url: str) -> UrlFactory:
    """A new, empty PostgreSQL schema for each example."""
    return lambda: fresh_postgres_schema(postgres_server_url)


Cuts = list[list[tuple[AsOf, KnownAt, int]]]


def check_written_ahead(urls: UrlFactory, scenario: Scenario, cuts: Cuts, batch: int, every: int, then: str) -> None:
    with fresh_stores(urls()) as stores, mock.patch.object(history_module, "CHECKPOINT_EVERY", NEVER):
        ledger = stores.ledger
        run = start(ledger, scenario)
        projector = Projector(ledger, stores.projector.view, batch, CheckpointsAhead(ledger.index_store, every))
        history = CountingHistory(ledger.index_store)
        third = max(1, len(scenario.ops) // 3)
        parts = [scenario.ops[:third], scenario.ops[third : 2 * third], scenario.ops[2 * third :]]
        for number, (part, part_cuts) in enumerate(zip(parts, cuts, strict=True)):
            if number == 2 and then == "restart":  # a new runner over the same view
                projector = Projector(ledger, stores.projector.view, batch, CheckpointsAhead(ledger.index_store, every))
            for op in part:
                execute(run, op)
            if number == 2 and then == "rebuild":
                projector.rebuild()
            else:
                projector.catch_up()
            assert projector.position() == ledger.position()
            # with the checkpoints written ahead = the reference = from the start, without any
            check_cuts(ledger, history, run, part_cuts)
            check_cuts(ledger, FromTheStart(ledger.index_store), run, part_cuts)
        keys = journal_keys(ledger)
        now = history.cut(None, None, ledger.position())
        folded = {
            key: (f.on_hand, f.transit_in, f.transit_out, f.reserved, f.min_days)
            for key, f in fold_figures(history, now, keys).items()
        }
        aggregate = {
            key: (f.on_hand, f.transit_in, f.transit_out, f.reserved, f.min_days)
            for key, f in aggregate_figures(ledger, keys).items()
        }
        assert folded == aggregate, differences(aggregate, folded)
        stat(f"checkpoints written ahead: {'none' if not checkpoints(ledger) else 'some'}")
        stat(f"folds resumed from a checkpoint: {'none' if not history.resumed else 'some'}")
        stat(f"checkpoints passed over for late rows: {'none' if not history.stale else 'some'}")


drawn_ahead = {
    "scenario": scenarios(min_ops=12),
    "cuts": cuts_in_sequence,
    "batch": st.sampled_from([1, 2, 3, 7, 1000]),
    "every": st.integers(1, 3),
    "then": st.sampled_from(["go on", "restart", "rebuild"]),
}
LATE = LATE_ROW_BEFORE_A_CHECKPOINT[0]
LATE_CUTS = [[(("now",), None, 0), (("now",), ("pos", 3), 0)]] * 3


@settings(SQLITE, max_examples=25)
@given(**drawn_ahead)
@example(scenario=LATE, cuts=LATE_CUTS, batch=1, every=1, then="go on")
@example(scenario=TRANSFERS_AND_LATE_REPORTS, cuts=LATE_CUTS, batch=2, every=1, then="rebuild")
def test_checkpoints_written_ahead_give_the_same_answers_sqlite(
    sqlite_urls: UrlFactory, scenario: Scenario, cuts: Cuts, batch: int, every: int, then: str
) -> None:
    check_written_ahead(sqlite_urls, scenario, cuts, batch, every, then)


@settings(POSTGRES, max_examples=10)
@given(**drawn_ahead)
@example(scenario=LATE, cuts=LATE_CUTS, batch=1, every=1, then="go on")
@example(scenario=TRANSFERS_AND_LATE_REPORTS, cuts=LATE_CUTS, batch=2, every=1, then="rebuild")
def test_checkpoints_written_ahead_give_the_same_answers_postgres(
    postgres_urls: UrlFactory, scenario: Scenario, cuts: Cuts, batch: int, every: int, then: str
) -> None:
    check_written_ahead(postgres_urls, scenario, cuts, batch, every, then)


# --- 2. exactly where they are written --------------------------------------------------------


def one_book(ledger: Ledger, reports: int) -> list[int]:
    """D1's FFP2: a receipt 30 days ago, then `reports` consumption reports an hour apart; their positions."""
    ledger.define_item(cmd.DefineItem(code="FFP2", name="FFP2 respirator", unit="piece", category="ppe"), CTX)
    ledger.register_depot(
        cmd.RegisterDepot(code="D1", name="Depot 1", region="R1", organisation="o", kind="regional"), CTX
    )
    first = clock.now() - timedelta(days=30)
    ledger.record_receipt("D1", cmd.RecordReceipt(item="FFP2", quantity=1000, occurred_at=first), CTX)
    positions = [ledger.position()]
    for hour in range(1, reports + 1):
        report = cmd.ReportConsumption(item="FFP2", quantity=1, occurred_at=first + timedelta(hours=hour))
        ledger.report_consumption("D1", report, CTX)
        positions.append(ledger.position())
    return positions


def test_checkpoints_are_written_every_n_rows_and_kept_through_rebuild_and_restart(database_url: str) -> None:
    with fresh_stores(database_url) as stores:
        ledger = stores.ledger
        positions = one_book(ledger, 25)  # positions 3..28: the receipt, then the reports
        assert positions == list(range(3, 29))
        projector = Projector(ledger, stores.projector.view, 5, CheckpointsAhead(ledger.index_store, every=10))
        projector.catch_up()
        # Batches end at 5, 10, ..., 25, 28. The 10th row (position 12) is in the batch to 15,
        # the 20th (22) in the one to 25: each checkpoint is at the book's last row then.
        assert checkpoints(ledger) == [("D1", "FFP2", 15, 15, 0), ("D1", "FFP2", 25, 25, 0)]
        projector.rebuild()
        assert checkpoints(ledger) == [("D1", "FFP2", 15, 15, 0), ("D1", "FFP2", 25, 25, 0)]
        restarted = Projector(ledger, stores.projector.view, 5, CheckpointsAhead(ledger.index_store, every=10))
        for hour in range(26, 36):  # ten more reports, positions 29..38
            report = cmd.ReportConsumption(
                item="FFP2", quantity=1, occurred_at=clock.now() - timedelta(days=29, hours=-hour)
            )
            ledger.report_consumption("D1", report, CTX)
        restarted.catch_up()
        # The restarted runner counts from where the view was (28): 10 rows later, at 38, the
        # fold since the checkpoint at 25 has 13 rows, so one checkpoint more.
        assert checkpoints(ledger)[-1] == ("D1", "FFP2", 38, 38, 0)
        assert len(checkpoints(ledger)) == 3

        # A question nobody asked before, as known at 27, resumes from the checkpoint at 25.
        with mock.patch.object(history_module, "CHECKPOINT_EVERY", NEVER):
            history = CountingHistory(ledger.index_store)
            answer = history.item_fold("D1", "FFP2", history.cut(None, "pos:27", ledger.position()))
            assert (answer.state.on_hand, history.resumed, history.stale) == (1000 - 24, 1, 0)

            # A late report dated before every checkpoint: cuts that know it cannot use them.
            late = cmd.ReportConsumption(
                item="FFP2", quantity=7, occurred_at=clock.now() - timedelta(days=29, hours=23)
            )
            ledger.report_consumption("D1", late, CTX)
            cut = history.cut(None, None, ledger.position())
            assert history.item_fold("D1", "FFP2", cut).state.on_hand == 1000 - 35 - 7
            assert (history.resumed, history.stale) == (1, 3)  # all three passed over: folded from the start
            assert FromTheStart(ledger.index_store).item_fold("D1", "FFP2", cut).state.on_hand == 1000 - 35 - 7


# --- 3. through `serve` and the CLI -----------------------------------------------------------


def test_serve_writes_checkpoints_ahead_outside_the_commands(database_url: str) -> None:
    """Commands store none; `serve`'s projection thread writes them as reports arrive over HTTP."""
    stores = Stores.open(Database(database_url))
    ledger = stores.ledger
    headers = {"Authorization": f"Bearer {stores.access.issue('ops', 'admin')}"}
    ledger.define_item(cmd.DefineItem(code="FFP2", name="FFP2 respirator", unit="piece", category="ppe"), CTX)
    ledger.register_depot(
        cmd.RegisterDepot(code="D1", name="Depot 1", region="R1", organisation="o", kind="regional"), CTX
    )
    stores.projector.checkpoints.every = 10

    def report(client: TestClient, times: int) -> None:
        for _ in range(times):
            response = client.post("/v1/depots/D1/consumption", json={"item": "FFP2", "quantity": 1}, headers=headers)
            assert response.status_code == 201, response.text

    try:
        with mock.patch.object(history_module, "CHECKPOINT_EVERY", NEVER):
            with TestClient(create_app(stores=stores, projections=False)) as client:  # no projection runs
                report(client, 12)
                assert stores.projector.position() == 0
                assert checkpoints(ledger) == []  # the commands wrote none
            first = ledger.position()
            with TestClient(create_app(stores=stores, projections=True)) as client:
                # The thread starts counting where the view is (0) and projects the 12 reports
                # in one batch: one checkpoint, at the last of them, known at that position.
                wait_until(lambda: len(checkpoints(ledger)) == 1)
                assert checkpoints(ledger) == [("D1", "FFP2", first, first, 0)]
                report(client, 10)
                wait_until(lambda: len(checkpoints(ledger)) == 2)
                latest = ledger.position()
                assert checkpoints(ledger)[1] == ("D1", "FFP2", latest, latest, 0)
                stock = client.get("/v1/depots/D1/stock", params={"known_at": f"pos:{latest}"}, headers=headers)
                assert stock.json()["items"][0]["on_hand"] == -22
    finally:
        stores.close()


def wait_until(condition: Any, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "the projection thread wrote no checkpoint"
        time.sleep(0.05)


def test_projections_rebuild_writes_checkpoints_ahead(database_url: str) -> None:
    with fresh_stores(database_url) as stores:
        one_book(stores.ledger, 100)  # positions 3..103
    result = CliRunner().invoke(cli_app, ["projections", "rebuild", "--database", database_url])
    assert result.exit_code == 0, result.output
    with fresh_stores(database_url) as stores:
        # every 100 rows of a book: the 101 rows come in one batch, so one checkpoint at its end
        assert checkpoints(stores.ledger) == [("D1", "FFP2", 103, 103, 0)]
