"""Request bounds over HTTP (both backends): a body over the size limit is refused with 413
before it is read, whether declared by Content-Length or sent in chunks; JSON nested deeper
than the bound is a 422; neither stores anything."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn
from api_helpers import (
    A_NORTH,
    FFP2,
    PROBLEM_JSON,
    created,
    nothing_stored,
    on_hand,
    problem,
    production_logging,  # noqa: F401 - an autouse fixture
    seed,
)
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from api.app import Stores, create_app
from api.limits import DEFAULT_MAX_BODY_BYTES, MAX_BODY_VARIABLE, MAX_JSON_DEPTH, max_body_bytes, nested_too_deep
from ledger.settings import Database

LIMIT = 64 * 1024
RECEIPTS = f"/v1/depots/{A_NORTH}/receipts"


class Limited:
    """A server with a 64 KiB body limit: a TestClient, and the same app on a real socket."""

    def __init__(self, stores: Stores, client: TestClient, port: int) -> None:
        self.stores, self.client, self.port = stores, client, port
        self.tokens = {role: stores.access.issue(f"test-{role}", role) for role in ("coordinator", "auditor")}

    # the helpers of tests/api_helpers.py expect these
    def post(self, path: str, json: object = None, role: str = "coordinator", **headers: str):  # type: ignore[no-untyped-def]
        return self.client.post(path, json=json, headers={"Authorization": f"Bearer {self.tokens[role]}", **headers})

    def get(self, path: str, role: str = "auditor", **params: object):  # type: ignore[no-untyped-def]
        return self.client.get(path, params=params, headers={"Authorization": f"Bearer {self.tokens[role]}"})

    def position(self) -> int:
        return self.stores.ledger.position()

    def raw(self, head: str, body_chunks: list[bytes] = ()) -> tuple[int, dict[str, str], dict[str, Any]]:
        """Sends a request's head and then these raw bytes on a socket, never the rest;
        returns the status, headers and JSON body the server answered with."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=30) as conn:
            conn.sendall(head.replace("\n", "\r\n").encode() + b"\r\n")
            for chunk in body_chunks:
                conn.sendall(chunk)
            answer = b""
            while b"\r\n\r\n" not in answer or len(answer.split(b"\r\n\r\n", 1)[1]) < _length(answer):
                data = conn.recv(65536)
                if not data:
                    break
                answer += data
        head_text, _, body = answer.partition(b"\r\n\r\n")
        status_line, *lines = head_text.decode().split("\r\n")
        headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
        return int(status_line.split()[1]), headers, json.loads(body)


def _length(answer: bytes) -> int:
    for line in answer.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":")[1])
    return 0


