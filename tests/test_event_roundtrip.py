"""Every event type of the catalogue is stored and read back unchanged, on both backends,
and a depot's snapshot restores the same state as replaying its events."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from uuid import UUID

from domain import allocation_commands as alloc
from domain import commands as c
from domain import events as ev
from domain.alert_commands import AcknowledgeAlert, RuleScope, SetAlertRule
from domain.distribution_models import DefineDistributionModel
from domain.ids import alert_rules_id, depot_id, distribution_models_id, item_id
from ledger.application import Context, Ledger, project_depot
from projections.alerts.evaluate import alerts_for

CTX = Context(actor="roundtrip-tester")


def _exercise_every_event(ledger: Ledger) -> UUID:
    """Records every kind of event; returns the import record's aggregate id."""
    now = datetime.now(UTC)
    ledger.define_item(
        c.DefineItem(
            code="PROPOFOL-20",
            name="Propofol",
            unit="vial",
            category="medicine",
            atc_code="N01AX10",
            gtins=["05702389012340"],
        ),
        CTX,
    )
    ledger.set_item_gtins("PROPOFOL-20", c.SetItemGtins(gtins=["5702389012340", "15702389012347"]), CTX)
    for code, region in (("SRC", "DK-84"), ("DST", "DK-85")):
        ledger.register_depot(
            c.RegisterDepot(
                code=code,
                name=f"Depot {code}",
                region=region,
                organisation=region,
                kind="regional",
                population_served=850_000,
            ),
            CTX,
        )
    ledger.set_obligation("SRC", "PROPOFOL-20", c.SetObligation(min_days=90), CTX)
    ledger.set_obligation(
        "DST",
        "PROPOFOL-20",
        c.SetObligation(basis="annual_average", share_of_year=0.25, exclude_years=[2021, 2020]),
        CTX,
    )
    ledger.set_obligation(
        "DST", "PROPOFOL-20", c.SetObligation(basis="fixed_daily", min_days=42, daily_quantity=2.5), CTX
    )
    ledger.record_receipt(
        "SRC",
        c.RecordReceipt(
            item="PROPOFOL-20",
            quantity=500,
            lot="L-7",
            expires_on=date(2027, 3, 31),
            supplier="Fresenius",
            reference="PO-1",
            occurred_at=now - timedelta(days=3),
            note="first delivery",
        ),
        CTX,
    )
    ledger.report_consumption(
        "SRC",
        c.ReportConsumption(
            item="PROPOFOL-20", quantity=20, period_start=now - timedelta(days=2), period_end=now - timedelta(days=1)
        ),
        CTX,
    )
    ledger.count_stock("SRC", c.CountStock(item="PROPOFOL-20", counted=478), CTX)
    ledger.adjust_stock("SRC", c.AdjustStock(item="PROPOFOL-20", quantity=-3, reason="damaged"), CTX)
    request, _ = ledger.request_supply(
        "DST",
        c.RequestSupply(item="PROPOFOL-20", quantity=50, priority="critical", needed_by=now + timedelta(days=2)),
        CTX,
    )
    ledger.close_request("DST", request.request_id, c.CloseRequest(outcome="fulfilled"), CTX)
    first, _ = ledger.dispatch_transfer(
        c.DispatchTransfer.model_validate(
            {
                "from": "SRC",
                "to": "DST",
                "reference": "WB-1",
                "lines": [{"item": "PROPOFOL-20", "quantity": 50, "lot": "L-7"}],
            }
        ),
        CTX,
    )
    ledger.receive_transfer(
        first.transfer_id, c.ReceiveTransfer(lines=[{"item": "PROPOFOL-20", "quantity_received": 48}]), CTX
    )
    second, _ = ledger.dispatch_transfer(
        c.DispatchTransfer.model_validate(
            {"from": "SRC", "to": "DST", "lines": [{"item": "PROPOFOL-20", "quantity": 10}]}
        ),
        CTX,
    )
    ledger.cancel_transfer(second.transfer_id, c.CancelTransfer(reason="truck unavailable"), CTX)
    allocation, _ = ledger.decide_allocation(
        alloc.DecideAllocation.model_validate(
            {
                "from": "SRC",
                "item": "PROPOFOL-20",
                "quantity": 20,
                "recipients": ["DST"],
                "policy": "proportional_to_population",
                "rationale": "all of it",
            }
        ),
        CTX,
    )
    ledger.dispatch_transfer(
        c.DispatchTransfer.model_validate(
            {
                "from": "SRC",
                "to": "DST",
                "allocation_id": allocation.allocation_id,
                "lines": [{"item": "PROPOFOL-20", "quantity": 5}],
            }
        ),
        CTX,
    )
    ledger.revoke_allocation(allocation.allocation_id, alloc.RevokeAllocation(reason="ICU demand fell"), CTX)
    ledger.set_alert_rule(
        "low_days_of_supply",
        SetAlertRule(threshold=21.5, scope=RuleScope(category="medicine", region="DK-85"), note="winter"),
        CTX,
    )
    # a lot that expired yesterday: an expired_stock alert at DST, which is acknowledged
    ledger.record_receipt(
        "DST",
        c.RecordReceipt(item="PROPOFOL-20", quantity=2, lot="OLD", expires_on=(now - timedelta(days=1)).date()),
        CTX,
    )
    [expired] = [a for a in alerts_for(ledger, ["DST"]) if a.kind == "expired_stock"]
    ledger.acknowledge_alert(expired.alert_id, AcknowledgeAlert(note="to be destroyed"), CTX)
    # a distribution model and its second version (exact decimals: 0.7 + 0.2 + 0.1 is 1)
    for specialist, primary in (("0.7", "0.2"), ("0.6", "0.3")):
        rules = {
            "sectors": [
                {"name": "specialist", "kinds": ["regional", "hospital"], "share": specialist},
                {"name": "primary", "kinds": ["municipal"], "share": primary},
            ],
            "reserve": 0.1,
            "within": "proportional_to_population",
        }
        ledger.define_distribution_model("national-ppe", DefineDistributionModel.model_validate(rules), CTX)
    receipts = [{"depot": "DST", "item": "PROPOFOL-20", "date": now.date().isoformat(), "quantity": "3"}]
    outcome, _ = ledger.import_rows("receipts", receipts, CTX, file_name="receipts.csv", content_hash="c0ffee")
    return UUID(outcome.import_id)


