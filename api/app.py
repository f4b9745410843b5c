"""The FastAPI application: one ledger and one token store per process, opened in the lifespan."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastapi import Depends, FastAPI
from fastapi_offline import FastAPIOffline

from api import console, openapi, problems
from api.authentication import Authentication
from api.deps import exercise_scope
from api.fhir import errors as fhir_errors
from api.fhir import router as fhir
from api.input_guard import RefuseNul
from api.limits import BodyLimit, max_body_bytes
from api.observability import Metrics, RequestLog, configure_logging
from api.routers import (
    alerts,
    allocations,
    depot_commands,
    depots,
    distribution_models,
    events,
    exercises,
    health,
    imports,
    integrity,
    items,
    late,
    obligations,
    stock,
    subscriptions,
    transfers,
)
from ledger.access import Access
from ledger.application import Ledger
from ledger.console_sessions import ConsoleSessions
from ledger.exercises import Exercises
from ledger.feed import Feed
from ledger.health import StoreHealth
from ledger.settings import Database
from ledger.webhooks import Deliverer, DeliveryThread
from projections.outbox import Outbox
from projections.runner import ProjectionThread, Projector, open_view
from projections.views import Views

LEDGER_ROUTERS = (
    items,
    depots,
    depot_commands,
    transfers,
    allocations,
    distribution_models,
    stock,
    obligations,
    events,
    late,
    integrity,
    alerts,
    imports,
)
"""The routers that act on one ledger: mounted under /v1 for the live ledger and under
/v1/exercises/{exercise} for each exercise's."""

DESCRIPTION = """
An event-sourced ledger of critical medical supplies held by national, regional,
municipal and hospital depots: every receipt, consumption report, count, adjustment,
supply request and transfer is an immutable event.

Every `/v1` call needs `Authorization: Bearer <token>`. Every POST accepts an
`Idempotency-Key`; depot commands accept `If-Match: "<version>"`. Errors are
`application/problem+json`.
"""


@dataclass
class Stores:
    ledger: Ledger
    access: Access
    views: Views
    exercises: Exercises

    @classmethod
    def open(cls, database: Database) -> Stores:
        ledger = Ledger(database.env("ledger"))
        views = Views(ledger, Projector(ledger, open_view(database, ledger)))
        return cls(
            ledger=ledger,
            access=Access(database.env("access", indexed=False)),
            views=views,
            exercises=Exercises(database, views),
        )

    @property
    def projector(self) -> Projector:
        assert self.views.projector is not None
        return self.views.projector

    @property
    def outbox(self) -> Outbox:
        """Webhook subscriptions and deliveries, kept beside the stock view (`projections.outbox`)."""
        return Outbox(self.projector.view)

    def close(self) -> None:
        self.exercises.close()
        self.ledger.close()
        self.access.close()
        self.projector.view.datastore.close()  # type: ignore[attr-defined]


def create_app(
    database: Database | None = None,
    stores: Stores | None = None,
    projections: bool | None = None,
    deliveries: bool | None = None,
) -> FastAPI:
    """`stores` lets a caller (the CLI, tests) share already-open stores; otherwise they open here.
    `projections`: run the stock projection in this process (default, unless
    SUPPLY_LEDGER_PROJECTIONS=worker says a separate worker runs it); `deliveries` likewise
    the webhook delivery worker (SUPPLY_LEDGER_DELIVERIES=worker: `supply-ledger alerts deliver`)."""
    if projections is None:
        projections = os.environ.get("SUPPLY_LEDGER_PROJECTIONS", "embedded") != "worker"
    if deliveries is None:
        deliveries = os.environ.get("SUPPLY_LEDGER_DELIVERIES", "embedded") != "worker"

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        opened = stores or Stores.open(database or Database.from_environment())
        app.state.ledger = opened.ledger
        app.state.access = opened.access
        app.state.views = opened.views
        app.state.feed = Feed(opened.ledger)
        app.state.exercises = opened.exercises
        app.state.health = StoreHealth(opened.ledger.recorder)
        app.state.outbox = opened.outbox
        app.state.console_sessions = ConsoleSessions(opened.access)
        configure_logging(log_level)  # again: uvicorn set up its own loggers after create_app
        follower = ProjectionThread(opened.projector).start() if projections else None
        if follower is not None:
            opened.ledger.listeners.append(opened.projector.wake)
        deliverer = DeliveryThread(Deliverer(opened.outbox)).start() if deliveries else None
        try:
            yield
        finally:
            if deliverer is not None:
                deliverer.stop()
            if follower is not None:
                opened.ledger.listeners.remove(opened.projector.wake)
                follower.stop()
            app.state.health.close()
            if stores is None:
                opened.close()

    log_level = os.environ.get("SUPPLY_LEDGER_LOG_LEVEL", "INFO")
    configure_logging(log_level)
    # /docs with Swagger UI's scripts served by this process (fastapi-offline's copy), not a CDN:
    # a crisis system documents itself without the internet. No /redoc: ReDoc always fetches its
    # vendor's logo from the internet.
    app = FastAPIOffline(
        redoc_url=None,
        title="Supply Ledger",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
        swagger_ui_parameters={"validatorUrl": None},  # no badge fetched from swagger.io
    )
    app.state.metrics = Metrics()
    problems.install(app)
    openapi.install(app)
    fhir_errors.document_errors(app)  # after `openapi`: /fhir errors are OperationOutcomes
    app.include_router(health.router)
    for module in LEDGER_ROUTERS:
        app.include_router(module.router, prefix="/v1")
    app.include_router(exercises.router)
    app.include_router(subscriptions.router)  # the live ledger's alerts only, not an exercise's
    app.include_router(fhir.router)  # the live ledger only (docs/fhir.md)
    console.install(app)  # the web pages, after `problems`: console errors are pages (api/console)
    # Every ledger route again, acting on an exercise's ledger (API.md, "Exercises").
    for module in LEDGER_ROUTERS:
        app.include_router(
            module.router,
            prefix="/v1/exercises/{exercise}",
            tags=["exercise ledger"],
            dependencies=[Depends(exercise_scope)],
        )
    app.add_middleware(RefuseNul)  # inside Authentication: a request without a token learns that first
    # inside Authentication: a caller without a token learns that first
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes())
    app.add_middleware(Authentication)
    # Outermost: logs refusals too, and answers any exception itself (see RequestLog).
    app.add_middleware(RequestLog, metrics=app.state.metrics)
    app.add_middleware(fhir_errors.OperationOutcomes)  # outermost: every /fhir problem, a 500 too
    return app
