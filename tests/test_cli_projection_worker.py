"""`supply-ledger projections run`: the separate worker docker-compose runs beside an API that
leaves the views to it (`SUPPLY_LEDGER_PROJECTIONS=worker`)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from api.app import Stores
from domain import commands as cmd
from ledger.application import Context
from ledger.settings import Database

CTX = Context(actor="test-operator")


def _view_rows(stores: Stores) -> dict[tuple[str, str], int]:
    return {(r["depot"], r["item"]): r["on_hand"] for r in stores.projector.view.query("SELECT * FROM {t}stock")}


def _wait_for(condition, seconds: float = 30) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError("the worker did not catch up in time")


def test_the_worker_follows_the_ledger_and_resumes_where_it_stopped(database_url: str, tmp_path: Path) -> None:
    stores = Stores.open(Database(database_url))
    ledger = stores.ledger
    ledger.define_item(cmd.DefineItem(code="FFP2", name="FFP2 respirator", unit="piece", category="ppe"), CTX)
    ledger.register_depot(
        cmd.RegisterDepot(code="D1", name="Depot 1", region="R1", organisation="o", kind="regional"), CTX
    )
    ledger.record_receipt("D1", cmd.RecordReceipt(item="FFP2", quantity=100), CTX)

    env = {**os.environ, "SUPPLY_LEDGER_DATABASE_URL": database_url}
    command = [sys.executable, "-m", "api", "projections", "run"]

    def start() -> subprocess.Popen[str]:
        return subprocess.Popen(
            command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    worker = start()
    try:
        _wait_for(lambda: stores.projector.position() == ledger.position())
        assert _view_rows(stores) == {("D1", "FFP2"): 100}
        ledger.report_consumption("D1", cmd.ReportConsumption(item="FFP2", quantity=30), CTX)
        _wait_for(lambda: stores.projector.position() == ledger.position())
        assert _view_rows(stores) == {("D1", "FFP2"): 70}
    finally:
        worker.send_signal(signal.SIGTERM)
        out, err = worker.communicate(timeout=30)
    assert worker.returncode == 0, err
    assert "Stopped at position" in out

    # Written while no worker runs: the next worker resumes after the tracked position.
    stopped_at = stores.projector.position()
    ledger.record_receipt("D1", cmd.RecordReceipt(item="FFP2", quantity=5), CTX)
    assert stores.projector.position() == stopped_at
    worker = start()
    try:
        _wait_for(lambda: stores.projector.position() == ledger.position())
        assert _view_rows(stores) == {("D1", "FFP2"): 75}  # 100 - 30 + 5: nothing projected twice
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.communicate(timeout=30)
        stores.close()
