"""The auditor's pages: the ledger feed, the late-data report, the hash chain's digest and its
verification, and a decision's replay. Each reads the same service the JSON route reads
(`ledger.feed`, `replay.late`, `replay.digest`, `replay.decisions`); a depot's timeline is on
the depot's own page, which these pages link to."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote, urlencode

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from api.console.allocations import POLICY_WORDS
from api.console.cuts import as_cut_text
from api.console.forms import FormState, SubmittedForm
from api.console.pages import chrome, render, see_other
from api.console.session import needs
from api.deps import LedgerDep, feed_for
from api.routers.integrity import VerifyAnswer, VerifyRequest
from domain.commands import MAX_POSITION
from domain.events import EVENTS_BY_NAME
from ledger.console_sessions import SignedIn
from projections.allocations import allocation_list
from projections.cut import time_range
from replay import digest as chain
from replay.decisions import replay_allocation
from replay.late import late_reports
from replay.report import allocation_replay_html

router = APIRouter()
Auditor = Annotated[SignedIn, Depends(needs("auditor", "coordinator"))]
Text = Annotated[str | None, Query(max_length=64)]
TimeText = Annotated[str | None, Query(max_length=40)]
After = Annotated[int, Query(ge=0, le=MAX_POSITION)]
PAGE = 50
DECISIONS = 200


@router.get("/audit", response_class=HTMLResponse)
def audit_index(request: Request, _: Auditor, ledger: LedgerDep, source: Text = None, item: Text = None,
                decision: Text = None) -> Response:  # fmt: skip
    """Where an audit starts: the decisions to replay (as `GET /v1/allocations` lists them, in
    the order taken, by source and item), one opened by its id, and the other reports."""
    if decision and decision.strip():
        return see_other(f"{chrome(request).base}/audit/allocations/{quote(decision.strip(), safe='')}")
    source, item = (source or "").strip() or None, (item or "").strip() or None
    decisions = allocation_list(ledger, source, item, None, DECISIONS).allocations
    return render(
        request, "audit_index.html", decisions=decisions, source=source or "", item=item or "",
        capped=len(decisions) == DECISIONS, position=ledger.position(), policy_words=POLICY_WORDS,
    )  # fmt: skip


@router.get("/audit/feed", response_class=HTMLResponse)
def feed_page(request: Request, _: Auditor, ledger: LedgerDep, after: After = 0,
              limit: Annotated[int, Query(ge=1, le=1000)] = PAGE,
              depot: Text = None, type: Text = None) -> Response:  # noqa: A002  # fmt: skip
    """`GET /v1/events` as a page: a page of events after a position, "next" to go on."""
    depot = (depot or "").strip() or None
    type = (type or "").strip() or None  # noqa: A001
    if depot is not None:
        ledger.depot(depot)  # an unknown depot is a 404 page, as the feed's 404
    entries, next_after = feed_for(request).read(after, limit, depot, type)
    last = ledger.position()
    query = {"depot": depot or "", "type": type or "", "limit": limit if limit != PAGE else ""}
    return render(
        request, "audit_feed.html", entries=entries, next_after=next_after, after=after, last=last,
        more=next_after < last and next_after != after, depot=depot, event_type=type, query=_query(query),
        types=sorted(EVENTS_BY_NAME), data_text=data_text,
    )  # fmt: skip


@router.get("/audit/late", response_class=HTMLResponse)
def late_page(request: Request, _: Auditor, ledger: LedgerDep, since: TimeText = None, until: TimeText = None,
              after: After = 0, limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> Response:  # fmt: skip
    """`GET /v1/late` as a page: reports recorded more than 24 h late, and the decisions they changed."""
    start, end = time_range(as_cut_text(since), as_cut_text(until), ledger.clock(), ("since", "until"))
    report = late_reports(ledger, start, end, after, limit)
    kept = {"since": since or "", "until": until or "", "limit": limit if limit != 200 else ""}
    return render(
        request, "audit_late.html", report=report, since=since or "", until=until or "", after=after,
        more=len(report.events) == limit, query=_query(kept),
    )  # fmt: skip


@router.get("/audit/integrity", response_class=HTMLResponse)
def integrity_page(
    request: Request,
    _: Auditor,
    ledger: LedgerDep,
    position: Annotated[int | None, Query(ge=0, le=MAX_POSITION)] = None,
) -> Response:
    """The hash chain's digest at a position (default: the last), to keep outside the database."""
    return _integrity(request, ledger, chain.digest(ledger.recorder, position), FormState(), None)


@router.post("/audit/integrity/verify", response_class=HTMLResponse)
def verify(request: Request, _: Auditor, ledger: LedgerDep, form: SubmittedForm) -> Response:
    """Recompute the chain from the stored events (a read, but a long one: a POST with its CSRF
    token), against a digest kept outside when one is given. The answer is drawn at once."""
    body: dict[str, Any] = {k: v.strip() for k, v in form.body().items() if k in ("position", "digest")}
    if body.get("position", "").isdigit():
        body["position"] = int(body["position"])
    outcome = form.attempt(
        VerifyRequest, lambda checked, _ctx: (chain.verify(ledger.recorder, checked.position, checked.digest), False),
        body=body,
    )  # fmt: skip
    digest = chain.digest(ledger.recorder, None)
    if outcome.form is not None:
        return _integrity(request, ledger, digest, outcome.form, None, outcome.form.status)
    answer = VerifyAnswer(**outcome.result.__dict__)
    return _integrity(request, ledger, digest, FormState(values=form.fields), answer)


def _integrity(
    request: Request, ledger: LedgerDep, digest: Any, form: FormState, answer: VerifyAnswer | None, status: int = 200
) -> Response:
    return render(
        request, "audit_integrity.html", status=status, digest=digest, last=ledger.position(), form=form, answer=answer
    )


@router.get("/audit/allocations/{allocation_id}", response_class=HTMLResponse)
def replay_page(request: Request, allocation_id: str, _: Auditor, ledger: LedgerDep) -> Response:
    """The decision replay an auditor reads: the report `GET /v1/allocations/{id}/replay.html`
    gives, drawn inside the console's frame (its own words, figures and charts, unchanged)."""
    replay = replay_allocation(ledger, allocation_id)
    return render(request, "audit_replay.html", replay=replay, report=_body(allocation_replay_html(replay)))


def _body(html: str) -> Markup:
    """The report's body: the page is autoescaped by the report's own template."""
    start = html.index(">", html.index("<body")) + 1
    return Markup(html[start : html.rindex("</body>")])  # noqa: S704 - rendered by the report's autoescaping template


def data_text(data: dict[str, Any]) -> str:
    """An event's data as one line: `name: value` with JSON values, in the event's own order."""
    return "; ".join(
        f"{k}: {orjson.dumps(v, default=str).decode()}" for k, v in data.items() if v not in (None, [], {})
    )


def _query(kept: dict[str, Any]) -> str:
    """The filters to keep on the "next" link (empty ones left out), as `&name=value`."""
    given = {k: v for k, v in kept.items() if v not in ("", None)}
    return "&" + urlencode(given) if given else ""
