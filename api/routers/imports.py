"""Bulk imports: a stock report, consumption or receipts file (CSV or XLSX) as one atomic write."""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from api.deps import CommandContext, LedgerDep, Reader
from api.responses import ERRORS, answer
from domain.exceptions import InvalidFile
from domain.import_files import XLSX_MEDIA_TYPE, FileFormat, UnreadableFile, read_file, sniff_format
from domain.imports import ImportKind
from ledger.application import Context, Ledger
from ledger.imports import ImportOutcome, ImportRecordView

router = APIRouter(prefix="/imports", tags=["imports"], responses=ERRORS)

CSV_TYPES = ("text/csv", "application/csv", "text/plain")
BINARY = {"type": "string", "format": "binary"}
# Declared as a file's bytes or a multipart `file`: the raw body may also be sent as `text/csv`
# or the XLSX type (or anything, told apart by its content), but standard client generators
# know only these two upload types, and warn on the others.
UPLOAD = {
    "required": True,
    "description": f"The file: its bytes (CSV or XLSX, told apart by content; `text/csv` or `{XLSX_MEDIA_TYPE}` "
    "are read as such), or a multipart form with the file in `file`",
    "content": {
        "application/octet-stream": {"schema": BINARY},
        "multipart/form-data": {
            "schema": {"type": "object", "properties": {"file": BINARY}, "required": ["file"]},
        },
    },
}


class ImportList(BaseModel):
    imports: list[ImportRecordView]


def _invalid_file(message: str) -> InvalidFile:
    return InvalidFile(message, errors=[{"loc": ["body"], "msg": message, "type": "invalid_file"}])


async def _upload(request: Request, file_name: str | None) -> tuple[bytes, FileFormat, str | None]:
    """The file's bytes, format and name, from a raw CSV or XLSX body or a multipart `file`."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type == "multipart/form-data":
        try:
            form = await request.form()
        except Exception as error:  # noqa: BLE001 - the multipart parser raises several kinds
            raise _invalid_file(f"the multipart body cannot be read: {error}") from None
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise _invalid_file("a multipart upload carries the file in a part named `file`")
        data = await upload.read()
        name = file_name or upload.filename
        if upload.content_type == XLSX_MEDIA_TYPE:
            return data, "xlsx", name
        return data, sniff_format(data, name), name
    data = await request.body()
    if media_type == XLSX_MEDIA_TYPE:
        return data, "xlsx", file_name
    if media_type in CSV_TYPES:
        return data, "csv", file_name
    return data, sniff_format(data, file_name), file_name


def import_file_rows(
    ledger: Ledger,
    kind: ImportKind,
    data: bytes,
    file_format: FileFormat,
    name: str | None,
    ctx: Context,
    dry_run: bool = False,
) -> tuple[ImportOutcome, bool]:
    """A file's bytes read and imported (or dry-run): the API's and the console's one way in."""
    try:
        sheet = read_file(data, file_format)
    except UnreadableFile as unreadable:
        raise InvalidFile(
            f"the file cannot be imported: {unreadable}", errors=[error.as_dict() for error in unreadable.errors]
        ) from None
    return ledger.import_rows(
        kind,
        sheet.rows,
        ctx,
        dry_run=dry_run,
        file_name=name,
        content_hash=hashlib.sha256(data).hexdigest(),
        first_row=sheet.first_row,
    )


@router.post(
    "",
    status_code=201,
    response_model=ImportOutcome,
    response_model_exclude_none=False,
    openapi_extra={"requestBody": UPLOAD},
    responses={
        200: {"model": ImportOutcome, "description": "Dry run: what the import would store (nothing stored)"},
        201: {"description": "Stored, or (Idempotent-Replayed: true) the answer to the same file imported before"},
        413: {"description": "The file is larger than the body limit (problem+json)"},
    },
)
async def import_file(
    request: Request,
    ledger: LedgerDep,
    ctx: CommandContext,
    response: Response,
    kind: Annotated[ImportKind, Query(description="What the file's rows are")],
    dry_run: Annotated[
        bool, Query(description="Check the file and answer what would be stored; store nothing")
    ] = False,
    file_name: Annotated[
        str | None, Query(max_length=255, description="The file's name, as the record keeps it")
    ] = None,
) -> Any:
    """Every row of a CSV or XLSX file as events, in one transaction: all stored, or (422) none,
    with every mistake by row and column. The same file again from the same principal stores
    nothing and answers as the first time. Operators may import only their organisations' depots."""
    data, file_format, name = await _upload(request, file_name)
    # parsing and deciding 50,000 rows takes seconds
    outcome, replayed = await run_in_threadpool(import_file_rows, ledger, kind, data, file_format, name, ctx, dry_run)
    if outcome.dry_run:
        response.status_code = 200
    return answer((outcome, replayed), response)


@router.get("", response_model=ImportList)
def list_imports(
    ledger: LedgerDep,
    _: Reader,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    before: Annotated[
        int | None, Query(ge=1, le=10**18, description="Only imports recorded before this position")
    ] = None,
) -> ImportList:
    """The stored imports, newest first: who imported which file, when, and its positions."""
    return ImportList(imports=ledger.imports(limit, before))


@router.get("/{import_id}", response_model=ImportRecordView)
def read_import(import_id: Annotated[str, Path(max_length=64)], ledger: LedgerDep, _: Reader) -> ImportRecordView:
    return ledger.import_record(import_id)