@pytest.fixture
def limited(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Limited]:
    monkeypatch.setenv(MAX_BODY_VARIABLE, str(LIMIT))
    stores = Stores.open(Database(database_url))
    server = uvicorn.Server(uvicorn.Config(create_app(stores=stores), host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            assert thread.is_alive(), "the server did not start"
            threading.Event().wait(0.02)
        port = server.servers[0].sockets[0].getsockname()[1]
        with TestClient(create_app(stores=stores), raise_server_exceptions=False) as client:
            api = Limited(stores, client, port)
            seed(api)
            yield api
    finally:
        server.should_exit = True
        thread.join(30)
        stores.close()


def receipt_of_size(size: int) -> bytes:
    """A valid receipt, padded with JSON whitespace to exactly `size` bytes."""
    body = json.dumps({"item": FFP2, "quantity": 10}).encode()
    return body[:-1] + b" " * (size - len(body)) + b"}"


def head(token: str, **headers: str) -> str:
    lines = [
        f"POST {RECEIPTS} HTTP/1.1",
        "Host: 127.0.0.1",
        f"Authorization: Bearer {token}",
        "Content-Type: application/json",
        *(f"{name.replace('_', '-')}: {value}" for name, value in headers.items()),
    ]
    return "\n".join(lines) + "\n"


# --- size ----------------------------------------------------------------------------------------


def test_a_body_one_byte_over_the_limit_is_413_and_one_at_the_limit_is_accepted(limited):
    with nothing_stored(limited):
        for role in ("auditor", "coordinator"):
            response = limited.client.post(
                RECEIPTS,
                content=receipt_of_size(LIMIT + 1),
                headers={"Authorization": f"Bearer {limited.tokens[role]}", "Content-Type": "application/json"},
            )
            body = problem(response, 413)
            assert body["detail"] == f"the request body is larger than {LIMIT} bytes"
            assert body["title"] == "Content too large"

    created(
        limited.client.post(
            RECEIPTS,
            content=receipt_of_size(LIMIT),
            headers={"Authorization": f"Bearer {limited.tokens['coordinator']}", "Content-Type": "application/json"},
        )
    )
    assert on_hand(limited, A_NORTH) == 10


def test_a_declared_100_mb_body_is_refused_before_a_byte_of_it_is_sent(limited):
    """The server answers on the head alone: it never waits for (or holds) the body."""
    with nothing_stored(limited):
        status, headers, body = limited.raw(head(limited.tokens["auditor"], Content_Length="100000000"))
        assert (status, headers["content-type"], body["status"]) == (413, PROBLEM_JSON, 413)
        assert headers["connection"] == "close"  # the unread body cannot be taken for the next request

        status, headers, body = limited.raw(head("sl_no-such-token", Content_Length="100000000"))
        assert (status, body["detail"]) == (401, "the bearer token is not valid")  # who asks comes first


def test_a_chunked_body_is_refused_once_it_passes_the_limit_without_waiting_for_its_end(limited):
    chunk = b"[" + b" " * (16 * 1024 - 1)
    framed = [f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n"] * 5  # 80 KiB, and no final chunk
    with nothing_stored(limited):
        status, headers, body = limited.raw(head(limited.tokens["coordinator"], Transfer_Encoding="chunked"), framed)
    assert (status, headers["content-type"], body["detail"]) == (
        413,
        PROBLEM_JSON,
        f"the request body is larger than {LIMIT} bytes",
    )


def test_a_chunked_body_within_the_limit_is_read_whole(limited):
    body = receipt_of_size(20 * 1024)
    pieces = [body[i : i + 8192] for i in range(0, len(body), 8192)]
    framed = [f"{len(p):x}\r\n".encode() + p + b"\r\n" for p in pieces] + [b"0\r\n\r\n"]
    status, _, answer = limited.raw(head(limited.tokens["coordinator"], Transfer_Encoding="chunked"), framed)
    assert (status, answer["depot"]) == (201, A_NORTH)
    assert on_hand(limited, A_NORTH) == 10


def test_the_limit_defaults_to_10_mib_and_a_bad_setting_is_a_clear_error(tmp_path):
    assert max_body_bytes({}) == DEFAULT_MAX_BODY_BYTES == 10_485_760
    assert max_body_bytes({MAX_BODY_VARIABLE: "2048"}) == 2048
    for bad in ("10MB", "0", "-5", "1.5"):
        with pytest.raises(ValueError, match=MAX_BODY_VARIABLE):
            max_body_bytes({MAX_BODY_VARIABLE: bad})

    start = subprocess.run(
        [sys.executable, "-m", "api", "serve", "--database", f"sqlite:///{tmp_path / 'ledger.sqlite3'}", "--port", "9"],
        env={**os.environ, MAX_BODY_VARIABLE: "10MB"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert start.returncode == 2
    assert start.stderr.strip().splitlines()[-1] == (
        f"error: {MAX_BODY_VARIABLE}='10MB': give the largest request body accepted, in bytes (e.g. 10485760)"
    )


# --- nesting -------------------------------------------------------------------------------------


def nested(depth: int) -> bytes:
    """A receipt nested `depth` levels deep in all (its note a list of lists)."""
    inner = depth - 1
    return b'{"item": "FFP2", "quantity": 10, "note": ' + b"[" * inner + b"]" * inner + b"}"


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH, MAX_JSON_DEPTH + 1, 300, 5_000, 100_000])
def test_json_nested_too_deep_is_a_422_problem_with_or_without_an_idempotency_key(api, depth):
    seed(api)
    with nothing_stored(api):
        for extra in ({}, {"Idempotency-Key": f"deep-{depth}"}):
            response = api.client.post(
                RECEIPTS, content=nested(depth), headers=api.headers(**extra, **{"Content-Type": "application/json"})
            )
            body = problem(response, 422)
            # at the bound the body is parsed, and its note is found not to be text
            assert body["errors"][0]["type"] == ("json_too_deep" if depth > MAX_JSON_DEPTH else "string_type")


def test_json_nested_too_deep_is_refused_on_every_route_that_takes_a_body(api):
    seed(api)
    deep = b"[" * 10_000 + b"]" * 10_000
    with nothing_stored(api):
        for path, role in (
            ("/v1/transfers", "coordinator"),
            ("/v1/items", "coordinator"),
            ("/v1/exercises", "admin"),
            ("/v1/exercises/x/injects", "admin"),
        ):
            body = problem(api.client.post(path, content=deep, headers=api.headers(role)), 422)
            assert body["errors"] == [
                {
                    "loc": ["body"],
                    "msg": f"the JSON body nests deeper than {MAX_JSON_DEPTH} levels",
                    "type": "json_too_deep",
                }
            ]
        assert problem(api.client.post(path, content=deep), 401)  # without a token: 401 first


# --- the nesting check itself ------------------------------------------------------------------------

LEAVES = st.none() | st.booleans() | st.integers() | st.text(alphabet='[]{}"\\ab\n\u00e9', max_size=8)
VALUES = st.recursive(
    LEAVES,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(alphabet='[]{}"\\k', max_size=4), inner, max_size=3)
    ),
    max_leaves=40,
)


def depth(value: object) -> int:
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    return 0


@settings(max_examples=300, deadline=None, derandomize=True)
@given(value=VALUES, limit=st.integers(0, 6), ensure_ascii=st.booleans())
def test_the_nesting_check_agrees_with_the_parsed_depth(value, limit, ensure_ascii):
    text = json.dumps(value, ensure_ascii=ensure_ascii).encode()
    assert nested_too_deep(text, limit) == (depth(value) > limit)
