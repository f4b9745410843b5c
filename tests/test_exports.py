"""Every view as CSV and XLSX (API.md, "Imports and exports"; docs/exports.md), over HTTP on both backends.

Round trips: each of the seven views exported as CSV and as XLSX and read back (the `csv`
module, openpyxl) equals its JSON at the same cut, now and at a past `as_of`/`known_at`.
The expected rows are written here from the JSON as docs/exports.md describes the columns,
not with the export's own code. One world per backend serves the whole module.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import openpyxl
import pytest
from api_helpers import (
    A_CLINIC,
    A_NORTH,
    B_SOUTH,
    FFP2,
    GLOVE,
    created,
    dispatch,
    feed,
    ok,
    problem,
    production_logging,  # noqa: F401 - an autouse fixture
    seed,
    utc,
)
from fastapi.testclient import TestClient

from api.app import Stores, create_app
from api.routers import events as events_router
from ledger.feed import Feed
from ledger.settings import Database
from tests.conftest import Api, fresh_postgres_schema

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
BASE = (datetime.now(UTC) - timedelta(days=30)).replace(hour=0, minute=0, second=0, microsecond=0)


def t(days: float, hour: int = 12) -> str:
    return utc(BASE + timedelta(days=days, hours=hour))


class World:
    def __init__(self, api: Api, url: str) -> None:
        self.api = api
        self.url = url
        self.past: dict[str, str] = {}


def build(api: Api, url: str) -> World:
    """Receipts with and without lots, obligations, consumption, a transfer received short and one
    in transit (its reference starts with `=`), a correction, a late report and an acknowledged alert."""
    world = World(api, url)
    seed(api)

    def command(depot: str, kind: str, **body: Any) -> dict[str, Any]:
        return created(api.post(f"/v1/depots/{depot}/{kind}", body))

    command(A_NORTH, "receipts", item=FFP2, quantity=500, lot="L1", expires_on="2031-06-30", occurred_at=t(1))
    command(A_NORTH, "receipts", item=FFP2, quantity=100, occurred_at=t(2))
    command(A_NORTH, "receipts", item=GLOVE, quantity=200, lot="G7", occurred_at=t(2))
    command(B_SOUTH, "receipts", item=FFP2, quantity=30, occurred_at=t(3))
    for depot, item, days in ((A_NORTH, FFP2, 30), (B_SOUTH, FFP2, 60), (A_CLINIC, FFP2, 10)):
        ok(api.put(f"/v1/depots/{depot}/obligations/{item}", {"min_days": days, "occurred_at": t(0, 13)}))
    command(A_NORTH, "consumption", item=FFP2, quantity=40, occurred_at=t(5))
    command(B_SOUTH, "consumption", item=FFP2, quantity=25, occurred_at=t(8))
    moved = created(dispatch(api, A_NORTH, A_CLINIC, 50, occurred_at=t(6)))
    ok(
        api.post(
            f"/v1/transfers/{moved['transfer_id']}/receipt",
            {"lines": [{"item": FFP2, "quantity_received": 45}], "occurred_at": t(7)},
        )
    )
    wrong = command(A_CLINIC, "consumption", item=FFP2, quantity=12, occurred_at=t(9))
    command(A_CLINIC, "adjustments", item=FFP2, quantity=2, reason="correction", corrects=wrong["event_id"])
    world.mark = api.position()
    command(B_SOUTH, "consumption", item=FFP2, quantity=3, occurred_at=t(4))  # recorded after the mark: late
    created(dispatch(api, A_NORTH, B_SOUTH, 20, item=GLOVE, reference="=SUM(A1:A9)", occurred_at=t(11)))
    command(A_NORTH, "consumption", item=FFP2, quantity=90, occurred_at=t(27))
    alerts = ok(api.get("/v1/alerts", as_of=t(29)))["alerts"]
    assert alerts, "the world has alerts"
    world.past = {"as_of": t(10), "known_at": f"pos:{world.mark}"}
    return world


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def world(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('exports') / 'ledger.sqlite3'}"
    else:
        url = fresh_postgres_schema(request.getfixturevalue("postgres_server_url"))
    stores = Stores.open(Database(url))
    try:
        with TestClient(create_app(stores=stores), raise_server_exceptions=False) as client:
            yield build(Api(client, stores), url)
    finally:
        stores.close()


# --- the expected rows, from the JSON as docs/exports.md describes them ---------------------------

CUT = ["as_of", "known_at", "known_position"]
FIGURES = ["on_hand", "in_transit_in", "in_transit_out", "reserved", "available", "avg_daily_consumption"]
FIGURES += ["days_of_supply"]


def cut(body: dict[str, Any]) -> dict[str, Any]:
    return {"as_of": body["as_of"], "known_at": body["known_at"], "known_position": body["position"]}


def link(entry: dict[str, Any] | None) -> str | None:
    return None if entry is None else f"pos:{entry['position']}"


def links(entries: list[dict[str, Any]]) -> str | None:
    return "; ".join(f"pos:{entry['position']}" for entry in entries) or None


def national(body: dict[str, Any]) -> list[dict[str, Any]]:
    keys = ["region", "depot", "item", *FIGURES]
    return [{**cut(body), **{key: row[key] for key in keys}} for row in body["rows"]]


def depot_stock(body: dict[str, Any]) -> list[dict[str, Any]]:
    keys = ["item", *FIGURES, "min_days", "basis", "required", "meets_obligation", "expired", "discrepancy"]
    return [
        {
            **cut(body),
            "depot": body["depot"],
            **{key: line[key] for key in keys},
            "lots": "; ".join(
                f"{lot['lot'] or '-'}: {lot['quantity']}"
                + (f" expires {lot['expires_on']}" if lot["expires_on"] else "")
                for lot in line["lots"]
            )
            or None,
        }
        for line in body["items"]
    ]


def timeline(body: dict[str, Any]) -> list[dict[str, Any]]:
    keys = ["position", "event_id", "version", "type", "occurred_at", "recorded_at", "actor", "source", "item"]
    keys += ["delta", "balance", "late"]
    return [
        {
            **cut(body),
            "depot": body["depot"],
            "order": body["order"],
            "truncated": body["truncated"],
            **{key: entry[key] for key in keys},
            "corrects": link(entry["corrects"]),
            "corrected_by": links(entry["corrected_by"]),
            "data": entry["data"],  # compared as JSON
        }
        for entry in body["entries"]
    ]


def alerts(body: dict[str, Any]) -> list[dict[str, Any]]:
    keys = ["alert_id", "kind", "severity", "depot", "region", "item", "since", "message"]
    return [
        {
            **cut(body),
            **{key: alert[key] for key in keys},
            "figures": alert["figures"],
            "acknowledged_by": (alert["acknowledged"] or {}).get("by"),
            "acknowledged_at": (alert["acknowledged"] or {}).get("at"),
            "acknowledged_note": (alert["acknowledged"] or {}).get("note"),
        }
        for alert in body["alerts"]
    ]


def obligations(body: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    blank = dict.fromkeys(["depot", "region", "basis", "min_days", "meets_obligation"])
    for row in body["rows"]:
        key = {**cut(body), "organisation": row["organisation"], "item": row["item"]}
        totals = ["required", "held", "shortfall", "days_covered", "compliant", "depots", "depots_short"]
        rows.append({**key, **blank, **{name: row[name] for name in totals}})
        for line in row["lines"]:
            rows.append({**key, **line, "compliant": None, "depots": None, "depots_short": None})
    return rows


def transfers(body: dict[str, Any]) -> list[dict[str, Any]]:
    keys = ["transfer_id", "from", "to", "status", "allocation_id", "reference", "dispatched_at", "received_at"]
    keys += ["cancelled_at", "cancel_reason"]
    return [
        {
            **{key: transfer[key] for key in keys},
            "lines": "; ".join(
                f"{line['item']}: {line['quantity']}" + (f" lot {line['lot']}" if line["lot"] else "")
                for line in transfer["lines"]
            ),
            "received": None
            if transfer["received"] is None
            else "; ".join(
                f"{r['item']}: {r['quantity_received']} of {r['quantity_dispatched']}" for r in transfer["received"]
            ),
            "shortfall": "; ".join(f"{s['item']}: {s['shortfall']}" for s in transfer["shortfall"]) or None,
        }
        for transfer in body["transfers"]
    ]


def events(body: dict[str, Any]) -> list[dict[str, Any]]:
    keys = ["position", "event_id", "depot", "type", "version", "occurred_at", "recorded_at", "actor", "source"]
    keys += ["command_id"]
    return [
        {
            **{key: entry[key] for key in keys},
            "corrects": link(entry["corrects"]),
            "corrected_by": links(entry["corrected_by"]),
            "data": entry["data"],
        }
        for entry in body["events"]
    ]


COLUMNS = {
    "national": [*CUT, "region", "depot", "item", *FIGURES],
    "depot_stock": [*CUT, "depot", "item", *FIGURES, "min_days", "basis", "required", "meets_obligation"]
    + ["expired", "discrepancy", "lots"],
    "timeline": [*CUT, "depot", "order", "truncated", "position", "event_id", "version", "type", "occurred_at"]
    + ["recorded_at", "actor", "source", "item", "delta", "balance", "late", "corrects", "corrected_by", "data"],
    "alerts": [*CUT, "alert_id", "kind", "severity", "depot", "region", "item", "since", "message", "figures"]
    + ["acknowledged_by", "acknowledged_at", "acknowledged_note"],
    "obligations": [*CUT, "organisation", "item", "depot", "region", "basis", "min_days", "required", "held"]
    + ["shortfall", "days_covered", "meets_obligation", "compliant", "depots", "depots_short"],
    "transfers": ["transfer_id", "from", "to", "status", "lines", "received", "shortfall", "allocation_id"]
    + ["reference", "dispatched_at", "received_at", "cancelled_at", "cancel_reason"],
    "events": ["position", "event_id", "depot", "type", "version", "occurred_at", "recorded_at", "actor"]
    + ["source", "command_id", "corrects", "corrected_by", "data"],
}
VIEWS = {
    # name: (path, the parameters beside the cut, whether it reads at a cut, expected rows)
    "national": ("/v1/stock", {"group_by": "depot"}, True, national),
    "national_by_region": ("/v1/stock", {}, True, national),
    "depot_stock": (f"/v1/depots/{A_NORTH}/stock", {}, True, depot_stock),
    "timeline": (f"/v1/depots/{A_CLINIC}/timeline", {}, True, timeline),
    "alerts": ("/v1/alerts", {}, True, alerts),
    "obligations": ("/v1/obligations", {}, True, obligations),
    "transfers": ("/v1/transfers", {}, False, transfers),
    "events": ("/v1/events", {"limit": 1000}, False, events),
}
JSON_COLUMNS = {"data", "figures"}


# --- reading an export back ---------------------------------------------------------------------


def as_csv_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def read_back(response: Any, export: str) -> tuple[list[str], list[list[Any]]]:
    assert response.status_code == 200, response.text
    media = {"csv": "text/csv", "xlsx": XLSX}[export]
    assert response.headers["content-type"].split(";")[0] == media
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment; filename=") and disposition.endswith(f'.{export}"'), disposition
    if export == "csv":
        [header, *rows] = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"), newline="")))
        return header, rows
    workbook = openpyxl.load_workbook(io.BytesIO(response.content), read_only=True)
    [sheet] = workbook.worksheets
    [header, *cells] = [list(row) for row in sheet.iter_rows(values_only=True)]
    return header, [row + [None] * (len(header) - len(row)) for row in cells]  # trailing empty cells


def assert_round_trip(expected: list[dict[str, Any]], columns: list[str], response: Any, export: str) -> None:
    header, rows = read_back(response, export)
    assert header == columns
    got = [dict(zip(header, row, strict=True)) for row in rows]
    assert len(got) == len(expected)
    for row, want in zip(got, expected, strict=True):
        for column in columns:
            value, wanted = row[column], want[column]
            if column in JSON_COLUMNS:
                assert json.loads(value) == wanted, column
            elif export == "csv":
                assert value == as_csv_text(wanted), (column, value, wanted)
            elif isinstance(wanted, (int, float)) and not isinstance(wanted, bool):
                # a spreadsheet has one kind of number: 0.0 reads back as 0
                assert value == wanted and isinstance(value, (int, float)) and not isinstance(value, bool), column
            else:
                assert value == wanted and type(value) is type(wanted), (column, value, wanted)


@pytest.mark.parametrize("export", ["csv", "xlsx"])
@pytest.mark.parametrize("name", list(VIEWS))
def test_each_view_exported_at_a_past_cut_equals_its_json(world: World, name: str, export: str) -> None:
    path, params, at_a_cut, expected = VIEWS[name]
    params = {**params, **(world.past if at_a_cut else {})}
    body = ok(world.api.get(path, **params))
    rows = expected(body)
    assert rows, f"{name}: the world gives this view rows"
    response = world.api.get(path, format=export, **params)
    assert_round_trip(rows, COLUMNS[name.removesuffix("_by_region")], response, export)


@pytest.mark.parametrize("export", ["csv", "xlsx"])
@pytest.mark.parametrize("name", list(VIEWS))
def test_each_view_exported_now_equals_its_json(world: World, name: str, export: str) -> None:
    """Now: each request resolves its own `now`, so `as_of` and `known_at` (the time asked) are
    compared as times no earlier than the JSON's; every other cell is equal."""
    path, params, at_a_cut, expected = VIEWS[name]
    body = ok(world.api.get(path, **params))
    rows = expected(body)
    response = world.api.get(path, format=export, **params)
    if at_a_cut:
        header, cells = read_back(response, export)
        for row in cells:
            for column in ("as_of", "known_at"):
                assert datetime.fromisoformat(row[header.index(column)]) >= datetime.fromisoformat(body[column])
                row[header.index(column)] = body[column]
        rows_back = [dict(zip(header, row, strict=True)) for row in cells]
        assert [{k: v for k, v in r.items() if k not in JSON_COLUMNS} for r in rows_back] == [
            {k: (as_csv_text(v) if export == "csv" else v) for k, v in r.items() if k not in JSON_COLUMNS} for r in rows
        ]
        return
    assert_round_trip(rows, COLUMNS[name], response, export)


