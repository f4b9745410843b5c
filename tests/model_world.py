"""The distribution model tests' world, shared by the HTTP and CLI tests (the issue's example).

A national stockpile `NAT` holds 1,000 FFP2; two hospitals and two municipalities:

    depot     kind       population
    H-NORTH   hospital      300,000
    H-SOUTH   hospital      150,000
    M-ALBY    municipal      40,000
    M-BRO     municipal      25,000

`national-ppe` version 1: specialist (regional, hospital) 0.7, primary (municipal) 0.2,
reserve 0.1, within proportional_to_population. For 1,000:

- the cut: 700 / 200 / reserve 100, exact;
- specialist 700 by 300,000 : 150,000 = 466.67 / 233.33: floors 466 + 233 = 699, the unit
  left to the largest fraction (H-NORTH, .67): 467 / 233;
- primary 200 by 40,000 : 25,000 = 123.08 / 76.92: floors 123 + 76 = 199, the unit left to
  M-BRO (.92): 123 / 77.

Version 2 (60/30/10): 600 -> 400 / 200 exactly; 300 -> 184.62 / 115.38: floors 184 + 115 =
299, the unit to M-ALBY (.62): 185 / 115; reserve 100.
"""

from __future__ import annotations

from typing import Any

from api_helpers import created, ok

NAT, H_NORTH, H_SOUTH, M_ALBY, M_BRO = "NAT", "H-NORTH", "H-SOUTH", "M-ALBY", "M-BRO"
FFP2 = "FFP2"
RECIPIENTS = [H_NORTH, H_SOUTH, M_ALBY, M_BRO]
MODEL = "national-ppe"
V1_LINES = {H_NORTH: 467, H_SOUTH: 233, M_ALBY: 123, M_BRO: 77}
V2_LINES = {H_NORTH: 400, H_SOUTH: 200, M_ALBY: 185, M_BRO: 115}
SECTOR = {H_NORTH: "specialist", H_SOUTH: "specialist", M_ALBY: "primary", M_BRO: "primary"}


def rules(specialist: str = "0.7", primary: str = "0.2", reserve: Any = 0.1, **fields: Any) -> dict[str, Any]:
    return {
        "sectors": [
            {"name": "specialist", "kinds": ["regional", "hospital"], "share": float(specialist)},
            {"name": "primary", "kinds": ["municipal"], "share": primary},  # a string: exact as written
        ],
        "reserve": reserve,
        "within": "proportional_to_population",
        **fields,
    }


def world(api: Any) -> Any:
    created(api.post("/v1/items", {"code": FFP2, "name": "FFP2 respirator", "unit": "piece", "category": "ppe"}))
    depots = [
        (NAT, "national", None),
        (H_NORTH, "hospital", 300_000),
        (H_SOUTH, "hospital", 150_000),
        (M_ALBY, "municipal", 40_000),
        (M_BRO, "municipal", 25_000),
    ]
    for code, kind, population in depots:
        body = {"code": code, "name": code, "region": "north", "organisation": "state", "kind": kind}
        created(api.post("/v1/depots", {**body, "population_served": population} if population else body))
    created(api.post(f"/v1/depots/{NAT}/receipts", {"item": FFP2, "quantity": 1_000}))
    return api


def define(api: Any, name: str = MODEL, role: str = "coordinator", **fields: Any) -> dict[str, Any]:
    return ok(api.put(f"/v1/distribution-models/{name}", rules(**fields), role=role))


def ask(quantity: int = 1_000, policy: str = f"model:{MODEL}", **fields: Any) -> dict[str, Any]:
    return {"from": NAT, "item": FFP2, "quantity": quantity, "recipients": RECIPIENTS, "policy": policy, **fields}


def lines(body: dict[str, Any], key: str = "lines") -> dict[str, int]:
    return {line["to"]: line["quantity"] for line in body[key]}
