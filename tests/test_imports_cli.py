"""`supply-ledger import ...` on both backends: each kind's template, written by `import template`,
imports on the demo's depots and items (its example row names them); a dry run stores nothing;
a file with mistakes exits 1 listing them by row and column; the same file again stores nothing."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from pathlib import Path

from typer.testing import CliRunner

from api.cli import app
from domain.import_files import EXAMPLE_DEPOT, EXAMPLE_ITEM
from ledger.application import Ledger
from ledger.demo import _Scenario
from ledger.settings import Database

runner = CliRunner()


def demo_reference_data(database_url: str) -> None:
    """The demo's items, depots and obligations, registered as `supply-ledger demo` registers them."""
    ledger = Ledger(Database(database_url).env())
    try:
        start = datetime.combine(datetime.now(UTC).date(), time(0), UTC) - timedelta(days=42)
        _Scenario(ledger, start=start, progress=lambda _: None).reference_data()
    finally:
        ledger.close()


def on_hand(database_url: str, depot: str, item: str) -> int:
    ledger = Ledger(Database(database_url).env())
    try:
        return ledger.depot(depot).on_hand(item)
    finally:
        ledger.close()


def cli(*args: str) -> object:
    return runner.invoke(app, list(args))


def test_each_template_imports_on_the_demo_and_again_stores_nothing(database_url: str, tmp_path: Path) -> None:
    demo_reference_data(database_url)
    written = {}
    for kind, file_format in (("stock-report", "csv"), ("consumption", "xlsx"), ("receipts", "xlsx")):
        path = tmp_path / f"{kind}.{file_format}"
        result = cli("import", "template", kind, "--format", file_format, "--output", str(path))
        assert result.exit_code == 0, result.output
        written[kind] = path
    header = written["stock-report"].read_text(encoding="utf-8-sig").splitlines()[0]
    assert header == "depot,item,date,on_hand,consumed,period_start,received,lot,expires_on,note"

    dry = cli("import", "stock-report", str(written["stock-report"]), "--dry-run", "--database", database_url)
    assert dry.exit_code == 0, dry.output
    assert "Dry run: 1 row would become 2 events; nothing stored." in dry.output
    assert on_hand(database_url, EXAMPLE_DEPOT, EXAMPLE_ITEM) == 0

    stored = cli("import", "stock-report", str(written["stock-report"]), "--database", database_url)
    assert stored.exit_code == 0, stored.output
    assert "Imported 1 row as 2 events" in stored.output
    assert on_hand(database_url, EXAMPLE_DEPOT, EXAMPLE_ITEM) == 1200  # the example's count
    again = cli("import", "stock-report", str(written["stock-report"]), "--database", database_url)
    assert again.exit_code == 0 and "nothing new stored" in again.output

    for kind in ("consumption", "receipts"):
        result = cli("import", kind, str(written[kind]), "--database", database_url)
        assert result.exit_code == 0, result.output
        assert "Imported 1 row as 1 event" in result.output
    # the example consumption (150, dated now like the count) after the count, then the receipt (400)
    assert on_hand(database_url, EXAMPLE_DEPOT, EXAMPLE_ITEM) == 1200 - 150 + 400


def test_a_file_with_mistakes_exits_1_listing_them_and_stores_nothing(database_url: str, tmp_path: Path) -> None:
    demo_reference_data(database_url)
    path = tmp_path / "receipts.csv"
    path.write_text(
        f"depot;item;date;quantity\n{EXAMPLE_DEPOT};{EXAMPLE_ITEM};2026-13-01;0\nNOWHERE;FFP2;2026-01-01;5\n"
    )
    result = cli("import", "receipts", str(path), "--database", database_url)
    assert result.exit_code == 1
    assert "error: the file was refused, nothing stored (3 mistakes):" in result.stderr
    assert "row 2, column date: '2026-13-01' is not a date" in result.stderr
    assert "row 2, column quantity: Input should be greater than 0" in result.stderr
    assert "row 3, column depot: no depot NOWHERE" in result.stderr
    assert on_hand(database_url, EXAMPLE_DEPOT, EXAMPLE_ITEM) == 0
    unknown = cli("import", "template", "stocktake")
    assert unknown.exit_code == 2 and "unknown kind 'stocktake'" in unknown.stderr
