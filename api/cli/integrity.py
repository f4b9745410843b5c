"""`supply-ledger digest` and `supply-ledger verify`: the auditor's hash chain from a terminal.

`verify` exits 1 on any mismatch, so a scheduled job or a CI step can alert on it; bad
arguments and unknown positions exit 2. A store whose storage is damaged (a corrupt page)
does not verify either: one line names the first position that cannot be read, exit 1."""

from __future__ import annotations

import re
from typing import Annotated

import typer

from api.cli.options import DatabaseOption, fail, opened
from replay import digest as chain


def digest(
    position: Annotated[int | None, typer.Option(min=0, help="Ledger position (default: the last)")] = None,
    database: DatabaseOption = None,
) -> None:
    """Print the ledger's hash-chain digest at a position, to keep and verify later."""
    with opened(database) as stores:
        try:
            result = chain.digest(stores.ledger.recorder, position)
        except chain.UnreadableEvent as unreadable:
            raise fail(f"cannot compute the digest: {unreadable}") from None
    typer.echo(f"position {result.position}")
    typer.echo(f"digest {result.digest}")


def verify(
    digest: Annotated[str | None, typer.Option(help="A digest kept earlier (64 hex digits); needs --position")] = None,
    position: Annotated[int | None, typer.Option(min=0, help="The position of that digest")] = None,
    database: DatabaseOption = None,
) -> None:
    """Recompute the hash chain from the stored events; exit 1 on any mismatch."""
    if (digest is None) != (position is None):
        typer.echo("error: give both --digest and --position, or neither", err=True)
        raise typer.Exit(2)
    if digest is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", digest):
        typer.echo("error: --digest must be 64 hex digits", err=True)
        raise typer.Exit(2)
    with opened(database) as stores:
        result = chain.verify(stores.ledger.recorder, position, digest)
    if result.first_unreadable is not None:
        typer.echo(f"UNREADABLE: {result.detail}")
        raise typer.Exit(1)
    typer.echo(f"{'valid' if result.valid else 'MISMATCH'}: {result.detail}")
    typer.echo(f"position {result.position}")
    typer.echo(f"digest {result.digest} (recomputed)")
    if result.first_mismatch is not None:
        typer.echo(f"first mismatch at position {result.first_mismatch}")
    if not result.valid:
        raise typer.Exit(1)
