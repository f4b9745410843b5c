"""The read commands of the CLI: `stock`, `timeline` and `projections rebuild`, on both backends.

The ledger is written through the HTTP API (a TestClient on the same database, its stores closed
before the CLI opens its own); the CLI must print the same figures, and its `--json` must be the
API's body for the same cut.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from api_helpers import A_NORTH, B_SOUTH, DEPOTS, FFP2, ITEMS, utc
from typer.testing import CliRunner

from api.cli import app

runner = CliRunner()
BASE = (datetime.now(UTC) - timedelta(days=30)).replace(hour=0, minute=0, second=0, microsecond=0)


def t(days: float, hour: int = 12) -> str:
    return utc(BASE + timedelta(days=days, hours=hour))


def day(days: int) -> str:
    return (BASE + timedelta(days=days)).date().isoformat()


@contextmanager
def http(database_url: str) -> Iterator[Any]:
    """A TestClient on the database (no projection thread), closed with its stores afterwards."""
    from fastapi.testclient import TestClient

    from api.app import Stores, create_app
    from ledger.settings import Database

    stores = Stores.open(Database(database_url))
    token = stores.access.issue("cli-test", "coordinator")
    try:
        with TestClient(create_app(stores=stores, projections=False), raise_server_exceptions=True) as client:
            client.headers["Authorization"] = f"Bearer {token}"
            yield client
    finally:
        stores.close()


def write(client: Any, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = client.post(path, json=body)
    assert response.status_code in (200, 201), response.text
    return response.json()


def read(client: Any, path: str, **params: Any) -> dict[str, Any]:
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def story(client: Any) -> dict[str, Any]:
    """A-NORTH FFP2, obligation 30 days:
    +100 lot L-1 (day 1), -20 (day 3), count 75 (day 5, book 80), -10 (day 7),
    15 dispatched to B-SOUTH (day 8, in transit), and, recorded last, -30 dated day 4
    (before the count: no change to the balance after it).

    As of day 8 18:00: on_hand 75 - 10 - 15 = 50, in_transit_out 15; consumption in the window
    20 + 10 + 30 = 60, avg 60/14 = 4.285.. -> 4.29, days 50 * 14 / 60 = 11.66.. -> 11.7 < 30.
    B-SOUTH: in_transit_in 15.
    """
    for item in ITEMS:
        write(client, "/v1/items", item)
    for depot in DEPOTS:
        write(client, "/v1/depots", {**depot, "occurred_at": t(0, 0)})
    write(
        client,
        f"/v1/depots/{A_NORTH}/receipts",
        {"item": FFP2, "quantity": 100, "lot": "L-1", "expires_on": day(60), "occurred_at": t(1)},
    )
    client.put(
        f"/v1/depots/{A_NORTH}/obligations/{FFP2}", json={"min_days": 30, "occurred_at": t(1)}
    ).raise_for_status()
    write(client, f"/v1/depots/{A_NORTH}/consumption", {"item": FFP2, "quantity": 20, "occurred_at": t(3)})
    write(client, f"/v1/depots/{A_NORTH}/counts", {"item": FFP2, "counted": 75, "occurred_at": t(5)})
    write(client, f"/v1/depots/{A_NORTH}/consumption", {"item": FFP2, "quantity": 10, "occurred_at": t(7)})
    write(
        client,
        "/v1/transfers",
        {"from": A_NORTH, "to": B_SOUTH, "lines": [{"item": FFP2, "quantity": 15}], "occurred_at": t(8)},
    )
    late = write(client, f"/v1/depots/{A_NORTH}/consumption", {"item": FFP2, "quantity": 30, "occurred_at": t(4)})
    return {"latest": late["position"], "cut": {"as_of": t(8, 18), "known_at": f"pos:{late['position']}"}}


def cli(database_url: str, *args: str) -> Any:
    return runner.invoke(app, [*args, "--database", database_url])


def succeeded(result: Any) -> str:
    assert result.exit_code == 0, (result.exit_code, result.output, result.exception)
    return result.stdout


def table_rows(output: str) -> list[list[str]]:
    """The body rows of a rich table, as lists of cell texts."""
    return [
        [cell.strip() for cell in line.strip().strip("│").split("│")]
        for line in output.splitlines()
        if line.startswith("│")
    ]


def cut_options(cut: dict[str, str]) -> list[str]:
    return ["--as-of", cut["as_of"], "--known-at", cut["known_at"]]


# --- stock -----------------------------------------------------------------------------------


def test_stock_of_a_depot_prints_its_figures_and_json_equal_to_the_api(database_url):
    with http(database_url) as client:
        written = story(client)
        api_body = read(client, f"/v1/depots/{A_NORTH}/stock", **written["cut"])

    as_json = json.loads(succeeded(cli(database_url, "stock", A_NORTH, *cut_options(written["cut"]), "--json")))
    assert as_json == api_body
    [line] = as_json["items"]
    assert (line["on_hand"], line["in_transit_out"], line["avg_daily_consumption"], line["days_of_supply"]) == (
        50,
        15,
        4.29,
        11.7,
    )
    assert (line["min_days"], line["meets_obligation"], line["expired"]) == (30, False, 0)

    output = succeeded(cli(database_url, "stock", A_NORTH, *cut_options(written["cut"])))
    assert f"(position {written['latest']})" in output
    [row] = table_rows(output)
    # item, on_hand, in_transit_in, in_transit_out, reserved, available, avg/day, days, min_days, required, meets,
    # expired, ... (required: 30 days x 60/14 a day = 128.57.. -> 129 units)
    assert row[:12] == [FFP2, "50", "0", "15", "0", "50", "4.29", "11.7", "30", "129", "False", "0"]
    assert "L-1:" in row[13]


def test_national_stock_by_region_and_by_depot_prints_the_figures_and_json_equal_to_the_api(database_url):
    with http(database_url) as client:
        written = story(client)
        by_region = read(client, "/v1/stock", **written["cut"])
        by_depot = read(client, "/v1/stock", group_by="depot", **written["cut"])
        south = read(client, "/v1/stock", group_by="depot", region="south", item=FFP2, **written["cut"])

    options = cut_options(written["cut"])
    assert json.loads(succeeded(cli(database_url, "stock", *options, "--json"))) == by_region
    assert json.loads(succeeded(cli(database_url, "stock", *options, "--group-by", "depot", "--json"))) == by_depot
    assert (
        json.loads(
            succeeded(
                cli(
                    database_url,
                    "stock",
                    *options,
                    "--group-by",
                    "depot",
                    "--region",
                    "south",
                    "--item",
                    FFP2,
                    "--json",
                )
            )
        )
        == south
    )
    assert by_region["source"] == "fold"

    # region/depot, item, on_hand, in_transit_in, in_transit_out, reserved, available, avg/day, days
    assert table_rows(succeeded(cli(database_url, "stock", *options))) == [
        ["north", FFP2, "50", "0", "15", "0", "50", "4.29", "11.7"],
        ["south", FFP2, "0", "15", "0", "0", "0", "0.0", ""],
        # the national total: 50 + 0 on hand, 15 in transit each way, 60 consumed / 14 = 4.29, 50 / (60/14) = 11.7
        ["national", FFP2, "50", "15", "15", "0", "50", "4.29", "11.7"],
    ]
    assert table_rows(succeeded(cli(database_url, "stock", *options, "--group-by", "national"))) == [
        ["national", FFP2, "50", "15", "15", "0", "50", "4.29", "11.7"],
    ]
    assert table_rows(succeeded(cli(database_url, "stock", *options, "--group-by", "depot", "--region", "south"))) == [
        [B_SOUTH, FFP2, "0", "15", "0", "0", "0", "0.0", ""],
    ]


# --- timeline ----------------------------------------------------------------------------------


def test_timeline_prints_balances_and_late_entries_and_json_equal_to_the_api(database_url):
    with http(database_url) as client:
        written = story(client)
        recorded = read(client, f"/v1/depots/{A_NORTH}/timeline", order="recorded", item=FFP2, **written["cut"])

    as_json = json.loads(
        succeeded(
            cli(
                database_url,
                "timeline",
                A_NORTH,
                "--order",
                "recorded",
                "--item",
                FFP2,
                *cut_options(written["cut"]),
                "--json",
            )
        )
    )
    assert as_json == recorded
    # Recorded order: +100, obligation (no movement), -20, count (-5 to 75), -10, dispatch -15,
    # late -30 (book stays 50).
    assert [(e["type"], e["balance"]) for e in as_json["entries"]] == [
        ("ReceiptRecorded", 100),
        ("ObligationSet", 100),
        ("ConsumptionReported", 80),
        ("StockCounted", 75),
        ("ConsumptionReported", 65),
        ("TransferDispatched", 50),
        ("ConsumptionReported", 50),
    ]

    output = succeeded(cli(database_url, "timeline", A_NORTH, "--item", FFP2, "--from", day(3), "--to", day(5)))
    # Business order, days 3 to 5: -20 (80), the late -30 (50), the count (+25 to 75); all late.
    # position, occurred_at, recorded_at, type, item, delta, balance, late, actor
    assert [(row[1], row[3], row[5], row[6], row[7]) for row in table_rows(output)] == [
        (t(3), "ConsumptionReported", "-20", "80", "LATE"),
        (t(4), "ConsumptionReported", "-30", "50", "LATE"),
        (t(5), "StockCounted", "25", "75", "LATE"),
    ]

    truncated = succeeded(cli(database_url, "timeline", A_NORTH, "--limit", "2"))
    assert "truncated" in truncated
    assert len(table_rows(truncated)) == 2


# --- projections ---------------------------------------------------------------------------------


def test_projections_rebuild_rebuilds_the_view_from_every_event_and_twice_is_the_same(database_url):
    with http(database_url) as client:
        latest = story(client)["latest"]

    for _ in range(2):  # the second rebuild starts again from an empty view: nothing is counted twice
        output = succeeded(cli(database_url, "projections", "rebuild"))
        assert f"Rebuilt from {latest} events; the view is at position {latest}." in output

    current = json.loads(succeeded(cli(database_url, "stock", "--group-by", "depot", "--json")))
    assert current["source"] == "view"
    assert current["position"] == latest
    # Now: A-NORTH 50 with 15 in transit to B-SOUTH; no consumption in the last 14 days (day 7 is
    # more than 14 days ago), so no days of supply.
    assert [
        (
            r["depot"],
            r["item"],
            r["on_hand"],
            r["in_transit_in"],
            r["in_transit_out"],
            r["avg_daily_consumption"],
            r["days_of_supply"],
        )
        for r in current["rows"]
    ] == [
        (A_NORTH, FFP2, 50, 0, 15, 0.0, None),
        (B_SOUTH, FFP2, 0, 15, 0, 0.0, None),
    ]


# --- errors ---------------------------------------------------------------------------------------


def test_cli_view_errors_print_error_and_exit_2(database_url):
    with http(database_url) as client:
        latest = story(client)["latest"]

    cases = [
        (["stock", "NOWHERE"], "NOWHERE"),
        (["timeline", "NOWHERE"], "NOWHERE"),
        (["stock", A_NORTH, "--item", "NO-SUCH-ITEM"], "NO-SUCH-ITEM"),
        (["stock", A_NORTH, "--as-of", "yesterday"], "as_of"),
        (["stock", "--known-at", f"pos:{latest + 1}"], "known_at"),
        (["stock", "--group-by", "foo"], "group-by"),
        (["timeline", A_NORTH, "--order", "foo"], "order"),
        (["timeline", A_NORTH, "--from", t(5), "--to", t(4)], "from"),
    ]
    for args, mentioned in cases:
        result = cli(database_url, *args)
        assert result.exit_code == 2, (args, result.exit_code, result.output)
        assert "error: " in result.stderr, (args, result.stderr)
        assert mentioned in result.stderr, (args, result.stderr)
