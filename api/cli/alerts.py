"""`supply-ledger alerts`: the open alerts as a table (or the API's JSON), at any cut.

A group, so that subcommands (e.g. the webhook delivery worker) can join it; without one it
prints the alerts."""

from __future__ import annotations

from typing import Annotated

import typer

from api.cli.options import (
    AsOfOption,
    DatabaseOption,
    ItemOption,
    JsonOption,
    KnownAtOption,
    RegionOption,
    opened,
    table,
)

app = typer.Typer(help="Shortage watch: the open alerts, most severe first.")


@app.callback(invoke_without_command=True)
def alerts(
    context: typer.Context,
    region: RegionOption = None,
    depot: Annotated[str | None, typer.Option("--depot", help="Only this depot")] = None,
    item: ItemOption = None,
    as_of: AsOfOption = None,
    known_at: KnownAtOption = None,
    json: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """The alerts open as of any date, as known at any time (GET /v1/alerts)."""
    if context.invoked_subcommand is not None:
        return
    from projections.alerts.view import AlertViews

    with opened(database) as stores:
        view = AlertViews(stores.ledger).alerts(as_of, known_at, region, depot, item)
        if json:
            typer.echo(view.model_dump_json(indent=2))
            return
        table(
            f"Alerts as of {view.as_of}, as known at {view.known_at} (position {view.position})",
            ["severity", "kind", "region", "depot", "item", "since", "message", "acknowledged"],
            [
                [
                    a.severity,
                    a.kind,
                    a.region,
                    a.depot,
                    a.item,
                    a.since,
                    a.message,
                    f"{a.acknowledged.by}: {a.acknowledged.note or ''}" if a.acknowledged else "",
                ]
                for a in view.alerts
            ],
        )
