"""A client generated from the live server's `/openapi.json` works (issue 13, "Contract").

Client teams generate their code with a standard generator; this test does what they do:
`openapi-python-client generate` (offline, from the downloaded document, no post hooks),
import the package it wrote, and use it against a real `supply-ledger serve` to record
consumption, read depot and national stock, read an exercise's after-action review as a
typed model, and read refusals (409, 422) as the `Problem` model with their members.
"""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from api.app import Stores
from ledger.settings import Database
from tests.conftest import IN_CI
from tests.live_server import live_server

GENERATE_TIMEOUT = 180
"""The generator takes a few seconds; this only bounds a hang."""
START = datetime(2020, 4, 1, 6, tzinfo=UTC)


def generator() -> str:
    found = shutil.which("openapi-python-client") or shutil.which(
        "openapi-python-client", path=str(Path(sys.executable).parent)
    )
    if found is None:
        message = "openapi-python-client is not installed (pip install -e '.[test]')"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return found


@pytest.fixture
def generated(tmp_path: Path, database_url: str) -> Iterator[tuple[Any, Any, ModuleType]]:
    """(coordinator client, admin client, the generated package) on a live server."""
    command = generator()
    stores = Stores.open(Database(database_url))
    try:
        admin_token = stores.access.issue("generated-client-admin", "admin")
    finally:
        stores.close()
    with live_server(database_url, tmp_path) as server:
        document = tmp_path / "openapi.json"
        document.write_bytes(httpx.get(f"{server.base_url}/openapi.json", timeout=30).raise_for_status().content)
        (tmp_path / "generator.yaml").write_text("post_hooks: []\n")  # no formatter needed, nothing fetched
        name = f"supply_ledger_client_{uuid.uuid4().hex[:8]}"
        done = subprocess.run(
            [command, "generate", "--path", str(document), "--output-path", str(tmp_path / name), "--meta", "none"]
            + ["--config", str(tmp_path / "generator.yaml"), "--fail-on-warning"],
            capture_output=True,
            text=True,
            timeout=GENERATE_TIMEOUT,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        sys.path.insert(0, str(tmp_path))
        try:
            package = importlib.import_module(name)
            coordinator = package.AuthenticatedClient(base_url=server.base_url, token=server.token, timeout=60.0)
            admin = package.AuthenticatedClient(base_url=server.base_url, token=admin_token, timeout=60.0)
            with coordinator, admin:
                yield coordinator, admin, package
        finally:
            sys.path.remove(str(tmp_path))
            for module in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
                del sys.modules[module]


def part(package: ModuleType, module: str) -> ModuleType:
    return importlib.import_module(f"{package.__name__}.{module}")


def test_a_generated_client_records_reads_stock_reviews_and_reads_problems(generated) -> None:  # type: ignore[no-untyped-def]
    coordinator, admin, package = generated
    models = part(package, "models")
    items = part(package, "api.items.define_item_v1_items_post")
    depots = part(package, "api.depots.register_depot_v1_depots_post")
    receipts = part(package, "api.depot_commands.record_receipt_v1_depots_code_receipts_post")
    consumption = part(package, "api.depot_commands.report_consumption_v1_depots_code_consumption_post")
    depot_stock = part(package, "api.depots.get_stock_v1_depots_code_stock_get")
    national = part(package, "api.views.national_stock_v1_stock_get")
    dispatch = part(package, "api.transfers.dispatch_v1_transfers_post")
    receive = part(package, "api.transfers.receive_v1_transfers_transfer_id_receipt_post")

    # The world: one item, two depots (admin), 100 received and 28 used at A-NORTH (coordinator).
    assert isinstance(
        items.sync(
            client=admin,
            body=models.DefineItem(code="FFP2", name="FFP2", unit="piece", category=models.DefineItemCategory.PPE),
        ),
        models.ItemOutcome,
    )
    for code, region in (("A-NORTH", "north"), ("B-SOUTH", "south")):
        body = models.RegisterDepot(
            code=code, name=code, region=region, organisation="org", kind=models.RegisterDepotKind.REGIONAL
        )
        assert isinstance(depots.sync(client=admin, body=body), models.DepotOutcome)
    received = receipts.sync("A-NORTH", client=coordinator, body=models.RecordReceipt(item="FFP2", quantity=100))
    used = consumption.sync("A-NORTH", client=coordinator, body=models.ReportConsumption(item="FFP2", quantity=28))
    assert isinstance(used, models.DepotCommandOutcome)
    assert used.position == received.position + 1

    # Stock as typed models: 72 on hand, 28 / 14 = 2.0 a day, 36.0 days; the national total the same.
    stock = depot_stock.sync("A-NORTH", client=coordinator)
    assert isinstance(stock, models.DepotStock)
    [line] = stock.items
    assert (line.item, line.on_hand, line.avg_daily_consumption, line.days_of_supply) == ("FFP2", 72, 2.0, 36.0)
    total = national.sync(client=coordinator, group_by=models.NationalStockV1StockGetGroupBy.NATIONAL)
    assert isinstance(total, models.NationalStock)
    assert [(r.region, r.item, r.on_hand, r.days_of_supply) for r in total.rows] == [("national", "FFP2", 72, 36.0)]

    # A 409 is read as a Problem with `available` and `requested`; nothing was dispatched.
    too_much = models.DispatchTransfer(
        from_="A-NORTH", to="B-SOUTH", lines=[models.LineRequest(item="FFP2", quantity=500)]
    )
    refused = dispatch.sync_detailed(client=coordinator, body=too_much)
    assert refused.status_code == 409
    assert isinstance(refused.parsed, models.Problem)
    assert (refused.parsed.status, refused.parsed.available, refused.parsed.requested) == (409, 72, 500)
    assert refused.parsed.title == "Insufficient stock"

    # A 422 is read as a Problem with every field error.
    invalid = receipts.sync_detailed("A-NORTH", client=coordinator, body=models.RecordReceipt(item="FFP2", quantity=0))
    assert invalid.status_code == 422
    assert isinstance(invalid.parsed, models.Problem)
    assert [(e.loc, e.type_) for e in invalid.parsed.errors] == [(["body", "quantity"], "greater_than")]

    # A receipt with no body at all: everything arrived.
    moved = dispatch.sync(
        client=coordinator,
        body=models.DispatchTransfer(
            from_="A-NORTH", to="B-SOUTH", lines=[models.LineRequest(item="FFP2", quantity=2)]
        ),
    )
    arrived = receive.sync(moved.transfer_id, client=coordinator, body=None)
    assert isinstance(arrived, models.TransferOutcome)
    assert arrived.status == "received"

    review = exercise_review(admin, coordinator, package, models)
    assert isinstance(review, models.ExerciseReview)
    assert [(type(e), e.kind) for e in review.timeline] == [(models.ReviewTimelineEntry, "message")]
    assert review.timeline[0].at == START + timedelta(hours=1)


def exercise_review(admin: Any, coordinator: Any, package: ModuleType, models: ModuleType) -> Any:
    """A one-day exercise forked from the live ledger, with one message inject, then its review."""
    create = part(package, "api.exercises.create_v1_exercises_post")
    schedule = part(package, "api.exercises.schedule_v1_exercises_exercise_injects_post")
    advance = part(package, "api.exercises.advance_v1_exercises_exercise_advance_post")
    review = part(package, "api.exercises.get_review_v1_exercises_exercise_review_get")

    created = create.sync(
        client=admin,
        body=models.CreateExercise(code="drill", name="Drill", scenario_start=START, fork_known_at=datetime.now(UTC)),
    )
    assert isinstance(created, models.ExerciseView), created
    message = models.Message(at=START + timedelta(hours=1), kind="message", text="The press asks about masks")
    assert isinstance(
        schedule.sync("drill", client=admin, body=models.ScheduleInjects(injects=[message])), models.ScheduledInjects
    )
    assert isinstance(
        advance.sync("drill", client=admin, body=models.AdvanceClock(until=START + timedelta(days=1))),
        models.Advance,
    )
    return review.sync("drill", client=coordinator)
