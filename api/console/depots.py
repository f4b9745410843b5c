"""The depot directory and a depot's page: its stock with lots and expiries, its timeline
with running balances and late entries marked, its obligations and open requests, and, for
whoever may write to it, the forms an operator records with (`api.console.depot_forms`).

Every figure is a view's (`views.depot_stock`, `views.timeline`) and every form runs the
JSON API's command on the same ledger method, so the page and `GET /v1/depots/{code}/stock`
never disagree."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response

from api.console.cuts import Picked, checked, picked
from api.console.depot_forms import (
    ENTRY_LABELS,
    FORMS,
    KIND_LABELS,
    PRIORITIES,
    PRIORITY_LABELS,
    REASON_LABELS,
    REASONS,
    fresh_forms,
)
from api.console.forms import FormState, SubmittedForm
from api.console.pages import chrome, render, see_other
from api.console.session import SignedInDep, needs
from api.deps import LedgerDep, ViewsDep
from ledger import clock
from ledger.access import Principal
from ledger.application import Ledger
from ledger.console_sessions import SignedIn
from ledger.context import Context
from projections.cut import parse_instant
from projections.timeline import TimelineEntry
from projections.views import Views

router = APIRouter()
Writer = Annotated[SignedIn, Depends(needs("operator", "coordinator"))]
CutText = Annotated[str | None, Query(max_length=40)]
Reference = Annotated[str | None, Query(max_length=100)]  # an event id to correct, as AdjustStock.corrects
TIMELINE_READ = 200  # the newest entries read up to the cursor: a page, those the page before showed at its edge
TIMELINE_PAGE = 50  # the newest entries shown; "Older entries" pages further back


WRITERS = frozenset({"operator", "coordinator", "admin"})


def may_write(principal: Principal, organisation: str) -> bool:
    """Whether the forms are shown: a writing role, and `Context.writes_for` the depot's
    organisation, the rule the ledger applies again to every command the forms send."""
    if principal.role not in WRITERS:
        return False
    return Context(actor=principal.name, organisations=principal.writable_organisations).writes_for(organisation)


@router.get("/depots", response_class=HTMLResponse)
def directory(request: Request, signed: SignedInDep, ledger: LedgerDep) -> Response:
    """Every depot by region; an operator's own depots first, marked as theirs."""
    principal = signed.principal
    every = ledger.journal.depots()
    regions: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in every:
        regions[row["region"]].append(row)
    mine = [row for row in every if may_write(principal, row["organisation"])] if principal.role == "operator" else []
    return render(request, "depots.html", regions=dict(sorted(regions.items())), mine=mine,
                  own={row["code"] for row in mine}, kinds=KIND_LABELS)  # fmt: skip


@router.get("/depots/{code}", response_class=HTMLResponse)
def depot_page(request: Request, code: str, signed: SignedInDep, ledger: LedgerDep, views: ViewsDep,
               as_of: CutText = None, known_at: CutText = None, corrects: Reference = None,
               item: Annotated[str | None, Query(max_length=64)] = None,
               done: Annotated[str | None, Query(max_length=20)] = None,
               position: Annotated[int | None, Query(ge=0)] = None,
               until: CutText = None, after: Annotated[int | None, Query(ge=0)] = None) -> Response:  # fmt: skip
    """The depot now or at a cut; `?corrects=<event_id>&item=X` opens the adjustment form
    correcting that timeline entry; `?done=<form>&position=N` says what was just recorded;
    `?until=<happened>&after=<position>` pages the timeline back from the last page's oldest entry."""
    notice = (FORMS[done].done, position) if done in FORMS and position is not None else None
    forms = fresh_forms(corrects, item)
    cut = checked(views, as_of, known_at)
    page = (until, after) if not cut.problems else (None, None)
    return _page(request, signed, ledger, views, code, cut, forms, notice, 422 if cut.problems else 200, page)


