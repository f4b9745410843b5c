"""How a view route answers CSV or XLSX: `?format=` or `Accept:`, a streamed body, the file name.

A route reads its view as for JSON (every refusal, e.g. an unknown depot or a bad cut, is
a problem+json before any byte is sent), then hands the table to `exported`, which streams
it as it is written."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import Query, Request
from fastapi.responses import StreamingResponse

from api.exports.tables import Table
from api.exports.writers import CSV_MEDIA, MEDIA, XLSX_MEDIA, Format, chunks, file_name

V = TypeVar("V")

FormatParam = Annotated[
    Format | None,
    Query(
        alias="format",
        description="`json` (the default), `csv` or `xlsx`: the same view as a file (docs/exports.md). "
        f"Without it, `Accept: {CSV_MEDIA}` or `Accept: {XLSX_MEDIA}` asks for the file",
    ),
]
EXPORTS: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The view: JSON, or with `format=csv|xlsx` (or that `Accept`) a file, one row per line "
        "of the view, streamed as it is written, named in `Content-Disposition`",
        "content": {
            CSV_MEDIA: {"schema": {"type": "string"}},
            XLSX_MEDIA: {"schema": {"type": "string", "format": "binary"}},
        },
    }
}
"""The `responses=` of every view route that exports: the file media types beside the JSON."""

ACCEPTED: dict[str, Format] = {"application/json": "json", CSV_MEDIA: "csv", XLSX_MEDIA: "xlsx"}


def negotiated(request: Request, asked: Format | None) -> Format:
    """`format=` when given; else the media type the `Accept` header ranks highest of JSON, CSV
    and XLSX (the first of equals); JSON when it names none of them (`*/*`, a browser's list)."""
    if asked is not None:
        return asked
    best: Format = "json"
    best_quality = 0.0
    for part in request.headers.get("accept", "").split(","):
        media, *parameters = (piece.strip() for piece in part.split(";"))
        export = ACCEPTED.get(media.lower())
        if export is None:
            continue
        quality = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > best_quality:
            best, best_quality = export, quality
    return best


def exported(table: Table, export: Format, headers: dict[str, str] | None = None) -> StreamingResponse:
    """The table as a CSV or XLSX attachment, written while it is sent."""
    return StreamingResponse(
        chunks(table, export),
        media_type=MEDIA[export],
        headers={"Content-Disposition": f'attachment; filename="{file_name(table, export)}"', **(headers or {})},
    )


def as_asked(request: Request, asked: Format | None, view: V, table_of: Callable[[V], Table]) -> V | StreamingResponse:
    """The view itself (JSON), or the file `format=` or `Accept` asks for, made by `table_of`."""
    wanted = negotiated(request, asked)
    return view if wanted == "json" else exported(table_of(view), wanted)