def test_the_past_cut_is_stated_and_differs_from_now(world: World) -> None:
    """The past cut leaves out the report recorded after the mark (B-SOUTH consumed 3 at t(4)), and the
    file says which cut it is: its name and the first columns."""
    past = world.api.get("/v1/stock", group_by="depot", item=FFP2, format="csv", **world.past)
    header, rows = read_back(past, "csv")
    south = next(row for row in rows if row[header.index("depot")] == B_SOUTH)
    assert south[:3] == [t(10), datetime.fromisoformat(south[1]).isoformat().replace("+00:00", "Z"), str(world.mark)]
    assert south[header.index("on_hand")] == "5"  # 30 received at t(3), 25 consumed at t(8); the 3 not yet known
    assert f'filename="stock-by-depot-{t(10)[:10]}-pos{world.mark}.csv"' in past.headers["content-disposition"]
    now = world.api.get("/v1/stock", group_by="depot", item=FFP2, as_of=t(10), format="csv")
    header, rows = read_back(now, "csv")
    assert next(row for row in rows if row[header.index("depot")] == B_SOUTH)[header.index("on_hand")] == "2"


def test_accept_text_csv_and_xlsx_answer_the_file(world: World) -> None:
    api = world.api
    body = ok(api.get(f"/v1/depots/{A_NORTH}/stock", **world.past))
    for accept, export in (("text/csv", "csv"), (XLSX, "xlsx"), ("application/json;q=0.5, text/csv", "csv")):
        response = api.client.get(f"/v1/depots/{A_NORTH}/stock", params=world.past, headers=api.headers(Accept=accept))
        assert_round_trip(depot_stock(body), COLUMNS["depot_stock"], response, export)
    # JSON when asked first, for anything else, and always when `format=json` says so
    for accept, params in (
        ("application/json, text/csv", {}),
        ("text/html, */*", {}),
        ("text/csv", {"format": "json"}),
    ):
        response = api.client.get(
            f"/v1/depots/{A_NORTH}/stock", params={**world.past, **params}, headers=api.headers(Accept=accept)
        )
        assert ok(response) == body


