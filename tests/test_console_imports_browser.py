"""Imports through the console in a real browser, on both backends: an operator uploads a CSV
stock report, the dry run shows its rows and events and stores nothing, confirm stores them
without a second upload (stock equals the file's figures), the same file again is recognised;
a file with mistakes shows each by row and column and stores nothing; templates download.

The world is tests/api_helpers.py's: the operator belongs to org-a (A-NORTH, A-CLINIC)."""

from __future__ import annotations

import random
import string
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.api_helpers import A_CLINIC, A_NORTH, B_SOUTH, FFP2, GLOVE, ago, created, ok, seed
from tests.console_browser import Console

TODAY = datetime.now(UTC).date()


def _day(days_ago: int) -> str:
    return (TODAY - timedelta(days=days_ago)).isoformat()


def _events(console: Console) -> list[int]:
    return [e["position"] for e in ok(console.get("/v1/events", limit=1000))["events"]]


def _on_hand(console: Console, depot: str, item: str) -> int:
    [line] = ok(console.get(f"/v1/depots/{depot}/stock", item=item))["items"]
    return int(line["on_hand"])


def _upload(page: Any, console: Console, path: Path, kind: str = "stock_report") -> None:
    page.goto(console.base_url + "/imports")
    page.select_option("#upload-kind", kind)
    page.set_input_files("#upload-file", str(path))
    page.click("#form-upload button[type=submit]")
    page.wait_for_load_state()


def test_an_operator_checks_a_stock_report_then_confirms_it(console: Console, tmp_path: Path) -> None:
    seed(console)
    created(console.post(f"/v1/depots/{A_NORTH}/receipts", {"item": FFP2, "quantity": 100, "occurred_at": ago(days=3)}))
    report = tmp_path / "north-report.csv"
    report.write_text(
        "depot,item,date,on_hand,received\n"
        f"{A_NORTH},{FFP2},{_day(0)},90,5\n"  # a receipt of 5, then a count of 90 against a book of 105
        f"{A_CLINIC},{GLOVE},{_day(1)},40,\n"
    )
    before = _events(console)
    page = console.page("operator")
    _upload(page, console, report)
    console.shot(page, "imports-dry-run")
    assert "Nothing has been stored yet" in page.inner_text("#dry-run")
    assert (page.inner_text('[data-figure="rows"]'), page.inner_text('[data-figure="events"]')) == ("2", "3")
    planned = page.locator("table#planned tbody tr").evaluate_all(
        "rows => rows.map(r => [r.dataset.row, r.dataset.depot, r.dataset.item, r.cells[3].textContent,"
        " ...[...r.querySelectorAll('[data-figure]')].map(c => c.textContent.trim())])"
    )
    assert planned == [
        ["3", A_CLINIC, GLOVE, "StockCounted", "", "40", "40"],
        ["2", A_NORTH, FFP2, "ReceiptRecorded", "5", "", ""],
        ["2", A_NORTH, FFP2, "StockCounted", "", "90", "-15"],
    ]
    assert _events(console) == before  # the dry run stored nothing
    assert ok(console.get("/v1/imports"))["imports"] == []

    page.click("#form-confirm button[type=submit]")
    page.wait_for_load_state()
    console.shot(page, "imports-stored")
    assert "/imports?done=" in page.url
    assert "2 rows as 3 events" in page.inner_text("#stored")
    assert (_on_hand(console, A_NORTH, FFP2), _on_hand(console, A_CLINIC, GLOVE)) == (90, 40)
    after = _events(console)
    assert len(after) == len(before) + 4  # three depot events and the import's record
    [stored] = ok(console.get("/v1/imports"))["imports"]
    assert (stored["file_name"], stored["rows"], stored["events"], stored["actor"]) == (
        "north-report.csv",
        2,
        3,
        "console-operator",
    )
    assert page.locator(f'table#imports tr[data-import="{stored["import_id"]}"]').count() == 1

    _upload(page, console, report)  # the same file again: recognised, and confirming stores nothing
    assert stored["import_id"] in page.inner_text("#already")
    page.click("#form-confirm button[type=submit]")
    page.wait_for_load_state()
    assert _events(console) == after
    assert console.outside() == []


