"""`supply-ledger models list|show NAME [--version N]`: the distribution models a ledger holds,
as coordinators stored them (API.md: GET /v1/distribution-models)."""

from __future__ import annotations

from typing import Annotated

import typer

from api.cli.options import DatabaseOption, JsonOption, opened, table
from ledger.distribution_models import DistributionModelView, model_listing, model_view

app = typer.Typer(help="Distribution models: sector shares, a reserve, versions.", no_args_is_help=True)


@app.command("list")
def list_models(json: JsonOption = False, database: DatabaseOption = None) -> None:
    """Every model's current version."""
    with opened(database) as stores:
        listing = model_listing(stores.ledger)
    if json:
        typer.echo(listing.model_dump_json(indent=2))
        return
    if not listing.models:
        typer.echo("No distribution models.")
        return
    table(
        "Distribution models (current versions)",
        ["name", "version", "sectors", "reserve", "within", "requests first", "by", "stored"],
        [
            [
                m.name,
                f"{m.version} of {m.versions}",
                ", ".join(f"{s.name} {s.share}" for s in m.sectors),
                m.reserve,
                m.within,
                "yes" if m.requests_first else "no",
                m.actor,
                f"{m.recorded_at:%Y-%m-%d %H:%M}",
            ]
            for m in listing.models
        ],
    )


@app.command("show")
def show_model(
    name: Annotated[str, typer.Argument(help="The model, e.g. national-ppe")],
    version: Annotated[int | None, typer.Option("--version", min=1, help="Default: the current version")] = None,
    json: JsonOption = False,
    database: DatabaseOption = None,
) -> None:
    """A version of a model: its sectors, reserve and rules."""
    with opened(database) as stores:
        model = model_view(stores.ledger, name, version)
    if json:
        typer.echo(model.model_dump_json(indent=2))
        return
    _print(model)


def _print(m: DistributionModelView) -> None:
    typer.echo(
        f"{m.policy}: version {m.version} of {m.versions}, stored by {m.actor} at {m.recorded_at:%Y-%m-%d %H:%M} UTC"
    )
    if m.note:
        typer.echo(f"Note: {m.note}")
    table(
        "Sectors",
        ["sector", "depot kinds", "share"],
        [[s.name, ", ".join(s.kinds), s.share] for s in m.sectors] + [["reserve (kept at the source)", "", m.reserve]],
    )
    typer.echo(f"Within a sector: {m.within.replace('_', ' ')}")
    typer.echo(f"Critical requests first: {'yes' if m.requests_first else 'no'}")
