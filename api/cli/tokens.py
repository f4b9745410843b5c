"""`supply-ledger token ...`: the bearer tokens people and scripts call the API with."""

from __future__ import annotations

from typing import Annotated

import typer

from api.cli.options import DatabaseOption, fail, open_stores

app = typer.Typer(help="Bearer tokens.", no_args_is_help=True)


@app.command("create")
def token_create(
    name: Annotated[str, typer.Option(help="Who the token is for (appears as the actor of their events)")],
    role: Annotated[str, typer.Option(help="operator, coordinator, auditor or admin")],
    org: Annotated[list[str] | None, typer.Option("--org", help="Organisation (repeat for several)")] = None,
    database: DatabaseOption = None,
) -> None:
    """Create a token; it is printed once, alone on the last line."""
    stores = open_stores(database)
    try:
        token = stores.access.issue(name, role, tuple(org or ()), issued_by="cli")  # type: ignore[arg-type]
    except ValueError as error:
        raise fail(str(error)) from None
    finally:
        stores.close()
    typer.echo(f"Token for {name} ({role}{', ' + ', '.join(org) if org else ''}):")
    typer.echo(token)
