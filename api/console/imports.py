"""Imports as pages: upload a stock report, consumption or receipts file (CSV or XLSX), read
the dry run (what would be stored, or every mistake by row and column), then confirm.

Confirming does not ask for the file again: the dry run's page carries it in a hidden field
(compressed, base64) with a seal over it, the kind and the name, keyed by the session's secret
CSRF token, so the confirmed file is the one the dry run showed, from this session. That
protects against a changed or swapped field, not against the signed-in person, who could as
well upload another file and goes through the same checks. The import itself is idempotent per
principal and content (`ledger.imports`): a second confirm stores nothing and answers the same.
Both steps read the file exactly as `POST /v1/imports` does (`import_file_rows`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import zlib
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from api.console.forms import FormState, Submitted, SubmittedForm
from api.console.i18n import N_
from api.console.pages import SECURITY_HEADERS, chrome, render, see_other
from api.console.session import needs
from api.deps import LedgerDep
from api.limits import max_body_bytes
from api.problems import status_of
from api.routers.imports import _upload, import_file_rows
from domain import exceptions as ex
from domain.import_files import XLSX_MEDIA_TYPE, FileFormat
from domain.import_files import template as make_template
from domain.imports import KINDS, ImportKind
from ledger.console_sessions import SignedIn
from ledger.imports import ImportOutcome, UnknownImport

router = APIRouter()
Importer = Annotated[SignedIn, Depends(needs("operator", "coordinator"))]
KIND_NAMES: dict[str, str] = {
    "stock_report": N_("Stock report"),
    "consumption": N_("Consumption"),
    "receipts": N_("Receipts"),
}
LISTED = 50
SHOWN = 500
"""A dry run's page lists at most this many planned events (the counts are the whole file's)."""
ROOM = 64 * 1024
"""What a confirm form needs beside the kept file, within the body limit."""


@dataclass(frozen=True)
class Held:
    """A dry run's file, kept in the confirm form until it is confirmed."""

    kind: str
    file_format: str
    file_name: str
    content: str  # zlib-compressed, URL-safe base64: no character a form encodes
    seal: str

    @classmethod
    def of(cls, data: bytes, kind: str, file_format: str, file_name: str | None, key: str) -> Held:
        content = base64.urlsafe_b64encode(zlib.compress(data, 6)).decode("ascii")
        name = file_name or ""
        return cls(kind, file_format, name, content, _seal(key, kind, file_format, name, content))

    @property
    def fits(self) -> bool:
        """Whether the confirm form can carry it within the API's body limit."""
        return len(self.content) + ROOM <= max_body_bytes()

    @classmethod
    def read(cls, fields: dict[str, str], key: str) -> tuple[ImportKind, FileFormat, str | None, bytes]:
        """The kept file, or ValueError if the form's fields are not what its dry run gave."""
        kind, file_format = fields.get("kind", ""), fields.get("file_format", "")
        name, content = fields.get("file_name", ""), fields.get("held", "")
        expected = _seal(key, kind, file_format, name, content)
        if not hmac.compare_digest(expected, fields.get("seal", "")) or kind not in KINDS:
            raise ValueError("the file kept for confirmation is not the one its dry run read")
        inflate = zlib.decompressobj()
        data = inflate.decompress(base64.urlsafe_b64decode(content), max_body_bytes() + 1)
        if len(data) > max_body_bytes() or not inflate.eof:
            raise ValueError("the file kept for confirmation is larger than an upload may be")
        return kind, "xlsx" if file_format == "xlsx" else "csv", name or None, data


def _seal(key: str, *parts: str) -> str:
    return hmac.new(key.encode(), "\0".join(parts).encode(), hashlib.sha256).hexdigest()


async def held_form(request: Request) -> None:
    """A confirm form carries the file: its fields may be as large as an upload (the body
    limit bounds them), not Starlette's 1 MB a field. Parsed before the CSRF check reads it."""
    await request.form(max_part_size=max_body_bytes())


@router.get("/imports", response_class=HTMLResponse)
def imports_page(
    request: Request, _: Importer, ledger: LedgerDep, done: Annotated[str | None, Query(max_length=64)] = None
) -> Response:
    """The imports stored so far, newest first, and the upload form."""
    return _upload_page(request, ledger, FormState(), done=done)


