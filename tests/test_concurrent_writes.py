"""Many people writing at once, through the real server (threads, keep-alive clients).

Facts are never refused for a race and nothing answers 5xx; decisions are refused only
for stock; a key sent by several clients at once is stored once and answered alike.
SQLite runs one server process, PostgreSQL two workers (a race across processes too).
Every count is bounded; figures are asserted to the unit.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.conftest import fresh_postgres_schema
from tests.live_server import LiveServer, live_server

ITEM = "GLOVE"
THREADS = 8


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    workdir = tmp_path_factory.mktemp(f"live-{request.param}")
    if request.param == "sqlite":
        url = f"sqlite:///{workdir / 'ledger.sqlite3'}"
    else:
        url = fresh_postgres_schema(request.getfixturevalue("postgres_server_url"))
    with live_server(url, workdir) as running:
        with running.client() as client:
            response = client.post(
                "/v1/items", json={"code": ITEM, "name": "Nitrile glove", "unit": "pair", "category": "ppe"}
            )
            assert response.status_code == 201, response.text
        yield running


def new_depot(server: LiveServer, stock: int = 0) -> str:
    code = f"D-{uuid.uuid4().hex[:8].upper()}"
    with server.client() as client:
        body = {"code": code, "name": code, "region": "north", "organisation": "org-a", "kind": "hospital"}
        response = client.post("/v1/depots", json=body)
        assert response.status_code == 201, response.text
        if stock:
            response = client.post(f"/v1/depots/{code}/receipts", json={"item": ITEM, "quantity": stock})
            assert response.status_code == 201, response.text
    return code


def in_threads(server: LiveServer, work: Callable[[httpx.Client, int], list[httpx.Response]]) -> list[httpx.Response]:
    """`work(client, thread)` in THREADS threads at once, each with its own client; all responses."""
    start = threading.Barrier(THREADS)

    def run(thread: int) -> list[httpx.Response]:
        with server.client() as client:
            start.wait()
            return work(client, thread)

    with ThreadPoolExecutor(THREADS) as pool:
        return [response for batch in pool.map(run, range(THREADS)) for response in batch]


def statuses(responses: list[httpx.Response]) -> Counter[int]:
    return Counter(response.status_code for response in responses)


def stock_line(server: LiveServer, code: str) -> dict[str, Any]:
    with server.client() as client:
        response = client.get(f"/v1/depots/{code}/stock", params={"item": ITEM})
    assert response.status_code == 200, response.text
    return response.json()["items"][0]


def version(server: LiveServer, code: str) -> int:
    with server.client() as client:
        return int(client.get(f"/v1/depots/{code}").json()["version"])


def test_receipts_into_one_depot_are_all_stored(server: LiveServer) -> None:
    depot = new_depot(server)
    start = version(server, depot)

    def receive(client: httpx.Client, thread: int) -> list[httpx.Response]:
        return [
            client.post(f"/v1/depots/{depot}/receipts", json={"item": ITEM, "quantity": thread + 1}) for _ in range(50)
        ]

    responses = in_threads(server, receive)
    assert statuses(responses) == {201: 400}, [r.text for r in responses if r.status_code != 201][:3]
    assert stock_line(server, depot)["on_hand"] == 50 * sum(range(1, THREADS + 1))
    assert version(server, depot) == start + 400
    assert len({r.json()["version"] for r in responses}) == 400


def test_transfers_from_own_depots_into_one_destination(server: LiveServer) -> None:
    destination = new_depot(server)
    sources = [new_depot(server, stock=100) for _ in range(THREADS)]

    def dispatch(client: httpx.Client, thread: int) -> list[httpx.Response]:
        body = {"from": sources[thread], "to": destination, "lines": [{"item": ITEM, "quantity": 3}]}
        return [client.post("/v1/transfers", json=body) for _ in range(20)]

    responses = in_threads(server, dispatch)
    assert statuses(responses) == {201: 160}, [r.text for r in responses if r.status_code != 201][:3]
    assert stock_line(server, destination)["in_transit_in"] == 160 * 3
    for source in sources:
        line = stock_line(server, source)
        assert (line["on_hand"], line["in_transit_out"]) == (100 - 60, 60)

    receipts = in_threads(server, lambda client, thread: [
        client.post(f"/v1/transfers/{r.json()['transfer_id']}/receipt", json={})
        for r in responses[thread * 20 : thread * 20 + 20]
    ])  # fmt: skip
    assert statuses(receipts) == {200: 160}, [r.text for r in receipts if r.status_code != 200][:3]
    line = stock_line(server, destination)
    assert (line["on_hand"], line["in_transit_in"]) == (160 * 3, 0)


def test_racing_transfers_from_one_source_ship_every_unit(server: LiveServer) -> None:
    stock = 100
    source = new_depot(server, stock=stock)
    destination = new_depot(server)

    def dispatch(client: httpx.Client, thread: int) -> list[httpx.Response]:
        body = {"from": source, "to": destination, "lines": [{"item": ITEM, "quantity": 1}]}
        return [client.post("/v1/transfers", json=body) for _ in range(20)]  # demand 160 > 100

    responses = in_threads(server, dispatch)
    assert statuses(responses) == {201: stock, 409: 8 * 20 - stock}
    refusals = {r.json()["title"] for r in responses if r.status_code == 409}
    assert refusals == {"Insufficient stock"}
    line = stock_line(server, source)
    assert (line["on_hand"], line["in_transit_out"]) == (0, stock)
    assert stock_line(server, destination)["in_transit_in"] == stock


def test_one_key_sent_by_many_clients_at_once_is_stored_once(server: LiveServer) -> None:
    depot = new_depot(server)
    start = version(server, depot)
    keys = [f"key-{uuid.uuid4().hex}" for _ in range(5)]

    def send(client: httpx.Client, thread: int) -> list[httpx.Response]:
        return [
            client.post(
                f"/v1/depots/{depot}/receipts", json={"item": ITEM, "quantity": 7}, headers={"Idempotency-Key": key}
            )
            for key in keys
        ]

    responses = in_threads(server, send)
    assert set(statuses(responses)) <= {200, 201}, [r.text for r in responses if r.status_code >= 300][:3]
    for key in keys:
        answers = [r for r in responses if r.request.headers["Idempotency-Key"] == key]
        assert len(answers) == THREADS
        assert len({r.content for r in answers}) == 1
    assert stock_line(server, depot)["on_hand"] == 7 * len(keys)
    assert version(server, depot) == start + len(keys)


def test_stock_reads_while_writing_never_fail(server: LiveServer) -> None:
    depots = [new_depot(server, stock=1000) for _ in range(2)]
    destination = new_depot(server)

    def mixed(client: httpx.Client, thread: int) -> list[httpx.Response]:
        depot = depots[thread % 2]
        out = []
        for _ in range(25):
            if thread % 2:
                out.append(client.get(f"/v1/depots/{depot}/stock"))
                out.append(client.get(f"/v1/depots/{destination}"))
            else:
                body = {"from": depot, "to": destination, "lines": [{"item": ITEM, "quantity": 1}]}
                out.append(client.post("/v1/transfers", json=body))
                out.append(client.post(f"/v1/depots/{depot}/receipts", json={"item": ITEM, "quantity": 1}))
        return out

    responses = in_threads(server, mixed)
    assert statuses(responses) == {200: 200, 201: 200}, [r.text for r in responses if r.status_code >= 300][:3]
    assert stock_line(server, destination)["in_transit_in"] == 100
