"""The forms of a depot page: what an operator records there (receipts, also from a scanned
GS1 label; consumption; counts; adjustments, among them the correction of a chosen timeline
entry; supply requests). Each posts the same pydantic command to the same ledger method as
`api/routers/depot_commands.py`; this module only turns a browser's form fields into that
command's body (numbers typed as text, a datetime-local field read as UTC)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from api.console.cuts import as_cut_text
from api.console.forms import FormState, Submitted
from api.console.i18n import N_
from domain.commands import AdjustStock, CountStock, RecordReceipt, ReportConsumption, RequestSupply
from ledger.application import Ledger
from ledger.context import Context
from ledger.outcomes import DepotCommandOutcome

INTEGER = re.compile(r"^[+-]?\d{1,12}$")

Run = Callable[[Ledger, str, Any, Context], tuple[DepotCommandOutcome, bool]]


@dataclass(frozen=True)
class DepotForm:
    """One command's form: its name (the URL's last segment, the form's id), the command,
    the ledger method it runs, the notice after it, and which fields are numbers or times."""

    name: str
    title: str  # message id, translated in the template
    model: type[BaseModel]
    run: Run
    done: str  # message id with %(position)s
    integers: tuple[str, ...] = ("quantity",)
    instants: tuple[str, ...] = ("occurred_at",)

    def body(self, submitted: Submitted) -> dict[str, Any]:
        """The command's body: empty fields left out, whole numbers as numbers (anything else
        is left as typed, so the command refuses it in its own words), a datetime-local as UTC."""
        body = submitted.body()
        for name in self.integers:
            text = str(body.get(name, "")).strip()
            if INTEGER.match(text):
                body[name] = int(text)
        for name in self.instants:
            if name in body:
                body[name] = as_cut_text(body[name])
        return body


FORMS: dict[str, DepotForm] = {
    form.name: form
    for form in (
        DepotForm(
            "receipt",
            N_("Record a receipt"),
            RecordReceipt,
            lambda ledger, code, body, ctx: ledger.record_receipt(code, body, ctx),
            N_("Receipt recorded at ledger position %(position)s."),
        ),
        DepotForm(
            "consumption",
            N_("Report consumption"),
            ReportConsumption,
            lambda ledger, code, body, ctx: ledger.report_consumption(code, body, ctx),
            N_("Consumption recorded at ledger position %(position)s."),
        ),
        DepotForm(
            "count",
            N_("Record a count"),
            CountStock,
            lambda ledger, code, body, ctx: ledger.count_stock(code, body, ctx),
            N_("Count recorded at ledger position %(position)s."),
            integers=("counted",),
        ),
        DepotForm(
            "adjustment",
            N_("Adjust stock"),
            AdjustStock,
            lambda ledger, code, body, ctx: ledger.adjust_stock(code, body, ctx),
            N_("Adjustment recorded at ledger position %(position)s."),
        ),
        DepotForm(
            "request",
            N_("Request supply"),
            RequestSupply,
            lambda ledger, code, body, ctx: ledger.request_supply(code, body, ctx),
            N_("Supply request recorded at ledger position %(position)s."),
        ),
    )
}

REASONS = ("damaged", "expired", "lost", "found", "correction", "other")
PRIORITIES = ("normal", "high", "critical")
REASON_LABELS = {
    "damaged": N_("damaged"),
    "expired": N_("expired"),
    "lost": N_("lost"),
    "found": N_("found"),
    "correction": N_("correction"),
    "other": N_("other"),
}
KIND_LABELS = {
    "national": N_("national"),
    "regional": N_("regional"),
    "municipal": N_("municipal"),
    "hospital": N_("hospital"),
    "wholesaler": N_("wholesaler"),
    "pharmacy": N_("pharmacy"),
    "other": N_("other"),
}
"""A depot's kind as people read it (translated in the template)."""
ENTRY_LABELS = {
    "DepotRegistered": N_("Depot registered"),
    "ReceiptRecorded": N_("Receipt"),
    "ConsumptionReported": N_("Consumption"),
    "StockCounted": N_("Count"),
    "StockAdjusted": N_("Adjustment"),
    "ObligationSet": N_("Obligation set"),
    "SupplyRequested": N_("Supply request"),
    "SupplyRequestClosed": N_("Supply request closed"),
    "TransferDispatched": N_("Transfer dispatched"),
    "TransferExpected": N_("Transfer expected"),
    "TransferReceived": N_("Transfer received"),
    "TransferDelivered": N_("Transfer delivered"),
    "TransferCancelled": N_("Transfer cancelled"),
    "AllocationDecided": N_("Allocation decided"),
    "AllocationRevoked": N_("Allocation revoked"),
    "AlertRuleSet": N_("Alert rule set"),
    "AlertAcknowledged": N_("Alert acknowledged"),
    "ImportRecorded": N_("Import"),
}
"""A timeline entry's event type as people read it (translated in the template)."""
PRIORITY_LABELS = {"normal": N_("normal"), "high": N_("high"), "critical": N_("critical")}


def fresh_forms(corrects: str | None = None, item: str | None = None) -> dict[str, FormState]:
    """A new form of each kind, each with its own idempotency key. `corrects`: the adjustment
    form opened from a timeline entry, correcting that event of that item."""
    forms = {name: FormState() for name in FORMS}
    if corrects:
        forms["adjustment"] = FormState(
            values={"corrects": corrects, "reason": "correction", **({"item": item} if item else {})}
        )
    return forms
