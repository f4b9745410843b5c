"""Liveness with a database check, and Prometheus metrics."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.problems import problem

router = APIRouter(tags=["operations"])


@router.get("/healthz")
def healthz(request: Request) -> JSONResponse:
    try:
        position = request.app.state.ledger.position()
    except Exception as error:  # noqa: BLE001 - any database failure means unhealthy
        return problem(503, "Unavailable", f"the database is not answering: {type(error).__name__}", database="error")
    return JSONResponse({"status": "ok", "database": "ok", "position": position})


@router.get("/metrics", response_class=PlainTextResponse)  # Prometheus text, documented as text/plain
def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST)
