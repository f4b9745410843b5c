"""FHIR R5 in the ledger's words: the code systems that name depots and items, the mapping of
request priorities, and a posted InventoryReport read as rows of a stock report.

A posted report goes the way of every stock report (`Ledger.import_rows("stock_report", ...)`):
this module only translates. A snapshot line becomes a count (`on_hand`, the lines of one item
at one location summed, as GET /fhir/InventoryReport splits an item's stock by lot); a difference
line becomes consumption (negative) or a receipt (positive, with the lot and expiry of the
contained InventoryItem it references). Every mistake is reported at once, by FHIRPath.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from fhir.resources.inventoryreport import InventoryReport
from pydantic import ValidationError

from domain.events import Priority, RequestOutcome
from domain.exceptions import InvalidCommand

ITEM_SYSTEM = "urn:supply-ledger:item"
"""Codes of this system are the ledger's item codes (`GET /v1/items`)."""
DEPOT_SYSTEM = "urn:supply-ledger:depot"
"""Identifiers of this system are the ledger's depot codes (`GET /v1/depots`)."""
TRANSFER_SYSTEM = "urn:supply-ledger:transfer"
REQUEST_SYSTEM = "urn:supply-ledger:supply-request"
ATC_SYSTEM = "http://www.whocc.no/atc"

FHIR_PRIORITY: dict[Priority, str] = {"critical": "stat", "high": "urgent", "normal": "routine"}
"""A supply request's priority as FHIR's request-priority code."""
REQUEST_STATUS: dict[RequestOutcome | None, str] = {None: "active", "fulfilled": "completed", "withdrawn": "cancelled"}
"""A supply request's state as R5 SupplyRequest.status (None: still open). R5 names a withdrawn
request `cancelled` (supplyrequest-status; `revoked` is the generic request status, not bound here)."""
TRANSFER_STATUS = {"in_transit": "in-progress", "received": "completed", "cancelled": "abandoned"}
"""A transfer's status as R5 SupplyDelivery.status."""

COUNT_TYPES = ("snapshot", "difference")
_LOCATION_REFERENCE = re.compile(r"^Location/([A-Za-z0-9][A-Za-z0-9._-]*)$")


@dataclass
class ReportRows:
    """A posted report as stock report rows, and where in the resource each row came from."""

    rows: list[dict[str, object]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)  # rows[n] came from paths[n]


def read_inventory_report(resource: object, units: Mapping[str, str]) -> ReportRows:
    """Validate `resource` (parsed JSON) as an R5 InventoryReport and read it as stock report
    rows. `units`: each known item's unit, to refuse a quantity stated in another. Raises
    InvalidCommand with every error, each `{loc: [FHIRPath], msg, type}`."""
    if not isinstance(resource, dict):
        raise _invalid([_error("InventoryReport", "the body is not a JSON object")])
    if resource.get("resourceType") != "InventoryReport":
        found = resource.get("resourceType")
        raise _invalid([_error("resourceType", f"expected InventoryReport, got {found!r}", "wrong_resource_type")])
    errors = _codes(resource)
    try:
        InventoryReport.model_validate(resource)
    except ValidationError as error:
        said = {str(e["loc"]) for e in errors}
        found = [_error(_path(e["loc"]), e["msg"], "fhir_validation") for e in error.errors()]
        raise _invalid(errors + [e for e in found if str(e["loc"]) not in said]) from None
    if errors:
        raise _invalid(errors)
    return _rows(resource, units)


def _codes(report: dict[str, Any]) -> list[dict[str, object]]:
    """The codes the ledger reads, checked against FHIR's required bindings (which the models do not check)."""
    errors = []
    count_type = report.get("countType")
    if count_type is not None and count_type not in COUNT_TYPES:
        errors.append(_error("countType", f"{count_type!r} is not snapshot or difference"))
    status = report.get("status")
    if status is not None and status != "active":
        errors.append(_error("status", f"only an active report states stock, not {status!r}"))
    return errors


