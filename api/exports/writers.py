"""A table written as CSV or XLSX, chunk by chunk as its rows come, never whole in memory.

CSV is UTF-8 starting with a byte-order mark (without it Excel reads Danish and Norwegian
letters as Windows-1252: "SjÃ¦lland"; the imports read it back), comma separated, CRLF line
ends (RFC 4180); an empty
cell is null, booleans are `true`/`false` as in the JSON. XLSX (openpyxl's write-only
workbook, which keeps rows on disk) has numbers as numbers, booleans as booleans, times
as the ISO text of the JSON, and every text as text: a value that starts with `=` is never
a formula.
"""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Iterator
from typing import IO, Literal

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from api.exports.tables import Cell, Table

Format = Literal["json", "csv", "xlsx"]
CSV_MEDIA = "text/csv"
XLSX_MEDIA = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
MEDIA = {"csv": CSV_MEDIA, "xlsx": XLSX_MEDIA}
CHUNK = 64 * 1024
BOM = "\ufeff"


def csv_text(value: Cell) -> str | int | float:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def csv_chunks(table: Table) -> Iterator[bytes]:
    buffer = io.StringIO()
    buffer.write(BOM)
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(table.columns)
    for row in table.rows:
        writer.writerow([csv_text(value) for value in row])
        if buffer.tell() >= CHUNK:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


def _xlsx_value(sheet: WriteOnlyWorksheet, value: Cell) -> object:
    """Text as text: openpyxl would store `=...` as a formula and refuse control characters."""
    if not isinstance(value, str):
        return value
    value = ILLEGAL_CHARACTERS_RE.sub("", value)
    if value.startswith("="):
        cell = WriteOnlyCell(sheet, value)
        cell.data_type = "s"
        return cell
    return value


def write_xlsx(table: Table, file: IO[bytes]) -> None:
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(table.sheet)
    sheet.append(list(table.columns))
    for row in table.rows:
        sheet.append([_xlsx_value(sheet, value) for value in row])
    workbook.save(file)


def xlsx_chunks(table: Table) -> Iterator[bytes]:
    """The workbook saved into a temporary file, then read back chunk by chunk."""
    with tempfile.TemporaryFile() as file:
        write_xlsx(table, file)
        file.seek(0)
        while chunk := file.read(CHUNK):
            yield chunk


def chunks(table: Table, export: Format) -> Iterator[bytes]:
    if export == "csv":
        return csv_chunks(table)
    if export == "xlsx":
        return xlsx_chunks(table)
    raise ValueError(f"no table writer for {export}")


def file_name(table: Table, export: Format) -> str:
    return f"{table.stem}.{export}"
