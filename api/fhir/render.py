"""The ledger's views as FHIR R5 resources: pure functions from what /v1 answers to what /fhir answers.

No figure is computed here: an InventoryReport's quantities are the depot stock view's
(`projections.stock`, the figures of GET /v1/depots/{code}/stock), split by lot as the view lists
them; a SupplyDelivery is the transfer of GET /v1/transfers/{id}.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from api.fhir.models import (
    FhirAnnotation,
    FhirBundle,
    FhirBundleEntry,
    FhirCodeableConcept,
    FhirCodeableReference,
    FhirCoding,
    FhirIdentifier,
    FhirInventoryItem,
    FhirInventoryItemInstance,
    FhirInventoryListing,
    FhirInventoryReport,
    FhirInventoryReportItem,
    FhirPeriod,
    FhirQuantity,
    FhirReference,
    FhirSuppliedItem,
    FhirSupplyDelivery,
    FhirSupplyRequest,
)
from domain.fhir import (
    ATC_SYSTEM,
    DEPOT_SYSTEM,
    FHIR_PRIORITY,
    ITEM_SYSTEM,
    REQUEST_STATUS,
    REQUEST_SYSTEM,
    TRANSFER_STATUS,
    TRANSFER_SYSTEM,
)
from ledger.clock import utc_text
from ledger.requests import SupplyRequestRecord
from projections.stock import DepotStock, StockLine

Catalogue = Mapping[str, Mapping[str, Any]]
"""Items by code: `name`, `unit`, `atc_code` (as GET /v1/items lists them)."""
REPORTS = uuid.UUID("3d0c8c4e-4f1e-4b6a-9a53-2f6c1d7e5b10")


def item_concept(code: str, catalogue: Catalogue) -> FhirCodeableConcept:
    item = catalogue.get(code, {})
    codings = [FhirCoding(system=ITEM_SYSTEM, code=code, display=item.get("name"))]
    if item.get("atc_code"):
        codings.append(FhirCoding(system=ATC_SYSTEM, code=item["atc_code"]))
    return FhirCodeableConcept(coding=codings, text=item.get("name"))


def quantity(value: int, item: str, catalogue: Catalogue) -> FhirQuantity:
    return FhirQuantity(value=value, unit=catalogue.get(item, {}).get("unit"))


def depot_reference(code: str, name: str | None = None) -> FhirReference:
    return FhirReference(identifier=FhirIdentifier(system=DEPOT_SYSTEM, value=code), display=name)


def inventory_report(stock: DepotStock, depot_name: str | None, catalogue: Catalogue) -> FhirInventoryReport:
    """One depot's stock as a snapshot report: per item, a line per lot the view lists (the lot
    and its expiry in a contained InventoryItem) and a line for stock of no known lot, so the
    lines of an item always add up to its `on_hand`."""
    contained: list[FhirInventoryItem] = []
    lines: list[FhirInventoryReportItem] = []
    for line in stock.items:
        lines.extend(_item_lines(line, catalogue, contained))
    return FhirInventoryReport(
        contained=contained or None,
        reportedDateTime=stock.as_of,
        inventoryListing=[
            FhirInventoryListing(
                location=depot_reference(stock.depot, depot_name), countingDateTime=stock.as_of, item=lines or None
            )
        ],
        note=[FhirAnnotation(text=f"Stock at {stock.as_of} as known at {stock.known_at} (position {stock.position})")],
    )


def _item_lines(
    line: StockLine, catalogue: Catalogue, contained: list[FhirInventoryItem]
) -> list[FhirInventoryReportItem]:
    concept = item_concept(line.item, catalogue)
    named = [lot for lot in line.lots if lot.lot is not None]
    lines = []
    for lot in named:
        lot_id = f"lot{len(contained) + 1}"
        contained.append(
            FhirInventoryItem(
                id=lot_id,
                code=[concept],
                instance=FhirInventoryItemInstance(lotNumber=lot.lot, expiry=lot.expires_on),
            )
        )
        lines.append(
            FhirInventoryReportItem(
                item=FhirCodeableReference(concept=concept, reference=FhirReference(reference=f"#{lot_id}")),
                quantity=quantity(lot.quantity, line.item, catalogue),
            )
        )
    rest = line.on_hand - sum(lot.quantity for lot in named)
    if rest or not named:
        lines.append(
            FhirInventoryReportItem(
                item=FhirCodeableReference(concept=concept), quantity=quantity(rest, line.item, catalogue)
            )
        )
    return lines


def search_bundle(reports: Sequence[tuple[str, FhirInventoryReport]], position: int, timestamp: str) -> FhirBundle:
    """`reports`: (depot code, report). Each entry's fullUrl is a name for that depot's report at this cut."""
    return FhirBundle(
        timestamp=timestamp,
        total=len(reports),
        entry=[
            FhirBundleEntry(
                fullUrl=f"urn:uuid:{uuid.uuid5(REPORTS, f'{code}@{report.reportedDateTime}@{position}')}",
                resource=report,
            )
            for code, report in reports
        ]
        or None,
    )


def supply_delivery(transfer: Mapping[str, Any], catalogue: Catalogue) -> FhirSupplyDelivery:
    """A transfer (a row of the transfers index): what was received once received, else what was dispatched."""
    received = transfer["received_lines"]
    if received is not None:
        supplied = [(line["item"], line["quantity_received"]) for line in received]
    else:
        supplied = [(line["item"], line["quantity"]) for line in transfer["lines"]]
    ended = transfer["received_at"] or transfer["cancelled_at"]
    return FhirSupplyDelivery(
        id=transfer["transfer_id"],
        identifier=[FhirIdentifier(system=TRANSFER_SYSTEM, value=transfer["transfer_id"])],
        status=TRANSFER_STATUS[transfer["status"]],
        suppliedItem=[
            FhirSuppliedItem(itemCodeableConcept=item_concept(item, catalogue), quantity=quantity(q, item, catalogue))
            for item, q in supplied
        ],
        occurrencePeriod=FhirPeriod(
            start=utc_text(transfer["dispatched_at"]), end=utc_text(ended) if ended is not None else None
        ),
        supplier=depot_reference(transfer["source"]),
        destination=depot_reference(transfer["destination"]),
    )


def supply_request(request: SupplyRequestRecord, catalogue: Catalogue) -> FhirSupplyRequest:
    return FhirSupplyRequest(
        id=request.request_id,
        identifier=[FhirIdentifier(system=REQUEST_SYSTEM, value=request.request_id)],
        status=REQUEST_STATUS[request.outcome],
        priority=FHIR_PRIORITY[request.priority],
        item=FhirCodeableReference(concept=item_concept(request.item, catalogue)),
        quantity=quantity(request.quantity, request.item, catalogue),
        occurrenceDateTime=utc_text(request.needed_by) if request.needed_by else None,
        authoredOn=utc_text(request.requested_at),
        deliverTo=depot_reference(request.depot),
    )
