"""Spreadsheet files as rows of cells, and the empty template of each kind of import.

CSV is read with Python's `csv` module and XLSX with `openpyxl` (read-only, cached values
rather than formulas). CSV text is UTF-8, with or without the BOM Excel writes; failing
that, Windows-1252, which Danish Excel writes for "CSV (semikolonsepareret)". The delimiter
is decided by an explicit rule rather than guessed from the data: the header line is split
on `;` when it holds more semicolons than commas, else on `,` (Danish Excel writes `;`
because the comma is its decimal sign). The header is row 1; trailing empty rows are
dropped, an empty row between data rows is reported like any row missing its cells.
"""

from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

from domain.imports import ImportKind, RowError, column_name, columns

FileFormat = Literal["csv", "xlsx"]
XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class UnreadableFile(Exception):
    """A file that holds no rows to import: not CSV or XLSX, empty, or a header named twice."""

    def __init__(self, errors: list[RowError]) -> None:
        super().__init__("; ".join(error.message for error in errors))
        self.errors = errors


@dataclass(frozen=True)
class Sheet:
    """A file's data rows as cells by column name (the header's names, as `column_name` reads them)."""

    rows: list[dict[str, object]]
    first_row: int = 2


def _blank(cell: object) -> bool:
    return cell is None or (isinstance(cell, str) and not cell.strip())


def _sheet(records: list[list[object]]) -> Sheet:
    """Records (the first is the header) as a sheet; trailing empty records dropped."""
    while records and all(_blank(cell) for cell in records[-1]):
        records.pop()
    if not records:
        raise UnreadableFile([RowError(1, None, "the file is empty: it has no header row")])
    header = [column_name(cell) for cell in records[0]]
    while header and not header[-1]:
        header.pop()  # a spreadsheet's unused columns to the right
    if not header:
        raise UnreadableFile([RowError(1, None, "the file is empty: it has no header row")])
    twice = sorted({name for name in header if header.count(name) > 1})
    if twice:
        raise UnreadableFile([RowError(1, name or None, f"column {name!r} appears twice") for name in twice])
    if len(records) == 1:
        raise UnreadableFile([RowError(2, None, "the file has a header but no data rows")])
    rows, overflowing = [], []
    for number, record in enumerate(records[1:], start=2):
        if any(not _blank(cell) for cell in record[len(header) :]):
            overflowing.append(RowError(number, None, "the row has more cells than the header has columns"))
        rows.append(dict(zip(header, record, strict=False)))
    if overflowing:
        raise UnreadableFile(overflowing)
    return Sheet(rows)


def decode(data: bytes) -> str:
    """CSV bytes as text: UTF-8 (a BOM dropped), else Windows-1252."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def delimiter(text: str) -> str:
    """`;` when the header line has more semicolons than commas, else `,` (the module's rule)."""
    header = text.split("\n", 1)[0]
    return ";" if header.count(";") > header.count(",") else ","


def read_csv(data: bytes) -> Sheet:
    text = decode(data)
    if "\x00" in text:
        raise UnreadableFile([RowError(1, None, "this is not a CSV file (it holds NUL characters)")])
    try:
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter(text))
        records: list[list[object]] = [list(record) for record in reader]
    except csv.Error as error:
        raise UnreadableFile([RowError(1, None, f"this is not a readable CSV file: {error}")]) from None
    return _sheet(records)


def read_xlsx(data: bytes) -> Sheet:
    """The first worksheet's rows, values as Excel last computed them."""
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as error:
        raise UnreadableFile([RowError(1, None, f"this is not a readable XLSX file: {error}")]) from None
    try:
        sheet = workbook.worksheets[0]
        records: list[list[object]] = [list(row) for row in sheet.iter_rows(values_only=True)]
    finally:
        workbook.close()
    return _sheet(records)


def read_file(data: bytes, file_format: FileFormat) -> Sheet:
    return read_xlsx(data) if file_format == "xlsx" else read_csv(data)


def sniff_format(data: bytes, file_name: str | None = None) -> FileFormat:
    """XLSX is a ZIP archive; anything else is read as CSV."""
    if data[:4] == b"PK\x03\x04" or (file_name or "").lower().endswith(".xlsx"):
        return "xlsx"
    return "csv"


# --- templates ------------------------------------------------------------------------------

EXAMPLE_DEPOT = "DK-84-KBH"
"""The demo's municipal depot (Københavns Kommune): a template's example row imports on the demo."""
EXAMPLE_ITEM = "FFP2"


def example_row(kind: ImportKind, today: date) -> dict[str, object]:
    """One row of `kind` that the demo ledger accepts on `today`."""
    week_ago = (today - timedelta(days=7)).isoformat()
    base = {"depot": EXAMPLE_DEPOT, "item": EXAMPLE_ITEM, "date": today.isoformat()}
    if kind == "stock_report":
        return {**base, "on_hand": 1200, "consumed": 150, "period_start": week_ago, "note": "weekly stock report"}
    if kind == "consumption":
        return {**base, "consumed": 150, "period_start": week_ago, "note": "weekly consumption"}
    expires = today.replace(year=today.year + 3) if not (today.month == 2 and today.day == 29) else today
    return {**base, "quantity": 400, "lot": "LOT-2026-001", "expires_on": expires.isoformat(), "supplier": "Supplier"}


def template(kind: ImportKind, file_format: FileFormat, today: date) -> bytes:
    """An empty file of `kind`: the header (required columns first) and one example row."""
    header = list(columns(kind))
    example = example_row(kind, today)
    record = ["" if example.get(name) is None else example[name] for name in header]
    if file_format == "csv":
        out = io.StringIO(newline="")
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(header)
        writer.writerow(record)
        return ("\ufeff" + out.getvalue()).encode()  # the BOM tells Excel the text is UTF-8
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(kind)
    sheet.append(header)
    sheet.append(record)
    out_bytes = io.BytesIO()
    workbook.save(out_bytes)
    return out_bytes.getvalue()