def _upload_page(
    request: Request,
    ledger: LedgerDep,
    form: FormState,
    mistakes: list[dict[str, Any]] | None = None,
    mistake_count: int = 0,
    done: str | None = None,
) -> Response:
    stored = None
    if done:
        try:
            stored = ledger.import_record(done)
        except UnknownImport:
            stored = None
    return render(
        request, "imports.html", status=form.status, form=form, imports=ledger.imports(LISTED), kinds=KIND_NAMES,
        mistakes=mistakes or [], mistake_count=mistake_count, stored=stored,
    )  # fmt: skip


@router.post("/imports", response_class=HTMLResponse)
async def dry_run(request: Request, signed: Importer, ledger: LedgerDep, form: SubmittedForm) -> Response:
    """Step one: read the file and decide every row as the import would, storing nothing."""
    kind = form.fields.get("kind", "")
    if kind not in KINDS:
        return _refused(request, ledger, form, 422, "Invalid request", "choose what the file's rows are", "kind")
    try:
        data, file_format, name = await _upload(request, None)
    except ex.InvalidFile as unreadable:
        return _refused(request, ledger, form, 422, unreadable.title, unreadable.detail, "file")
    if not data:
        return _refused(request, ledger, form, 422, "Invalid file", "choose a CSV or XLSX file to upload", "file")
    try:
        outcome, replayed = await run_in_threadpool(
            import_file_rows, ledger, kind, data, file_format, name, form.context, True
        )
    except ex.LedgerError as error:
        return _mistakes(request, ledger, form, error)
    held = Held.of(data, kind, file_format, name, signed.csrf)
    return _dry_run_page(request, outcome, replayed, held, FormState(key=form.key))


def _dry_run_page(request: Request, outcome: ImportOutcome, replayed: bool, held: Held, form: FormState) -> Response:
    planned = outcome.planned or []
    return render(
        request, "imports_dry_run.html", status=form.status, outcome=outcome, replayed=replayed, held=held,
        form=form, planned=planned[:SHOWN], more=max(0, len(planned) - SHOWN), kind_name=KIND_NAMES[held.kind],
    )  # fmt: skip


@router.post("/imports/confirm", response_class=HTMLResponse, dependencies=[Depends(held_form)])
async def confirm(request: Request, signed: Importer, ledger: LedgerDep, form: SubmittedForm) -> Response:
    """Step two: store the file the dry run read, all rows in one transaction, or none."""
    try:
        kind, file_format, name, data = Held.read(form.fields, signed.csrf)
    except ValueError as changed:
        return _refused(request, ledger, form, 400, "Invalid file", f"{changed}: upload it again", "file")
    try:
        outcome, _ = await run_in_threadpool(import_file_rows, ledger, kind, data, file_format, name, form.context)
    except ex.LedgerError as error:
        return _mistakes(request, ledger, form, error)
    return see_other(f"{chrome(request).base}/imports?done={outcome.import_id}")


def _refused(
    request: Request, ledger: LedgerDep, form: Submitted, status: int, title: str, detail: str, name: str
) -> Response:
    state = form.refused(status, title, detail, [{"loc": [name], "msg": detail}], {})
    return _upload_page(request, ledger, state)


def _mistakes(request: Request, ledger: LedgerDep, form: Submitted, error: ex.LedgerError) -> Response:
    """A refused file: every mistake by row and column (at most what the API lists), nothing stored."""
    listed = [e for e in error.extra.get("errors") or [] if "row" in e]
    state = form.refused(status_of(error), error.title, error.detail, [], {})
    return _upload_page(request, ledger, state, listed, int(error.extra.get("error_count") or len(listed)))


@router.get("/imports/template/{kind}")
def template_file(
    kind: ImportKind,
    _: Importer,
    ledger: LedgerDep,
    format: Literal["csv", "xlsx"] = "csv",  # noqa: A002
) -> Response:
    """An empty file of `kind`: its columns and one example row (as `supply-ledger import template`)."""
    data = make_template(kind, format, ledger.clock().date())
    media_type = XLSX_MEDIA_TYPE if format == "xlsx" else "text/csv; charset=utf-8"
    headers = {**SECURITY_HEADERS, "Content-Disposition": f'attachment; filename="{kind}.{format}"'}
    return Response(data, media_type=media_type, headers=headers)
