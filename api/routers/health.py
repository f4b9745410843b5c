"""Liveness with a bounded check that the database can be read and written, and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ledger.outage import RETRY_AFTER_SECONDS

router = APIRouter(tags=["operations"])


@router.get(
    "/healthz",
    responses={
        503: {
            "description": "The database cannot be reached or written: "
            '`{"status": "degraded", "database": "unavailable", "detail": ...}`'
        }
    },
)
async def healthz(request: Request) -> JSONResponse:
    """Answered within a second (`ledger.health`): 200 with the ledger's position, or 503."""
    health = await request.app.state.health.check()
    if not health.ok:
        return JSONResponse(
            {"status": "degraded", "database": "unavailable", "detail": health.problem},
            status_code=503,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    return JSONResponse({"status": "ok", "database": "ok", "position": health.position})


@router.get("/metrics", response_class=PlainTextResponse)  # Prometheus text, documented as text/plain
def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
