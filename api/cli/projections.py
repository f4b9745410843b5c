"""`supply-ledger projections run|rebuild`: the separate worker that keeps the views current,
and a rebuild of the views from the whole ledger."""

from __future__ import annotations

import signal
import threading

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from api.cli.options import DatabaseOption, open_stores, opened

app = typer.Typer(help="The materialised views (current stock, regional and national rollups).", no_args_is_help=True)


@app.command("run")
def projections_run(database: DatabaseOption = None) -> None:
    """Follow the ledger and keep the views current (the docker-compose worker); stop with Ctrl-C or SIGTERM."""
    from projections.runner import ProjectionThread

    stores = open_stores(database)
    stopped = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopped.set())
    follower = ProjectionThread(stores.projector).start()
    typer.echo(f"Projecting {stores.ledger.name} from position {stores.projector.position()}")
    try:
        stopped.wait()
    finally:
        follower.stop()
        typer.echo(f"Stopped at position {stores.projector.position()}")
        stores.close()


@app.command("rebuild")
def projections_rebuild(database: DatabaseOption = None) -> None:
    """Empty the views and rebuild them from the whole ledger, with a progress bar."""
    with opened(database) as stores:
        target = stores.ledger.position()
        with Progress(
            TextColumn("rebuilding stock view"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()
        ) as progress:
            task = progress.add_task("rebuild", total=target)
            events = stores.projector.rebuild(progress=lambda position: progress.update(task, completed=position))
        typer.echo(f"Rebuilt from {events} events; the view is at position {stores.projector.position()}.")