def test_xlsx_has_numbers_as_numbers_and_text_that_looks_like_a_formula_as_text(world: World) -> None:
    response = world.api.get("/v1/transfers", format="xlsx")
    workbook = openpyxl.load_workbook(io.BytesIO(response.content))  # not read-only: cell types
    sheet = workbook.active
    assert sheet is not None
    header = [cell.value for cell in sheet[1]]
    formula = [row for row in sheet.iter_rows(min_row=2) if row[header.index("reference")].value == "=SUM(A1:A9)"]
    assert len(formula) == 1 and formula[0][header.index("reference")].data_type == "s"
    stock = world.api.get(f"/v1/depots/{A_NORTH}/stock", format="xlsx", **world.past)
    sheet = openpyxl.load_workbook(io.BytesIO(stock.content)).active
    assert sheet is not None
    header = [cell.value for cell in sheet[1]]
    ffp2 = next(row for row in sheet.iter_rows(min_row=2) if row[header.index("item")].value == FFP2)
    # 500 + 100 received, 40 consumed, 50 dispatched by t(10): 510 on hand
    assert ffp2[header.index("on_hand")].value == 510 and ffp2[header.index("on_hand")].data_type == "n"
    # the lot that expires first goes first (DESIGN.md): 40 consumed and 50 dispatched from L1
    assert ffp2[header.index("lots")].value == "L1: 410 expires 2031-06-30; -: 100"