def record(request: Request, code: str, form: SubmittedForm, signed: Writer, ledger: LedgerDep,
           views: ViewsDep) -> Response:  # fmt: skip
    """One of the depot's forms (the path's last segment names it): on success back to the
    page (303) with a notice; refused, the page again with that form's problem next to its
    field and what was typed kept."""
    kind = request.url.path.rstrip("/").rsplit("/", 1)[-1]
    depot_form = FORMS[kind]
    ledger.depot(code)  # an unknown depot is a 404 page, not a form's problem
    outcome = form.attempt(
        depot_form.model, lambda body, ctx: depot_form.run(ledger, code, body, ctx), depot_form.body(form)
    )
    if outcome.form is not None:
        forms = fresh_forms()
        forms[kind] = outcome.form
        return _page(request, signed, ledger, views, code, picked(None, None), forms, None, outcome.form.status)
    assert outcome.result is not None
    return see_other(f"{chrome(request).base}/depots/{code}?done={kind}&position={outcome.result.position}")


def back_to_the_depot(request: Request, code: str, _: SignedInDep) -> Response:
    """A form's address opened with GET (the picker or "back to now" on a refused form's page,
    a reload, a bookmark): the depot's page, with the query kept."""
    query = f"?{request.url.query}" if request.url.query else ""
    return see_other(f"{chrome(request).base}/depots/{code}{query}")


for _name in FORMS:  # one route per form, so no catch-all shadows another area's /depots/{code}/… page
    router.add_api_route(f"/depots/{{code}}/{_name}", record, methods=["POST"], response_class=HTMLResponse)
    router.add_api_route(f"/depots/{{code}}/{_name}", back_to_the_depot, methods=["GET"])


def _page(
    request: Request,
    signed: SignedIn,
    ledger: Ledger,
    views: Views,
    code: str,
    cut: Picked,
    forms: dict[str, FormState],
    notice: tuple[str, int] | None,
    status: int = 200,
    page: tuple[str | None, int | None] = (None, None),
) -> Response:
    depot = ledger.depot(code)
    params = cut.params
    stock = views.depot_stock(code, params["as_of"], params["known_at"])
    timeline = _timeline_page(views, code, params, *page)
    writable = cut.now and may_write(signed.principal, depot.organisation)
    items = [(row["code"], f"{row['code']} · {row['name']}") for row in ledger.journal.items()]
    return render(
        request,
        "depot.html",
        status=status,
        depot=depot,
        stock=stock,
        timeline=timeline,
        entries=list(reversed(timeline.entries)),
        older=timeline.older,
        requests=sorted(depot.open_requests.values(), key=lambda r: r.requested_at),
        cut=cut,
        since=timeline.since,
        until=page[0],
        writable=writable,
        forms=forms,
        titles={name: form.title for name, form in FORMS.items()},
        items=items,
        reasons=[(reason, REASON_LABELS[reason]) for reason in REASONS],
        priorities=[(priority, PRIORITY_LABELS[priority]) for priority in PRIORITIES],
        notice=notice,
        entry_labels=ENTRY_LABELS,
        kinds=KIND_LABELS,
        refused=next((form for form in forms.values() if form.refused), None),
    )


@dataclass(frozen=True)
class TimelinePage:
    """The newest `TIMELINE_PAGE` entries up to a cursor (oldest first, as the view gives them),
    and the cursor of the page before them: `(until, after)`, None when nothing is older."""

    entries: list[TimelineEntry]
    since: datetime | None  # when the oldest entry shown happened
    older: tuple[str, int] | None


def _timeline_page(
    views: Views, code: str, params: dict[str, str | None], until: str | None, after: int | None
) -> TimelinePage:
    """The newest entries of `views.timeline` up to the cursor (the cut's moment on the first
    page), without those the page before showed (at `until`, from position `after` on): one
    read of the depot's history however long it is. An event's lines stay on one page."""
    cut_time = views.cut(params["as_of"], params["known_at"]).business_time
    end = parse_instant(until, "until", cut_time) if until else cut_time
    found = views.timeline(code, params["as_of"], params["known_at"], end=clock.utc_text(end),
                           limit=TIMELINE_READ, newest=True)  # fmt: skip
    entries = [e for e in found.entries if not (until and after is not None and _at(e) == end and e.position >= after)]
    first = max(0, len(entries) - TIMELINE_PAGE)
    while 0 < first < len(entries) and entries[first - 1].position == entries[first].position:
        first -= 1
    shown = entries[first:]
    more = first > 0 or found.truncated
    older = (shown[0].occurred_at, shown[0].position) if shown and more else None
    return TimelinePage(shown, _at(shown[0]) if shown else None, older)


def _at(entry: TimelineEntry) -> datetime:
    return datetime.fromisoformat(entry.occurred_at.replace("Z", "+00:00"))
