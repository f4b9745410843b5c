"""The `supply-ledger` command line."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from ledger.settings import Database

app = typer.Typer(help="Supply Ledger: an event-sourced ledger of critical medical supplies.", no_args_is_help=True)
token_app = typer.Typer(help="Bearer tokens.", no_args_is_help=True)
app.add_typer(token_app, name="token")

DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database",
        envvar="SUPPLY_LEDGER_DATABASE_URL",
        help="sqlite:///path/file.sqlite3 or postgresql://user:password@host:port/dbname "
        "(default: a SQLite file in ./supply-ledger-data/)",
    ),
]

DEMO_ROLES = ("coordinator", "operator", "auditor")


def _write_secret(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(text + "\n")
    path.chmod(0o600)


def _stores(database: str | None):  # type: ignore[no-untyped-def]
    from api.app import Stores

    return Stores.open(Database.from_environment(database))


def _ensure_admin_token(stores, database: Database) -> None:  # type: ignore[no-untyped-def]
    """On the first start of an empty ledger: one admin token, printed once and kept 0600."""
    if stores.access.has_tokens():
        return
    token = stores.access.issue("admin", "admin", issued_by="first-start")
    path = database.data_dir / "admin-token"
    _write_secret(path, token)
    typer.echo(f"Created the admin token (also written to {path}, mode 0600):\n{token}")


def _load_demo(stores) -> bool:  # type: ignore[no-untyped-def]
    from ledger.demo import DemoAlreadyLoaded, load_demo

    try:
        summary = load_demo(stores.ledger)
    except DemoAlreadyLoaded:
        typer.echo("The ledger already has depots: demo data not loaded again.")
        return False
    typer.echo(f"Loaded the demo: {summary.depots} depots, {summary.items} items, {summary.events} events.")
    for role in DEMO_ROLES:
        organisations = (summary.operator_organisation,) if role == "operator" else ()
        token = stores.access.issue(f"demo-{role}", role, organisations, issued_by="demo")
        scope = f" (organisation {summary.operator_organisation})" if organisations else ""
        typer.echo(f"{role:<12}{scope} {token}")
    return True


@app.command()
def serve(
    database: DatabaseOption = None,
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
    demo: Annotated[bool, typer.Option("--demo", help="Load the demo scenario into an empty ledger first")] = False,
    log_level: Annotated[str, typer.Option(help="Log level")] = "INFO",
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes (PostgreSQL only)")] = 1,
) -> None:
    """Run the HTTP API (docs at /docs)."""
    import uvicorn

    from api.app import create_app

    os.environ["SUPPLY_LEDGER_LOG_LEVEL"] = log_level.upper()
    db = Database.from_environment(database)
    stores = _stores(db.url)
    _ensure_admin_token(stores, db)
    if demo:
        _load_demo(stores)
    typer.echo(f"Supply Ledger on {db.describe()}: http://{host}:{port}/docs", err=False)
    if workers > 1:
        if db.kind != "postgres":
            typer.echo("error: several workers need PostgreSQL (SQLite is one process)", err=True)
            raise typer.Exit(2)
        stores.close()
        os.environ["SUPPLY_LEDGER_DATABASE_URL"] = db.url
        from api.server import run_workers

        run_workers(host, port, workers)
        return
    from api.server import tune_interpreter

    tune_interpreter()
    try:
        uvicorn.run(create_app(stores=stores), host=host, port=port, log_level="warning", access_log=False)
    finally:
        stores.close()


@token_app.command("create")
def token_create(
    name: Annotated[str, typer.Option(help="Who the token is for (appears as the actor of their events)")],
    role: Annotated[str, typer.Option(help="operator, coordinator, auditor or admin")],
    org: Annotated[list[str] | None, typer.Option("--org", help="Organisation (repeat for several)")] = None,
    database: DatabaseOption = None,
) -> None:
    """Create a token; it is printed once, alone on the last line."""
    stores = _stores(database)
    try:
        token = stores.access.issue(name, role, tuple(org or ()), issued_by="cli")  # type: ignore[arg-type]
    except ValueError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from None
    finally:
        stores.close()
    typer.echo(f"Token for {name} ({role}{', ' + ', '.join(org) if org else ''}):")
    typer.echo(token)


@app.command()
def demo(database: DatabaseOption = None) -> None:
    """Load the demo scenario and print a token per demo role."""
    db = Database.from_environment(database)
    stores = _stores(db.url)
    try:
        _ensure_admin_token(stores, db)
        if not _load_demo(stores):
            raise typer.Exit(1)
    finally:
        stores.close()


def main() -> None:
    from ledger.settings import BadDatabaseURL

    try:
        app()
    except BadDatabaseURL as error:
        typer.echo(f"error: {error}", err=True)
        raise SystemExit(2) from None


from api import cli_views  # noqa: E402, F401 - registers `stock`, `timeline` and `projections`
from api import cli_replay  # noqa: E402, F401 - registers `replay allocation`
from api import cli_integrity  # noqa: E402, F401 - registers `digest` and `verify`
from api import cli_exercise  # noqa: E402, F401 - registers `exercise review`
