"""The FHIR R5 resources /fhir answers, as the subset of each that the ledger fills in.

These models document the responses in OpenAPI (under names of their own, `Fhir...`, so a
generated client never confuses them with the /v1 models); what makes them FHIR is that
every resource they produce validates with the `fhir.resources` R5 models (tests/test_fhir*.py).
Field names are FHIR's own (camelCase), absent elements are left out of the JSON.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class FhirElement(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FhirCoding(FhirElement):
    system: str | None = None
    code: str | None = None
    display: str | None = None


class FhirCodeableConcept(FhirElement):
    coding: list[FhirCoding] | None = None
    text: str | None = None


class FhirIdentifier(FhirElement):
    system: str | None = None
    value: str | None = None


class FhirReference(FhirElement):
    """A depot by its code (`identifier`), or a contained resource (`reference: "#id"`)."""

    reference: str | None = None
    identifier: FhirIdentifier | None = None
    display: str | None = None


class FhirCodeableReference(FhirElement):
    concept: FhirCodeableConcept | None = None
    reference: FhirReference | None = None


class FhirQuantity(FhirElement):
    value: int = Field(description="Whole units of the item's base unit")
    unit: str | None = None


class FhirPeriod(FhirElement):
    start: str | None = None
    end: str | None = None


class FhirAnnotation(FhirElement):
    text: str


class FhirMeta(FhirElement):
    lastUpdated: str | None = None


class FhirInventoryItemInstance(FhirElement):
    lotNumber: str | None = None
    expiry: str | None = None


class FhirInventoryItem(FhirElement):
    """A lot of an item, contained in the report that lists it (R5 InventoryItem)."""

    resourceType: Literal["InventoryItem"] = "InventoryItem"
    id: str
    status: Literal["active"] = "active"
    code: list[FhirCodeableConcept]
    instance: FhirInventoryItemInstance


class FhirInventoryReportItem(FhirElement):
    item: FhirCodeableReference
    quantity: FhirQuantity


class FhirInventoryListing(FhirElement):
    location: FhirReference
    countingDateTime: str | None = None
    item: list[FhirInventoryReportItem] | None = None


class FhirInventoryReport(FhirElement):
    resourceType: Literal["InventoryReport"] = "InventoryReport"
    meta: FhirMeta | None = None
    contained: list[FhirInventoryItem] | None = None
    identifier: list[FhirIdentifier] | None = None
    status: Literal["draft", "requested", "active", "entered-in-error"] = "active"
    countType: Literal["snapshot", "difference"] = "snapshot"
    reportedDateTime: str
    reportingPeriod: FhirPeriod | None = None
    inventoryListing: list[FhirInventoryListing] | None = None
    note: list[FhirAnnotation] | None = None


class FhirBundleSearch(FhirElement):
    mode: Literal["match"] = "match"


class FhirBundleEntry(FhirElement):
    fullUrl: str
    resource: FhirInventoryReport
    search: FhirBundleSearch = FhirBundleSearch()


class FhirBundle(FhirElement):
    """A searchset of InventoryReports: one per depot."""

    resourceType: Literal["Bundle"] = "Bundle"
    type: Literal["searchset"] = "searchset"
    timestamp: str
    total: int
    entry: list[FhirBundleEntry] | None = None


class FhirSuppliedItem(FhirElement):
    quantity: FhirQuantity
    itemCodeableConcept: FhirCodeableConcept


class FhirSupplyDelivery(FhirElement):
    resourceType: Literal["SupplyDelivery"] = "SupplyDelivery"
    id: str
    identifier: list[FhirIdentifier]
    status: Literal["in-progress", "completed", "abandoned", "entered-in-error"]
    suppliedItem: list[FhirSuppliedItem]
    occurrencePeriod: FhirPeriod
    supplier: FhirReference
    destination: FhirReference


class FhirSupplyRequest(FhirElement):
    resourceType: Literal["SupplyRequest"] = "SupplyRequest"
    id: str
    identifier: list[FhirIdentifier]
    status: Literal["draft", "active", "suspended", "cancelled", "completed", "entered-in-error", "unknown"]
    priority: Literal["routine", "urgent", "asap", "stat"]
    item: FhirCodeableReference
    quantity: FhirQuantity
    occurrenceDateTime: str | None = None
    authoredOn: str
    deliverTo: FhirReference


class FhirExtension(FhirElement):
    url: str
    valueString: str | None = None
    valueInteger: int | None = None
    valueInstant: str | None = None


class FhirIssue(FhirElement):
    severity: Literal["fatal", "error", "warning", "information"]
    code: str = Field(description="FHIR issue type: invalid, not-found, forbidden, login, conflict, ...")
    diagnostics: str | None = None
    expression: list[str] | None = Field(None, description="Where in the posted resource (FHIRPath)")


class FhirOperationOutcome(FhirElement):
    """Every /fhir error (and the answer to a posted report): FHIR's own error resource."""

    resourceType: Literal["OperationOutcome"] = "OperationOutcome"
    extension: list[FhirExtension] | None = Field(
        None, description="A stored report: its import id, ledger position and recorded time"
    )
    issue: list[FhirIssue]
