"""`supply-ledger alerts ...`: the shortage watch from the command line (`deliver` is in
`api.cli.deliveries`, registered on this group by `api.cli`)."""

from __future__ import annotations

import typer

app = typer.Typer(help="Shortage-watch alerts and their webhook deliveries.", no_args_is_help=True)
