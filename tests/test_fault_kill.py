"""SIGKILL of the server while clients write: nothing acknowledged is lost, and a retried
key is stored once, on SQLite and on PostgreSQL."""

from __future__ import annotations

import time

from fault_helpers import Service, Writers, on_hand, retry_until_stored, seed, stored_keys


def test_every_acknowledged_write_survives_a_sigkill_and_retries_store_once(database_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    first = Service(database_url, tmp_path)
    first.start()
    writers = Writers(first, count=4, pause=0.0)
    try:
        seed(first)
        writers.start()
        time.sleep(1.5)
        first.kill()
        time.sleep(0.3)
    finally:
        writers.stop()
        first.kill()

    acknowledged, unacknowledged = writers.acknowledged(), writers.unacknowledged()
    assert len(acknowledged) >= 10, f"too little load before the kill: {len(acknowledged)} writes"
    assert unacknowledged, "the kill interrupted nothing: no write was in flight"

    second = Service(database_url, tmp_path)
    second.start()
    try:
        counts = stored_keys(second)
        assert all(counts[key] == 1 for key in acknowledged), "an acknowledged write was lost or doubled"
        retry_until_stored(second, unacknowledged)
        counts = stored_keys(second)
        sent = acknowledged | unacknowledged
        assert set(counts) == sent and set(counts.values()) == {1}, "a retried key was stored twice or never"
        deadline = time.monotonic() + 10
        while on_hand(second) != len(sent) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert on_hand(second) == len(sent)
    finally:
        second.stop()