def test_a_file_with_mistakes_shows_each_by_row_and_column_and_stores_nothing(console: Console, tmp_path: Path) -> None:
    seed(console)
    wrong = tmp_path / "wrong.csv"
    wrong.write_text(
        "depot,item,date,quantity\n"
        f"{A_NORTH},{FFP2},{_day(1)},40\n"
        f"{B_SOUTH},{GLOVE},{_day(1)},40\n"  # org-b's depot: not the operator's
        f"{A_CLINIC},{GLOVE},{_day(1)},-3\n"
    )
    before = _events(console)
    page = console.page("operator", viewport={"width": 390, "height": 844})  # a phone
    _upload(page, console, wrong, kind="receipts")
    console.shot(page, "imports-mistakes-390")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    mistakes = page.locator("table#mistakes tbody tr").evaluate_all(
        "rows => rows.map(r => [r.dataset.row, r.dataset.column, r.cells[2].textContent])"
    )
    assert [(row, column) for row, column, _ in mistakes] == [("3", "depot"), ("4", "quantity")]
    assert "may not write to depot B-SOUTH of org-b" in mistakes[0][2]
    assert "2 mistakes in the file; nothing was stored." in page.inner_text("table#mistakes caption")
    assert page.locator("#upload-kind").input_value() == "receipts"
    assert _events(console) == before
    assert ok(console.get("/v1/imports"))["imports"] == []

    page.click("#form-upload button[type=submit]")  # no file chosen: the browser asks for one first
    assert page.locator("#upload-file:invalid").count() == 1


def test_a_file_kept_past_a_form_field_size_is_confirmed_and_a_changed_one_refused(
    console: Console, tmp_path: Path
) -> None:
    """6,000 receipts with 200 random characters of note each: the kept file is over 1 MB even
    compressed (Starlette's default limit of a form field), well within the body limit."""
    seed(console)
    chance = random.Random(16)
    notes = ["".join(chance.choices(string.ascii_letters + string.digits, k=200)) for _ in range(6000)]
    large = tmp_path / "deliveries.csv"
    large.write_text("depot,item,date,quantity,note\n" + "".join(f"{A_NORTH},{FFP2},{_day(1)},1,{n}\n" for n in notes))
    page = console.page("coordinator")
    _upload(page, console, large, kind="receipts")
    assert page.inner_text('[data-figure="events"]') == "6,000"
    assert len(page.get_attribute('#form-confirm input[name="held"]', "value") or "") > 1024 * 1024
    page.click("#form-confirm button[type=submit]")
    page.wait_for_load_state()
    assert "6,000 rows as 6,000 events" in page.inner_text("#stored")
    assert _on_hand(console, A_NORTH, FFP2) == 6000

    report = tmp_path / "clinic.csv"
    report.write_text(f"depot,item,date,on_hand\n{A_CLINIC},{GLOVE},{_day(0)},7\n")
    _upload(page, console, report)
    before = _events(console)
    page.eval_on_selector('#form-confirm input[name="file_name"]', "field => field.value = 'other.csv'")
    page.click("#form-confirm button[type=submit]")
    page.wait_for_load_state()
    assert "upload it again" in page.inner_text("#upload-problem")
    assert _events(console) == before

    template = page.request.get(console.base_url + "/imports/template/receipts?format=csv")
    assert template.status == 200
    assert 'filename="receipts.csv"' in template.headers["content-disposition"]
    header = template.body().decode("utf-8-sig").splitlines()[0]
    assert header == "depot,item,date,quantity,lot,expires_on,supplier,reference,note"
    xlsx = page.request.get(console.base_url + "/imports/template/stock_report?format=xlsx")
    assert xlsx.status == 200 and xlsx.body()[:2] == b"PK"