def test_every_event_type_round_trips(ledger: Ledger) -> None:
    record = _exercise_every_event(ledger)
    stored = [
        *ledger.events.get(record),
        *ledger.events.get(item_id("PROPOFOL-20")),
        *ledger.events.get(depot_id("SRC")),
        *ledger.events.get(depot_id("DST")),
        *ledger.events.get(alert_rules_id()),
        *ledger.events.get(distribution_models_id()),
    ]
    assert {type(e) for e in stored} == set(ev.ALL_EVENTS)
    notifications = ledger.recorder.select_notifications(1, 1000)
    assert len(notifications) == len(stored)
    for notification in notifications:
        event = ledger.mapper.to_domain_event(notification)
        again = ledger.mapper.to_domain_event(ledger.mapper.to_stored_event(event))
        assert again == event
        assert event.occurred_at.tzinfo is not None and event.timestamp.tzinfo is not None
    receipt = next(e for e in stored if isinstance(e, ev.ReceiptRecorded))
    assert receipt.expires_on == date(2027, 3, 31) and receipt.lot == "L-7" and receipt.note == "first delivery"
    received = next(e for e in stored if isinstance(e, ev.TransferReceived))
    assert received.lines == (ev.ReceivedLine(item="PROPOFOL-20", quantity_dispatched=50, quantity_received=48),)
    item = next(e for e in stored if isinstance(e, ev.ItemDefined))
    assert item.atc_code == "N01AX10" and item.gtins == ("05702389012340",)
    gtins = next(e for e in stored if isinstance(e, ev.ItemGtinsSet))
    assert gtins.gtins == ("05702389012340", "15702389012347")
    decided = next(e for e in stored if isinstance(e, ev.AllocationDecided))
    assert decided.lines == (ev.AllocationLine(to="DST", quantity=20),) and decided.rationale == "all of it"
    assert decided.inputs == (ev.AllocationInput(depot="DST", on_hand=48, consumed_14d=0, population_served=850_000),)
    obligations = [(e.basis, e.min_days, e.terms) for e in stored if isinstance(e, ev.ObligationSet)]
    assert [(basis, min_days) for basis, min_days, _ in obligations] == [
        ("recent_consumption", 90),
        ("annual_average", None),
        ("fixed_daily", 42),
    ]
    assert obligations[1][2].share_of_year == 0.25 and obligations[1][2].exclude_years == (2020, 2021)
    assert obligations[1][2].years == 3 and obligations[2][2].daily_quantity == 2.5
    revoked = next(e for e in stored if isinstance(e, ev.AllocationRevoked))
    assert (revoked.item, revoked.released) == ("PROPOFOL-20", 15)
    rule = next(e for e in stored if isinstance(e, ev.AlertRuleSet))
    assert (rule.kind, rule.threshold, rule.note) == ("low_days_of_supply", 21.5, "winter")
    assert rule.scope == ev.AlertScope(category="medicine", region="DK-85")
    seen = next(e for e in stored if isinstance(e, ev.AlertAcknowledged))
    assert (seen.kind, seen.item, seen.note) == ("expired_stock", "PROPOFOL-20", "to be destroyed")


def test_snapshot_restores_the_replayed_state(ledger: Ledger) -> None:
    _exercise_every_event(ledger)
    for _number in range(120):  # past the snapshot interval of 100 events
        ledger.report_consumption("SRC", c.ReportConsumption(item="PROPOFOL-20", quantity=1), CTX)
    assert ledger.snapshots is not None
    snapshots = list(ledger.snapshots.get(depot_id("SRC")))
    assert [s.originator_version for s in snapshots] == [100]
    replayed = project_depot(None, ledger.events.get(depot_id("SRC")))
    loaded = ledger.depot("SRC")
    assert replayed is not None
    assert loaded.model_dump() == replayed.model_dump()
    # revoked, but a transfer against it is still in transit: the allocation is part of the snapshot
    assert list(loaded.open_allocations) == [a.allocation_id for a in replayed.open_allocations.values()]
    assert len(loaded.open_allocations) == 1 and loaded.reserved("PROPOFOL-20") == 0
    assert loaded.on_hand("PROPOFOL-20") == 478 - 3 - 50 - 5 - 120  # the cancelled 10 came back
    assert loaded.on_hand("PROPOFOL-20") == ledger.journal.balance_now("SRC", "PROPOFOL-20")
