"""Transfers between depots as pages: the list of open ones (a depot's inbox and outbox), a
dispatch form, and one transfer with its receive (with a shortfall) and cancel forms.

Every command is the JSON API's (`api.routers.transfers`): the same pydantic command and
the same ledger method; every figure shown is the transfer's own (`GET /v1/transfers/{id}`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from api.console.depots import may_write
from api.console.forms import FormState, Submitted, SubmittedForm
from api.console.i18n import N_
from api.console.pages import chrome, render, see_other
from api.console.session import needs
from api.deps import LedgerDep
from api.routers.transfers import TransferView, transfer_view
from domain.commands import CancelTransfer, DispatchTransfer, ReceiveTransfer
from domain.exceptions import UnknownTransfer
from ledger.application import Ledger
from ledger.console_sessions import SignedIn

router = APIRouter()
Mover = Annotated[SignedIn, Depends(needs("operator", "coordinator"))]
Box = Literal["all", "inbox", "outbox"]
Status = Literal["in_transit", "received", "cancelled", "any"]
STATUS_WORDS = (N_("in transit"), N_("received"), N_("cancelled"))
"""A transfer's status as the pages say it (`status` with a space), translated in the template."""
LINE_ROWS = 3
"""Line rows the dispatch form always offers (empty rows are ignored); more after a refusal if sent."""


def number(text: str) -> int | str:
    """A typed quantity as the command's integer; anything else as typed, so the command's own
    validation words it ("Input should be a valid integer")."""
    try:
        return int(text.strip())
    except ValueError:
        return text


def writable(signed: SignedIn, depots: list[dict[str, Any]]) -> set[str]:
    """Which of `depots` this person may write to (the ledger checks again on every command)."""
    return {depot["code"] for depot in depots if may_write(signed.principal, depot["organisation"])}


def _listing(
    request: Request,
    signed: SignedIn,
    ledger: Ledger,
    depot: str | None,
    box: Box,
    status: Status,
    form: FormState,
    rows: int = LINE_ROWS,
) -> Response:
    wanted = None if status == "any" else status
    source = depot if depot and box == "outbox" else None
    destination = depot if depot and box == "inbox" else None
    found = [transfer_view(row) for row in ledger.journal.transfers(wanted, source, destination, None, 500)]
    if depot and box == "all":
        found = [t for t in found if depot in (t.source, t.destination)]
    depots = ledger.journal.depots()
    mine = writable(signed, depots)
    if not signed.principal.may_write_everywhere():  # an operator sees their organisations' transfers
        found = [t for t in found if t.source in mine or t.destination in mine]
    return render(
        request,
        "transfers.html",
        status=form.status,
        transfers=found,
        depot=depot or "",
        box=box,
        status_filter=status,
        form=form,
        rows=range(rows),
        depots=[(d["code"], f"{d['code']} · {d['name']}") for d in depots],
        sources=[(d["code"], f"{d['code']} · {d['name']}") for d in depots if d["code"] in mine],
        items=[(i["code"], f"{i['code']} · {i['name']}") for i in ledger.journal.items()],
        mine=mine,
        done=request.query_params.get("done"),
    )


@router.get("/transfers", response_class=HTMLResponse)
def transfers_page(
    request: Request,
    signed: Mover,
    ledger: LedgerDep,
    depot: Annotated[str | None, Query(max_length=64)] = None,
    box: Box = "all",
    status: Status = "in_transit",
) -> Response:
    """Open transfers (or all of a status), a depot's inbox (in transit to it) or outbox, and the
    dispatch form (from the depot shown, when this person may dispatch from it)."""
    form = FormState(values={"from": depot} if depot and depot in writable(signed, ledger.journal.depots()) else {})
    return _listing(request, signed, ledger, depot, box, status, form)


@router.post("/transfers", response_class=HTMLResponse)
def dispatch(request: Request, signed: Mover, ledger: LedgerDep, form: SubmittedForm) -> Response:
    """A dispatch: the rows with an item or a quantity become the command's lines, in order."""
    rows = sorted({int(name.split("-")[1]) for name in form.fields if _is_row_field(name)})
    lines: list[dict[str, Any]] = []
    where: dict[str, str] = {}
    for row in rows:
        item, quantity, lot = (form.fields.get(f"{part}-{row}", "").strip() for part in ("item", "quantity", "lot"))
        if not item and not quantity:
            continue
        line: dict[str, Any] = {"item": item, "quantity": number(quantity)}
        if lot:
            line["lot"] = lot
        for part in ("item", "quantity", "lot"):
            where[f"lines.{len(lines)}.{part}"] = f"{part}-{row}"
        lines.append(line)
    where["lines"] = "item-0"
    body = {
        "from": form.fields.get("from", ""),
        "to": form.fields.get("to", ""),
        "lines": lines,
        **({"reference": form.fields["reference"]} if form.fields.get("reference", "").strip() else {}),
        **({"note": form.fields["note"]} if form.fields.get("note", "").strip() else {}),
    }
    outcome = form.attempt(DispatchTransfer, ledger.dispatch_transfer, body=body, fields=where)
    if outcome.form is not None:
        refused = outcome.form
        _place_stock_refusal(refused, rows, form)
        return _listing(request, signed, ledger, None, "all", "in_transit", refused, max(LINE_ROWS, len(rows)))
    assert outcome.result is not None
    return see_other(f"{chrome(request).base}/transfers/{outcome.result.transfer_id}?done={outcome.result.position}")


