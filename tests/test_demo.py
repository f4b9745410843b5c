"""The demo scenario (`ledger.demo`) on SQLite and PostgreSQL.

Loading takes seconds, so the whole scenario is loaded once per backend and one test
checks every fact a demo user will look for; the refusals are checked on their own,
on ledgers that never load the demo.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from domain import commands as cmd
from domain import events as ev
from domain.ids import depot_id
from ledger.application import Context, Ledger
from ledger.demo import DemoAlreadyLoaded, DemoSummary, load_demo
from ledger.settings import Database
from projections.alerts.view import AlertViews
from projections.allocations import allocation_list
from projections.views import Views
from replay.decisions import replay_allocation

TODAY = datetime(2026, 3, 10, 14, 30, tzinfo=UTC)
END = datetime(2026, 3, 10, tzinfo=UTC)  # the last daily report ends at midnight of TODAY
START = END - timedelta(days=42)
PPE = {"FFP2", "FFP3", "MASK-IIR", "GLOVE-NIT-M", "GOWN-ISO"}
REGION_POPULATION = {"DK-84": 1_880_000, "DK-85": 850_000, "DK-83": 1_230_000, "DK-82": 1_350_000, "DK-81": 595_000}


def depot_events(ledger: Ledger, code: str) -> list[ev.LedgerEvent]:
    return list(ledger.events.get(depot_id(code)))


def test_the_demo_scenario(ledger: Ledger, database_url: str) -> None:
    summary = load_demo(ledger, today=TODAY)

    assert summary == DemoSummary(depots=16, items=6, events=ledger.position(), operator_organisation="DK-84")
    assert 3_000 < summary.events < 6_000
    check_reference_data(ledger)
    check_balances(ledger)
    check_transfers(ledger)
    check_requests(ledger)
    check_history(ledger)
    check_known_then_and_now(ledger)
    check_allocations(ledger)
    check_correction(ledger)
    check_shortage_watch(ledger)

    # A fresh process reads the depots back from snapshots (they have hundreds of events).
    reopened = Ledger(Database(database_url).env())
    try:
        for depot in ledger.journal.depots():
            assert reopened.depot(depot["code"]).model_dump() == ledger.depot(depot["code"]).model_dump()
    finally:
        reopened.close()

    position = ledger.position()
    with pytest.raises(DemoAlreadyLoaded):
        load_demo(ledger, today=TODAY)
    assert ledger.position() == position


def check_reference_data(ledger: Ledger) -> None:
    items = {item["code"]: item for item in ledger.journal.items()}
    assert set(items) == PPE | {"PROPOFOL-20"}
    assert items["PROPOFOL-20"]["atc_code"] == "N01AX10"
    assert items["PROPOFOL-20"]["category"] == "medicine"
    assert items["PROPOFOL-20"]["unit"] == "vial"
    assert {items[code]["category"] for code in PPE} == {"ppe"}
    assert items["FFP2"]["gtins"] == ["05712345678909", "15712345678906"]  # docs/gs1.md's example scans
    assert all(items[code]["gtins"] for code in items) and ledger.item_for_gtin("5712345678909") == "FFP2"

    depots = ledger.journal.depots()
    assert Counter(d["kind"] for d in depots) == {"national": 1, "regional": 5, "hospital": 5, "municipal": 5}
    national = ledger.journal.depots(kind="national")[0]
    assert national["organisation"] == "NATIONAL"
    regional = ledger.journal.depots(kind="regional")
    assert {d["region"]: d["population_served"] for d in regional} == REGION_POPULATION
    for depot in depots:
        if depot["kind"] in ("regional", "hospital"):
            assert depot["organisation"] == depot["region"]
        if depot["kind"] == "municipal":
            assert depot["organisation"].startswith("KOMMUNE-")
            assert depot["region"] in REGION_POPULATION
        if depot["kind"] in ("hospital", "municipal"):
            assert 0 < depot["population_served"] < REGION_POPULATION[depot["region"]]
    # The operator token's organisation writes to a regional warehouse and a hospital.
    assert {d["kind"] for d in ledger.journal.depots(organisation="DK-84")} == {"regional", "hospital"}

    for depot in depots:
        obligations = ledger.depot(depot["code"]).obligations
        assert obligations == ({item: 90 for item in PPE} if depot["kind"] == "regional" else {})


def check_balances(ledger: Ledger) -> None:
    """The aggregate agrees with the journal's fold, and no balance ever went negative."""
    for depot in ledger.journal.depots():
        aggregate = ledger.depot(depot["code"])
        assert aggregate.stocked_items()
        for item in aggregate.stocked_items():
            assert aggregate.on_hand(item) == ledger.journal.balance_now(depot["code"], item), (depot["code"], item)
            running, lowest = 0, 0
            for row in ledger.journal.history(depot["code"], item):
                running = row["counted"] if row["counted"] is not None else running + row["delta"]
                lowest = min(lowest, running)
                assert START <= row["occurred_at"] <= END
            assert lowest >= 0, (depot["code"], item)
            assert aggregate.on_hand(item) > 0, (depot["code"], item)


