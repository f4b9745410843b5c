"""`supply-ledger replay allocation ID`, on both backends: the auditor's report in a terminal,
the same JSON as the API, the HTML page written to a file, and a non-zero exit when the
replay does not reproduce the decision or the allocation is unknown."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from allocation_world import EAST, EQUAL_DAYS, FFP2, SOUTH, request, world
from api_helpers import production_logging  # noqa: F401 - an autouse fixture
from api_helpers import ago, created, ok
from api.cli import app

runner = CliRunner()


def decided_with_a_late_report(api) -> tuple[str, int]:  # type: ignore[no-untyped-def]
    world(api)
    allocation = created(api.post("/v1/allocations", request()))["allocation_id"]
    late = created(api.post(f"/v1/depots/{SOUTH}/consumption", {"item": FFP2, "quantity": 420, "occurred_at": ago(days=3)}))
    return allocation, late["position"]


def test_the_report_shows_the_decision_both_pictures_and_the_late_report(api, database_url):
    allocation, late_position = decided_with_a_late_report(api)
    result = runner.invoke(app, ["replay", "allocation", allocation, "--database", database_url])
    assert result.exit_code == 0, result.output
    out = result.output
    assert f"Allocation {allocation}: 3,000 FFP2 from NAT by equal_days_of_supply" in out
    assert "recommendation reproduced: yes, inputs reproduced: yes" in out
    east = next(line for line in out.splitlines() if EAST in line and "│" in line)
    assert [cell.strip() for cell in east.split("│")[1:-1]] == ["R-EAST", "200", "100", "2.0", "200", "100", "2.0", "2271", "2271", "1653"]
    assert str(late_position) in out and "ConsumptionReported" in out and "-420" in out
    assert "With everything known now, the policy would recommend differently" in out


def test_json_is_the_api_body_and_html_is_the_api_page(api, database_url, tmp_path):
    allocation, _ = decided_with_a_late_report(api)
    page = tmp_path / "replay.html"
    result = runner.invoke(app, ["replay", "allocation", allocation, "--json", "--html", str(page), "--database", database_url])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == ok(api.get(f"/v1/allocations/{allocation}/replay"))
    assert page.read_text(encoding="utf-8") == api.get(f"/v1/allocations/{allocation}/replay.html").text
    assert {line["to"]: line["quantity"] for line in json.loads(result.output)["known_then"]["recommendation"]} == EQUAL_DAYS


def test_an_unknown_allocation_exits_non_zero(api, database_url):
    world(api)
    result = runner.invoke(app, ["replay", "allocation", "A-000000000000", "--database", database_url])
    assert result.exit_code == 2
    assert "no allocation A-000000000000" in result.output
