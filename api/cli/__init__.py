"""The `supply-ledger` command line: one module per command group, assembled here.

Shared options and helpers live in `api.cli.options`; command modules import only that,
never each other."""

from __future__ import annotations

import typer

from api.cli import (
    alerts,
    deliveries,
    exercise,
    imports,
    integrity,
    models,
    obligations,
    projections,
    replay,
    serve,
    tokens,
    views,
)

app = typer.Typer(help="Supply Ledger: an event-sourced ledger of critical medical supplies.", no_args_is_help=True)
app.command()(serve.serve)
app.command()(serve.demo)
app.command()(views.stock)
app.command()(views.timeline)
app.command()(obligations.obligations)
app.command()(integrity.digest)
app.command()(integrity.verify)
app.add_typer(tokens.app, name="token")
app.add_typer(projections.app, name="projections")
app.add_typer(replay.app, name="replay")
app.add_typer(exercise.app, name="exercise")
alerts.app.command("deliver")(deliveries.deliver)
app.add_typer(alerts.app, name="alerts")
app.add_typer(imports.app, name="import")
app.add_typer(models.app, name="models")


def main() -> None:
    from api.limits import BadLimit
    from ledger.settings import BadDatabaseURL

    try:
        app()
    except (BadDatabaseURL, BadLimit) as error:
        typer.echo(f"error: {error}", err=True)
        raise SystemExit(2) from None
