"""`supply-ledger alerts deliver`: the webhook delivery worker of the production layout (the
API then runs with SUPPLY_LEDGER_DELIVERIES=worker). Run as many as you like on one
PostgreSQL database: each delivery is claimed by one of them at a time."""

from __future__ import annotations

import signal
import threading
from typing import Annotated

import typer

from api.cli.options import DatabaseOption, fail

FirstRetryOption = Annotated[
    float, typer.Option("--first-retry", min=0.01, help="Seconds before the first retry of a failed delivery")
]
MaxRetryOption = Annotated[
    float, typer.Option("--max-retry", min=0.01, help="Longest wait between two attempts, in seconds")
]
PollOption = Annotated[float, typer.Option("--poll", min=0.01, help="Seconds between looks for due deliveries")]


def deliver(
    database: DatabaseOption = None,
    first_retry: FirstRetryOption = 5.0,
    max_retry: MaxRetryOption = 900.0,
    poll: PollOption = 1.0,
) -> None:
    """POST alert changes to webhook subscribers until Ctrl-C or SIGTERM; retries survive a restart."""
    from api.cli.startup import StartRefused, open_checked
    from ledger.settings import Database
    from ledger.webhooks import Backoff, Deliverer, DeliveryThread

    if max_retry < first_retry:
        raise fail("--max-retry must be at least --first-retry")
    try:
        stores = open_checked(Database.from_environment(database), thorough=False)
    except StartRefused as refused:
        raise fail(str(refused)) from None
    stopped = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stopped.set())
    outbox = stores.outbox
    worker = DeliveryThread(Deliverer(outbox, Backoff(first_retry, max_retry)), poll).start()
    typer.echo(f"Delivering webhooks: {outbox.pending()} pending")
    try:
        stopped.wait()
    finally:
        worker.stop()
        typer.echo(f"Stopped; {outbox.pending()} pending")
        stores.close()
