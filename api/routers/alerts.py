"""Alerts (shortage watch): open alerts at any cut, acknowledgements, and the alert rules."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from api.deps import CommandContext, LedgerDep, Reader, ViewsDep, requires
from api.exports.http import EXPORTS, FormatParam, exported, negotiated
from api.exports.tables import alerts as alerts_table
from api.responses import ERRORS, answer
from api.routers.view_params import AsOf, From, ItemParam, KnownAt, RegionParam, To
from domain.alert_commands import AcknowledgeAlert, SetAlertRule
from domain.alerts import AlertKind, Severity
from ledger.alerts import AcknowledgementOutcome, AlertRuleOutcome
from projections.alerts.episodes import EpisodeList
from projections.alerts.view import AlertList, AlertViews, RuleList, Status

router = APIRouter(tags=["alerts"], responses=ERRORS)


@router.get("/alerts", response_model=AlertList, responses=EXPORTS)
def list_alerts(
    request: Request,
    ledger: LedgerDep,
    views: ViewsDep,
    _: Reader,
    region: RegionParam = None,
    depot: Annotated[str | None, Query(max_length=64, description="Only this depot")] = None,
    item: ItemParam = None,
    kind: Annotated[AlertKind | None, Query(description="Only this kind")] = None,
    severity: Annotated[Severity | None, Query(description="Only this severity")] = None,
    status: Annotated[
        Status, Query(description="`open`: not yet acknowledged; `acknowledged`; `all` (default)")
    ] = "all",
    as_of: AsOf = None,
    known_at: KnownAt = None,
    export: FormatParam = None,
) -> Response:
    """The alerts open at business time `as_of` as the ledger knew it at `known_at`, most severe first.
    Without a cut, the alerts the projection keeps current (`source: view`)."""
    wanted = negotiated(request, export)
    listing = AlertViews(ledger, views.projector).alerts(as_of, known_at, region, depot, item, kind, severity, status)
    if wanted != "json":
        return exported(alerts_table(listing), wanted)
    # Serialised once, as built: FastAPI would dump the model, validate the dump and serialise it
    # again, which for the whole country's thousands of alerts costs more than finding them.
    return Response(listing.model_dump_json(), media_type="application/json")


@router.get("/alerts/history", response_model=EpisodeList)
def alert_history(
    ledger: LedgerDep,
    _: Reader,
    start: From = None,
    end: To = None,
    region: RegionParam = None,
    kind: Annotated[AlertKind | None, Query(description="Only this kind")] = None,
) -> EpisodeList:
    """Every alert episode open at some time in [from, to]: `opened_at` when it became true (business
    time), `first_known_at` the recorded time from which the ledger showed it; the difference is the
    detection delay that late reports cost."""
    return AlertViews(ledger).history(start, end, region, kind)


@router.post("/alerts/{alert_id}/acknowledge", status_code=201, response_model=AcknowledgementOutcome)
def acknowledge_alert(
    alert_id: Annotated[str, Path(max_length=64)],
    body: AcknowledgeAlert,
    ledger: LedgerDep,
    ctx: CommandContext,
    response: Response,
) -> AcknowledgementOutcome:
    """Records that the alert was seen (an event on its depot, in the depot's timeline): operators
    for their own organisations' depots, coordinators for any. 404 unless the alert is open now."""
    return answer(ledger.acknowledge_alert(alert_id, body, ctx), response)


@router.get("/alert-rules", response_model=RuleList)
def list_rules(ledger: LedgerDep, _: Reader) -> RuleList:
    """The defaults and every rule set, with the business time from which each is in force."""
    return AlertViews(ledger).rules()


@router.put("/alert-rules/{kind}", response_model=AlertRuleOutcome, dependencies=[Depends(requires("coordinator"))])
def set_rule(
    kind: AlertKind, body: SetAlertRule, ledger: LedgerDep, ctx: CommandContext, response: Response
) -> AlertRuleOutcome:
    """From `occurred_at` (default now) on, `kind` alerts within `scope` use `threshold`; the most
    specific scope wins (depot, region, item, category, then the default). 422 for a kind without
    a threshold, or a scope naming a depot, region or item the ledger does not have."""
    return answer(ledger.set_alert_rule(kind, body, ctx), response)
