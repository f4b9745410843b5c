"""Allocation decisions as pages: the decisions taken, a recommendation asked for and shown
with each recipient's days of supply before and after, the decision (as recommended, or
with changed lines and the rationale the ledger requires), and the decision's replay.

Every figure is the ledger's: `ledger.recommend`, `ledger.decide_allocation`,
`projections.allocations` and `replay.decisions`, exactly as `api.routers.allocations` calls them.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from api.console.forms import FormState, Submitted, SubmittedForm
from api.console.i18n import N_, translations
from api.console.pages import chrome, render, see_other
from api.console.session import needs
from api.console.transfers import number
from api.deps import LedgerDep
from domain.allocation_commands import DecideAllocation, RecommendAllocation
from domain.policies import POLICIES
from ledger.allocations import Recommendation
from ledger.application import Ledger
from ledger.clock import utc_text
from ledger.console_sessions import SignedIn
from ledger.distribution_models import model_listing
from projections.allocations import Status, allocation_list, allocation_view

router = APIRouter()
Coordinator = Annotated[SignedIn, Depends(needs("coordinator"))]
Reader = Annotated[SignedIn, Depends(needs("coordinator", "auditor"))]
STATUS_WORDS = (N_("open"), N_("dispatched"), N_("revoked"))
"""An allocation's status, translated in the template."""
ASKED = ("from", "item", "quantity", "policy")
"""A recommendation's question, carried by the decision form so it decides on exactly that."""


POLICY_WORDS = {
    "proportional_to_consumption": N_("In proportion to consumption"),
    "proportional_to_population": N_("In proportion to the population served"),
    "equal_days_of_supply": N_("Equal days of supply"),
}
"""Each policy in words (translated where shown); its id stays the value a form sends."""


def _policies(request: Request, ledger: Ledger) -> list[tuple[str, str]]:
    """The policies the API accepts, in the reader's words, and each distribution model defined
    (`model:NAME`, current version: a name, never translated)."""
    words = translations(chrome(request).language).gettext
    models = model_listing(ledger).models
    return [(p, words(POLICY_WORDS.get(p, p))) for p in POLICIES] + [
        (f"model:{m.name}", f"model:{m.name} (v{m.version})") for m in models
    ]


def _asking(
    request: Request, signed: SignedIn, ledger: Ledger, form: FormState, recipients: list[str], status: Any = None
) -> Response:
    depots = ledger.journal.depots()
    return render(
        request,
        "allocations.html",
        status=form.status,
        allocations=allocation_list(ledger, None, None, status, 200).allocations,
        form=form,
        recipients=recipients,
        depots=[(d["code"], f"{d['code']} · {d['name']}") for d in depots],
        depot_rows=depots,
        items=[(i["code"], f"{i['code']} · {i['name']}") for i in ledger.journal.items()],
        policies=_policies(request, ledger),
        policy_words=POLICY_WORDS,
        may_decide=signed.principal.role in ("coordinator", "admin"),
        status_filter=status or "",
    )


@router.get("/allocations", response_class=HTMLResponse)
def allocations_page(
    request: Request, signed: Reader, ledger: LedgerDep, status: Annotated[Status | None, Query()] = None
) -> Response:
    """The decisions taken (each to its replay) and, for a coordinator, the recommend form."""
    return _asking(request, signed, ledger, FormState(), [], status)


def _question(form: Submitted) -> dict[str, Any]:
    body: dict[str, Any] = {name: form.fields.get(name, "").strip() for name in ASKED}
    body["quantity"] = number(body["quantity"])
    body["recipients"] = [code for code in form.values_of("recipients") if code.strip()]
    return body


@router.post("/allocations/recommend", response_class=HTMLResponse)
def recommend(request: Request, signed: Coordinator, ledger: LedgerDep, form: SubmittedForm) -> Response:
    """The policy's lines now; stores nothing, so the answer is the page itself (no redirect)."""
    body = _question(form)
    outcome = form.attempt(RecommendAllocation, lambda command, ctx: (ledger.recommend(command, ctx), False), body)
    if outcome.form is not None:
        return _asking(request, signed, ledger, outcome.form, body["recipients"])
    assert outcome.result is not None
    recommendation = outcome.result
    decision = FormState(values={f"line-{line.to}": str(line.quantity) for line in recommendation.lines})
    return _recommendation(request, recommendation, decision)


def _recommendation(request: Request, recommendation: Recommendation, decision: FormState) -> Response:
    lines = recommendation.line_map()
    return render(
        request,
        "recommendation.html",
        status=decision.status,
        r=recommendation,
        policy_words=POLICY_WORDS,
        lines=[(i, lines.get(i.depot, 0)) for i in recommendation.inputs],
        occurred_at=utc_text(recommendation.occurred_at),
        form=decision,
    )


@router.post("/allocations", response_class=HTMLResponse)
def decide(request: Request, signed: Coordinator, ledger: LedgerDep, form: SubmittedForm) -> Response:
    """ "Accept" decides as recommended; "change" sends every line as typed, and the ledger asks
    for a rationale when they differ from the recommendation (shown next to the rationale)."""
    body = _question(form)
    changed = form.fields.get("choice") == "change"
    body["occurred_at"] = form.fields.get("occurred_at", "")
    body["basis_position"] = number(form.fields.get("basis_position", ""))
    body["dispatch"] = form.fields.get("dispatch") == "yes"
    for optional in ("rationale", "note"):
        if form.fields.get(optional, "").strip():
            body[optional] = form.fields[optional]
    where: dict[str, str] = {}
    if changed:
        body["lines"] = [
            {"to": code, "quantity": number(form.fields.get(f"line-{code}", ""))} for code in body["recipients"]
        ]
        where |= {f"lines.{n}.quantity": f"line-{code}" for n, code in enumerate(body["recipients"])}
    outcome = form.attempt(DecideAllocation, ledger.decide_allocation, body, where)
    if outcome.form is not None:
        outcome.form.figures.pop("recommended_lines", None)  # the page shows them in its table
        question = {k: body[k] for k in (*ASKED, "recipients", "occurred_at")}
        again = form.attempt(
            RecommendAllocation, lambda command, ctx: (ledger.recommend(command, ctx), False), question
        )
        if again.result is None:  # the question itself no longer stands: ask again
            return _asking(request, signed, ledger, outcome.form, body["recipients"])
        return _recommendation(request, again.result, outcome.form)
    assert outcome.result is not None
    return see_other(
        f"{chrome(request).base}/allocations/{outcome.result.allocation_id}?done={outcome.result.position}"
    )


@router.get("/allocations/{allocation_id}", response_class=HTMLResponse)
def allocation_page(request: Request, allocation_id: str, _: Reader, ledger: LedgerDep) -> Response:
    """One decision as it stands: lines, what was dispatched and received, what it still reserves."""
    allocation = allocation_view(ledger, allocation_id)
    return render(
        request,
        "allocation.html",
        a=allocation,
        policy_words=POLICY_WORDS,
        recommended={line.to: line.quantity for line in allocation.recommended_lines},
        inputs={i.depot: i for i in allocation.inputs},
        done=request.query_params.get("done"),
    )


@router.get("/allocations/{allocation_id}/replay")
def replay_page(request: Request, allocation_id: str, _: Reader) -> Response:
    """The decision's replay is the auditor's page (`api.console.audit`): one page, linked from both."""
    return see_other(f"{chrome(request).base}/audit/allocations/{quote(allocation_id, safe='')}")
