"""Structured JSON request logs (one line per request) and Prometheus metrics."""

from __future__ import annotations

import logging
import sys
import threading
import time
import uuid
from typing import Any

import structlog
from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import problems
from ledger.outage import unavailable


class _CurrentStderr:
    """Writes to whatever sys.stderr is at the time (so redirected or captured output gets it)."""

    def write(self, text: str) -> None:
        sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


# Shared by our own log lines and the standard library's (uvicorn, asyncio, psycopg).
_PROCESSORS: list[structlog.typing.Processor] = [
    structlog.contextvars.merge_contextvars,
    structlog.processors.add_log_level,
    structlog.processors.TimeStamper(fmt="iso", utc=True),
]
FOREIGN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")
JSON_HANDLER = "supply-ledger-json"


def configure_logging(level: str = "INFO") -> None:
    """Every log line as one JSON object on stderr, tracebacks inside it.

    uvicorn configures its own loggers with plain-text handlers when it starts (after the
    app was created, in `serve`), so the lifespan calls this again: they lose their
    handlers and reach the root logger, whose handler renders through structlog."""
    handler = logging.StreamHandler(_CurrentStderr())
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*_PROCESSORS, structlog.stdlib.add_logger_name],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                structlog.processors.JSONRenderer(),
            ],
        )
    )
    handler.set_name(JSON_HANDLER)
    root = logging.getLogger()
    root.handlers = [h for h in root.handlers if h.get_name() != JSON_HANDLER] + [handler]  # others (pytest's) stay
    root.setLevel(level)
    for name in FOREIGN_LOGGERS:
        foreign = logging.getLogger(name)
        foreign.handlers = []
        foreign.propagate = True
    threading.excepthook = _log_thread_death
    structlog.configure(
        processors=[*_PROCESSORS, structlog.processors.format_exc_info, structlog.processors.JSONRenderer()],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        # structlog types `file` as TextIO but only writes to it and flushes it
        logger_factory=structlog.PrintLoggerFactory(file=_CurrentStderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=False,
    )


def _log_thread_death(args: threading.ExceptHookArgs) -> None:
    """A thread killed by an exception is a bug: one JSON line, not Python's plain-text traceback."""
    structlog.get_logger("supply_ledger").error(
        "thread_died",
        thread=getattr(args.thread, "name", None),
        exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
    )


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "supply_ledger_http_requests_total", "HTTP requests", ["method", "route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "supply_ledger_http_request_seconds",
            "HTTP request duration",
            ["method", "route"],
            registry=self.registry,
            buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )


class RequestLog:
    """ASGI middleware: a request id, one JSON log line and metrics per request, and the
    answer to any exception the routes let through.

    Answering here (503 for an unavailable store, 500 for a bug) rather than in Starlette's
    ServerErrorMiddleware keeps the connection open: that one re-raises after answering,
    and uvicorn then closes the connection and prints the traceback as plain text. Here a
    bug's traceback goes into the request's own log line. It logs the principal's name,
    never the token."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        self.log = structlog.get_logger("supply_ledger.request")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _header(scope, b"x-request-id") or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500
        responded = False
        details: dict[str, Any] = {}

        async def send_with_id(message: Message) -> None:
            nonlocal status, responded
            if message["type"] == "http.response.start":
                status = message["status"]
                responded = True
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as error:  # noqa: BLE001 - every failure is answered and logged, never re-raised
            reason = unavailable(error)
            details = self._failure(scope, error, reason)
            if not responded:
                await problems.unexpected(reason)(scope, receive, send_with_id)
        finally:
            duration = time.perf_counter() - started
            template = route_template(scope)
            self.metrics.requests.labels(scope["method"], template, str(status)).inc()
            self.metrics.latency.labels(scope["method"], template).observe(duration)
            if 200 <= status < 300 and scope["method"] not in ("GET", "HEAD", "OPTIONS"):
                _health(scope, "wrote")
            fields = {
                "method": scope["method"],
                "path": scope["path"],
                "status": status,
                "duration_ms": round(duration * 1000, 2),
                "actor": scope["state"].get("actor"),
                "request_id": request_id,
                **details,
            }
            if status == 500 or "traceback" in details:
                self.log.error("request", **fields)
            elif "unavailable" in details:
                self.log.warning("request", **fields)
            else:
                self.log.info("request", **fields)

    @staticmethod
    def _failure(scope: Scope, error: Exception, reason: str | None) -> dict[str, Any]:
        """What the request's log line says about an exception: why the store is
        unavailable (`reason`), or the bug's traceback."""
        if reason is not None:
            _health(scope, "failed", reason)
            return {"unavailable": reason}
        return {"error": type(error).__name__, "traceback": problems.traceback_text(error)}


def _health(scope: Scope, event: str, *args: Any) -> None:
    """Tell the store's health what a request found (`ledger.health.StoreHealth`)."""
    health = getattr(getattr(scope.get("app"), "state", None), "health", None)
    if health is not None:
        getattr(health, event)(*args)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            text: Any = value.decode("latin-1")
            return text[:64]
    return None


def route_template(scope: Scope) -> str:
    """The matched route's full path template (`/v1/exercises/{exercise}/depots/{code}/stock`).

    A router included under two prefixes (the live and the exercise ledgers) is one route
    object; recent FastAPI records the prefix it was matched under in its own scope entry
    rather than in `scope["route"]`, so that entry is read first."""
    effective = scope.get("fastapi", {}).get("effective_route_context")
    template = getattr(effective, "path_format", None)
    if isinstance(template, str):
        return template
    return str(getattr(scope.get("route"), "path", "unmatched"))
