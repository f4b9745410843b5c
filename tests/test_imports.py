"""POST /v1/imports on both backends: a stock report, consumption or receipts file (CSV or XLSX)
becomes exact stock in one transaction, or is refused whole with every mistake by row and
column and nothing stored; the same file again answers as the first time; a dry run stores
nothing; operators import only their organisations' depots; backdated rows are counted against
the book at their own time, this file's earlier rows included.

The world is tests/api_helpers.py's: FFP2 and GLOVE; A-NORTH and A-CLINIC (org-a), B-SOUTH (org-b).
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from api_helpers import (
    A_CLINIC,
    A_NORTH,
    B_SOUTH,
    FFP2,
    GLOVE,
    created,
    feed,
    nothing_stored,
    ok,
    on_hand,
    problem,
    production_logging,  # noqa: F401 - an autouse fixture
    receive_stock,
    seed,
    stock,
    utc,
)
from openpyxl import Workbook

from domain.import_files import XLSX_MEDIA_TYPE
from ledger.postgres_recorder import PostgresLedgerRecorder

TODAY = datetime.now(UTC).date()


def day(days_ago: int) -> str:
    return (TODAY - timedelta(days=days_ago)).isoformat()


def post_file(
    api: Any,
    content: bytes,
    kind: str = "stock_report",
    media_type: str = "text/csv",
    role: str = "coordinator",
    **params: Any,
) -> Any:
    headers = {**api.headers(role), "Content-Type": media_type}
    return api.client.post("/v1/imports", content=content, headers=headers, params={"kind": kind, **params})


def xlsx(rows: list[list[object]]) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


@pytest.fixture(params=["one message", "bulk"])
def write_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """PostgreSQL sends a save of thousands of events (a large file) by `executemany` with the
    positions its INSERT returned (`_insert_bulk`), smaller ones as one message: made the path
    of every save, the same figures, feed, timelines and re-upload answers must come out.
    (SQLite has one path: both params check it.)"""
    if request.param == "bulk":
        monkeypatch.setattr(PostgresLedgerRecorder, "bulk_events", 1)
    return str(request.param)


def test_a_semicolon_csv_with_a_bom_becomes_exact_stock(api: Any, write_path: str) -> None:
    seed(api)
    start = api.position()
    text = (
        "\ufeffDepot;Item;Date;On hand;Consumed;Period start;Received;Lot;Expires on;Note\r\n"
        f"{A_NORTH};{FFP2};{day(10)};;;;500;L1;2029-01-31;delivery\r\n"
        f"{A_NORTH};{FFP2};{day(5)};420;60;{day(10)};;;;weekly report\r\n"
        f"{A_CLINIC};{GLOVE};{day(5)};80;;;;;;\r\n"
        f"{A_NORTH};{GLOVE};{day(10)};;;;200;;;\r\n"
        ";;;;;;;;;\r\n"  # a trailing empty row, as spreadsheets write them
    )
    body = created(post_file(api, text.encode(), file_name="week49.csv"))
    # A-NORTH FFP2: 500 received, 60 used -> book 440, counted 420 (variance -20);
    # A-CLINIC GLOVE: counted 80 on an empty book (+80); A-NORTH GLOVE: 200 received.
    assert (body["rows"], body["events"], body["dry_run"]) == (4, 5, False)
    assert (body["first_position"], body["position"]) == (start + 1, start + 6)
    assert body["depots"] == [A_CLINIC, A_NORTH]
    assert body["file_name"] == "week49.csv"
    assert body["planned"] is None
    assert [w["row"] for w in body["warnings"]] == [3, 4] and body["warning_count"] == 2
    assert "counted 420, book 440, variance -20" in body["warnings"][0]["message"]
    assert (on_hand(api, A_NORTH, FFP2), on_hand(api, A_NORTH, GLOVE), on_hand(api, A_CLINIC, GLOVE)) == (420, 200, 80)
    events = feed(api, after=start)
    assert [e["type"] for e in events] == [
        "StockCounted",  # A-CLINIC first: depots are decided in code order, each depot's rows by date
        "ReceiptRecorded",
        "ReceiptRecorded",
        "ConsumptionReported",
        "StockCounted",
        "ImportRecorded",
    ]
    assert {e["source"] for e in events} == {"import"}
    assert {e["command_id"] for e in events} == {f"import:{body['import_id']}"}
    assert events[1]["data"]["lot"] == "L1" and events[1]["data"]["expires_on"] == "2029-01-31"
    assert events[3]["data"]["period_start"] == utc(
        datetime.combine(TODAY - timedelta(days=10), datetime.min.time(), UTC)
    )
    assert events[4]["occurred_at"] == f"{day(5)}T23:59:59.999999Z"
    listed = ok(api.get("/v1/imports"))["imports"]
    assert [i["import_id"] for i in listed] == [body["import_id"]]
    record = ok(api.get(f"/v1/imports/{body['import_id']}"))
    assert record == listed[0]
    assert (record["actor"], record["kind"], record["rows"], record["events"]) == (
        "test-coordinator",
        "stock_report",
        4,
        5,
    )
    assert (record["first_position"], record["position"]) == (start + 1, start + 6)
    assert problem(api.get("/v1/imports/no-such-import"), 404)["title"] == "Unknown import"


def test_an_xlsx_upload_with_number_and_date_cells_becomes_exact_stock(api: Any) -> None:
    seed(api)
    when = datetime.combine(TODAY - timedelta(days=3), datetime.min.time())  # a date cell: midnight, no zone
    content = xlsx(
        [
            ["depot", "item", "date", "quantity", "lot", "expires_on", "supplier", "reference"],
            [A_NORTH, FFP2, when, 400, "LOT-7", datetime(2028, 6, 30), "Mediq", "PO-77"],
            [A_NORTH, FFP2, when, 250.0, 1234, date(2027, 1, 31), None, None],  # an integral float; a numeric lot
            [B_SOUTH, GLOVE, f"{day(2)}T08:00:00+01:00", 30, None, None, None, None],
        ]
    )
    files = {"file": ("receipts.xlsx", content, XLSX_MEDIA_TYPE)}
    response = api.client.post("/v1/imports", params={"kind": "receipts"}, files=files, headers=api.headers())
    body = created(response)
    assert (body["rows"], body["events"], body["file_name"]) == (3, 3, "receipts.xlsx")
    line = stock(api, A_NORTH, FFP2)
    assert line["on_hand"] == 650
    assert sorted((lot["lot"], lot["quantity"]) for lot in line["lots"]) == [("1234", 250), ("LOT-7", 400)]
    assert on_hand(api, B_SOUTH, GLOVE) == 30
    [glove] = [e for e in feed(api, depot=B_SOUTH) if e["type"] == "ReceiptRecorded"]
    assert glove["occurred_at"] == f"{day(2)}T07:00:00Z"


def test_every_kind_of_mistake_is_listed_by_row_and_column_and_nothing_is_stored(api: Any) -> None:
    seed(api)
    receive_stock(api, A_NORTH, 10)
    future = (TODAY + timedelta(days=1)).isoformat()
    text = (
        "depot,item,date,on_hand,consumed,received\n"
        f"NOWHERE,{FFP2},{day(1)},5,,\n"  # row 2
        f"{A_NORTH},SCALPEL,{day(1)},5,,\n"  # row 3
        f"{A_NORTH},{FFP2},{future},5,,\n"  # row 4
        f"{A_NORTH},{FFP2},{day(1)},-5,,\n"  # row 5
        f"{A_NORTH},{FFP2},{day(1)},,2.5,\n"  # row 6
        f"{A_NORTH},,{day(1)},,,3\n"  # row 7
        f"{B_SOUTH},{FFP2},03/12/2026,,,\n"  # row 8: another organisation for the operator; a US date; no figure
        f"{A_CLINIC},{FFP2},{day(1)},7,,\n"  # row 9: fine
    )
    with nothing_stored(api):
        body = problem(post_file(api, text.encode(), role="operator"), 422)
    assert body["title"] == "Invalid file" and body["type"].endswith("/invalid-file")
    found = {(e["row"], e["column"]) for e in body["errors"]}
    assert found == {
        (2, "depot"),
        (3, "item"),
        (4, "date"),
        (5, "on_hand"),
        (6, "consumed"),
        (7, "item"),
        (8, "date"),
        (8, "depot"),
        (8, None),
    }
    assert body["error_count"] == 9
    messages = {(e["row"], e["column"]): e["message"] for e in body["errors"]}
    assert messages[2, "depot"] == "no depot NOWHERE"
    assert messages[4, "date"].endswith(f"is in the future (today is {TODAY.isoformat()})")
    assert messages[5, "on_hand"] == "-5 is negative"
    assert messages[6, "consumed"] == "'2.5' is not a whole number"
    assert messages[8, "depot"] == f"test-operator may not write to depot {B_SOUTH} of org-b"
    assert all(e["loc"][:2] == ["file", e["row"]] and e["type"] == "invalid_row" for e in body["errors"])

    headers = f"depot,item,colour,on_hand\n{A_NORTH},{FFP2},red,5\n"
    with nothing_stored(api):
        body = problem(post_file(api, headers.encode()), 422)
    assert {(e["row"], e["column"]) for e in body["errors"]} == {(1, "colour"), (1, "date")}
    assert {e["message"] for e in body["errors"]} >= {"required column date is missing"}
    # unknown columns do not hide the rows' mistakes: all of them at once, the columns listed once
    unknown = f"depot,item,date,colour,size,on_hand\n{A_NORTH},NOTHING,{day(1)},red,L,-5\n"
    with nothing_stored(api):
        body = problem(post_file(api, unknown.encode()), 422)
    assert [(e["row"], e["column"]) for e in body["errors"]] == [
        (1, "colour"),
        (1, "size"),
        (2, "on_hand"),
        (2, "item"),
    ]
    assert body["errors"][0]["message"].startswith("unknown column 'colour': a stock_report file has depot, item")
    assert body["errors"][1]["message"] == "unknown column 'size'"
    for empty, where in (
        (b"", (1, None)),
        (b"depot,item,date,on_hand\r\n", (2, None)),
        (b"\xef\xbb\xbf\n\n", (1, None)),
    ):
        with nothing_stored(api):
            body = problem(post_file(api, empty), 422)
        assert [(e["row"], e["column"]) for e in body["errors"]] == [where]
    with nothing_stored(api):
        body = problem(post_file(api, b"PK\x03\x04 not really a workbook", media_type=XLSX_MEDIA_TYPE), 422)
    assert body["errors"][0]["row"] == 1 and "XLSX" in body["errors"][0]["message"]
    with nothing_stored(api):
        problem(post_file(api, b"depot,item,date,on_hand\n", kind="stocktake"), 422)


def test_the_same_file_again_stores_nothing_and_answers_as_the_first_time(api: Any, write_path: str) -> None:
    seed(api)
    text = f"depot,item,date,consumed\n{A_NORTH},{FFP2},{day(1)},12\n".encode()
    first = created(post_file(api, text, kind="consumption"))
    with nothing_stored(api):
        again = post_file(api, text, kind="consumption")
        assert created(again) == first
        assert again.headers["Idempotent-Replayed"] == "true"
        dry = post_file(api, text, kind="consumption", dry_run="true")  # already imported: that import
        assert created(dry) == first
        assert dry.headers["Idempotent-Replayed"] == "true"
    assert on_hand(api, A_NORTH, FFP2) == -12
    assert len(ok(api.get("/v1/imports"))["imports"]) == 1


def test_a_dry_run_answers_what_would_be_stored_and_stores_nothing(api: Any) -> None:
    seed(api)
    receive_stock(api, A_NORTH, 100, occurred_at=utc(datetime.now(UTC) - timedelta(days=2)))
    text = f"depot,item,date,on_hand,received\n{A_NORTH},{FFP2},{day(0)},90,5\n".encode()
    with nothing_stored(api):
        dry = ok(post_file(api, text, dry_run="true"))
    assert (dry["dry_run"], dry["rows"], dry["events"], dry["position"]) == (True, 1, 2, api.position())
    assert [(p["type"], p["quantity"], p["counted"], p["variance"]) for p in dry["planned"]] == [
        ("ReceiptRecorded", 5, None, None),
        ("StockCounted", None, 90, -15),
    ]
    assert ok(api.get("/v1/imports"))["imports"] == []
    stored = created(post_file(api, text))
    assert (stored["events"], stored["dry_run"]) == (2, False)
    assert on_hand(api, A_NORTH, FFP2) == 90


def test_operators_import_their_own_depots_and_auditors_import_nothing(api: Any) -> None:
    seed(api)
    text = f"depot,item,date,quantity\n{A_CLINIC},{GLOVE},{day(1)},40\n".encode()
    with nothing_stored(api):
        assert problem(post_file(api, text, kind="receipts", role="auditor"), 403)["status"] == 403
    created(post_file(api, text, kind="receipts", role="operator"))
    assert on_hand(api, A_CLINIC, GLOVE) == 40
    other = f"depot,item,date,quantity\n{B_SOUTH},{GLOVE},{day(1)},40\n".encode()
    with nothing_stored(api):
        body = problem(post_file(api, other, kind="receipts", role="operator"), 422)
    assert [(e["row"], e["column"]) for e in body["errors"]] == [(2, "depot")]


def test_backdated_rows_are_counted_against_the_book_at_their_time_this_files_rows_included(
    api: Any, write_path: str
) -> None:
    """Stored: 100 received 3 days ago. The file, out of date order: a count of 120 yesterday;
    20 received 7 days ago; 4 used and a count of 30 six days ago (backdated: the receipt of
    3 days ago is later). The count six days ago sees only the file's own 20 - 4 = 16 (+14);
    the receipt of 100 then follows it (130), and yesterday's count finds 130 (-10)."""
    seed(api)
    receive_stock(api, A_NORTH, 100, occurred_at=utc(datetime.now(UTC) - timedelta(days=3)))
    text = (
        "depot,item,date,on_hand,consumed,received\n"
        f"{A_NORTH},{FFP2},{day(1)},120,,\n"
        f"{A_NORTH},{FFP2},{day(7)},,,20\n"
        f"{A_NORTH},{FFP2},{day(6)},30,4,\n"
    ).encode()
    dry = ok(post_file(api, text, dry_run="true"))
    assert [(p["row"], p["type"], p["variance"]) for p in dry["planned"]] == [
        (3, "ReceiptRecorded", None),
        (4, "ConsumptionReported", None),
        (4, "StockCounted", 14),
        (2, "StockCounted", -10),
    ]
    created(post_file(api, text))
    assert on_hand(api, A_NORTH, FFP2) == 120
    counts = [e for e in feed(api, depot=A_NORTH) if e["type"] == "StockCounted"]
    assert [(c["data"]["counted"], c["data"]["book_at_recording"]) for c in counts] == [(30, 16), (120, 130)]
    as_of = ok(api.get(f"/v1/depots/{A_NORTH}/stock", item=FFP2, as_of=day(4)))["items"][0]["on_hand"]
    assert as_of == 30


