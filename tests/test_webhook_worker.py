"""The delivery worker as it runs: `supply-ledger alerts deliver` as a process of its own
(stopped and started again between retries, killed outright), and the thread inside `serve`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.api_helpers import A_NORTH, created, ok, production_logging, receive_stock, seed
from tests.webhook_world import SECRET, Receiver, receiver, watch

__all__ = ["production_logging", "receiver"]  # fixtures


def wait_for(condition: Callable[[], bool], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("not in time")
        time.sleep(0.05)


def deliveries(api: Any, subscription_id: str) -> list[dict[str, Any]]:
    return ok(api.get(f"/v1/subscriptions/{subscription_id}/deliveries", role="coordinator"))["deliveries"]


def test_nothing_is_lost_when_the_deliverer_is_killed_and_started_again_between_retries(
    database_url: str, monkeypatch: pytest.MonkeyPatch, receiver: Receiver, tmp_path: Path, request: Any
) -> None:
    monkeypatch.setenv("SUPPLY_LEDGER_PROJECTIONS", "worker")
    monkeypatch.setenv("SUPPLY_LEDGER_DELIVERIES", "worker")
    api = request.getfixturevalue("api")
    seed(api)
    watch(api.stores)
    api.stores.projector.catch_up()
    subscription = created(api.post("/v1/subscriptions", {"url": receiver.url, "secret": SECRET}))["subscription_id"]
    receive_stock(api, A_NORTH, 50)
    api.stores.projector.catch_up()
    receiver.answers = [500, 500]

    command = [sys.executable, "-m", "api", "alerts", "deliver", "--first-retry", "1", "--poll", "0.05"]
    env = {**os.environ, "SUPPLY_LEDGER_DATABASE_URL": database_url}

    def start() -> subprocess.Popen[str]:
        return subprocess.Popen(
            command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )

    worker = start()
    try:
        wait_for(lambda: len(deliveries(api, subscription)[0]["attempts"]) == 1)
    finally:
        worker.send_signal(signal.SIGKILL)  # killed outright, a second before its retry
        worker.communicate(timeout=30)
    # While no deliverer runs the alert escalates: a second delivery queues behind the first.
    created(api.post(f"/v1/depots/{A_NORTH}/consumption", {"item": "FFP2", "quantity": 50}))
    api.stores.projector.catch_up()
    [first, second] = [d["delivery_id"] for d in deliveries(api, subscription)]
    assert receiver.ids() == [first]

    worker = start()
    try:
        wait_for(lambda: [d["status"] for d in deliveries(api, subscription)] == ["delivered", "delivered"])
    finally:
        worker.send_signal(signal.SIGTERM)
        out, err = worker.communicate(timeout=30)
    assert worker.returncode == 0, err
    assert "Stopped; 0 pending" in out
    assert receiver.ids() == [first, first, first, second]  # 500, 500, 200, then the one behind it
    assert all(r.signed_with(SECRET) for r in receiver.received)
    [done, _] = deliveries(api, subscription)
    assert [a["status_code"] for a in done["attempts"]] == [500, 500, 200]
    for text in (out, err):
        assert SECRET not in text


def test_serve_delivers_within_seconds_by_itself(api: Any, receiver: Receiver) -> None:
    """The conftest's app runs the projection and the delivery worker as threads, as `serve` does."""
    seed(api)
    watch(api.stores)
    subscription = created(api.post("/v1/subscriptions", {"url": receiver.url, "secret": SECRET}))["subscription_id"]
    receive_stock(api, A_NORTH, 50)
    api.stores.projector.wake()
    wait_for(lambda: len(receiver.received) == 1, seconds=15)
    [delivered] = deliveries(api, subscription)
    assert receiver.ids() == [delivered["delivery_id"]] and receiver.received[0].signed_with(SECRET)
    wait_for(lambda: deliveries(api, subscription)[0]["status"] == "delivered", seconds=5)
