"""The sample scenario (scenarios/spring-2020-ppe-surge.yaml) played on a fork of the demo,
through the API a controller uses: the fork shows the live regional figures, the whole
scenario applies, and the review and its report come out consistent with the ledger."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ledger.demo import load_demo
from ledger.settings import Database
from tests.api_helpers import created, ok, utc
from tests.conftest import Api

SCENARIO = Path(__file__).resolve().parent.parent / "scenarios" / "spring-2020-ppe-surge.yaml"
START = datetime(2020, 4, 1, 6, tzinfo=UTC)
CODE = "spring20"


@pytest.fixture
def demo_api(database_url: str) -> Iterator[Api]:
    from fastapi.testclient import TestClient

    from api.app import Stores, create_app

    stores = Stores.open(Database(database_url))
    load_demo(stores.ledger)
    with TestClient(create_app(stores=stores), raise_server_exceptions=False) as client:
        yield Api(client, stores)
    stores.close()


def test_the_sample_scenario_on_a_fork_of_the_demo(demo_api: Api) -> None:
    api = demo_api
    fork_at = datetime.now(UTC)
    live_position = api.position()
    live_digest = ok(api.get("/v1/ledger/digest"))
    body = created(
        api.post(
            "/v1/exercises",
            {
                "code": CODE,
                "name": "Spring 2020 PPE surge",
                "scenario_start": utc(START),
                "fork_known_at": utc(fork_at),
            },
            role="admin",
        )
    )
    assert len(body["fork"]["depots"]) == 16 and len(body["fork"]["items"]) == 6

    # the fork: every region and item as the live ledger showed it at the fork
    live = {
        (r["region"], r["item"]): r for r in ok(api.get("/v1/stock", as_of=utc(fork_at), known_at=utc(fork_at)))["rows"]
    }
    forked = {(r["region"], r["item"]): r for r in ok(api.get(f"/v1/exercises/{CODE}/stock"))["rows"]}
    assert set(forked) == set(live)
    for key, row in live.items():
        for figure in ("on_hand", "avg_daily_consumption", "days_of_supply"):
            assert forked[key][figure] == row[figure], (key, figure)

    loaded = created(api.post(f"/v1/exercises/{CODE}/injects", {"scenario": SCENARIO.read_text()}, role="admin"))
    assert len(loaded["scheduled"]) == 27
    advanced = ok(api.post(f"/v1/exercises/{CODE}/advance", {"until": utc(START + timedelta(days=7))}, role="admin"))
    assert advanced["simulated_days"] == 7

    # a coordinator shares national FFP2 between the two surge regions' warehouses, as recommended
    decision = created(
        api.post(
            f"/v1/exercises/{CODE}/allocations",
            {
                "from": "DK-NATIONAL",
                "item": "FFP2",
                "quantity": 20_000,
                "recipients": ["DK-84-CENTRAL", "DK-85-CENTRAL"],
                "policy": "equal_days_of_supply",
                "dispatch": True,
            },
        )
    )
    ok(api.post(f"/v1/exercises/{CODE}/advance", {"until": utc(START + timedelta(days=8))}, role="admin"))
    for transfer in decision["transfers"]:
        ok(api.post(f"/v1/exercises/{CODE}/transfers/{transfer['transfer_id']}/receipt", {}))
    ok(api.post(f"/v1/exercises/{CODE}/advance", {"until": utc(START + timedelta(days=21))}, role="admin"))
    ended = ok(api.post(f"/v1/exercises/{CODE}/end", role="admin"))
    assert all(i["status"] in ("applied", "failed") for i in ended["injects"])
    assert sum(i["status"] == "failed" for i in ended["injects"]) == 3

    review = ok(api.get(f"/v1/exercises/{CODE}/review"))
    assert review["overview"]["simulated_days"] == 21 and review["overview"]["deliveries_failed"] == 3
    measures = review["measures"]
    sent = len(decision["transfers"])
    assert sent >= 1 and measures["decisions"] == 1 and measures["transfers"] == sent and measures["departures"] == []
    assert measures["dispatch_to_receipt"]["count"] == sent and measures["dispatch_to_receipt"]["median_hours"] == 24.0
    assert measures["stockout_depot_days"] == sum(s["days"] for s in measures["stockouts"])
    # the curve is the ledger's own regional view at each day's end
    curve = {(c["region"], c["item"]): c for c in measures["days_of_supply"]}
    day_10 = START + timedelta(days=10)
    for row in ok(api.get(f"/v1/exercises/{CODE}/stock", as_of=utc(day_10)))["rows"]:
        if (row["region"], row["item"]) in curve:
            [point] = [p for p in curve[(row["region"], row["item"])]["points"] if p["at"] == utc(day_10)]
            assert point["days_of_supply"] == row["days_of_supply"], row
    assert review["counterfactual"]["policy"] == "equal_days_of_supply"
    assert review["counterfactual"]["summary"].startswith("Had the coordinators followed equal days of supply")

    page = api.get(f"/v1/exercises/{CODE}/review.html")
    assert page.status_code == 200 and "<svg" in page.text and "Spring 2020 PPE surge" in page.text

    # and nothing of it reached the live ledger
    assert api.position() == live_position
    assert ok(api.get("/v1/ledger/digest")) == live_digest
