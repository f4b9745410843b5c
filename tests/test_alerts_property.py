"""Evaluating the alerts of one depot equals the national evaluation filtered to it (what lets a
projection worker evaluate only the depots a batch touched), on SQLite and PostgreSQL; and the
CLI prints the same alerts as the API."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from api.cli import app
from domain import commands as c
from domain.alert_commands import RuleScope, SetAlertRule
from ledger.application import Context, Ledger
from projections.alerts.evaluate import alerts_at
from projections.cut import Cut
from tests.api_helpers import A_NORTH, FFP2, created, ok, seed

CTX = Context(actor="property-tester")
T0 = datetime(2026, 3, 1, tzinfo=UTC)

actions = st.lists(
    st.tuples(
        st.sampled_from(["receipt", "consumption", "count", "transfer", "request"]),
        st.integers(0, 2),  # depot
        st.integers(0, 2),  # other depot
        st.integers(1, 60),  # quantity
        st.integers(0, 20 * 24),  # hours after T0
    ),
    min_size=1,
    max_size=14,
)


def _play(ledger: Ledger, prefix: str, drawn: list[tuple[str, int, int, int, int]]) -> list[tuple[str, str]]:
    depots = [(f"{prefix}-{n}", f"{prefix}-region-{n % 2}") for n in range(3)]
    ledger.define_item(c.DefineItem(code=f"{prefix}-I", name="item", unit="piece", category="ppe"), CTX)
    for code, region in depots:
        ledger.register_depot(
            c.RegisterDepot(code=code, name=code, region=region, organisation="o", kind="regional"), CTX
        )
    item = f"{prefix}-I"
    for action, depot, other, quantity, hours in drawn:
        code, when = depots[depot][0], T0 + timedelta(hours=hours)
        match action:
            case "receipt":
                lot = {"lot": f"L{quantity % 3}", "expires_on": (T0 + timedelta(days=quantity)).date()}
                ledger.record_receipt(code, c.RecordReceipt(item=item, quantity=quantity, occurred_at=when, **lot), CTX)
            case "consumption":
                ledger.report_consumption(code, c.ReportConsumption(item=item, quantity=quantity, period_end=when), CTX)
            case "count":
                ledger.count_stock(code, c.CountStock(item=item, counted=quantity, occurred_at=when), CTX)
            case "request":
                request = c.RequestSupply(item=item, quantity=quantity, priority="critical", occurred_at=when)
                ledger.request_supply(code, request, CTX)
            case "transfer" if depot != other:
                dispatch = c.DispatchTransfer.model_validate(
                    {
                        "from": code,
                        "to": depots[other][0],
                        "lines": [{"item": item, "quantity": 1}],
                        "occurred_at": when,
                    }
                )
                try:
                    ledger.dispatch_transfer(dispatch, CTX)
                except Exception:  # noqa: BLE001 - refused for stock: a decision, skipped
                    pass
    ledger.set_alert_rule(
        "low_days_of_supply", SetAlertRule(threshold=30, scope=RuleScope(region=depots[0][1]), occurred_at=T0), CTX
    )
    return depots


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(drawn=actions, day=st.integers(1, 30))
def test_one_depot_equals_the_national_evaluation_filtered_to_it(ledger, drawn, day) -> None:  # type: ignore[no-untyped-def]
    depots = _play(ledger, uuid.uuid4().hex[:8].upper(), drawn)
    cut = Cut(T0 + timedelta(days=day), ledger.position(), None, datetime.now(UTC))
    national = alerts_at(ledger, depots, cut)
    for depot in depots:
        assert alerts_at(ledger, [depot], cut) == [a for a in national if a.depot == depot[0]]


def test_the_cli_prints_the_alerts(api, database_url) -> None:  # type: ignore[no-untyped-def]
    seed(api)
    created(
        api.post(
            f"/v1/depots/{A_NORTH}/receipts", {"item": FFP2, "quantity": 10, "occurred_at": "2026-03-01T12:00:00Z"}
        )
    )
    created(
        api.post(
            f"/v1/depots/{A_NORTH}/consumption", {"item": FFP2, "quantity": 10, "period_end": "2026-03-02T12:00:00Z"}
        )
    )
    body = ok(api.get("/v1/alerts", as_of="2026-03-03"))
    result = CliRunner().invoke(app, ["alerts", "--as-of", "2026-03-03", "--json", "--database", database_url])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["alerts"] == body["alerts"]
    assert [a["kind"] for a in body["alerts"]] == ["projected_stockout", "stockout", "low_days_of_supply"]
    result = CliRunner().invoke(
        app, ["alerts", "--region", "north", "--as-of", "2026-03-03", "--database", database_url]
    )
    assert result.exit_code == 0, result.output
    assert "stockout" in result.output and "A-NORTH" in result.output and "2026-03-02T12:00:00Z" in result.output
    assert CliRunner().invoke(app, ["alerts", "--as-of", "soon", "--database", database_url]).exit_code == 2
