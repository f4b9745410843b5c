"""CLI commands that mirror the read API (`stock`, `timeline`) and run the projections."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from api.cli import DatabaseOption, _stores, app
from domain.exceptions import LedgerError

projections_app = typer.Typer(help="The materialised views (current stock, regional and national rollups).", no_args_is_help=True)
app.add_typer(projections_app, name="projections")

AsOfOption = Annotated[str | None, typer.Option("--as-of", help="Business time (ISO 8601 with offset, or a date)")]
KnownAtOption = Annotated[str | None, typer.Option("--known-at", help="As known at a time, or a position pos:N")]
ItemOption = Annotated[str | None, typer.Option("--item", help="Only this item")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the API's JSON instead of a table")]


@contextmanager
def _opened(database: str | None) -> Iterator[Any]:
    stores = _stores(database)
    try:
        yield stores
    except LedgerError as error:
        typer.echo(f"error: {error.detail}", err=True)
        raise typer.Exit(2) from None
    finally:
        stores.close()


def _table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, justify="left" if column in ("depot", "region", "item", "type", "lots", "occurred_at", "recorded_at", "correction") else "right")
    for row in rows:
        table.add_row(*("" if value is None else str(value) for value in row))
    Console(width=200).print(table)


@app.command()
def stock(
    depot: Annotated[str | None, typer.Argument(help="One depot; without it, the regional or national picture")] = None,
    item: ItemOption = None,
    as_of: AsOfOption = None,
    known_at: KnownAtOption = None,
    group_by: Annotated[str, typer.Option("--group-by", help="region or depot (national picture)")] = "region",
    region: Annotated[str | None, typer.Option("--region", help="Only depots of this region")] = None,
    json: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """Stock, days of supply and obligations, as of any date, as known at any time."""
    if group_by not in ("region", "depot"):
        typer.echo("error: --group-by is region or depot", err=True)
        raise typer.Exit(2)
    with _opened(database) as stores:
        if depot is not None:
            view = stores.views.depot_stock(depot, as_of, known_at, item)
            if json:
                typer.echo(view.model_dump_json(indent=2))
                return
            _table(
                f"{view.depot} as of {view.as_of}, as known at {view.known_at} (position {view.position})",
                ["item", "on_hand", "in_transit_in", "in_transit_out", "reserved", "available", "avg/day", "days", "min_days", "meets", "expired", "discrepancy", "lots"],
                [
                    [
                        line.item, line.on_hand, line.in_transit_in, line.in_transit_out, line.reserved, line.available,
                        line.avg_daily_consumption, line.days_of_supply, line.min_days, line.meets_obligation, line.expired,
                        "yes" if line.discrepancy else "",
                        ", ".join(f"{lot.lot or '-'}:{lot.quantity}" + (f" (exp {lot.expires_on})" if lot.expires_on else "") for lot in line.lots),
                    ]
                    for line in view.items
                ],
            )
            return
        national = stores.views.stock(as_of, known_at, group_by, region, item)  # type: ignore[arg-type]
        if json:
            typer.echo(national.model_dump_json(indent=2))
            return
        key = "depot" if group_by == "depot" else "region"
        _table(
            f"Stock by {key} as of {national.as_of}, as known at {national.known_at} (position {national.position})",
            [key, "item", "on_hand", "in_transit_in", "in_transit_out", "reserved", "available", "avg/day", "days"],
            [
                [
                    row.depot if group_by == "depot" else row.region, row.item, row.on_hand, row.in_transit_in,
                    row.in_transit_out, row.reserved, row.available, row.avg_daily_consumption, row.days_of_supply,
                ]
                for row in national.rows
            ],
        )


@app.command()
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
    database: DatabaseOption = None,
) -> None:
    """Every entry of a depot with its running balance; late entries are flagged."""
    if order not in ("occurred", "recorded"):
        typer.echo("error: --order is occurred or recorded", err=True)
        raise typer.Exit(2)
    with _opened(database) as stores:
        view = stores.views.timeline(depot, as_of, known_at, order, start, end, item, limit)  # type: ignore[arg-type]
        if json:
            typer.echo(view.model_dump_json(indent=2))
            return
        _table(
            f"{view.depot} timeline in {order} order, as known at {view.known_at} (position {view.position})"
            + (" — truncated" if view.truncated else ""),
            ["position", "occurred_at", "recorded_at", "type", "item", "delta", "balance", "late", "actor", "correction"],
            [
                [
                    e.position, e.occurred_at, e.recorded_at, e.type, e.item, e.delta, e.balance,
                    "LATE" if e.late else "", e.actor, _correction_marker(e),
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


@projections_app.command("run")
def projections_run(database: DatabaseOption = None) -> None:
    """Follow the ledger and keep the views current (the docker-compose worker); stop with Ctrl-C or SIGTERM."""
    from projections.runner import ProjectionThread

    stores = _stores(database)
    stopped = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopped.set())
    follower = ProjectionThread(stores.projector).start()
    typer.echo(f"Projecting {stores.ledger.name} from position {stores.projector.position()}")
    try:
        stopped.wait()
    finally:
        follower.stop()
        typer.echo(f"Stopped at position {stores.projector.position()}")
        stores.close()


@projections_app.command("rebuild")
def projections_rebuild(database: DatabaseOption = None) -> None:
    """Empty the views and rebuild them from the whole ledger, with a progress bar."""
    with _opened(database) as stores:
        target = stores.ledger.position()
        with Progress(
            TextColumn("rebuilding stock view"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()
        ) as progress:
            task = progress.add_task("rebuild", total=target)
            events = stores.projector.rebuild(progress=lambda position: progress.update(task, completed=position))
        typer.echo(f"Rebuilt from {events} events; the view is at position {stores.projector.position()}.")
