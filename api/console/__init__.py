"""The crisis console: server-rendered pages for people with a browser, on the same service
layer as the JSON API (API.md, "Web console"). One module per area; each page calls the
ledger and the views exactly as its router does, so there is no second copy of any figure.

Pages of one ledger are mounted twice: at `/` for the live ledger and under
`/exercises/{exercise}/` for an exercise's, drawn in the exercise's colour.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends, FastAPI
from fastapi.staticfiles import StaticFiles

from api.console import allocations, audit, dashboard, depots, errors, exercises, imports, session, transfers
from api.console.session import console_exercise, console_request

STATIC = Path(__file__).with_name("static")

LEDGER_PAGES: tuple[APIRouter, ...] = (
    dashboard.router,
    depots.router,
    transfers.router,
    allocations.router,
    audit.router,
    imports.router,
)
"""The pages that show one ledger: live at `/`, an exercise's under `/exercises/{exercise}`."""
CONSOLE_PAGES: tuple[APIRouter, ...] = (session.router, exercises.router)
"""Pages outside any one ledger: signing in and out, the language switch, the exercises' list."""


def install(app: FastAPI) -> None:
    errors.install(app)
    app.mount("/static", StaticFiles(directory=STATIC), name="console-static")
    for router in CONSOLE_PAGES:
        app.include_router(router)
    for router in LEDGER_PAGES:
        app.include_router(router, include_in_schema=False, dependencies=[Depends(console_request)])
        app.include_router(
            router,
            prefix="/exercises/{exercise}",
            include_in_schema=False,
            dependencies=[Depends(console_request), Depends(console_exercise)],
        )
