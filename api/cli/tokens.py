"""`supply-ledger token ...`: the bearer tokens people and scripts call the API with.

Names are what the ledger records as actor, so each is issued once; a token is revoked
by its name or id (an event in the access store; every server worker stops accepting it
within about a second) and may be given a lifetime."""

from __future__ import annotations

import json as json_module
import re
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated

import typer

from api.cli.options import DatabaseOption, JsonOption, fail, open_stores, table
from domain.access import has_expired
from ledger import clock

if TYPE_CHECKING:
    from ledger.access import TokenListing

app = typer.Typer(help="Bearer tokens.", no_args_is_help=True)

_LIFETIME = re.compile(r"^\s*(\d{1,6})\s*([mhdw])\s*$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def lifetime(text: str) -> timedelta:
    """`90m`, `12h`, `30d` or `2w` as a duration."""
    match = _LIFETIME.match(text)
    if match is None or int(match.group(1)) == 0:
        raise ValueError(f"--expires-in {text.strip()!r}: give a positive number with m, h, d or w, e.g. 12h or 30d")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


@app.command("create")
def token_create(
    name: Annotated[str, typer.Option(help="Who the token is for (unique; appears as the actor of their events)")],
    role: Annotated[str, typer.Option(help="operator, coordinator, auditor or admin")],
    org: Annotated[list[str] | None, typer.Option("--org", help="Organisation (repeat for several)")] = None,
    expires_in: Annotated[
        str | None, typer.Option("--expires-in", help="Lifetime, e.g. 12h, 30d or 2w (default: until revoked)")
    ] = None,
    database: DatabaseOption = None,
) -> None:
    """Create a token; it is printed once, alone on the last line."""
    try:
        lasts = None if expires_in is None else lifetime(expires_in)
    except ValueError as error:
        raise fail(str(error)) from None
    stores = open_stores(database)
    try:
        token = stores.access.issue(name, role, tuple(org or ()), issued_by="cli", expires_in=lasts)
        expires_at = stores.access.check(token).expires_at
    except ValueError as error:
        raise fail(str(error)) from None
    finally:
        stores.close()
    until = f", expires {clock.utc_text(expires_at)}" if expires_at else ""
    typer.echo(f"Token for {name} ({role}{', ' + ', '.join(org) if org else ''}{until}):")
    typer.echo(token)


@app.command("list")
def token_list(json: JsonOption = False, database: DatabaseOption = None) -> None:
    """Every token issued, with its id, role, organisations, lifetime and whether it still works (never the token)."""
    stores = open_stores(database)
    try:
        listed, now = stores.access.tokens(), stores.access.clock()
    finally:
        stores.close()
    if json:
        rows = [{**t.as_json(), "expired": has_expired(t.expires_at, now)} for t in listed]
        typer.echo(json_module.dumps(rows, indent=2))
        return
    columns = ("id", "name", "role", "organisations", "issued_at", "issued_by", "expires_at", "status")
    table(
        f"{len(listed)} token{'' if len(listed) == 1 else 's'}",
        columns,
        [
            (
                t.id,
                t.name,
                t.role,
                ", ".join(t.organisations),
                clock.utc_text(t.issued_at),
                t.issued_by,
                clock.utc_text(t.expires_at) if t.expires_at else "never",
                _status(t, now),
            )
            for t in listed
        ],
    )


def _status(listing: TokenListing, now: datetime) -> str:
    if listing.revoked:
        return f"revoked by {listing.revoked_by}"
    return "expired" if has_expired(listing.expires_at, now) else "active"


@app.command("revoke")
def token_revoke(
    name_or_id: Annotated[str, typer.Argument(metavar="NAME_OR_ID", help="The token's name or id (see `token list`)")],
    reason: Annotated[str, typer.Option(help="Why, kept with the revocation")] = "",
    database: DatabaseOption = None,
) -> None:
    """Revoke a token for good: every server stops accepting it within about a second."""
    stores = open_stores(database)
    try:
        revoked = stores.access.revoke(name_or_id, by="cli", reason=reason)
    except ValueError as error:  # unknown, ambiguous or already revoked
        raise fail(str(error)) from None
    finally:
        stores.close()
    typer.echo(f"Revoked the token {revoked.name} ({revoked.id}, {revoked.role}).")