def test_an_unknown_format_is_a_problem(world: World) -> None:
    for path in ("/v1/stock", f"/v1/depots/{A_NORTH}/stock", "/v1/events", "/v1/transfers", "/v1/alerts"):
        body = problem(world.api.get(path, format="pdf"), 422)
        assert [error["loc"] for error in body["errors"]] == [["query", "format"]]


def test_an_export_refused_before_streaming_is_a_problem(world: World) -> None:
    problem(world.api.get("/v1/depots/NOPE/stock", format="csv"), 404)
    problem(world.api.get("/v1/events", format="csv", type="NoSuchEvent"), 422)
    problem(world.api.get("/v1/stock", format="xlsx", as_of="2999-01-01"), 422)


def test_the_feed_export_reads_page_by_page_to_the_end(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without `limit`, every event after `after` to the ledger's position, read EXPORT_PAGE at a time."""
    pages: list[int] = []
    read = Feed.read

    def counted(self: Feed, after: int = 0, limit: int = 100, *args: Any) -> Any:
        pages.append(after)
        return read(self, after, limit, *args)

    monkeypatch.setattr(events_router, "EXPORT_PAGE", 7)
    monkeypatch.setattr(Feed, "read", counted)
    everything = {"events": feed(world.api, after=3)}
    pages.clear()
    last = world.api.position()
    for export in ("csv", "xlsx"):
        response = world.api.get("/v1/events", after=3, format=export)
        assert f'filename="events-after3-to{last}.{export}"' in response.headers["content-disposition"]
        assert_round_trip(events(everything), COLUMNS["events"], response, export)
    assert len(everything["events"]) == last - 3 > 14
    assert pages[: (last - 3 + 6) // 7] == list(range(3, last, 7))  # page after page, 7 events each
    south = world.api.get("/v1/events", depot=B_SOUTH, format="csv")
    _, rows = read_back(south, "csv")
    assert [row[2] for row in rows] == [B_SOUTH] * len(feed(world.api, depot=B_SOUTH)) and rows


def test_a_feed_export_with_a_limit_is_one_page_and_says_where_to_go_on(world: World) -> None:
    body = ok(world.api.get("/v1/events", after=2, limit=5))
    response = world.api.get("/v1/events", after=2, limit=5, format="csv")
    assert_round_trip(events(body), COLUMNS["events"], response, "csv")
    assert response.headers["next-after"] == str(body["next_after"])


def test_the_cli_writes_the_same_files(world: World, tmp_path: Any) -> None:
    """`supply-ledger stock|timeline --format csv|xlsx [--output FILE]`: the file the API answers."""
    from typer.testing import CliRunner

    from api.cli import app

    runner = CliRunner()
    cut = ["--as-of", world.past["as_of"], "--known-at", world.past["known_at"], "--database", world.url]
    for args, path, params in (
        (["stock", "--group-by", "depot"], "/v1/stock", {"group_by": "depot"}),
        (["stock", A_NORTH], f"/v1/depots/{A_NORTH}/stock", {}),
        (["timeline", A_CLINIC], f"/v1/depots/{A_CLINIC}/timeline", {}),
    ):
        printed = runner.invoke(app, [*args, *cut, "--format", "csv"])
        assert printed.exit_code == 0, printed.output
        api_csv = world.api.get(path, format="csv", **params, **world.past)
        assert printed.stdout_bytes == api_csv.content
        target = tmp_path / "view.xlsx"
        written = runner.invoke(app, [*args, *cut, "--format", "xlsx", "--output", str(target)])
        assert written.exit_code == 0, written.output
        api_xlsx = world.api.get(path, format="xlsx", **params, **world.past)
        assert read_back(api_xlsx, "xlsx") == read_xlsx(target.read_bytes())
    refused = runner.invoke(app, ["stock", *cut, "--format", "xlsx"])
    assert refused.exit_code == 2 and "--format xlsx needs --output FILE" in refused.output


def read_xlsx(content: bytes) -> tuple[list[str], list[list[Any]]]:
    sheet = openpyxl.load_workbook(io.BytesIO(content), read_only=True).worksheets[0]
    [header, *cells] = [list(row) for row in sheet.iter_rows(values_only=True)]
    return header, [row + [None] * (len(header) - len(row)) for row in cells]
