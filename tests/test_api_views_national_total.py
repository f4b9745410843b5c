"""GET /v1/stock's national total: `group_by=region` ends with one `"region": "national"` row
per item, `group_by=national` gives only those rows.

The total sums every depot of every region, the national stockpile's own region included,
with the same fold as the regions (DESIGN.md: "Regional and national figures sum ... and
compute days of supply from the sums"). The world is test_api_views_national's scenario
plus a national stockpile NAT in region DK; every figure is worked out in the comments.
"""

from __future__ import annotations

from api_helpers import (
    FFP2,
    GLOVE,
    created,
    nothing_stored,
    ok,
    problem,
    production_logging,  # noqa: F401 - an autouse fixture
    seed,
)
from test_api_views_national import national, receipt, scenario, t, table

NAT = "NAT"


def stockpile(api) -> dict[str, int]:  # type: ignore[no-untyped-def]
    """The scenario (north 83 FFP2 + 500 GLOVE, south 53 FFP2, 10 in transit north → south), then
    NAT receives 1,000 FFP2 dated day 2 and reserves 300 of them for an allocation decided now."""
    written = scenario(api)
    created(
        api.post(
            "/v1/depots",
            {"code": NAT, "name": "Stockpile", "region": "DK", "organisation": "state", "kind": "national"},
        )
    )
    before_stockpile = api.position()
    receipt(api, NAT, 1000, t(2))
    decided = created(
        api.post(
            "/v1/allocations",
            {
                "from": NAT,
                "item": FFP2,
                "quantity": 300,
                "recipients": ["A-NORTH", "B-SOUTH"],
                "policy": "equal_days_of_supply",
            },
        )
    )
    return {
        "before_transfer": written["before_transfer"]["position"],
        "before_stockpile": before_stockpile,
        "decided": decided["position"],
    }


def test_region_rows_end_with_the_national_total_of_every_depot_stockpile_included(api):
    positions = stockpile(api)

    body = national(api)

    assert body["source"] == "view"
    assert body["position"] == positions["decided"]
    assert [(r["region"], r["depot"], r["item"]) for r in body["rows"]] == [
        ("DK", None, FFP2),
        ("north", None, FFP2),
        ("north", None, GLOVE),
        ("south", None, FFP2),
        ("national", None, FFP2),
        ("national", None, GLOVE),
    ]
    assert table(body) == {
        ("DK", None, FFP2): (1000, 0, 0, 300, 700, 0.0, None),
        ("north", None, FFP2): (83, 0, 10, 0, 83, 3.0, 27.7),
        ("north", None, GLOVE): (500, 0, 0, 0, 500, 0.0, None),
        ("south", None, FFP2): (53, 10, 0, 0, 53, 0.5, 106.0),
        # 1000 + 83 + 53 = 1136 on hand, 300 reserved: 836 available; 10 in transit each way;
        # consumed 14 + 28 + 7 = 49, avg 3.5; days 1136 * 14 / 49 = 324.57.. -> 324.6.
        ("national", None, FFP2): (1136, 10, 10, 300, 836, 3.5, 324.6),
        ("national", None, GLOVE): (500, 0, 0, 0, 500, 0.0, None),
    }
    # group_by=national: only the totals, the same figures; the fold of everything recorded agrees.
    totals = national(api, group_by="national")
    assert totals["group_by"] == "national"
    assert totals["source"] == "view"
    assert totals["rows"] == body["rows"][-2:]
    folded = national(api, group_by="national", known_at=f"pos:{positions['decided']}")
    assert folded["source"] == "fold"
    assert folded["rows"] == totals["rows"]
    assert national(api, item=GLOVE, group_by="national")["rows"] == body["rows"][-1:]


def test_the_national_total_honours_as_of_and_known_at(api):
    positions = stockpile(api)

    # Day 19 at 18:00: north 93, south 60 (the transfer is on day 21), NAT 1,000 (day 2); the
    # reservation is today's. Consumed in (day 5 18:00, day 19 18:00]: 14 + 28 = 42, avg 3.0;
    # days 1153 * 14 / 42 = 384.33.. -> 384.3.
    past = national(api, group_by="national", as_of=t(19, 18))
    assert past["source"] == "fold"
    assert table(past) == {
        ("national", None, FFP2): (1153, 0, 0, 0, 1153, 3.0, 384.3),
        ("national", None, GLOVE): (500, 0, 0, 0, 500, 0.0, None),
    }
    # As known before the stockpile's receipt was recorded: 83 + 53 = 136, days 136 * 14 / 49 = 38.9.
    before = national(api, group_by="national", known_at=f"pos:{positions['before_stockpile']}")
    assert before["position"] == positions["before_stockpile"]
    assert table(before) == {
        ("national", None, FFP2): (136, 10, 10, 0, 136, 3.5, 38.9),
        ("national", None, GLOVE): (500, 0, 0, 0, 500, 0.0, None),
    }
    # Before the transfer was recorded, with the regions: 93 + 53 = 146, nothing in transit.
    by_region = national(api, known_at=f"pos:{positions['before_transfer']}")
    assert table(by_region)[("national", None, FFP2)] == (146, 0, 0, 0, 146, 3.5, 41.7)


def test_one_region_has_no_national_total_and_group_by_national_refuses_a_region(api):
    stockpile(api)

    assert [r["region"] for r in national(api, region="north")["rows"]] == ["north", "north"]
    body = problem(api.get("/v1/stock", group_by="national", region="north"), 422)
    assert body["errors"][0]["loc"] == ["query", "region"]
    assert "national total sums every region" in body["detail"]


def test_no_depot_may_be_registered_in_a_region_called_national(api):
    seed(api)
    with nothing_stored(api):
        for region in ("national", "National"):
            depot = {"code": "X-1", "name": "X", "region": region, "organisation": "org-x", "kind": "regional"}
            body = problem(api.post("/v1/depots", depot), 422)
            assert body["errors"][0]["loc"] == ["body", "region"]
    assert ok(api.get("/v1/stock", group_by="national"))["rows"] == []
