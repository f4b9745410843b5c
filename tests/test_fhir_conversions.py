"""The pure FHIR conversions (domain/fhir.py, api/fhir/render.py), without a ledger.

The property: any depot stock drawn as an InventoryReport is valid R5, and read back as a
posted report it counts each item at exactly the view's `on_hand`.
"""

from __future__ import annotations

import pytest
from fhir.resources.inventoryreport import InventoryReport
from hypothesis import given, settings
from hypothesis import strategies as st

from api.fhir.render import inventory_report
from domain.exceptions import InvalidCommand
from domain.fhir import FHIR_PRIORITY, ITEM_SYSTEM, read_inventory_report
from projections.stock import DepotStock, LotLine, StockLine

AT = "2026-03-05T10:00:00Z"
CATALOGUE = {"FFP2": {"name": "FFP2 respirator", "unit": "piece", "atc_code": None}, "GLOVE": {"unit": "pair"}}
UNITS = {code: str(item["unit"]) for code, item in CATALOGUE.items()}


def stock_line(item: str, named: list[tuple[str, int]], unknown: int) -> StockLine:
    lots = [LotLine(lot=lot, expires_on="2028-01-31", quantity=q) for lot, q in named]
    lots += [LotLine(lot=None, expires_on=None, quantity=unknown)] if unknown else []
    on_hand = sum(q for _, q in named) + unknown
    return StockLine(
        item=item,
        on_hand=on_hand,
        in_transit_in=0,
        in_transit_out=0,
        reserved=0,
        available=on_hand,
        avg_daily_consumption=0.0,
        days_of_supply=None,
        min_days=None,
        basis=None,
        required=None,
        meets_obligation=None,
        expired=0,
        lots=lots,
        discrepancy=False,
    )


lots = st.lists(
    st.tuples(st.sampled_from(["L1", "L2", "L3"]), st.integers(1, 10_000)), max_size=3, unique_by=lambda t: t[0]
)


@settings(max_examples=60, deadline=None)
@given(ffp2=lots, ffp2_rest=st.integers(-50, 10_000), glove=lots, glove_rest=st.integers(0, 10_000))
def test_a_drawn_report_is_valid_and_reads_back_as_the_views_on_hand(ffp2, ffp2_rest, glove, glove_rest) -> None:  # type: ignore[no-untyped-def]
    lines = [stock_line("FFP2", ffp2, ffp2_rest), stock_line("GLOVE", glove, glove_rest)]
    stock = DepotStock(depot="A-NORTH", as_of=AT, known_at=AT, position=7, items=lines)
    resource = inventory_report(stock, "North", CATALOGUE).model_dump(exclude_none=True)
    InventoryReport.model_validate(resource)
    if any(line.on_hand < 0 for line in lines):
        with pytest.raises(InvalidCommand):  # a count is never negative; the view's may be
            read_inventory_report(resource, UNITS)
        return
    rows = read_inventory_report(resource, UNITS).rows
    assert rows == [{"depot": "A-NORTH", "item": line.item, "date": AT, "on_hand": line.on_hand} for line in lines]


def test_a_difference_report_reads_as_consumption_and_receipts() -> None:
    def line(value: int, **reference: str) -> dict:
        concept = {"concept": {"coding": [{"system": ITEM_SYSTEM, "code": "FFP2"}]}}
        return {"item": concept | ({"reference": reference} if reference else {}), "quantity": {"value": value}}

    resource = {
        "resourceType": "InventoryReport",
        "status": "active",
        "countType": "difference",
        "reportedDateTime": AT,
        "reportingPeriod": {"start": "2026-03-04T10:00:00Z", "end": AT},
        "contained": [
            {
                "resourceType": "InventoryItem",
                "id": "x",
                "status": "active",
                "instance": {"lotNumber": "L9", "expiry": "2029-02-28"},
            }
        ],
        "inventoryListing": [
            {
                "location": {"reference": "Location/A-NORTH"},
                "countingDateTime": "2026-03-05T09:00:00+01:00",
                "item": [line(-12), line(0), line(40, reference="#x")],
            }
        ],
    }
    read = read_inventory_report(resource, UNITS)
    at = "2026-03-05T09:00:00+01:00"
    assert read.rows == [
        {"depot": "A-NORTH", "item": "FFP2", "date": at, "consumed": 12, "period_start": "2026-03-04T10:00:00Z"},
        {"depot": "A-NORTH", "item": "FFP2", "date": at, "received": 40, "lot": "L9", "expires_on": "2029-02-28"},
    ]
    assert read.paths == ["inventoryListing[0].item[0]", "inventoryListing[0].item[2]"]


def test_priorities_map_to_fhir_request_priority_codes() -> None:
    assert FHIR_PRIORITY == {"critical": "stat", "high": "urgent", "normal": "routine"}