def _rows(report: dict[str, Any], units: Mapping[str, str]) -> ReportRows:
    errors: list[dict[str, object]] = []
    count_type = report["countType"]
    lots = _contained_lots(report)
    period_start = (report.get("reportingPeriod") or {}).get("start")
    out = ReportRows()
    counted: dict[tuple[str, str, str], dict[str, object]] = {}
    listings = report.get("inventoryListing") or []
    for i, listing in enumerate(listings):
        at = f"inventoryListing[{i}]"
        depot = _depot(listing.get("location"))
        if depot is None:
            errors.append(_error(f"{at}.location", f"name a depot: identifier with system {DEPOT_SYSTEM}"))
        date = listing.get("countingDateTime") or report["reportedDateTime"]
        for j, line in enumerate(listing.get("item") or []):
            where = f"{at}.item[{j}]"
            item, lot = _item(line["item"], lots)
            quantity = _whole(line["quantity"].get("value"))
            unit = line["quantity"].get("unit")
            if item is None:
                errors.append(_error(f"{where}.item", f"name an item: a coding with system {ITEM_SYSTEM}"))
            elif unit is not None and item in units and unit != units[item]:
                errors.append(_error(f"{where}.quantity.unit", f"{item} is counted in {units[item]}, not {unit}"))
            if quantity is None:
                errors.append(_error(f"{where}.quantity.value", "a whole number of units is required"))
            if depot is None or item is None or quantity is None:
                continue
            if count_type == "snapshot":
                key = (depot, item, date)
                if key in counted:
                    counted[key]["on_hand"] = int(str(counted[key]["on_hand"])) + quantity
                    continue
                counted[key] = {"depot": depot, "item": item, "date": date, "on_hand": quantity}
                out.rows.append(counted[key])
            elif quantity < 0:
                row: dict[str, object] = {"depot": depot, "item": item, "date": date, "consumed": -quantity}
                out.rows.append({**row, "period_start": period_start} if period_start else row)
            elif quantity > 0:
                lot_number, expiry = lot or (None, None)
                out.rows.append(
                    {"depot": depot, "item": item, "date": date, "received": quantity}
                    | ({"lot": lot_number} if lot_number else {})
                    | ({"expires_on": expiry} if expiry else {})
                )
            else:
                continue  # no difference: nothing happened
            out.paths.append(where)
    for row, where in zip(out.rows, out.paths, strict=True):
        if count_type == "snapshot" and int(str(row["on_hand"])) < 0:  # a lot's line may be, not the item's sum
            errors.append(
                _error(f"{where}.quantity.value", f"a snapshot counts stock: {row['item']} cannot be negative")
            )
    if not errors and not out.rows:
        errors.append(_error("inventoryListing", "the report has no line that counts or changes stock"))
    if errors:
        raise _invalid(errors)
    return out


def _depot(location: dict[str, Any] | None) -> str | None:
    if not location:
        return None
    identifier = location.get("identifier") or {}
    if identifier.get("value") and identifier.get("system") in (DEPOT_SYSTEM, None):
        return str(identifier["value"])
    match = _LOCATION_REFERENCE.match(location.get("reference") or "")
    return match.group(1) if match else None


def _item(reference: dict[str, Any], lots: dict[str, tuple[str, str | None, str | None]]) -> tuple[str | None, Any]:
    """The item code and (lot, expiry) of a line: from its concept, or the contained InventoryItem it references."""
    lot = None
    contained = (reference.get("reference") or {}).get("reference") or ""
    if contained.startswith("#") and contained[1:] in lots:
        code, lot_number, expiry = lots[contained[1:]]
        lot = (lot_number, expiry)
        if reference.get("concept") is None:
            return code or None, lot
    for coding in (reference.get("concept") or {}).get("coding") or []:
        if coding.get("system") == ITEM_SYSTEM and coding.get("code"):
            return str(coding["code"]), lot
    return None, lot


def _contained_lots(report: dict[str, Any]) -> dict[str, tuple[str, str | None, str | None]]:
    """Contained InventoryItems by id: their item code (or ""), lot number and expiry date."""
    found: dict[str, tuple[str, str | None, str | None]] = {}
    for resource in report.get("contained") or []:
        if resource.get("resourceType") != "InventoryItem" or not resource.get("id"):
            continue
        codes = [c.get("code") for cc in resource.get("code") or [] for c in cc.get("coding") or []]
        systems = [c.get("system") for cc in resource.get("code") or [] for c in cc.get("coding") or []]
        code = next((c for c, s in zip(codes, systems, strict=True) if s == ITEM_SYSTEM and c), "")
        instance = resource.get("instance") or {}
        expiry = instance.get("expiry")
        found[resource["id"]] = (code, instance.get("lotNumber"), expiry[:10] if expiry else None)
    return found


def _whole(value: object) -> int | None:
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return int(number) if number.is_finite() and number == number.to_integral_value() else None


def _path(loc: tuple[int | str, ...]) -> str:
    path = "InventoryReport"
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _error(path: str, message: str, kind: str = "invalid_resource") -> dict[str, object]:
    full = path if path.startswith("InventoryReport") else f"InventoryReport.{path}"
    return {"loc": ["body", full], "msg": message, "type": kind}


def _invalid(errors: list[dict[str, object]]) -> InvalidCommand:
    where = "; ".join(f"{e['loc'][1]}: {e['msg']}" for e in errors[:5])  # type: ignore[index]
    return InvalidCommand(f"the InventoryReport is not valid: {where}", errors=errors)