def check_transfers(ledger: Ledger) -> None:
    received = ledger.journal.transfers(status="received")
    assert len(received) > 20
    short = [
        t
        for t in received
        if any(line["quantity_received"] < line["quantity_dispatched"] for line in t["received_lines"])
    ]
    assert len(short) == 1
    (lost,) = short
    assert (lost["source"], lost["destination"]) == ("DK-82-CENTRAL", "DK-84-CENTRAL")
    shortfall = {
        line["item"]: line["quantity_dispatched"] - line["quantity_received"] for line in lost["received_lines"]
    }
    assert shortfall == {"FFP2": 800, "GOWN-ISO": 0}

    (cancelled,) = ledger.journal.transfers(status="cancelled")
    assert (cancelled["source"], cancelled["destination"]) == ("DK-83-CENTRAL", "DK-85-CENTRAL")

    in_transit = ledger.journal.transfers(status="in_transit")
    assert len(in_transit) >= 1
    assert any(t["source"] == "DK-NATIONAL" for t in in_transit)
    for transfer in in_transit:
        assert transfer["transfer_id"] in ledger.depot(transfer["source"]).open_transfers
        assert transfer["transfer_id"] in ledger.depot(transfer["destination"]).open_transfers

    # The national stockpile ships named lots, never the expired one.
    national = ledger.journal.transfers(source="DK-NATIONAL")
    assert national and all(line["lot"] for t in national for line in t["lines"])


def check_requests(ledger: Ledger) -> None:
    requested, closed = {}, {}
    for depot in ledger.journal.depots():
        for event in depot_events(ledger, depot["code"]):
            if isinstance(event, ev.SupplyRequested):
                requested[event.request_id] = depot["code"]
            elif isinstance(event, ev.SupplyRequestClosed):
                closed[event.request_id] = event.outcome
    assert len(requested) == 3
    assert sorted(closed.values()) == ["fulfilled", "withdrawn"]
    (still_open,) = set(requested) - set(closed)
    assert still_open in ledger.depot(requested[still_open]).open_requests
    fulfilled = next(request_id for request_id, outcome in closed.items() if outcome == "fulfilled")
    assert any(t["reference"] == fulfilled for t in ledger.journal.transfers(destination=requested[fulfilled]))