def _is_row_field(name: str) -> bool:
    part, _, row = name.partition("-")
    return part in ("item", "quantity", "lot") and row.isdigit() and int(row) < 200


def _place_stock_refusal(refused: FormState, rows: list[int], form: Submitted) -> None:
    """Insufficient stock names its item (and lot): its words go next to that line's quantity."""
    item = refused.figures.get("item")
    if item is None or "available" not in refused.figures:
        return
    lot = refused.figures.get("lot")
    for row in rows:
        if form.fields.get(f"item-{row}", "").strip() == item and (
            lot is None or form.fields.get(f"lot-{row}", "").strip() == lot
        ):
            refused.errors[f"quantity-{row}"] = refused.detail or ""
            return


def _transfer(ledger: Ledger, transfer_id: str) -> TransferView:
    row = ledger.journal.transfer(transfer_id)
    if row is None:
        raise UnknownTransfer(f"no transfer {transfer_id}", transfer_id=transfer_id)
    return transfer_view(row)


def _detail(
    request: Request,
    signed: SignedIn,
    ledger: Ledger,
    transfer_id: str,
    receive: FormState | None = None,
    cancel: FormState | None = None,
) -> Response:
    transfer = _transfer(ledger, transfer_id)
    mine = writable(signed, ledger.journal.depots())
    dispatched: dict[str, int] = {}
    for line in transfer.lines:
        dispatched[line.item] = dispatched.get(line.item, 0) + line.quantity
    refused = receive if receive is not None and receive.refused else cancel
    return render(
        request,
        "transfer.html",
        status=refused.status if refused is not None else 200,
        transfer=transfer,
        dispatched=dispatched,
        receive=receive or FormState(values={f"received-{item}": str(q) for item, q in dispatched.items()}),
        cancel=cancel or FormState(),
        may_receive=transfer.status == "in_transit" and transfer.destination in mine,
        may_cancel=transfer.status == "in_transit" and transfer.source in mine,
        done=request.query_params.get("done"),
    )


@router.get("/transfers/{transfer_id}", response_class=HTMLResponse)
def transfer_page(request: Request, transfer_id: str, signed: Mover, ledger: LedgerDep) -> Response:
    """One transfer: its lines, what arrived and what fell short; receive and cancel while in transit."""
    return _detail(request, signed, ledger, transfer_id)


@router.post("/transfers/{transfer_id}/receipt", response_class=HTMLResponse)
def receive(request: Request, transfer_id: str, signed: Mover, ledger: LedgerDep, form: SubmittedForm) -> Response:
    """What arrived per item: less than dispatched is a shortfall, a loss in transit."""
    items = [name.removeprefix("received-") for name in form.fields if name.startswith("received-")]
    body: dict[str, Any] = {
        "lines": [{"item": item, "quantity_received": number(form.fields[f"received-{item}"])} for item in items]
    }
    if form.fields.get("note", "").strip():
        body["note"] = form.fields["note"]
    where = {f"lines.{n}.quantity_received": f"received-{item}" for n, item in enumerate(items)}
    outcome = form.attempt(
        ReceiveTransfer, lambda command, ctx: ledger.receive_transfer(transfer_id, command, ctx), body, where
    )
    if outcome.form is not None:
        return _detail(request, signed, ledger, transfer_id, receive=outcome.form)
    assert outcome.result is not None
    return see_other(f"{chrome(request).base}/transfers/{transfer_id}?done={outcome.result.position}")


@router.post("/transfers/{transfer_id}/cancel", response_class=HTMLResponse)
def cancel(request: Request, transfer_id: str, signed: Mover, ledger: LedgerDep, form: SubmittedForm) -> Response:
    """Cancel a transfer in transit: its stock is back at the source."""
    outcome = form.attempt(
        CancelTransfer, lambda command, ctx: ledger.cancel_transfer(transfer_id, command, ctx), form.body()
    )
    if outcome.form is not None:
        return _detail(request, signed, ledger, transfer_id, cancel=outcome.form)
    assert outcome.result is not None
    return see_other(f"{chrome(request).base}/transfers/{transfer_id}?done={outcome.result.position}")
