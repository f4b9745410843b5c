"""CLI commands that mirror the read API: `stock` and `timeline`."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import BaseModel

from api.cli.options import (
    AsOfOption,
    DatabaseOption,
    ItemOption,
    JsonOption,
    KnownAtOption,
    RegionOption,
    fail,
    opened,
    table,
)
from api.exports import tables
from api.exports.tables import Table
from api.exports.writers import chunks

FormatOption = Annotated[
    str | None,
    typer.Option("--format", help="json, csv or xlsx: the API's answer or its export (default: a table)"),
]
OutputOption = Annotated[
    Path | None, typer.Option("--output", help="Write it to this file (default: standard output; xlsx needs a file)")
]


def stock(
    depot: Annotated[str | None, typer.Argument(help="One depot; without it, the regional or national picture")] = None,
    item: ItemOption = None,
    as_of: AsOfOption = None,
    known_at: KnownAtOption = None,
    group_by: Annotated[
        str,
        typer.Option(
            "--group-by", help="region (and the national total), depot, or national (only the national total)"
        ),
    ] = "region",
    region: RegionOption = None,
    json: JsonOption = False,
    export: FormatOption = None,
    output: OutputOption = None,
    database: DatabaseOption = None,
) -> None:
    """Stock, days of supply and obligations, as of any date, as known at any time."""
    if group_by not in ("region", "depot", "national"):
        typer.echo("error: --group-by is region, depot or national", err=True)
        raise typer.Exit(2)
    export = _format(export, json, output)
    with opened(database) as stores:
        if depot is not None:
            view = stores.views.depot_stock(depot, as_of, known_at, item)
            if export is not None:
                _write(view, tables.depot_stock, export, output)
                return
            table(
                f"{view.depot} as of {view.as_of}, as known at {view.known_at} (position {view.position})",
                [
                    "item",
                    "on_hand",
                    "in_transit_in",
                    "in_transit_out",
                    "reserved",
                    "available",
                    "avg/day",
                    "days",
                    "min_days",
                    "required",
                    "meets",
                    "expired",
                    "discrepancy",
                    "lots",
                ],
                [
                    [
                        line.item,
                        line.on_hand,
                        line.in_transit_in,
                        line.in_transit_out,
                        line.reserved,
                        line.available,
                        line.avg_daily_consumption,
                        line.days_of_supply,
                        line.min_days,
                        line.required,
                        line.meets_obligation,
                        line.expired,
                        "yes" if line.discrepancy else "",
                        ", ".join(
                            f"{lot.lot or '-'}:{lot.quantity}" + (f" (exp {lot.expires_on})" if lot.expires_on else "")
                            for lot in line.lots
                        ),
                    ]
                    for line in view.items
                ],
            )
            return
        national = stores.views.stock(as_of, known_at, group_by, region, item)
        if export is not None:
            _write(national, tables.national_stock, export, output)
            return
        key = "depot" if group_by == "depot" else "region"
        table(
            f"Stock by {key} as of {national.as_of}, as known at {national.known_at} (position {national.position})",
            [key, "item", "on_hand", "in_transit_in", "in_transit_out", "reserved", "available", "avg/day", "days"],
            [
                [
                    row.depot if group_by == "depot" else row.region,
                    row.item,
                    row.on_hand,
                    row.in_transit_in,
                    row.in_transit_out,
                    row.reserved,
                    row.available,
                    row.avg_daily_consumption,
                    row.days_of_supply,
                ]
                for row in national.rows
            ],
        )


def timeline(
    depot: Annotated[str, typer.Argument(help="The depot")],
    item: ItemOption = None,
    order: Annotated[str, typer.Option("--order", help="occurred (business order) or recorded")] = "occurred",
    start: Annotated[str | None, typer.Option("--from", help="Entries at or after this time")] = None,
    end: Annotated[str | None, typer.Option("--to", help="Entries at or before this time")] = None,
    as_of: AsOfOption = None,
    known_at: KnownAtOption = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10000, help="At most this many entries")] = 1000,
    json: JsonOption = False,
    export: FormatOption = None,
    output: OutputOption = None,
    database: DatabaseOption = None,
) -> None:
    """Every entry of a depot with its running balance; late entries are flagged."""
    if order not in ("occurred", "recorded"):
        typer.echo("error: --order is occurred or recorded", err=True)
        raise typer.Exit(2)
    export = _format(export, json, output)
    with opened(database) as stores:
        view = stores.views.timeline(depot, as_of, known_at, order, start, end, item, limit)
        if export is not None:
            _write(view, tables.timeline, export, output)
            return
        table(
            f"{view.depot} timeline in {order} order, as known at {view.known_at} (position {view.position})"
            + (" — truncated" if view.truncated else ""),
            [
                "position",
                "occurred_at",
                "recorded_at",
                "type",
                "item",
                "delta",
                "balance",
                "late",
                "actor",
                "correction",
            ],
            [
                [
                    e.position,
                    e.occurred_at,
                    e.recorded_at,
                    e.type,
                    e.item,
                    e.delta,
                    e.balance,
                    "LATE" if e.late else "",
                    e.actor,
                    _correction_marker(e),
                ]
                for e in view.entries
            ],
        )


def _link(position: int | None, event_id: str) -> str:
    return f"pos:{position}" if position is not None else event_id


def _correction_marker(entry: Any) -> str:
    """`corrects pos:N` on a correction, `corrected by pos:M` on an event it corrects (both when both)."""
    marks = []
    if entry.corrects is not None:
        marks.append(f"corrects {_link(entry.corrects.position, entry.corrects.event_id)}")
    if entry.corrected_by:
        marks.append("corrected by " + ", ".join(_link(c.position, c.event_id) for c in entry.corrected_by))
    return "; ".join(marks)


def _format(export: str | None, json: bool, output: Path | None) -> str | None:
    """What to write instead of a table (None: the table): `--json` is `--format json`."""
    if export is None and json:
        export = "json"
    if export not in (None, "json", "csv", "xlsx"):
        raise fail("--format is json, csv or xlsx")
    if export is None and output is not None:
        raise fail("--output needs --format json, csv or xlsx")
    if export == "xlsx" and output is None:
        raise fail("--format xlsx needs --output FILE")
    return export


def _write(view: Any, table_of: Callable[[Any], Table], export: str, output: Path | None) -> None:
    """The view as the API answers it: its JSON, or its export (the same file `?format=` gives)."""
    assert isinstance(view, BaseModel)
    data: Iterable[bytes]
    if export == "json":
        data = [(view.model_dump_json(indent=2) + "\n").encode()]
    else:
        data = chunks(table_of(view), "csv" if export == "csv" else "xlsx")
    if output is None:
        for chunk in data:
            typer.echo(chunk, nl=False)
        return
    with output.open("wb") as file:
        for chunk in data:
            file.write(chunk)
    typer.echo(f"wrote {output}", err=True)