def weekly_consumption(ledger: Ledger, code: str, item: str) -> Counter[int]:
    """Consumption per week of the scenario (week 0 is the first), by the day each report covers."""
    weeks: Counter[int] = Counter()
    for row in ledger.journal.history(code, item):
        if row["event_type"] == "ConsumptionReported":
            weeks[((row["occurred_at"] - START).days - 1) // 7] -= row["delta"]
    return weeks


def check_history(ledger: Ledger) -> None:
    """Surge, late reports, counts and an expired lot: what makes the demo worth exploring."""
    # The surge: Region Hovedstaden's hospital uses about three times as much in weeks 3-5.
    surge, calm = weekly_consumption(ledger, "DK-84-RH", "FFP2"), weekly_consumption(ledger, "DK-82-AUH", "FFP2")
    assert 2.5 < surge[3] / surge[0] < 3.5
    assert 0.8 < calm[3] / calm[0] < 1.25

    # Late reports: consumption recorded after events dated later at the same depot.
    late: Counter[str] = Counter()
    for depot in ledger.journal.depots():
        rows = ledger.journal.history(depot["code"])
        for n, row in enumerate(rows):
            dated_later = (other for other in rows[n + 1 :] if other["occurred_at"] > row["occurred_at"])
            if row["event_type"] == "ConsumptionReported" and any(o["position"] < row["position"] for o in dated_later):
                late[depot["code"]] += 1
    assert set(late) == {"DK-81-AALBORG", "DK-85-SUH", "DK-83-OUH"}
    assert late["DK-83-OUH"] == 1

    # Counts: most within a fraction of a percent of the book; the count after Aalborg's
    # missing reports is short by about the two unreported days.
    variances = []
    for depot in ledger.journal.depots():
        for event in depot_events(ledger, depot["code"]):
            if isinstance(event, ev.StockCounted):
                variances.append((depot["code"], event.counted - event.book_at_recording, event.book_at_recording))
    assert len(variances) > 150
    assert any(variance != 0 for _, variance, _ in variances)
    small = [v for v in variances if abs(v[1]) <= 0.01 * v[2]]
    assert len(small) >= 0.9 * len(variances)
    aalborg_first = [v for v in variances if v[0] == "DK-81-AALBORG"][:4]
    assert all(variance < -0.05 * book for _, variance, book in aalborg_first)

    # An expired lot at the national stockpile, partly written off as expired.
    national = depot_events(ledger, "DK-NATIONAL")
    receipts = [e for e in national if isinstance(e, ev.ReceiptRecorded)]
    assert all(r.lot and r.expires_on and r.supplier for r in receipts)
    expired = [r for r in receipts if r.expires_on < END.date()]
    assert [r.item for r in expired] == ["FFP2"]
    assert expired[0].occurred_at.date() < expired[0].expires_on  # it expired during the scenario
    adjustments = [e for e in national if isinstance(e, ev.StockAdjusted)]
    assert [(a.item, a.reason) for a in adjustments] == [("FFP2", "expired")]
    assert 0 < -adjustments[0].quantity < expired[0].quantity
    assert adjustments[0].occurred_at.date() > expired[0].expires_on

    # Every event the loader wrote says where it came from.
    sample = depot_events(ledger, "DK-84-CENTRAL")
    # the loader records what happened; allocation decisions are the coordinators'
    assert {(e.actor, e.source) for e in sample} == {("demo-loader", "demo"), ("demo-coordinator", "demo")}
    assert {type(e) for e in sample if e.actor == "demo-coordinator"} == {ev.AllocationDecided, ev.TransferDispatched}
    assert len({e.command_id for e in sample}) > len(sample) / 2  # one command, one id (transfers write two events)


def check_allocations(ledger: Ledger) -> None:
    """Four decisions, each reproduced exactly by its replay; one made while reports were late."""
    allocations = allocation_list(ledger, None, None, None, 100).allocations
    assert [(a.source, a.item, a.policy, a.status) for a in allocations] == [
        ("DK-NATIONAL", "FFP2", "equal_days_of_supply", "dispatched"),
        ("DK-84-CENTRAL", "GLOVE-NIT-M", "proportional_to_population", "dispatched"),
        ("DK-NATIONAL", "PROPOFOL-20", "proportional_to_population", "revoked"),
        ("DK-NATIONAL", "FFP3", "equal_days_of_supply", "open"),
    ]
    replays = {a.item: replay_allocation(ledger, a.allocation_id) for a in allocations}
    for replay in replays.values():
        assert replay.known_then.reproduced and replay.known_then.inputs_reproduced, replay.allocation.allocation_id
        assert sum(line.quantity for line in replay.known_then.recommendation) == replay.allocation.quantity

    ffp2 = replays["FFP2"].allocation
    assert not ffp2.departed and ffp2.reserved == 0
    assert all(line.dispatched == line.quantity == line.received for line in ffp2.lines)  # shipped, arrived next day
    national = {t["transfer_id"]: t for t in ledger.journal.transfers(source="DK-NATIONAL")}
    assert all(national[t.transfer_id]["allocation_id"] == ffp2.allocation_id for t in ffp2.transfers)

    gloves = replays["GLOVE-NIT-M"]
    assert gloves.allocation.departed and gloves.allocation.rationale
    assert {d.to: d.chosen - d.recommended for d in gloves.differences if d.chosen != d.recommended}.keys() == {
        "DK-84-RH",
        "DK-84-KBH",
    }
    assert [line.to for line in gloves.allocation.lines if line.dispatched] == ["DK-84-KBH", "DK-84-RH"]

    propofol = replays["PROPOFOL-20"].allocation
    assert propofol.released == 2_000 and propofol.reserved == 0 and propofol.transfers == []

    # FFP3: decided on day 39 while DK-85-SUH's report for day 38 had not arrived; only
    # Rigshospitalet's line was shipped, the rest is still reserved at the stockpile.
    ffp3 = replays["FFP3"]
    late = [(e.depot, e.type, e.changes, e.recorded_after_decision, e.late) for e in ffp3.late_information]
    assert late == [("DK-85-SUH", "ConsumptionReported", ["on_hand", "consumption"], True, True)]
    assert ffp3.hindsight.recommendation != ffp3.known_then.recommendation
    lines = {line.to: line for line in ffp3.allocation.lines}
    assert lines["DK-84-RH"].remaining == 0 and lines["DK-84-RH"].received == lines["DK-84-RH"].quantity
    reserved = lines["DK-83-OUH"].quantity + lines["DK-85-SUH"].quantity
    assert ffp3.allocation.reserved == reserved > 0
    assert ledger.depot("DK-NATIONAL").reserved("FFP3") == reserved
    assert ledger.depot("DK-NATIONAL").reserved("PROPOFOL-20") == ledger.depot("DK-NATIONAL").reserved("FFP2") == 0


def check_correction(ledger: Ledger) -> None:
    """Region Midtjylland's day-10 delivery note was entered twice; the duplicate is corrected
    the next day, linked both ways, dated with it, and recorded over 24 h after it (late)."""
    timeline = Views(ledger, projector=None).timeline("DK-82-CENTRAL", item="FFP2", limit=10_000)
    corrections = [e for e in timeline.entries if e.corrects is not None]
    assert len(corrections) == 1
    [fix] = corrections
    [duplicate] = [e for e in timeline.entries if e.position == fix.corrects.position]
    [original] = [
        e
        for e in timeline.entries
        if e.type == "ReceiptRecorded" and e.occurred_at == duplicate.occurred_at and e.position < duplicate.position
    ]
    assert duplicate.type == "ReceiptRecorded" and duplicate.delta == original.delta > 0
    assert (fix.type, fix.delta, fix.data["reason"]) == ("StockAdjusted", -duplicate.delta, "correction")
    assert [link.position for link in duplicate.corrected_by] == [fix.position]
    assert fix.occurred_at == duplicate.occurred_at and fix.late
    assert fix.balance == original.balance  # the book is as if the duplicate had never been entered


def test_the_demo_goes_only_into_an_empty_ledger(ledger: Ledger) -> None:
    ledger.register_depot(
        cmd.RegisterDepot(code="EXISTING", name="Existing", region="DK-84", organisation="DK-84", kind="regional"),
        Context(actor="test"),
    )
    position = ledger.position()
    with pytest.raises(DemoAlreadyLoaded, match="already has depots"):
        load_demo(ledger, today=TODAY)
    assert ledger.position() == position


@pytest.mark.parametrize(
    "today", [datetime(2026, 3, 10), datetime.now(UTC) + timedelta(days=1)], ids=["naive", "future"]
)
def test_the_demo_needs_an_aware_today_that_is_not_ahead(ledger: Ledger, today: datetime) -> None:
    with pytest.raises(ValueError, match="today"):
        load_demo(ledger, today=today)
    assert ledger.position() == 0


def check_known_then_and_now(ledger: Ledger) -> None:
    """Each simulated day is recorded just after it ends; only the late reports are late, and
    the stock as known before one arrived differs from the stock as known now by its quantity."""
    views = Views(ledger, projector=None)
    timeline = views.timeline("DK-83-OUH", item="PROPOFOL-20", order="recorded", limit=10000)
    late = [entry for entry in timeline.entries if entry.late]
    assert [(entry.type, entry.occurred_at) for entry in late] == [
        ("ConsumptionReported", (START + timedelta(days=41)).isoformat().replace("+00:00", "Z"))
    ]
    report = late[0]
    assert report.position > max(e.position for e in timeline.entries if not e.late)
    as_of = (START + timedelta(days=41)).isoformat()
    then = views.depot_stock("DK-83-OUH", as_of=as_of, known_at=f"pos:{report.position - 1}", item="PROPOFOL-20")
    now = views.depot_stock("DK-83-OUH", as_of=as_of, item="PROPOFOL-20")
    quantity = report.data["quantity"]
    assert then.items[0].on_hand - now.items[0].on_hand == quantity
    assert round((now.items[0].avg_daily_consumption - then.items[0].avg_daily_consumption) * 14) == quantity
    # Ordinary entries were recorded within a day of happening.
    ordinary = views.timeline("DK-84-RH", item="FFP2", limit=10000).entries
    assert ordinary and not any(entry.late for entry in ordinary)


def check_shortage_watch(ledger: Ledger) -> None:
    """The surge opens alerts in the surge regions; Sjællands Universitetshospital's ICU runs out of
    FFP3 on day 39, whose report arrives two days late, so the watch learnt of it 49 hours late."""
    views = AlertViews(ledger)
    [stockout] = views.history(kind="stockout").episodes
    ran_out = START + timedelta(days=40)  # the day-39 report is dated at the midnight ending it
    assert (stockout.depot, stockout.item, stockout.opened_at) == ("DK-85-SUH", "FFP3", utc(ran_out))
    assert stockout.first_known_at is not None and stockout.first_known_at.startswith(
        utc(ran_out + timedelta(hours=49))[:19]
    )
    assert stockout.detection_delay_hours == 49.0
    morning = (ran_out + timedelta(hours=6)).isoformat()
    then = views.alerts(
        as_of=morning, known_at=(ran_out + timedelta(days=1)).isoformat(), depot="DK-85-SUH", item="FFP3"
    )
    assert "stockout" not in {alert.kind for alert in then.alerts}  # the report had not arrived
    now = views.alerts(as_of=morning, depot="DK-85-SUH", item="FFP3", kind="stockout")
    assert [(alert.severity, alert.since, alert.figures["on_hand"]) for alert in now.alerts] == [
        ("critical", utc(ran_out), 0)
    ]
    surge = views.alerts(as_of=END.isoformat(), severity="critical")
    assert {alert.region for alert in surge.alerts} >= {"DK-84", "DK-85"}


def utc(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
