"""`supply-ledger serve` and `supply-ledger demo`: starting the service, first-start tokens, the demo."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated

import typer

from api.cli.options import DatabaseOption, fail, opened, write_secret
from api.cli.startup import StartRefused, bind, open_checked
from ledger.access import NameInUse
from ledger.settings import Database

if TYPE_CHECKING:
    from api.app import Stores

DEMO_ROLES = ("coordinator", "operator", "auditor")


def ensure_admin_token(stores: Stores, database: Database) -> None:
    """On the first start of an empty ledger: one admin token, printed once and kept 0600 in
    the ledger's own token file (a ledger with tokens never touches it again)."""
    if stores.access.has_tokens():
        return
    path = database.token_file("admin")
    try:
        token = stores.access.issue("admin", "admin", issued_by="first-start")
    except NameInUse:  # another server on this database started at the same moment and issued it
        typer.echo(f"Another server starting on this ledger created the admin token (see its output or {path}).")
        return
    write_secret(path, token)
    typer.echo(f"Created the admin token (also written to {path}, mode 0600):\n{token}")


def load_demo(stores: Stores, database: Database) -> bool:
    """The demo and a token per demo role, each also kept in the ledger's token file
    `demo-<role>`; on a ledger that has depots already, where its tokens are instead."""
    from ledger.demo import DemoAlreadyLoaded
    from ledger.demo import load_demo as load

    try:
        summary = load(stores.ledger)
    except DemoAlreadyLoaded:
        typer.echo("The ledger already has depots: demo data not loaded again.")
        typer.echo(where_tokens_are(database))
        return False
    typer.echo(f"Loaded the demo: {summary.depots} depots, {summary.items} items, {summary.events} events.")
    for role in DEMO_ROLES:
        organisations = (summary.operator_organisation,) if role == "operator" else ()
        token = stores.access.issue(f"demo-{role}", role, organisations, issued_by="demo")
        write_secret(database.token_file(f"demo-{role}"), token)
        scope = f" (organisation {summary.operator_organisation})" if organisations else ""
        typer.echo(f"{role:<12}{scope} {token}")
    typer.echo(f"The tokens are also in {database.token_file('demo-<role>')} (mode 0600).")
    return True


def where_tokens_are(database: Database) -> str:
    """What a second `serve --demo` says instead of tokens: they are printed only once."""
    files = [database.token_file(name) for name in ("admin", *(f"demo-{role}" for role in DEMO_ROLES))]
    kept = [str(path) for path in files if path.exists()]
    lines = [f"Its tokens are kept in {', '.join(kept)}." if kept else "No token file of this ledger is left."]
    option = "" if database == Database.from_environment() else " --database ..."
    lines.append(
        f"`supply-ledger token list{option}` lists every token issued (never the secret); "
        f"`supply-ledger token create{option} --name NAME --role ROLE` issues another."
    )
    return "\n".join(lines)


def serve(
    database: DatabaseOption = None,
    host: Annotated[str, typer.Option(help="Interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
    demo: Annotated[bool, typer.Option("--demo", help="Load the demo scenario into an empty ledger first")] = False,
    log_level: Annotated[str, typer.Option(help="Log level")] = "INFO",
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes (PostgreSQL only)")] = 1,
) -> None:
    """Run the HTTP API and the web console (console at /, API docs at /docs)."""
    os.environ["SUPPLY_LEDGER_LOG_LEVEL"] = log_level.upper()
    db = Database.from_environment(database)
    if workers > 1 and db.kind != "postgres":
        raise fail("several workers need PostgreSQL (SQLite is one process)")
    try:
        listener = bind(host, port)
        try:
            stores = open_checked(db)
        except BaseException:
            listener.close()
            raise
    except StartRefused as refused:
        raise fail(str(refused)) from None
    ensure_admin_token(stores, db)
    if demo:
        load_demo(stores, db)
    typer.echo(
        f"Supply Ledger on {db.describe()}: the console at http://{host}:{port}/ (sign in with a token), "
        f"the API's docs at http://{host}:{port}/docs",
        err=False,
    )
    if workers > 1:
        stores.close()  # the schema is created; each worker opens its own stores
        os.environ["SUPPLY_LEDGER_DATABASE_URL"] = db.url
        from api.server import run_workers

        run_workers(listener, workers)
        return
    from api.app import create_app
    from api.server import run_single

    try:
        run_single(listener, create_app(stores=stores))
    finally:
        stores.close()


def demo(database: DatabaseOption = None) -> None:
    """Load the demo scenario and print a token per demo role."""
    db = Database.from_environment(database)
    with opened(db.url) as stores:
        ensure_admin_token(stores, db)
        if not load_demo(stores, db):
            raise typer.Exit(1)
