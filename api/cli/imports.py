"""`supply-ledger import stock-report|consumption|receipts FILE` and `import template KIND`:
the API's bulk import from the command line, on the database directly, with a progress bar."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from api.cli.options import DatabaseOption, fail, opened

app = typer.Typer(
    help="Import stock reports, consumption and receipts from CSV or XLSX files (one transaction per file).",
    no_args_is_help=True,
)

FileArgument = Annotated[Path, typer.Argument(help="A .csv or .xlsx file; its first row names the columns")]
DryRunOption = Annotated[bool, typer.Option("--dry-run", help="Check the file and say what would be stored")]
ActorOption = Annotated[str, typer.Option("--actor", help="Who the events are recorded as")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the API's JSON answer")]
KINDS = {"stock-report": "stock_report", "consumption": "consumption", "receipts": "receipts"}


def _import(kind: Any, file: Path, dry_run: bool, actor: str, json_out: bool, database: str | None) -> None:
    from domain.exceptions import InvalidCommand
    from domain.import_files import UnreadableFile, read_file, sniff_format
    from ledger.context import Context

    try:
        data = file.read_bytes()
    except OSError as error:
        raise fail(f"cannot read {file}: {error.strerror}") from None
    with opened(database) as stores:
        try:
            sheet = read_file(data, sniff_format(data, file.name))
        except UnreadableFile as unreadable:
            _print_mistakes([error.as_dict() for error in unreadable.errors], len(unreadable.errors))
            raise typer.Exit(1) from None
        total = len(sheet.rows)
        with Progress(
            TextColumn(f"{'checking' if dry_run else 'importing'} {file.name}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
            transient=json_out,
        ) as progress:
            task = progress.add_task("import", total=2 * total)
            try:
                outcome, replayed = stores.ledger.import_rows(
                    kind,
                    sheet.rows,
                    Context(actor=actor, source="import"),
                    dry_run=dry_run,
                    file_name=file.name,
                    content_hash=hashlib.sha256(data).hexdigest(),
                    first_row=sheet.first_row,
                    progress=lambda done: progress.update(task, completed=done),
                )
            except InvalidCommand as refused:
                progress.stop()
                _print_mistakes(refused.extra.get("errors", []), refused.extra.get("error_count", 0))
                raise typer.Exit(1) from None
            progress.update(task, completed=2 * total)
    if json_out:
        typer.echo(outcome.model_dump_json(indent=2, exclude_none=True))
        return
    if replayed:
        typer.echo(f"Already imported as {outcome.import_id} (position {outcome.position}): nothing new stored.")
    elif dry_run:
        typer.echo(f"Dry run: {_rows(outcome.rows)} would become {_events(outcome.events)}; nothing stored.")
    else:
        typer.echo(
            f"Imported {_rows(outcome.rows)} as {_events(outcome.events)}, positions {outcome.first_position}"
            f"-{outcome.position - 1} (import {outcome.import_id}, recorded at position {outcome.position})."
        )
    for warning in outcome.warnings:
        typer.echo(f"warning: row {warning.row}: {warning.message}")
    if outcome.warning_count > len(outcome.warnings):
        typer.echo(f"... and {outcome.warning_count - len(outcome.warnings)} more warnings")


def _rows(count: int) -> str:
    return f"{count} row{'s' if count != 1 else ''}"


def _events(count: int) -> str:
    return f"{count} event{'s' if count != 1 else ''}"


def _print_mistakes(errors: list[dict[str, Any]], count: int) -> None:
    typer.echo(f"error: the file was refused, nothing stored ({count} mistake{'s' if count != 1 else ''}):", err=True)
    for error in errors:
        column = f", column {error['column']}" if error.get("column") else ""
        typer.echo(f"  row {error['row']}{column}: {error['message']}", err=True)
    if count > len(errors):
        typer.echo(f"  ... and {count - len(errors)} more", err=True)


@app.command("stock-report")
def stock_report(
    file: FileArgument,
    dry_run: DryRunOption = False,
    actor: ActorOption = "cli",
    json_out: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """Counted stock (on_hand), the period's consumption and receipts per depot, item and date."""
    _import("stock_report", file, dry_run, actor, json_out, database)


@app.command("consumption")
def consumption(
    file: FileArgument,
    dry_run: DryRunOption = False,
    actor: ActorOption = "cli",
    json_out: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """Consumption per depot, item and period."""
    _import("consumption", file, dry_run, actor, json_out, database)


@app.command("receipts")
def receipts(
    file: FileArgument,
    dry_run: DryRunOption = False,
    actor: ActorOption = "cli",
    json_out: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """Deliveries received per depot, item and date, with lot and expiry."""
    _import("receipts", file, dry_run, actor, json_out, database)


@app.command("template")
def template(
    kind: Annotated[str, typer.Argument(help="stock-report, consumption or receipts")],
    file_format: Annotated[Literal["csv", "xlsx"], typer.Option("--format", help="csv or xlsx")] = "csv",
    output: Annotated[Path | None, typer.Option("--output", help="The file to write (default: KIND.FORMAT)")] = None,
) -> None:
    """Write an empty file of KIND: its columns, and one example row that the demo ledger accepts."""
    from domain.import_files import template as make_template

    chosen = KINDS.get(kind.replace("_", "-"))
    if chosen is None:
        raise fail(f"unknown kind {kind!r}: one of {', '.join(KINDS)}")
    path = output or Path(f"{kind.replace('_', '-')}.{file_format}")
    path.write_bytes(make_template(chosen, file_format, datetime.now(UTC).date()))  # type: ignore[arg-type]
    typer.echo(f"Wrote {path}: the {kind} columns and one example row.")
