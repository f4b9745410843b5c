"""The allocation tests' world, shared by the HTTP and CLI tests.

The world: a national store `NAT` with 10,000 FFP2 and three regions (figures per day are
the 14-day consumption over 14):

    depot    on_hand  consumed 14 d  per day  days   population
    R-EAST       200          1,400      100   2.0      300,000
    R-WEST     1,000            700       50  20.0      200,000
    R-SOUTH        0            280       20   0.0      100,000

Equal days of supply for 3,000: R-SOUTH alone would reach 150 days, past R-EAST's 2, and
those two would reach 26.7, past R-WEST's 20, so all three are filled to
L = (3000 + 200 + 1000 + 0) / (100 + 50 + 20) = 420/17 = 24.706 days:
R-EAST 100·L − 200 = 2270.59, R-WEST 50·L − 1000 = 235.29, R-SOUTH 20·L = 494.12;
floors 2270 + 235 + 494 = 2999, and the unit left goes to the largest fraction (R-EAST).
"""

from __future__ import annotations

from typing import Any

from api_helpers import created

NAT, EAST, WEST, SOUTH = "NAT", "R-EAST", "R-WEST", "R-SOUTH"
FFP2, GLOVE = "FFP2", "GLOVE"
REGIONS = [EAST, SOUTH, WEST]
EQUAL_DAYS = {EAST: 2271, SOUTH: 494, WEST: 235}


def world(api: Any) -> Any:
    for code, name in ((FFP2, "FFP2 respirator"), (GLOVE, "Nitrile glove")):
        created(api.post("/v1/items", {"code": code, "name": name, "unit": "piece", "category": "ppe"}))
    created(
        api.post(
            "/v1/depots",
            {
                "code": NAT,
                "name": "National stockpile",
                "region": "stockpile",
                "organisation": "state",
                "kind": "national",
            },
        )
    )
    for code, population in ((EAST, 300_000), (WEST, 200_000), (SOUTH, 100_000)):
        created(
            api.post(
                "/v1/depots",
                {
                    "code": code,
                    "name": code,
                    "region": code.lower(),
                    "organisation": "state",
                    "kind": "regional",
                    "population_served": population,
                },
            )
        )
    receipt(api, NAT, 10_000)
    receipt(api, NAT, 500, item=GLOVE)
    for code, received, consumed in ((EAST, 1_600, 1_400), (WEST, 1_700, 700), (SOUTH, 280, 280)):
        receipt(api, code, received)
        created(api.post(f"/v1/depots/{code}/consumption", {"item": FFP2, "quantity": consumed}))
    return api


def receipt(api: Any, depot: str, quantity: int, item: str = FFP2) -> None:
    created(api.post(f"/v1/depots/{depot}/receipts", {"item": item, "quantity": quantity}))


def request(quantity: int = 3_000, policy: str = "equal_days_of_supply", **fields: Any) -> dict[str, Any]:
    return {
        "from": NAT,
        "item": FFP2,
        "quantity": quantity,
        "recipients": [WEST, EAST, SOUTH],
        "policy": policy,
        **fields,
    }
