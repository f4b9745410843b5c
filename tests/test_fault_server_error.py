"""A bug's 500 under a real uvicorn server: the keep-alive connection stays usable and the
log gets one JSON line with the traceback inside, never a plain-text traceback."""

from __future__ import annotations

import http.client
import json
import logging
import threading
import time
from collections.abc import Iterator

import pytest
import structlog
import uvicorn
from fastapi.responses import StreamingResponse
from fault_helpers import free_port

from api.app import Stores, create_app
from ledger.settings import Database


@pytest.fixture
def running(tmp_path) -> Iterator[int]:  # type: ignore[no-untyped-def]
    """The service with one test-only route whose handler has a bug, under uvicorn in a thread."""
    previous_structlog, previous_handlers = structlog.get_config(), logging.getLogger().handlers[:]
    stores = Stores.open(Database(f"sqlite:///{tmp_path / 'ledger.sqlite3'}"))
    app = create_app(stores=stores)

    def broken() -> None:
        raise ZeroDivisionError("the handler's own bug")

    def broken_midway() -> StreamingResponse:
        def chunks() -> Iterator[bytes]:
            yield b"["
            raise ZeroDivisionError("the stream's own bug")

        return StreamingResponse(chunks(), media_type="application/json")

    app.add_api_route("/test-only/broken", broken, methods=["GET"])
    app.add_api_route("/test-only/broken-midway", broken_midway, methods=["GET"])
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        stores.close()
        structlog.configure(**previous_structlog)
        logging.getLogger().handlers = previous_handlers


def test_a_bug_answers_500_and_the_same_connection_serves_the_next_request(running: int, capfd) -> None:  # type: ignore[no-untyped-def]
    connection = http.client.HTTPConnection("127.0.0.1", running, timeout=10)
    connection.request("GET", "/test-only/broken")
    failed = connection.getresponse()
    body = json.loads(failed.read())
    socket_used = connection.sock

    connection.request("GET", "/healthz")
    next_answer = connection.getresponse()
    next_body = json.loads(next_answer.read())
    same_connection = connection.sock is socket_used and socket_used is not None
    connection.close()

    assert failed.status == 500
    assert failed.getheader("content-type") == "application/problem+json"
    assert body["status"] == 500 and "own bug" not in body["detail"]  # internals stay in the log
    assert failed.getheader("connection") != "close"
    assert (next_answer.status, next_body["status"]) == (200, "ok")
    assert same_connection, "the client had to reconnect: the server closed the connection after the 500"

    time.sleep(0.2)
    lines = [line for line in capfd.readouterr().err.splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line is JSON: no plain-text traceback
    [bug] = [record for record in records if "ZeroDivisionError" in json.dumps(record)]
    assert (bug["event"], bug["level"], bug["status"], bug["path"]) == ("request", "error", 500, "/test-only/broken")
    assert "Traceback (most recent call last)" in bug["traceback"]
    assert "the handler's own bug" in bug["traceback"]
    assert bug["request_id"] == failed.getheader("x-request-id")


def test_a_bug_after_the_answer_began_is_logged_as_json_lines_only(running: int, capfd) -> None:  # type: ignore[no-untyped-def]
    """Too late for a 500: the connection is closed (its answer is cut short), and what
    uvicorn itself says about that reaches the log as JSON like everything else."""
    connection = http.client.HTTPConnection("127.0.0.1", running, timeout=10)
    connection.request("GET", "/test-only/broken-midway")
    answer = connection.getresponse()
    with pytest.raises(http.client.IncompleteRead):
        answer.read()
    connection.close()

    time.sleep(0.2)
    lines = [line for line in capfd.readouterr().err.splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # every line is JSON: no plain-text traceback
    [bug] = [record for record in records if "the stream's own bug" in json.dumps(record)]
    assert (bug["event"], bug["level"], bug["path"]) == ("request", "error", "/test-only/broken-midway")
    assert any(record.get("logger", "").startswith("uvicorn") for record in records), records
