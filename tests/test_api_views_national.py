"""GET /v1/stock: regional and national sums, now (the materialised view) and at any cut (the fold).

Regions sum their depots' on_hand, in_transit, reserved, available and 14-day consumption;
avg_daily_consumption and days_of_supply come from the sums (DESIGN.md, "Derived figures").
Every figure is computed by hand in the comments. BASE is midnight UTC thirty days ago, so
day 18 and later lie inside the current 14-day window and day 10 and earlier outside it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from api_helpers import (
    A_CLINIC,
    A_NORTH,
    B_SOUTH,
    FFP2,
    GLOVE,
    ago,
    created,
    ok,
    production_logging,  # noqa: F401 - an autouse fixture
    seed,
    utc,
)

BASE = (datetime.now(UTC) - timedelta(days=30)).replace(hour=0, minute=0, second=0, microsecond=0)
ROW_FIELDS = {
    "region",
    "depot",
    "item",
    "on_hand",
    "in_transit_in",
    "in_transit_out",
    "reserved",
    "available",
    "avg_daily_consumption",
    "days_of_supply",
}
FIGURES = (
    "on_hand",
    "in_transit_in",
    "in_transit_out",
    "reserved",
    "available",
    "avg_daily_consumption",
    "days_of_supply",
)


def t(days: float, hour: int = 12) -> str:
    return utc(BASE + timedelta(days=days, hours=hour))


def command(api, depot: str, kind: str, **body: Any) -> dict[str, Any]:
    return created(api.post(f"/v1/depots/{depot}/{kind}", body))


def receipt(api, depot: str, quantity: int, when: str | None = None, item: str = FFP2) -> dict[str, Any]:
    return command(api, depot, "receipts", item=item, quantity=quantity, **({"occurred_at": when} if when else {}))


def consume(api, depot: str, quantity: int, when: str | None = None, item: str = FFP2) -> dict[str, Any]:
    return command(api, depot, "consumption", item=item, quantity=quantity, **({"occurred_at": when} if when else {}))


def transfer(api, source: str, destination: str, quantity: int, when: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"from": source, "to": destination, "lines": [{"item": FFP2, "quantity": quantity}]}
    if when:
        body["occurred_at"] = when
    return created(api.post("/v1/transfers", body))


def national(api, **params: Any) -> dict[str, Any]:
    body = ok(api.get("/v1/stock", **params))
    assert set(body) == {"as_of", "known_at", "position", "group_by", "source", "rows"}
    for row in body["rows"]:
        assert set(row) == ROW_FIELDS
    return body


def table(body: dict[str, Any]) -> dict[tuple[str, str | None, str], tuple[Any, ...]]:
    """{(region, depot, item): (on_hand, in_transit_in, in_transit_out, reserved, available, avg, days)}"""
    return {(r["region"], r["depot"], r["item"]): tuple(r[name] for name in FIGURES) for r in body["rows"]}


def keys(body: dict[str, Any]) -> list[tuple[str, str | None, str]]:
    return [(r["region"], r["depot"], r["item"]) for r in body["rows"]]


def scenario(api) -> dict[str, dict[str, Any]]:
    """North: A-NORTH and A-CLINIC; south: B-SOUTH.

    A-NORTH FFP2: +100 (day 1), -5 (day 5, outside today's window), -14 (day 18), 10 dispatched
      to B-SOUTH on day 21 and still in transit: on_hand 71, in_transit_out 10.
    A-NORTH GLOVE: +500 (day 1).
    A-CLINIC FFP2: +40 (day 1), -28 (day 19): 12.
    B-SOUTH FFP2: +60 (day 1), -7 (day 20): 53, in_transit_in 10.
    """
    seed(api)
    receipt(api, A_NORTH, 100, t(1))
    receipt(api, A_NORTH, 500, t(1), item=GLOVE)
    receipt(api, A_CLINIC, 40, t(1))
    receipt(api, B_SOUTH, 60, t(1))
    consume(api, A_NORTH, 5, t(5))
    consume(api, A_NORTH, 14, t(18))
    consume(api, A_CLINIC, 28, t(19))
    before_transfer = consume(api, B_SOUTH, 7, t(20))
    dispatched = transfer(api, A_NORTH, B_SOUTH, 10, t(21))
    return {"before_transfer": before_transfer, "dispatched": dispatched}


# --- now: the materialised view -------------------------------------------------------------


def test_stock_by_region_sums_depots_and_computes_days_of_supply_from_the_sums(api):
    writes = scenario(api)

    body = national(api)

    assert body["source"] == "view"
    assert body["group_by"] == "region"
    assert body["position"] == writes["dispatched"]["position"] == api.position()
    assert keys(body) == [
        ("north", None, FFP2),
        ("north", None, GLOVE),
        ("south", None, FFP2),
        ("national", None, FFP2),
        ("national", None, GLOVE),
    ]
    assert table(body) == {
        # 71 + 12 = 83; consumed in the window 14 + 28 = 42, avg 3.0; days 83 * 14 / 42 = 27.66.. -> 27.7.
        ("north", None, FFP2): (83, 0, 10, 0, 83, 3.0, 27.7),
        ("north", None, GLOVE): (500, 0, 0, 0, 500, 0.0, None),
        # 53; consumed 7, avg 0.5; days 53 * 14 / 7 = 106.0.
        ("south", None, FFP2): (53, 10, 0, 0, 53, 0.5, 106.0),
        # Every depot: 83 + 53 = 136, 10 in transit both ways; consumed 42 + 7 = 49, avg 3.5;
        # days 136 * 14 / 49 = 38.857.. -> 38.9 (not an average of 27.7 and 106.0).
        ("national", None, FFP2): (136, 10, 10, 0, 136, 3.5, 38.9),
        ("national", None, GLOVE): (500, 0, 0, 0, 500, 0.0, None),
    }


def test_stock_by_depot_has_one_row_per_depot_and_item(api):
    scenario(api)

    body = national(api, group_by="depot")

    assert body["source"] == "view"
    assert body["group_by"] == "depot"
    assert keys(body) == [
        ("north", A_CLINIC, FFP2),
        ("north", A_NORTH, FFP2),
        ("north", A_NORTH, GLOVE),
        ("south", B_SOUTH, FFP2),
    ]
    assert table(body) == {
        ("north", A_CLINIC, FFP2): (12, 0, 0, 0, 12, 2.0, 6.0),  # 28/14 = 2.0; 12 / 2 = 6.0
        ("north", A_NORTH, FFP2): (71, 0, 10, 0, 71, 1.0, 71.0),  # 14/14 = 1.0 (the 5 of day 5 is too old)
        ("north", A_NORTH, GLOVE): (500, 0, 0, 0, 500, 0.0, None),
        ("south", B_SOUTH, FFP2): (53, 10, 0, 0, 53, 0.5, 106.0),
    }


def test_region_and_item_filters(api):
    scenario(api)

    north = national(api, region="north")
    assert table(north) == {
        ("north", None, FFP2): (83, 0, 10, 0, 83, 3.0, 27.7),
        ("north", None, GLOVE): (500, 0, 0, 0, 500, 0.0, None),
    }
    ffp2 = national(api, item=FFP2)
    assert table(ffp2) == {
        ("north", None, FFP2): (83, 0, 10, 0, 83, 3.0, 27.7),
        ("south", None, FFP2): (53, 10, 0, 0, 53, 0.5, 106.0),
        ("national", None, FFP2): (136, 10, 10, 0, 136, 3.5, 38.9),
    }
    north_ffp2_by_depot = national(api, region="north", item=FFP2, group_by="depot")
    assert table(north_ffp2_by_depot) == {
        ("north", A_CLINIC, FFP2): (12, 0, 0, 0, 12, 2.0, 6.0),
        ("north", A_NORTH, FFP2): (71, 0, 10, 0, 71, 1.0, 71.0),
    }
    assert national(api, region="nowhere")["rows"] == []
    # The same filters on the fold (a cut in the past) give the same shape.
    past = national(api, region="north", item=FFP2, group_by="depot", as_of=t(19, 18))
    assert past["source"] == "fold"
    assert keys(past) == [("north", A_CLINIC, FFP2), ("north", A_NORTH, FFP2)]


def test_a_region_averages_its_summed_consumption_not_its_depots_rounded_averages(api):
    seed(api)
    receipt(api, A_NORTH, 100, t(1))
    receipt(api, A_CLINIC, 50, t(1))
    consume(api, A_NORTH, 5, t(20))
    consume(api, A_CLINIC, 5, t(20))

    # Each depot: avg 5/14 = 0.357.. -> 0.36. The region: 10/14 = 0.714.. -> 0.71 (not 0.36 + 0.36 = 0.72);
    # days 140 * 14 / 10 = 196.0. A-NORTH: 95 * 14 / 5 = 266.0; A-CLINIC: 45 * 14 / 5 = 126.0.
    for cut in ({}, {"as_of": t(21)}):
        region = national(api, **cut)
        assert region["source"] == ("fold" if cut else "view")
        assert table(region) == {
            ("north", None, FFP2): (140, 0, 0, 0, 140, 0.71, 196.0),
            ("national", None, FFP2): (140, 0, 0, 0, 140, 0.71, 196.0),
        }, cut
        assert table(national(api, group_by="depot", **cut)) == {
            ("north", A_CLINIC, FFP2): (45, 0, 0, 0, 45, 0.36, 126.0),
            ("north", A_NORTH, FFP2): (95, 0, 0, 0, 95, 0.36, 266.0),
        }, cut


# --- any cut: the on-demand fold --------------------------------------------------------------


def test_stock_as_of_a_past_time_is_folded_on_demand(api):
    scenario(api)

    # Day 19 at 18:00: A-NORTH 100 - 5 - 14 = 81 (the transfer is two days away); A-CLINIC 12;
    # B-SOUTH 60 (its consumption is on day 20). The window (day 5 18:00, day 19 18:00] leaves
    # out the 5 of day 5 noon. North: 93, consumed 14 + 28 = 42, avg 3.0, days 93 * 14 / 42 = 31.0.
    body = national(api, as_of=t(19, 18))

    assert body["source"] == "fold"
    assert body["as_of"] == t(19, 18)
    assert table(body) == {
        ("north", None, FFP2): (93, 0, 0, 0, 93, 3.0, 31.0),
        ("north", None, GLOVE): (500, 0, 0, 0, 500, 0.0, None),
        ("south", None, FFP2): (60, 0, 0, 0, 60, 0.0, None),
        # 93 + 60 = 153, consumed 42, avg 3.0, days 153 * 14 / 42 = 51.0.
        ("national", None, FFP2): (153, 0, 0, 0, 153, 3.0, 51.0),
        ("national", None, GLOVE): (500, 0, 0, 0, 500, 0.0, None),
    }
    by_depot = national(api, as_of=t(19, 18), group_by="depot")
    assert table(by_depot) == {
        ("north", A_CLINIC, FFP2): (12, 0, 0, 0, 12, 2.0, 6.0),
        ("north", A_NORTH, FFP2): (81, 0, 0, 0, 81, 1.0, 81.0),
        ("north", A_NORTH, GLOVE): (500, 0, 0, 0, 500, 0.0, None),
        ("south", B_SOUTH, FFP2): (60, 0, 0, 0, 60, 0.0, None),
    }

    # Day 21 at 18:00: the 10 are in transit; the window (day 7 18:00, day 21 18:00] holds
    # 14 + 28 + 7. North: 71 + 12 = 83, avg 42/14 = 3.0, days 27.7; south: 53, avg 0.5, 106.0.
    transit = national(api, as_of=t(21, 18))
    assert table(transit) == {
        ("north", None, FFP2): (83, 0, 10, 0, 83, 3.0, 27.7),
        ("north", None, GLOVE): (500, 0, 0, 0, 500, 0.0, None),
        ("south", None, FFP2): (53, 10, 0, 0, 53, 0.5, 106.0),
        ("national", None, FFP2): (136, 10, 10, 0, 136, 3.5, 38.9),
        ("national", None, GLOVE): (500, 0, 0, 0, 500, 0.0, None),
    }

    # Day 6: the window (BASE - 8 days + 12h, day 6 noon] holds only the 5 of day 5.
    # A-NORTH 95, avg 5/14 = 0.357.. -> 0.36, days 95 * 14 / 5 = 266.0.
    early = national(api, as_of=t(6), group_by="depot", item=FFP2, region="north")
    assert table(early) == {
        ("north", A_CLINIC, FFP2): (40, 0, 0, 0, 40, 0.0, None),
        ("north", A_NORTH, FFP2): (95, 0, 0, 0, 95, 0.36, 266.0),
    }


def test_stock_as_known_at_a_position_or_time_before_the_transfer(api):
    writes = scenario(api)
    before = writes["before_transfer"]

    # Today, as the ledger knew it before the dispatch was recorded: no transfer at all.
    # North: 81 + 12 = 93, consumed 42, avg 3.0, days 31.0; south: 53, avg 0.5, days 106.0.
    expected = {
        ("north", None, FFP2): (93, 0, 0, 0, 93, 3.0, 31.0),
        ("north", None, GLOVE): (500, 0, 0, 0, 500, 0.0, None),
        ("south", None, FFP2): (53, 0, 0, 0, 53, 0.5, 106.0),
        # 93 + 53 = 146, consumed 42 + 7 = 49, avg 3.5, days 146 * 14 / 49 = 41.71.. -> 41.7.
        ("national", None, FFP2): (146, 0, 0, 0, 146, 3.5, 41.7),
        ("national", None, GLOVE): (500, 0, 0, 0, 500, 0.0, None),
    }
    by_position = national(api, known_at=f"pos:{before['position']}")
    assert by_position["source"] == "fold"
    assert by_position["position"] == before["position"]
    assert table(by_position) == expected

    by_time = national(api, known_at=before["recorded_at"])
    assert by_time["source"] == "fold"
    assert by_time["position"] == before["position"]
    assert by_time["known_at"] == before["recorded_at"]
    assert table(by_time) == expected


# --- read your writes ------------------------------------------------------------------------


def test_the_view_reflects_each_write_as_soon_as_it_is_acknowledged(api):
    seed(api)

    def north_and_south() -> tuple[dict[str, Any], dict[Any, Any]]:
        body = national(api, item=FFP2)
        assert body["source"] == "view"
        return body, table(body)

    written = receipt(api, A_NORTH, 100)
    body, rows = north_and_south()
    assert body["position"] == written["position"]
    assert rows == {
        ("north", None, FFP2): (100, 0, 0, 0, 100, 0.0, None),
        ("national", None, FFP2): (100, 0, 0, 0, 100, 0.0, None),
    }

    written = consume(api, A_NORTH, 28)  # 72; avg 2.0; days 36.0
    body, rows = north_and_south()
    assert body["position"] == written["position"]
    assert rows == {
        ("north", None, FFP2): (72, 0, 0, 0, 72, 2.0, 36.0),
        ("national", None, FFP2): (72, 0, 0, 0, 72, 2.0, 36.0),
    }

    moved = transfer(api, A_NORTH, B_SOUTH, 12)  # north 60 (out 12), south in 12
    body, rows = north_and_south()
    assert body["position"] == moved["position"]
    assert rows == {
        ("north", None, FFP2): (60, 0, 12, 0, 60, 2.0, 30.0),  # 60 / 2 = 30.0
        ("south", None, FFP2): (0, 12, 0, 0, 0, 0.0, None),
        ("national", None, FFP2): (60, 12, 12, 0, 60, 2.0, 30.0),
    }

    counted = command(api, A_NORTH, "counts", item=FFP2, counted=55)  # book 60: variance -5
    assert counted["variance"] == -5
    body, rows = north_and_south()
    assert body["position"] == counted["position"]
    assert rows[("north", None, FFP2)] == (55, 0, 12, 0, 55, 2.0, 27.5)  # 55 / 2 = 27.5

    # A late report dated two days ago, before the count: on_hand stays 55, but it is consumption
    # in the window: 28 + 14 = 42, avg 3.0, days 55 * 14 / 42 = 18.33.. -> 18.3.
    written = consume(api, A_NORTH, 14, ago(days=2))
    body, rows = north_and_south()
    assert body["position"] == written["position"]
    assert rows[("north", None, FFP2)] == (55, 0, 12, 0, 55, 3.0, 18.3)

    received = ok(api.post(f"/v1/transfers/{moved['transfer_id']}/receipt", {}))
    body, rows = north_and_south()
    assert body["position"] == received["position"]
    assert rows == {
        ("north", None, FFP2): (55, 0, 0, 0, 55, 3.0, 18.3),
        ("south", None, FFP2): (12, 0, 0, 0, 12, 0.0, None),
        ("national", None, FFP2): (67, 0, 0, 0, 67, 3.0, 22.3),  # 67 * 14 / 42 = 22.33..
    }


def test_the_view_and_the_fold_agree_after_backdated_counts_late_reports_and_transfers(api):
    seed(api)
    receipt(api, A_NORTH, 100, t(10))
    receipt(api, A_NORTH, 50, t(14))
    # Recorded after the day-14 receipt, dated day 12: the book at day 12 was 100, variance -20;
    # the 50 of day 14 still counts: 80 + 50 = 130.
    assert command(api, A_NORTH, "counts", item=FFP2, counted=80, occurred_at=t(12))["variance"] == -20
    consume(api, A_NORTH, 20, t(20))  # 110
    consume(api, A_NORTH, 15, t(11))  # late, dated before the count: no change
    moved = transfer(api, A_NORTH, A_CLINIC, 30, t(21))  # A-NORTH 80
    ok(api.post(f"/v1/transfers/{moved['transfer_id']}/receipt", {"occurred_at": t(22)}))  # A-CLINIC 30
    cancelled = transfer(api, A_NORTH, B_SOUTH, 10, t(23))
    ok(api.post(f"/v1/transfers/{cancelled['transfer_id']}/cancel", {"reason": "no driver", "occurred_at": t(24)}))
    transfer(api, A_NORTH, B_SOUTH, 5, t(25))  # A-NORTH 75, in transit 5
    receipt(api, B_SOUTH, 60, t(1), item=GLOVE)
    consume(api, B_SOUTH, 50, t(19), item=GLOVE)  # 10

    view_by_depot = national(api, group_by="depot")
    view_by_region = national(api)
    assert view_by_depot["source"] == view_by_region["source"] == "view"
    assert table(view_by_depot) == {
        # Window: the 20 of day 20 (the 15 of day 11 is too old). avg 20/14 = 1.428.. -> 1.43;
        # days 75 * 14 / 20 = 52.5.
        ("north", A_NORTH, FFP2): (75, 0, 5, 0, 75, 1.43, 52.5),
        ("north", A_CLINIC, FFP2): (30, 0, 0, 0, 30, 0.0, None),
        ("south", B_SOUTH, FFP2): (0, 5, 0, 0, 0, 0.0, None),
        # avg 50/14 = 3.571.. -> 3.57; days 10 * 14 / 50 = 2.8.
        ("south", B_SOUTH, GLOVE): (10, 0, 0, 0, 10, 3.57, 2.8),
    }
    assert table(view_by_region) == {
        ("north", None, FFP2): (105, 0, 5, 0, 105, 1.43, 73.5),  # 105 * 14 / 20 = 73.5
        ("south", None, FFP2): (0, 5, 0, 0, 0, 0.0, None),
        ("south", None, GLOVE): (10, 0, 0, 0, 10, 3.57, 2.8),
        ("national", None, FFP2): (105, 5, 5, 0, 105, 1.43, 73.5),
        ("national", None, GLOVE): (10, 0, 0, 0, 10, 3.57, 2.8),
    }

    # The fold of everything recorded (known_at = the latest position) must say the same.
    latest = f"pos:{api.position()}"
    fold_by_depot = national(api, group_by="depot", known_at=latest)
    fold_by_region = national(api, known_at=latest)
    assert fold_by_depot["source"] == fold_by_region["source"] == "fold"
    assert fold_by_depot["rows"] == view_by_depot["rows"]
    assert fold_by_region["rows"] == view_by_region["rows"]