def test_a_depot_stock_export_reshaped_as_docs_exports_says_imports_back_as_counts_that_change_nothing(
    api: Any,
) -> None:
    """docs/exports.md: an export is refused as an import file; its depot, item, on_hand and as_of (renamed
    date) are a stock report whose counts agree with the book to the unit."""
    seed(api)
    receive_stock(api, A_NORTH, 100, occurred_at=utc(datetime.now(UTC) - timedelta(days=2)))
    response = api.client.get(
        f"/v1/depots/{A_NORTH}/stock", params={"as_of": day(1), "format": "csv"}, headers=api.headers("coordinator")
    )
    assert response.status_code == 200, response.text
    with nothing_stored(api):
        refused = problem(post_file(api, response.content), 422)
        assert {e["column"] for e in refused["errors"]} >= {"as_of", "known_at", "available"}
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    back = "date,depot,item,on_hand\n" + "".join(
        f"{r['as_of']},{r['depot']},{r['item']},{r['on_hand']}\n" for r in rows
    )
    with nothing_stored(api):
        dry = ok(post_file(api, back.encode(), dry_run="true"))
    assert [(p["item"], p["counted"], p["variance"]) for p in dry["planned"]] == [
        (r["item"], int(r["on_hand"]), 0) for r in rows
    ]
    assert (FFP2, 100, 0) in [(p["item"], p["counted"], p["variance"]) for p in dry["planned"]]
