"""A full disk under SQLite: writes are 503, /healthz is 503, nothing is half-stored, and
the service recovers by itself once there is room again.

The disk is filled honestly for the server alone: its file-size limit (RLIMIT_FSIZE, set
from outside with prlimit) is lowered below the size of the ledger's write-ahead log, so
the kernel refuses every write that would grow a file, as a full disk does.
"""

from __future__ import annotations

import resource
import time

import httpx
from fault_helpers import DEPOT, ITEM, Service, on_hand, retry_until_stored, seed, stored_keys

FULL = 4096  # bytes: smaller than one WAL frame, so no commit fits


def _receipt(service: Service, key: str) -> httpx.Response:
    with service.client() as client:
        return client.post(
            f"/v1/depots/{DEPOT}/receipts", json={"item": ITEM, "quantity": 1}, headers={"Idempotency-Key": key}
        )


def test_a_full_disk_is_503_stores_nothing_and_recovers(tmp_path) -> None:  # type: ignore[no-untyped-def]
    service = Service(f"sqlite:///{tmp_path / 'ledger.sqlite3'}", tmp_path)
    service.start()
    try:
        seed(service)
        assert _receipt(service, "before").status_code == 201
        assert service.process is not None
        resource.prlimit(service.process.pid, resource.RLIMIT_FSIZE, (FULL, resource.RLIM_INFINITY))

        refused = [_receipt(service, f"full-{n}") for n in range(3)]
        health = httpx.get(f"{service.url}/healthz", timeout=5)
        replay = _receipt(service, "before")  # a stored answer needs no room

        resource.prlimit(service.process.pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        deadline = time.monotonic() + 5
        while (healthy := httpx.get(f"{service.url}/healthz", timeout=5)).status_code != 200:
            assert time.monotonic() < deadline, healthy.text
            time.sleep(0.2)
        after = _receipt(service, "after")

        assert [answer.status_code for answer in refused] == [503, 503, 503], [a.text for a in refused]
        assert all(answer.headers["retry-after"] == "2" for answer in refused)
        assert all(answer.headers["content-type"] == "application/problem+json" for answer in refused)
        assert health.status_code == 503
        assert (health.json()["status"], health.json()["database"]) == ("degraded", "unavailable")
        assert replay.status_code == 201
        assert after.status_code == 201

        counts = stored_keys(service)
        assert counts == {"before": 1, "after": 1}, "a refused write left something behind"
        retry_until_stored(service, {f"full-{n}" for n in range(3)})
        assert stored_keys(service) == {"before": 1, "after": 1, "full-0": 1, "full-1": 1, "full-2": 1}
        deadline = time.monotonic() + 10
        while on_hand(service) != 5 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert on_hand(service) == 5
    finally:
        service.stop()
    log = service.log()
    assert '"status": 500' not in log
