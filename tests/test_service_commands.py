"""The service layer (`ledger.application.Ledger`) on SQLite and PostgreSQL.

Every command, every refusal (a refusal stores nothing: the ledger position does not
move), idempotency, backdated dispatches and races between concurrent commands.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import pytest

from domain import commands as cmd
from domain import events as ev
from domain.exceptions import (
    ConcurrentUpdate,
    DuplicateCode,
    Forbidden,
    IdempotencyKeyReused,
    InsufficientStock,
    InvalidCommand,
    RequestClosed,
    TransferClosed,
    UnknownDepot,
    UnknownItem,
    UnknownRequest,
    UnknownTransfer,
    VersionMismatch,
)
from domain.ids import depot_id
from ledger import clock
from ledger.application import Context, Ledger
from ledger.outcomes import ShortfallLine

T0 = clock.now().replace(microsecond=0)
MASK = "FFP2"
GLOVE = "GLOVE-M"
UNKNOWN = "NO-SUCH-THING"

# Depots: A and C belong to ORG-A, B to ORG-B.
A, B, C = "DEPOT-A", "DEPOT-B", "DEPOT-C"

ANYONE = Context(actor="coordinator")


def day(n: float) -> datetime:
    """`n` days from the start of this test module (negative: in the past)."""
    return T0 + timedelta(days=n)


def operator(*organisations: str, **fields: Any) -> Context:
    return Context(actor=f"operator-{'-'.join(organisations)}", organisations=frozenset(organisations), **fields)


def keyed(key: str, fingerprint: str = "body-1", actor: str = "coordinator") -> Context:
    return Context(actor=actor, idempotency_key=key, fingerprint=fingerprint)


# --- building commands -------------------------------------------------------------------


def define_item(ledger: Ledger, code: str, ctx: Context = ANYONE) -> Any:
    return ledger.define_item(cmd.DefineItem(code=code, name=f"Item {code}", unit="each", category="ppe"), ctx)


def register_depot(ledger: Ledger, code: str, organisation: str, region: str = "R1", ctx: Context = ANYONE) -> Any:
    command = cmd.RegisterDepot(
        code=code, name=f"Depot {code}", region=region, organisation=organisation, kind="regional"
    )
    return ledger.register_depot(command, ctx)


def receipt(
    ledger: Ledger, depot: str, quantity: int, at: datetime | None = None, item: str = MASK, ctx: Context = ANYONE
) -> Any:
    return ledger.record_receipt(depot, cmd.RecordReceipt(item=item, quantity=quantity, occurred_at=at), ctx)


def consumption(
    ledger: Ledger, depot: str, quantity: int, at: datetime | None = None, item: str = MASK, ctx: Context = ANYONE
) -> Any:
    return ledger.report_consumption(depot, cmd.ReportConsumption(item=item, quantity=quantity, occurred_at=at), ctx)


def count(
    ledger: Ledger, depot: str, counted: int, at: datetime | None = None, item: str = MASK, ctx: Context = ANYONE
) -> Any:
    return ledger.count_stock(depot, cmd.CountStock(item=item, counted=counted, occurred_at=at), ctx)


def adjust(
    ledger: Ledger, depot: str, quantity: int, at: datetime | None = None, item: str = MASK, ctx: Context = ANYONE
) -> Any:
    reason = "damaged" if quantity < 0 else "found"
    return ledger.adjust_stock(depot, cmd.AdjustStock(item=item, quantity=quantity, reason=reason, occurred_at=at), ctx)


def dispatch(
    ledger: Ledger,
    source: str,
    destination: str,
    quantity: int | dict[str, int],
    at: datetime | None = None,
    ctx: Context = ANYONE,
) -> Any:
    wanted = {MASK: quantity} if isinstance(quantity, int) else quantity
    lines = [cmd.LineRequest(item=item, quantity=q) for item, q in wanted.items()]
    command = cmd.DispatchTransfer(source=source, destination=destination, lines=lines, occurred_at=at)
    return ledger.dispatch_transfer(command, ctx)


def receive(
    ledger: Ledger,
    transfer_id: str,
    received: dict[str, int] | None = None,
    at: datetime | None = None,
    ctx: Context = ANYONE,
) -> Any:
    lines = None
    if received is not None:
        lines = [cmd.ReceivedQuantity(item=item, quantity_received=q) for item, q in received.items()]
    return ledger.receive_transfer(transfer_id, cmd.ReceiveTransfer(lines=lines, occurred_at=at), ctx)


def cancel(ledger: Ledger, transfer_id: str, at: datetime | None = None, ctx: Context = ANYONE) -> Any:
    return ledger.cancel_transfer(transfer_id, cmd.CancelTransfer(reason="not needed", occurred_at=at), ctx)


def request_supply(ledger: Ledger, depot: str, quantity: int = 50, ctx: Context = ANYONE) -> Any:
    return ledger.request_supply(depot, cmd.RequestSupply(item=MASK, quantity=quantity, priority="critical"), ctx)


def close_request(ledger: Ledger, depot: str, request_id: str, ctx: Context = ANYONE) -> Any:
    return ledger.close_request(depot, request_id, cmd.CloseRequest(outcome="fulfilled"), ctx)


@contextmanager
def stores_nothing(ledger: Ledger) -> Iterator[None]:
    """The block must store no event at all."""
    before = ledger.position()
    yield
    assert ledger.position() == before


def on_hand(ledger: Ledger, depot: str, item: str = MASK) -> int:
    """The aggregate's figure, checked against the journal's fold."""
    figure = ledger.depot(depot).on_hand(item)
    assert ledger.journal.balance_now(depot, item) == figure
    return figure


def stored_events(ledger: Ledger, depot: str) -> list[Any]:
    return list(ledger.events.get(depot_id(depot)))


@pytest.fixture
def world(ledger: Ledger) -> Ledger:
    """Two items, depots A and C of ORG-A, depot B of ORG-B; nothing in stock."""
    define_item(ledger, MASK)
    define_item(ledger, GLOVE)
    register_depot(ledger, A, "ORG-A", region="R1")
    register_depot(ledger, B, "ORG-B", region="R2")
    register_depot(ledger, C, "ORG-A", region="R1")
    return ledger


@pytest.fixture
def stocked(world: Ledger) -> Ledger:
    """The world with 100 masks received at A ten days ago."""
    receipt(world, A, 100, at=day(-10))
    return world


# --- reference data ------------------------------------------------------------------------


def test_define_item_stores_it_in_the_catalogue(ledger: Ledger) -> None:
    amoxicillin = {
        "code": "J01CA04",
        "name": "Amoxicillin 500 mg",
        "unit": "capsule",
        "category": "medicine",
        "atc_code": "J01CA04",
    }
    outcome, replayed = ledger.define_item(cmd.DefineItem(**amoxicillin), ANYONE)
    assert replayed is False
    assert (outcome.code, outcome.unit, outcome.atc_code, outcome.position) == ("J01CA04", "capsule", "J01CA04", 1)
    assert ledger.position() == 1
    assert ledger.item("J01CA04").name == "Amoxicillin 500 mg"
    assert ledger.journal.items() == [{**amoxicillin, "gtins": []}]


def test_register_depot_starts_it_at_version_one(ledger: Ledger) -> None:
    command = cmd.RegisterDepot(
        code=A, name="Central", region="R1", organisation="ORG-A", kind="national", population_served=5_900_000
    )
    outcome, replayed = ledger.register_depot(command, ANYONE)
    assert replayed is False
    assert (outcome.code, outcome.version, outcome.position) == (A, 1, 1)
    depot = ledger.depot(A)
    assert (depot.name, depot.region, depot.organisation, depot.kind, depot.population_served) == (
        "Central",
        "R1",
        "ORG-A",
        "national",
        5_900_000,
    )


def test_registration_may_be_dated_in_the_past(ledger: Ledger) -> None:
    command = cmd.RegisterDepot(
        code=A, name="Central", region="R1", organisation="ORG-A", kind="national", occurred_at=day(-400)
    )
    ledger.register_depot(command, ANYONE)
    assert stored_events(ledger, A)[0].occurred_at == day(-400)


def test_registration_dated_in_the_future_is_refused(ledger: Ledger) -> None:
    in_six_minutes = clock.now() + timedelta(minutes=6)
    command = cmd.RegisterDepot(
        code=A, name="Central", region="R1", organisation="ORG-A", kind="national", occurred_at=in_six_minutes
    )
    with stores_nothing(ledger), pytest.raises(InvalidCommand):
        ledger.register_depot(command, ANYONE)
    with pytest.raises(UnknownDepot):
        ledger.depot(A)


def test_registered_depots_are_listed_by_region_organisation_and_kind(world: Ledger) -> None:
    assert [row["code"] for row in world.journal.depots()] == [A, B, C]
    assert [row["code"] for row in world.journal.depots(region="R1")] == [A, C]
    assert [row["code"] for row in world.journal.depots(organisation="ORG-B")] == [B]
    assert [row["code"] for row in world.journal.depots(kind="hospital")] == []


def test_set_obligation_records_min_days(world: Ledger) -> None:
    outcome, _ = world.set_obligation(A, MASK, cmd.SetObligation(min_days=90), ANYONE)
    assert (outcome.depot, outcome.item, outcome.min_days, outcome.version) == (A, MASK, 90, 2)
    world.set_obligation(A, MASK, cmd.SetObligation(min_days=180), ANYONE)
    assert world.depot(A).obligations == {MASK: 180}


def test_obligation_may_be_dated_and_noted(world: Ledger) -> None:
    world.set_obligation(A, MASK, cmd.SetObligation(min_days=90, occurred_at=day(-30), note="from 2026"), ANYONE)
    event = stored_events(world, A)[-1]
    assert (event.item, event.min_days, event.occurred_at, event.note) == (MASK, 90, day(-30), "from 2026")


def test_duplicate_item_code_is_refused(world: Ledger) -> None:
    with stores_nothing(world), pytest.raises(DuplicateCode) as refused:
        define_item(world, MASK)
    assert refused.value.extra == {"code": MASK}


def test_duplicate_depot_code_is_refused(world: Ledger) -> None:
    with stores_nothing(world), pytest.raises(DuplicateCode) as refused:
        register_depot(world, A, "ORG-B")
    assert refused.value.extra == {"code": A}
    assert world.depot(A).organisation == "ORG-A"


def test_obligation_for_unknown_depot_is_refused(world: Ledger) -> None:
    with stores_nothing(world), pytest.raises(UnknownDepot):
        world.set_obligation(UNKNOWN, MASK, cmd.SetObligation(min_days=90), ANYONE)


def test_obligation_for_unknown_item_is_refused(world: Ledger) -> None:
    with stores_nothing(world), pytest.raises(UnknownItem):
        world.set_obligation(A, UNKNOWN, cmd.SetObligation(min_days=90), ANYONE)


# --- depot commands: facts -------------------------------------------------------------------


def test_record_receipt_adds_to_on_hand(world: Ledger) -> None:
    outcome, replayed = receipt(world, A, 100, at=day(-3))
    assert replayed is False
    assert (outcome.depot, outcome.version, outcome.warnings) == (A, 2, [])
    assert outcome.position == world.position()
    assert on_hand(world, A) == 100
    event = stored_events(world, A)[-1]
    assert isinstance(event, ev.ReceiptRecorded)
    assert (event.quantity, event.occurred_at, event.actor, event.source) == (100, day(-3), "coordinator", "api")


def test_receipt_without_occurred_at_is_dated_now(world: Ledger) -> None:
    before = clock.now()
    receipt(world, A, 5)
    event = stored_events(world, A)[-1]
    assert before <= event.occurred_at <= clock.now()


def test_receipt_keeps_lot_expiry_and_supplier(world: Ledger) -> None:
    command = cmd.RecordReceipt(
        item=MASK, quantity=10, lot="L-77", expires_on=day(300).date(), supplier="Acme", reference="PO-1"
    )
    world.record_receipt(A, command, ANYONE)
    event = stored_events(world, A)[-1]
    assert (event.lot, event.expires_on, event.supplier, event.reference) == ("L-77", day(300).date(), "Acme", "PO-1")
    [row] = world.journal.history(A, MASK)
    assert (row["lot"], row["expires_on"], row["delta"], row["counted"]) == ("L-77", day(300).date(), 10, None)
    assert row["event_type"] == "ReceiptRecorded"


def test_report_consumption_removes_from_on_hand(stocked: Ledger) -> None:
    outcome, _ = consumption(stocked, A, 30, at=day(-2))
    assert outcome.warnings == []
    assert on_hand(stocked, A) == 70


def test_consumption_period_defaults_to_the_day_before_its_end(stocked: Ledger) -> None:
    consumption(stocked, A, 30, at=day(-2))
    event = stored_events(stocked, A)[-1]
    assert (event.period_start, event.period_end, event.occurred_at) == (day(-3), day(-2), day(-2))


def test_consumption_with_period_end_is_dated_at_the_end(stocked: Ledger) -> None:
    command = cmd.ReportConsumption(item=MASK, quantity=7, period_start=day(-8), period_end=day(-1))
    stocked.report_consumption(A, command, ANYONE)
    event = stored_events(stocked, A)[-1]
    assert (event.period_start, event.occurred_at) == (day(-8), day(-1))


def test_consumption_beyond_the_book_is_accepted_with_a_warning(stocked: Ledger) -> None:
    outcome, _ = consumption(stocked, A, 130, at=day(-1))
    assert len(outcome.warnings) == 1
    assert "exceeds the book balance of 100" in outcome.warnings[0]
    assert on_hand(stocked, A) == -30


def test_count_resets_on_hand_and_returns_the_variance(stocked: Ledger) -> None:
    consumption(stocked, A, 30, at=day(-5))
    outcome, _ = count(stocked, A, 64, at=day(-3))
    assert outcome.variance == -6
    assert outcome.warnings == ["count of FFP2 differs from the book: counted 64, book 70, variance -6"]
    assert on_hand(stocked, A) == 64
    event = stored_events(stocked, A)[-1]
    assert (event.counted, event.book_at_recording) == (64, 70)


def test_count_that_agrees_with_the_book_has_zero_variance(stocked: Ledger) -> None:
    outcome, _ = count(stocked, A, 100)
    assert (outcome.variance, outcome.warnings) == (0, [])


def test_backdated_count_variance_uses_the_book_at_its_time(stocked: Ledger) -> None:
    consumption(stocked, A, 30, at=day(-2))
    outcome, _ = count(stocked, A, 90, at=day(-5))
    assert outcome.variance == -10
    assert on_hand(stocked, A) == 60


def test_late_report_before_count_does_not_change_balance(stocked: Ledger) -> None:
    count(stocked, A, 60, at=day(-3))
    outcome, _ = consumption(stocked, A, 30, at=day(-5))
    receipt(stocked, A, 500, at=day(-4))
    assert outcome.warnings == []
    assert on_hand(stocked, A) == 60


def test_movement_at_the_same_instant_as_a_count_applies_after_it(stocked: Ledger) -> None:
    count(stocked, A, 40, at=day(-3))
    receipt(stocked, A, 5, at=day(-3))
    consumption(stocked, A, 2, at=day(-3))
    assert on_hand(stocked, A) == 43


def test_count_dated_before_the_latest_count_warns_and_changes_nothing(stocked: Ledger) -> None:
    count(stocked, A, 70, at=day(-2))
    outcome, _ = count(stocked, A, 5, at=day(-6))
    assert outcome.variance == -95
    assert outcome.warnings[-1] == "a later count of FFP2 exists: this count does not change the current balance"
    assert on_hand(stocked, A) == 70


def test_adjustments_change_on_hand_by_their_signed_quantity(stocked: Ledger) -> None:
    adjust(stocked, A, -12, at=day(-2))
    adjust(stocked, A, 5, at=day(-1))
    assert on_hand(stocked, A) == 93
    event = stored_events(stocked, A)[-1]
    assert (event.quantity, event.reason) == (5, "found")


def test_request_supply_opens_a_request(world: Ledger) -> None:
    outcome, _ = request_supply(world, A, 250)
    assert outcome.request_id is not None and outcome.request_id.startswith("R-")
    request = world.depot(A).open_requests[outcome.request_id]
    assert (request.item, request.quantity, request.priority) == (MASK, 250, "critical")
    assert on_hand(world, A) == 0


def test_close_request_closes_it(world: Ledger) -> None:
    opened, _ = request_supply(world, A)
    outcome, _ = close_request(world, A, opened.request_id)
    assert (outcome.request_id, outcome.version) == (opened.request_id, 3)
    assert world.depot(A).open_requests == {}


def test_closing_a_closed_request_is_refused(world: Ledger) -> None:
    opened, _ = request_supply(world, A)
    close_request(world, A, opened.request_id)
    with stores_nothing(world), pytest.raises(RequestClosed):
        close_request(world, A, opened.request_id)


def test_closing_an_unknown_request_is_refused(world: Ledger) -> None:
    request_supply(world, A)
    with stores_nothing(world), pytest.raises(UnknownRequest):
        close_request(world, A, "R-000000000000")


def test_closing_another_depots_request_is_unknown(world: Ledger) -> None:
    opened, _ = request_supply(world, A)
    with stores_nothing(world), pytest.raises(UnknownRequest):
        close_request(world, C, opened.request_id)


@pytest.mark.parametrize(
    "write",
    [
        lambda ledger: receipt(ledger, UNKNOWN, 1),
        lambda ledger: consumption(ledger, UNKNOWN, 1),
        lambda ledger: count(ledger, UNKNOWN, 1),
        lambda ledger: adjust(ledger, UNKNOWN, 1),
        lambda ledger: request_supply(ledger, UNKNOWN),
        lambda ledger: close_request(ledger, UNKNOWN, "R-1"),
        lambda ledger: dispatch(ledger, UNKNOWN, A, 1),
        lambda ledger: dispatch(ledger, A, UNKNOWN, 1),
    ],
    ids=["receipt", "consumption", "count", "adjustment", "request", "close", "dispatch-from", "dispatch-to"],
)
def test_command_on_unknown_depot_is_refused(stocked: Ledger, write: Callable[[Ledger], Any]) -> None:
    with stores_nothing(stocked), pytest.raises(UnknownDepot) as refused:
        write(stocked)
    assert refused.value.extra == {"depot": UNKNOWN}


@pytest.mark.parametrize(
    "write",
    [
        lambda ledger: receipt(ledger, A, 1, item=UNKNOWN),
        lambda ledger: consumption(ledger, A, 1, item=UNKNOWN),
        lambda ledger: count(ledger, A, 1, item=UNKNOWN),
        lambda ledger: adjust(ledger, A, 1, item=UNKNOWN),
        lambda ledger: ledger.request_supply(A, cmd.RequestSupply(item=UNKNOWN, quantity=1), ANYONE),
        lambda ledger: dispatch(ledger, A, B, {MASK: 1, UNKNOWN: 1}),
    ],
    ids=["receipt", "consumption", "count", "adjustment", "request", "dispatch"],
)
def test_command_on_unknown_item_is_refused(stocked: Ledger, write: Callable[[Ledger], Any]) -> None:
    with stores_nothing(stocked), pytest.raises(UnknownItem) as refused:
        write(stocked)
    assert refused.value.extra == {"item": UNKNOWN}


# --- occurred_at may not be in the future --------------------------------------------------------


@pytest.mark.parametrize(
    "write",
    [
        lambda ledger, at: receipt(ledger, A, 1, at=at),
        lambda ledger, at: consumption(ledger, A, 1, at=at),
        lambda ledger, at: count(ledger, A, 1, at=at),
        lambda ledger, at: adjust(ledger, A, 1, at=at),
        lambda ledger, at: dispatch(ledger, A, B, 1, at=at),
    ],
    ids=["receipt", "consumption", "count", "adjustment", "dispatch"],
)
def test_occurred_at_more_than_five_minutes_ahead_is_refused(
    stocked: Ledger, write: Callable[[Ledger, datetime], Any]
) -> None:
    with stores_nothing(stocked), pytest.raises(InvalidCommand) as refused:
        write(stocked, clock.now() + timedelta(minutes=6))
    assert refused.value.extra["errors"][0]["loc"] == ["body", "occurred_at"]
    assert on_hand(stocked, A) == 100


def test_consumption_period_starting_in_the_future_is_refused(stocked: Ledger) -> None:
    command = cmd.ReportConsumption(item=MASK, quantity=1, period_start=clock.now() + timedelta(hours=1))
    with stores_nothing(stocked), pytest.raises(InvalidCommand):
        stocked.report_consumption(A, command, ANYONE)


def test_occurred_at_within_five_minutes_ahead_is_accepted(stocked: Ledger) -> None:
    receipt(stocked, A, 1, at=clock.now() + timedelta(minutes=4))
    assert on_hand(stocked, A) == 101


def test_receipt_and_cancellation_may_not_be_in_the_future(stocked: Ledger) -> None:
    transfer, _ = dispatch(stocked, A, B, 10)
    future = clock.now() + timedelta(minutes=6)
    with stores_nothing(stocked), pytest.raises(InvalidCommand):
        receive(stocked, transfer.transfer_id, at=future)
    with stores_nothing(stocked), pytest.raises(InvalidCommand):
        cancel(stocked, transfer.transfer_id, at=future)


# --- version and permission -------------------------------------------------------------------


def test_command_at_the_expected_version_is_accepted(stocked: Ledger) -> None:
    outcome, _ = receipt(stocked, A, 1, ctx=Context(actor="x", expected_version=2))
    assert outcome.version == 3


def test_command_at_another_version_is_version_mismatch(stocked: Ledger) -> None:
    with stores_nothing(stocked), pytest.raises(VersionMismatch) as refused:
        receipt(stocked, A, 1, ctx=Context(actor="x", expected_version=1))
    assert refused.value.extra == {"expected": 1, "actual": 2}


def test_dispatch_checks_the_expected_version_of_the_source(stocked: Ledger) -> None:
    with stores_nothing(stocked), pytest.raises(VersionMismatch):
        dispatch(stocked, A, B, 1, ctx=Context(actor="x", expected_version=1))
    outcome, _ = dispatch(stocked, A, B, 1, ctx=Context(actor="x", expected_version=2))
    assert outcome.status == "in_transit"


@pytest.mark.parametrize(
    "write",
    [
        lambda ledger, ctx: receipt(ledger, B, 1, ctx=ctx),
        lambda ledger, ctx: consumption(ledger, B, 1, ctx=ctx),
        lambda ledger, ctx: count(ledger, B, 1, ctx=ctx),
        lambda ledger, ctx: adjust(ledger, B, 1, ctx=ctx),
        lambda ledger, ctx: request_supply(ledger, B, ctx=ctx),
        lambda ledger, ctx: ledger.set_obligation(B, MASK, cmd.SetObligation(min_days=90), ctx),
        lambda ledger, ctx: dispatch(ledger, B, A, 1, ctx=ctx),
    ],
    ids=["receipt", "consumption", "count", "adjustment", "request", "obligation", "dispatch-from"],
)
def test_writing_to_another_organisations_depot_is_forbidden(
    stocked: Ledger, write: Callable[[Ledger, Context], Any]
) -> None:
    receipt(stocked, B, 50)
    with stores_nothing(stocked), pytest.raises(Forbidden) as refused:
        write(stocked, operator("ORG-A"))
    assert refused.value.extra == {"depot": B}


def test_operator_writes_to_its_own_organisations_depots(stocked: Ledger) -> None:
    receipt(stocked, A, 1, ctx=operator("ORG-A"))
    receipt(stocked, C, 2, ctx=operator("ORG-A"))
    receipt(stocked, B, 3, ctx=operator("ORG-A", "ORG-B"))
    assert (on_hand(stocked, A), on_hand(stocked, C), on_hand(stocked, B)) == (101, 2, 3)


def test_operator_may_dispatch_to_another_organisation_which_receives_it(stocked: Ledger) -> None:
    transfer, _ = dispatch(stocked, A, B, 10, ctx=operator("ORG-A"))
    with stores_nothing(stocked), pytest.raises(Forbidden):
        receive(stocked, transfer.transfer_id, ctx=operator("ORG-A"))
    receive(stocked, transfer.transfer_id, ctx=operator("ORG-B"))
    assert (on_hand(stocked, A), on_hand(stocked, B)) == (90, 10)


def test_only_the_source_organisation_may_cancel(stocked: Ledger) -> None:
    transfer, _ = dispatch(stocked, A, B, 10)
    with stores_nothing(stocked), pytest.raises(Forbidden):
        cancel(stocked, transfer.transfer_id, ctx=operator("ORG-B"))
    cancel(stocked, transfer.transfer_id, ctx=operator("ORG-A"))
    assert on_hand(stocked, A) == 100


# --- transfers ---------------------------------------------------------------------------


def test_dispatch_moves_stock_into_transit_at_both_depots(stocked: Ledger) -> None:
    before = stocked.position()
    outcome, replayed = dispatch(stocked, A, B, 30, at=day(-1))
    assert (outcome.status, replayed) == ("in_transit", False)
    assert outcome.position == stocked.position() == before + 2
    assert on_hand(stocked, A) == 70
    assert on_hand(stocked, B) == 0
    assert stocked.depot(A).in_transit(MASK, "out") == 30
    assert stocked.depot(B).in_transit(MASK, "in") == 30
    assert isinstance(stored_events(stocked, A)[-1], ev.TransferDispatched)
    assert isinstance(stored_events(stocked, B)[-1], ev.TransferExpected)
    transfer = stocked.journal.transfer(outcome.transfer_id)
    assert transfer is not None
    assert (transfer["source"], transfer["destination"], transfer["status"]) == (A, B, "in_transit")
    assert transfer["lines"] == [{"item": MASK, "quantity": 30, "lot": None, "expires_on": None}]
    assert transfer["dispatched_at"] == day(-1)


def test_dispatch_of_several_items_moves_each(stocked: Ledger) -> None:
    receipt(stocked, A, 40, item=GLOVE, at=day(-10))
    dispatch(stocked, A, B, {MASK: 30, GLOVE: 40}, at=day(-1))
    assert (on_hand(stocked, A, MASK), on_hand(stocked, A, GLOVE)) == (70, 0)
    assert stocked.depot(B).in_transit(GLOVE, "in") == 40


def test_dispatch_of_more_than_on_hand_is_insufficient_stock(stocked: Ledger) -> None:
    with stores_nothing(stocked), pytest.raises(InsufficientStock) as refused:
        dispatch(stocked, A, B, 101)
    assert refused.value.extra == {"depot": A, "item": MASK, "available": 100, "requested": 101}


def test_dispatch_of_two_lines_of_one_item_is_checked_on_their_sum(stocked: Ledger) -> None:
    lines = [cmd.LineRequest(item=MASK, quantity=60, lot="L1"), cmd.LineRequest(item=MASK, quantity=41, lot="L2")]
    with stores_nothing(stocked), pytest.raises(InsufficientStock) as refused:
        stocked.dispatch_transfer(cmd.DispatchTransfer(source=A, destination=B, lines=lines), ANYONE)
    assert (refused.value.extra["available"], refused.value.extra["requested"]) == (100, 101)


def test_dispatch_of_an_item_not_in_stock_is_insufficient_stock(stocked: Ledger) -> None:
    with stores_nothing(stocked), pytest.raises(InsufficientStock) as refused:
        dispatch(stocked, A, B, {MASK: 10, GLOVE: 1})
    assert refused.value.extra == {"depot": A, "item": GLOVE, "available": 0, "requested": 1}


def test_dispatch_of_everything_on_hand_is_accepted(stocked: Ledger) -> None:
    dispatch(stocked, A, B, 100)
    assert on_hand(stocked, A) == 0


def test_receipt_of_a_transfer_lands_everything_at_the_destination(stocked: Ledger) -> None:
    transfer, _ = dispatch(stocked, A, B, 30, at=day(-2))
    before = stocked.position()
    outcome, _ = receive(stocked, transfer.transfer_id, at=day(-1))
    assert (outcome.status, outcome.shortfall) == ("received", [])
    assert stocked.position() == before + 2
    assert (on_hand(stocked, A), on_hand(stocked, B)) == (70, 30)
    assert stocked.depot(A).in_transit(MASK, "out") == stocked.depot(B).in_transit(MASK, "in") == 0
    assert isinstance(stored_events(stocked, A)[-1], ev.TransferDelivered)
    row = stocked.journal.transfer(transfer.transfer_id)
    assert row is not None
    assert (row["status"], row["received_at"]) == ("received", day(-1))
    assert row["received_lines"] == [{"item": MASK, "quantity_dispatched": 30, "quantity_received": 30}]


def test_partial_receipt_records_the_shortfall(stocked: Ledger) -> None:
    transfer, _ = dispatch(stocked, A, B, 30, at=day(-2))
    outcome, _ = receive(stocked, transfer.transfer_id, {MASK: 26}, at=day(-1))
    assert outcome.shortfall == [ShortfallLine(item=MASK, quantity_dispatched=30, quantity_received=26, shortfall=4)]
    assert (on_hand(stocked, A), on_hand(stocked, B)) == (70, 26)


def test_receiving_more_than_dispatched_is_refused(stocked: Ledger) -> None:
    transfer, _ = dispatch(stocked, A, B, 30)
    with stores_nothing(stocked), pytest.raises(InvalidCommand):
        receive(stocked, transfer.transfer_id, {MASK: 31})
    assert stocked.journal.transfer(transfer.transfer_id)["status"] == "in_transit"  # type: ignore[index]


def test_receiving_an_item_not_in_the_transfer_is_refused(stocked: Ledger) -> None:
    transfer, _ = dispatch(stocked, A, B, 30)
    with stores_nothing(stocked), pytest.raises(InvalidCommand):
        receive(stocked, transfer.transfer_id, {MASK: 30, GLOVE: 1})


def test_receipt_dated_before_the_dispatch_is_refused(stocked: Ledger) -> None:
    transfer, _ = dispatch(stocked, A, B, 30, at=day(-2))
    with stores_nothing(stocked), pytest.raises(InvalidCommand):
        receive(stocked, transfer.transfer_id, at=day(-3))


def test_cancellation_returns_stock_to_the_source(stocked: Ledger) -> None:
    transfer, _ = dispatch(stocked, A, B, 30, at=day(-2))
    before = stocked.position()
    outcome, _ = cancel(stocked, transfer.transfer_id, at=day(-1))
    assert outcome.status == "cancelled"
    assert stocked.position() == before + 2
    assert (on_hand(stocked, A), on_hand(stocked, B)) == (100, 0)
    assert stocked.depot(A).in_transit(MASK, "out") == stocked.depot(B).in_transit(MASK, "in") == 0
    row = stocked.journal.transfer(transfer.transfer_id)
    assert row is not None
    assert (row["status"], row["cancelled_at"], row["cancel_reason"]) == ("cancelled", day(-1), "not needed")


def test_receiving_a_received_transfer_is_transfer_closed(stocked: Ledger) -> None:
    transfer, _ = dispatch(stocked, A, B, 30)
    receive(stocked, transfer.transfer_id)
    with stores_nothing(stocked), pytest.raises(TransferClosed) as refused:
        receive(stocked, transfer.transfer_id)
    assert refused.value.extra == {"transfer_id": transfer.transfer_id, "transfer_status": "received"}
    assert on_hand(stocked, B) == 30


def test_cancelling_a_received_transfer_is_transfer_closed(stocked: Ledger) -> None:
    transfer, _ = dispatch(stocked, A, B, 30)
    receive(stocked, transfer.transfer_id)
    with stores_nothing(stocked), pytest.raises(TransferClosed):
        cancel(stocked, transfer.transfer_id)
    assert (on_hand(stocked, A), on_hand(stocked, B)) == (70, 30)


def test_receiving_a_cancelled_transfer_is_transfer_closed(stocked: Ledger) -> None:
    transfer, _ = dispatch(stocked, A, B, 30)
    cancel(stocked, transfer.transfer_id)
    with stores_nothing(stocked), pytest.raises(TransferClosed):
        receive(stocked, transfer.transfer_id)
    with stores_nothing(stocked), pytest.raises(TransferClosed):
        cancel(stocked, transfer.transfer_id)
    assert (on_hand(stocked, A), on_hand(stocked, B)) == (100, 0)


@contextmanager
def journal_read_before(ledger: Ledger, transfer_id: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """After the block, commands read the transfer's journal row as it was before it: the window
    of a race in which another command (the block) closes the transfer just after this one read it."""
    stale = ledger.journal.transfer(transfer_id)
    yield
    monkeypatch.setattr(ledger.journal, "transfer", lambda wanted: stale if wanted == transfer_id else None)


@pytest.mark.parametrize("closed_by", [receive, cancel], ids=["received", "cancelled"])
def test_receipt_losing_a_race_to_close_the_transfer_is_transfer_closed(
    stocked: Ledger, monkeypatch: pytest.MonkeyPatch, closed_by: Callable[[Ledger, str], Any]
) -> None:
    transfer, _ = dispatch(stocked, A, B, 30)
    with journal_read_before(stocked, transfer.transfer_id, monkeypatch):
        closed_by(stocked, transfer.transfer_id)
    with stores_nothing(stocked), pytest.raises(TransferClosed):
        receive(stocked, transfer.transfer_id)


@pytest.mark.parametrize("closed_by", [receive, cancel], ids=["received", "cancelled"])
def test_cancellation_losing_a_race_to_close_the_transfer_is_transfer_closed(
    stocked: Ledger, monkeypatch: pytest.MonkeyPatch, closed_by: Callable[[Ledger, str], Any]
) -> None:
    transfer, _ = dispatch(stocked, A, B, 30)
    with journal_read_before(stocked, transfer.transfer_id, monkeypatch):
        closed_by(stocked, transfer.transfer_id)
    with stores_nothing(stocked), pytest.raises(TransferClosed):
        cancel(stocked, transfer.transfer_id)


def test_receiving_an_unknown_transfer_is_refused(stocked: Ledger) -> None:
    with stores_nothing(stocked), pytest.raises(UnknownTransfer):
        receive(stocked, "T-000000000000")


def test_cancelling_an_unknown_transfer_is_refused(stocked: Ledger) -> None:
    with stores_nothing(stocked), pytest.raises(UnknownTransfer):
        cancel(stocked, "T-000000000000")


def test_transfers_are_listed_by_status_and_depot(stocked: Ledger) -> None:
    first, _ = dispatch(stocked, A, B, 10)
    second, _ = dispatch(stocked, A, C, 10)
    receive(stocked, first.transfer_id)
    assert [t["transfer_id"] for t in stocked.journal.transfers(status="in_transit")] == [second.transfer_id]
    assert [t["transfer_id"] for t in stocked.journal.transfers(source=A)] == [first.transfer_id, second.transfer_id]
    assert [t["transfer_id"] for t in stocked.journal.transfers(region="R2")] == [first.transfer_id]


# --- backdated dispatches -------------------------------------------------------------------


def test_backdated_dispatch_is_refused_if_a_later_balance_would_go_negative(stocked: Ledger) -> None:
    consumption(stocked, A, 80, at=day(-2))
    with stores_nothing(stocked), pytest.raises(InsufficientStock) as refused:
        dispatch(stocked, A, B, 50, at=day(-5))  # 100 on hand at day -5, but only 20 after day -2
    assert refused.value.extra == {"depot": A, "item": MASK, "available": 20, "requested": 50}


def test_backdated_dispatch_within_every_later_balance_is_accepted(stocked: Ledger) -> None:
    consumption(stocked, A, 80, at=day(-2))
    dispatch(stocked, A, B, 20, at=day(-5))
    assert on_hand(stocked, A) == 0


def test_backdated_dispatch_is_limited_by_the_balance_at_its_time(stocked: Ledger) -> None:
    receipt(stocked, A, 400, at=day(-1))
    with stores_nothing(stocked), pytest.raises(InsufficientStock) as refused:
        dispatch(stocked, A, B, 101, at=day(-5))  # 500 now, but only 100 at day -5
    assert refused.value.extra["available"] == 100


def test_backdated_dispatch_before_a_count_only_needs_stock_up_to_the_count(stocked: Ledger) -> None:
    count(stocked, A, 100, at=day(-3))
    consumption(stocked, A, 90, at=day(-1))  # 10 on hand now
    dispatch(stocked, A, B, 60, at=day(-5))  # the count at day -3 already saw it leave
    assert on_hand(stocked, A) == 10
    assert stocked.depot(B).in_transit(MASK, "in") == 60


def test_backdated_dispatch_without_a_later_count_needs_stock_now(stocked: Ledger) -> None:
    consumption(stocked, A, 90, at=day(-1))
    with stores_nothing(stocked), pytest.raises(InsufficientStock) as refused:
        dispatch(stocked, A, B, 60, at=day(-5))
    assert refused.value.extra["available"] == 10


def test_backdated_dispatch_checks_balances_before_the_next_count(stocked: Ledger) -> None:
    consumption(stocked, A, 70, at=day(-4))
    count(stocked, A, 500, at=day(-2))
    with stores_nothing(stocked), pytest.raises(InsufficientStock) as refused:
        dispatch(stocked, A, B, 50, at=day(-5))  # 100 -> 50 -> -20 at day -4, before the count
    assert refused.value.extra["available"] == 30


def test_backdated_dispatch_counts_movements_at_the_instant_of_the_next_count(stocked: Ledger) -> None:
    """End-of-day reports and counts share an instant: the consumption (recorded first) comes
    before the count, so a dispatch of 50 dated day -5 would make the balance just before the
    count 100 - 50 - 80 = -30. Only 20 could leave."""
    consumption(stocked, A, 80, at=day(-2))
    count(stocked, A, 20, at=day(-2))
    with stores_nothing(stocked), pytest.raises(InsufficientStock) as refused:
        dispatch(stocked, A, B, 50, at=day(-5))
    assert refused.value.extra["available"] == 20


def test_dispatch_at_the_instant_of_the_latest_movement_uses_on_hand(stocked: Ledger) -> None:
    consumption(stocked, A, 30, at=day(-2))
    with stores_nothing(stocked), pytest.raises(InsufficientStock) as refused:
        dispatch(stocked, A, B, 71, at=day(-2))
    assert refused.value.extra["available"] == 70


# --- idempotency --------------------------------------------------------------------------


def test_repeated_receipt_with_the_same_key_returns_the_original_outcome(stocked: Ledger) -> None:
    first, replayed_first = receipt(stocked, A, 10, ctx=keyed("k-1"))
    with stores_nothing(stocked):
        again, replayed_again = receipt(stocked, A, 10, ctx=keyed("k-1"))
    assert (replayed_first, replayed_again) == (False, True)
    assert again == first
    assert on_hand(stocked, A) == 110


def test_repeated_dispatch_with_the_same_key_returns_the_same_transfer(stocked: Ledger) -> None:
    first, _ = dispatch(stocked, A, B, 10, ctx=keyed("k-1"))
    with stores_nothing(stocked):
        again, replayed = dispatch(stocked, A, B, 10, ctx=keyed("k-1"))
    assert replayed is True
    assert again == first
    assert len(stocked.journal.transfers()) == 1
    assert on_hand(stocked, A) == 90


def test_repeated_count_with_the_same_key_returns_the_original_variance(stocked: Ledger) -> None:
    first, _ = count(stocked, A, 90, ctx=keyed("k-1"))
    consumption(stocked, A, 5)
    with stores_nothing(stocked):
        again, replayed = count(stocked, A, 90, ctx=keyed("k-1"))
    assert (replayed, again.variance, again) == (True, -10, first)
    assert on_hand(stocked, A) == 85


def test_repeated_registration_with_the_same_key_is_not_a_duplicate(ledger: Ledger) -> None:
    first, _ = register_depot(ledger, A, "ORG-A", ctx=keyed("k-1"))
    with stores_nothing(ledger):
        again, replayed = register_depot(ledger, A, "ORG-A", ctx=keyed("k-1"))
    assert (replayed, again) == (True, first)


def test_repeated_receipt_of_a_transfer_with_the_same_key_is_not_closed(stocked: Ledger) -> None:
    transfer, _ = dispatch(stocked, A, B, 30)
    first, _ = receive(stocked, transfer.transfer_id, {MASK: 25}, ctx=keyed("k-1"))
    with stores_nothing(stocked):
        again, replayed = receive(stocked, transfer.transfer_id, {MASK: 25}, ctx=keyed("k-1"))
    assert (replayed, again) == (True, first)
    assert again.shortfall[0].shortfall == 5


def test_same_key_with_a_different_request_is_refused(stocked: Ledger) -> None:
    receipt(stocked, A, 10, ctx=keyed("k-1", fingerprint="body-1"))
    with stores_nothing(stocked), pytest.raises(IdempotencyKeyReused) as refused:
        receipt(stocked, A, 11, ctx=keyed("k-1", fingerprint="body-2"))
    assert refused.value.extra == {"key": "k-1"}
    assert on_hand(stocked, A) == 110


def test_idempotency_keys_are_scoped_to_the_actor(stocked: Ledger) -> None:
    receipt(stocked, A, 10, ctx=keyed("k-1", actor="alice"))
    _, replayed = receipt(stocked, A, 10, ctx=keyed("k-1", actor="bob"))
    assert replayed is False
    assert on_hand(stocked, A) == 120


def test_repeat_with_a_key_is_replayed_even_after_the_depot_moved_on(stocked: Ledger) -> None:
    ctx = Context(actor="coordinator", idempotency_key="k-1", fingerprint="fp", expected_version=2)
    first, _ = receipt(stocked, A, 10, ctx=ctx)
    receipt(stocked, A, 1)
    with stores_nothing(stocked):
        again, replayed = receipt(stocked, A, 10, ctx=ctx)
    assert (replayed, again) == (True, first)


def test_outcome_is_stored_with_its_key(stocked: Ledger) -> None:
    outcome, _ = receipt(stocked, A, 10, ctx=keyed("k-1", fingerprint="fp"))
    stored = stocked.journal.idempotency("coordinator", "k-1")
    assert stored is not None
    fingerprint, body = stored
    assert fingerprint == "fp"
    assert body["position"] == outcome.position
    assert body["event_id"] == outcome.event_id


# --- snapshots -------------------------------------------------------------------------


def test_depot_with_more_events_than_the_snapshot_interval_loads_the_same(world: Ledger) -> None:
    for n in range(120):
        at = day(-60 + n * 0.4)
        if n % 40 == 39:
            count(world, A, 1000 + n, at=at)
        elif n % 3 == 0:
            consumption(world, A, 7, at=at)
        else:
            receipt(world, A, 11, at=at)
    assert world.snapshots is not None
    snapshots = list(world.snapshots.get(depot_id(A)))
    assert [s.originator_version for s in snapshots] == [100]
    depot = world.depot(A)
    assert depot.version == 121
    # last count 1119 at n=119 resets; nothing after it
    assert depot.on_hand(MASK) == world.journal.balance_now(A, MASK) == 1119


# --- concurrency --------------------------------------------------------------------------


def race(threads: int, action: Callable[[int], Any]) -> list[tuple[str, Any]]:
    """Run `action(i)` in `threads` threads started together; each result is ("ok", value) or ("error", exception)."""
    barrier = threading.Barrier(threads)
    results: list[tuple[str, Any]] = [("missing", None)] * threads

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = ("ok", action(i))
        except Exception as error:  # noqa: BLE001 - reported to the test
            results[i] = ("error", error)

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    return results


def test_racing_dispatches_never_over_commit(stocked: Ledger) -> None:
    results = race(8, lambda i: dispatch(stocked, A, B if i % 2 else C, 15))
    accepted = [value for kind, value in results if kind == "ok"]
    refused = [value for kind, value in results if kind == "error"]
    assert all(isinstance(error, (InsufficientStock, ConcurrentUpdate)) for error in refused), refused
    assert 15 * len(accepted) <= 100
    assert on_hand(stocked, A) == 100 - 15 * len(accepted)
    # every loser of a race is decided again, so all the stock that can go does go
    assert len(accepted) == 6
    assert all(error.extra["available"] == 10 for error in refused)
    assert len({outcome.transfer_id for outcome, _ in accepted}) == 6
    assert len(stocked.journal.transfers()) == 6


def test_racing_dispatches_of_a_backdated_stock_never_over_commit(stocked: Ledger) -> None:
    consumption(stocked, A, 40, at=day(-2))  # 60 left after day -2
    results = race(6, lambda i: dispatch(stocked, A, B, 25, at=day(-5)))
    accepted = [value for kind, value in results if kind == "ok"]
    assert len(accepted) == 2
    assert on_hand(stocked, A) == 10


def test_concurrent_commands_with_one_key_store_one_command(stocked: Ledger) -> None:
    before = stocked.position()
    results = race(8, lambda i: receipt(stocked, A, 10, ctx=keyed("same-key")))
    assert [kind for kind, _ in results] == ["ok"] * 8, results
    outcomes = [outcome for _, (outcome, _) in results]
    replays = [replayed for _, (_, replayed) in results]
    assert stocked.position() == before + 1
    assert replays.count(False) == 1
    assert all(outcome == outcomes[0] for outcome in outcomes)
    assert on_hand(stocked, A) == 110


def test_concurrent_dispatches_with_one_key_store_one_transfer(stocked: Ledger) -> None:
    before = stocked.position()
    results = race(8, lambda i: dispatch(stocked, A, B, 10, ctx=keyed("same-key")))
    assert [kind for kind, _ in results] == ["ok"] * 8, results
    outcomes = {outcome.transfer_id for _, (outcome, _) in results}
    assert stocked.position() == before + 2  # TransferDispatched and TransferExpected
    assert len(outcomes) == 1
    assert [t["transfer_id"] for t in stocked.journal.transfers()] == list(outcomes)
    assert on_hand(stocked, A) == 90


def test_racing_receipt_and_cancellation_close_the_transfer_once(stocked: Ledger) -> None:
    transfer, _ = dispatch(stocked, A, B, 30)
    before = stocked.position()
    results = race(
        6, lambda i: receive(stocked, transfer.transfer_id) if i % 2 else cancel(stocked, transfer.transfer_id)
    )
    accepted = [value for kind, value in results if kind == "ok"]
    refused = [value for kind, value in results if kind == "error"]
    assert len(accepted) == 1, results
    assert all(isinstance(error, TransferClosed) for error in refused), refused
    assert stocked.position() == before + 2
    status = accepted[0][0].status
    assert stocked.journal.transfer(transfer.transfer_id)["status"] == status  # type: ignore[index]
    expected = {"received": (70, 30), "cancelled": (100, 0)}[status]
    assert (on_hand(stocked, A), on_hand(stocked, B)) == expected


def test_racing_commands_expecting_one_version_store_only_one(stocked: Ledger) -> None:
    before = stocked.position()
    results = race(6, lambda i: receipt(stocked, A, 10, ctx=Context(actor=f"op-{i}", expected_version=2)))
    accepted = [value for kind, value in results if kind == "ok"]
    refused = [value for kind, value in results if kind == "error"]
    assert len(accepted) == 1
    assert all(isinstance(error, VersionMismatch) for error in refused), refused
    assert stocked.position() == before + 1
    assert on_hand(stocked, A) == 110
