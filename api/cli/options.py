"""What every command group shares: the database option, opening the stores, printing tables.

Command modules import from here and never from each other, so the package has no import
cycles; `api.cli` assembles them into the one `supply-ledger` command."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from domain.exceptions import LedgerError
from ledger.settings import Database

if TYPE_CHECKING:
    from api.app import Stores

DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database",
        envvar="SUPPLY_LEDGER_DATABASE_URL",
        help="sqlite:///path/file.sqlite3 or postgresql://user:password@host:port/dbname "
        "(default: a SQLite file in ./supply-ledger-data/)",
    ),
]
AsOfOption = Annotated[str | None, typer.Option("--as-of", help="Business time (ISO 8601 with offset, or a date)")]
KnownAtOption = Annotated[str | None, typer.Option("--known-at", help="As known at a time, or a position pos:N")]
ItemOption = Annotated[str | None, typer.Option("--item", help="Only this item")]
RegionOption = Annotated[str | None, typer.Option("--region", help="Only depots of this region")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the API's JSON instead of a table")]

LEFT_ALIGNED = (
    "depot",
    "region",
    "item",
    "type",
    "lots",
    "occurred_at",
    "recorded_at",
    "correction",
    "name",
    "role",
    "organisation",
    "basis",
)


def open_stores(database: str | None) -> Stores:
    """The ledger, tokens, views and exercises of one database, opened as the server opens them."""
    from api.app import Stores

    return Stores.open(Database.from_environment(database))


@contextmanager
def opened(database: str | None) -> Iterator[Any]:
    """The stores for one command; a database that cannot be opened, or a refusal of the
    ledger, is printed as one line `error: ...`, exit 2."""
    from api.cli.startup import StartRefused, open_checked

    try:
        stores = open_checked(Database.from_environment(database), thorough=False)
    except StartRefused as refused:
        raise fail(str(refused)) from None
    try:
        yield stores
    except LedgerError as error:
        raise fail(error.detail) from None
    finally:
        stores.close()


def fail(message: str, status: int = 2) -> typer.Exit:
    """Print `error: message` to stderr; raise the returned exit."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(status)


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    view = Table(title=title, title_justify="left")
    for column in columns:
        view.add_column(column, justify="left" if column in LEFT_ALIGNED else "right")
    for row in rows:
        view.add_row(*("" if value is None else str(value) for value in row))
    Console(width=200).print(view)


def write_secret(path: Path, text: str) -> None:
    """A token file only its owner can read (0600), whatever the umask."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(text + "\n")
    path.chmod(0o600)
