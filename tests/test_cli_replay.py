"""`supply-ledger replay allocation ID`, on both backends: the auditor's report in a terminal,
the same JSON as the API, the HTML page written to a file, and a non-zero exit when the
replay does not reproduce the decision or the allocation is unknown."""

from __future__ import annotations

import json

from allocation_world import EAST, EQUAL_DAYS, FFP2, SOUTH, request, world
from api_helpers import (
    ago,
    created,
    ok,
    production_logging,  # noqa: F401 - an autouse fixture
)
from typer.testing import CliRunner

from api.cli import app

runner = CliRunner()


def decided_with_a_late_report(api) -> tuple[str, int]:  # type: ignore[no-untyped-def]
    world(api)
    allocation = created(api.post("/v1/allocations", request()))["allocation_id"]
    late = created(
        api.post(f"/v1/depots/{SOUTH}/consumption", {"item": FFP2, "quantity": 420, "occurred_at": ago(days=3)})
    )
    return allocation, late["position"]


def test_the_report_shows_the_decision_both_pictures_and_the_late_report(api, database_url):
    allocation, late_position = decided_with_a_late_report(api)
    result = runner.invoke(app, ["replay", "allocation", allocation, "--database", database_url])
    assert result.exit_code == 0, result.output
    out = result.output
    assert f"Allocation {allocation}: 3,000 FFP2 from NAT by equal_days_of_supply" in out
    assert "recommendation reproduced: yes, inputs reproduced: yes" in out
    east = next(line for line in out.splitlines() if EAST in line and "│" in line)
    assert [cell.strip() for cell in east.split("│")[1:-1]] == [
        "R-EAST",
        "200",
        "100",
        "2.0",
        "200",
        "100",
        "2.0",
        "2271",
        "2271",
        "1653",
    ]
    assert str(late_position) in out and "ConsumptionReported" in out and "-420" in out
    assert "With everything known now, the policy would recommend differently" in out


def test_json_is_the_api_body_and_html_is_the_api_page(api, database_url, tmp_path):
    allocation, _ = decided_with_a_late_report(api)
    page = tmp_path / "replay.html"
    result = runner.invoke(
        app, ["replay", "allocation", allocation, "--json", "--html", str(page), "--database", database_url]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == ok(api.get(f"/v1/allocations/{allocation}/replay"))
    assert page.read_text(encoding="utf-8") == api.get(f"/v1/allocations/{allocation}/replay.html").text
    assert {
        line["to"]: line["quantity"] for line in json.loads(result.output)["known_then"]["recommendation"]
    } == EQUAL_DAYS


def test_an_unknown_allocation_exits_non_zero(api, database_url):
    world(api)
    result = runner.invoke(app, ["replay", "allocation", "A-000000000000", "--database", database_url])
    assert result.exit_code == 2
    assert "no allocation A-000000000000" in result.output


def _edit_stored_event(api, database_url: str, position: int, edit) -> None:  # type: ignore[no-untyped-def]
    """Rewrites the stored bytes of one event behind the ledger's back, as a tamperer would."""
    import sqlite3

    import orjson
    import psycopg

    recorder = api.stores.ledger.recorder
    if database_url.startswith("sqlite"):
        with sqlite3.connect(database_url[len("sqlite:///") :]) as conn:
            table = recorder.events_table_name
            (state,) = conn.execute(f"SELECT state FROM {table} WHERE rowid = ?", (position,)).fetchone()
            conn.execute(
                f"UPDATE {table} SET state = ? WHERE rowid = ?", (orjson.dumps(edit(orjson.loads(state))), position)
            )
    else:
        table = f'"{recorder.datastore.schema}"."{recorder.events_table_name}"'
        with psycopg.connect(database_url.split("?")[0], autocommit=True) as conn:
            (state,) = conn.execute(f"SELECT state FROM {table} WHERE notification_id = %s", (position,)).fetchone()  # type: ignore[arg-type]
            conn.execute(
                f"UPDATE {table} SET state = %s WHERE notification_id = %s",  # type: ignore[arg-type]
                (orjson.dumps(edit(orjson.loads(bytes(state)))), position),
            )


def test_a_decision_whose_stored_recommendation_was_edited_does_not_reproduce(api, database_url):
    """Someone edits the stored decision so that its recommendation matches a departure:
    the replay says it does not reproduce (CLI exit 1), and `verify` names the position."""
    world(api)
    decided = created(api.post("/v1/allocations", request()))
    allocation, position = decided["allocation_id"], decided["position"]
    ok(api.get("/v1/ledger/digest"))  # an auditor's digest, taken before the edit

    def shift_one_unit(state):  # type: ignore[no-untyped-def]
        lines = {line["to"]: line for line in state["recommended_lines"]}
        lines[EAST]["quantity"] -= 1
        lines[SOUTH]["quantity"] += 1
        return state

    _edit_stored_event(api, database_url, position, shift_one_unit)
    replay = ok(api.get(f"/v1/allocations/{allocation}/replay"))
    assert replay["known_then"]["reproduced"] is False
    assert {line["to"]: line["quantity"] for line in replay["known_then"]["recommendation"]} == EQUAL_DAYS
    result = runner.invoke(app, ["replay", "allocation", allocation, "--database", database_url])
    assert result.exit_code == 1, result.output
    assert "recommendation reproduced: NO" in result.output
    assert "does NOT reproduce" in result.output
    verified = runner.invoke(app, ["verify", "--database", database_url])
    assert verified.exit_code == 1, verified.output
    assert f"first mismatch at position {position}" in verified.output
