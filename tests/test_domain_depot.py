"""The depot aggregate and the stock arithmetic, with no storage at all.

DESIGN.md "Core ideas" 3-5 and "Derived figures": facts change `on_hand`, a count is
ground truth, transfers move stock between two depots through "in transit".
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from domain import events as ev
from domain.aggregate import projector
from domain.depot import Depot, Stamp
from domain.exceptions import InsufficientStock, InvalidCommand, RequestClosed, TransferClosed, UnknownTransfer
from domain.ids import depot_id
from domain.stock import Movement, balance, dispatchable

NOW = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
MASK = "FFP2"
GLOVE = "GLOVE-M"


def day(n: float) -> datetime:
    """`n` days from NOW (negative: in the past)."""
    return NOW + timedelta(days=n)


def stamp(at: datetime) -> Stamp:
    return Stamp(occurred_at=at, actor="tester", source="api", command_id=uuid.uuid4().hex)


def new_depot(code: str = "DEPOT-A") -> Depot:
    return Depot.start(
        ev.DepotRegistered,
        depot_id(code),
        code=code,
        name=f"Depot {code}",
        region="REGION-1",
        organisation="ORG-1",
        kind="regional",
        occurred_at=day(-60),
        actor="tester",
        source="api",
        command_id=uuid.uuid4().hex,
    )


def receive(depot: Depot, quantity: int, at: datetime, item: str = MASK) -> None:
    depot.record_receipt(stamp(at), item=item, quantity=quantity)


def consume(depot: Depot, quantity: int, at: datetime, item: str = MASK) -> list[str]:
    _, warnings = depot.report_consumption(item, quantity, at - timedelta(days=1), stamp(at))
    return warnings


def adjust(depot: Depot, quantity: int, at: datetime, item: str = MASK) -> None:
    depot.adjust(item, quantity, "damaged" if quantity < 0 else "found", None, stamp(at))


def count(depot: Depot, counted: int, book_at: int, at: datetime, item: str = MASK) -> ev.StockCounted:
    """`book_at` is what the service layer would pass: the book at the count's time."""
    event, _ = depot.count(item, counted, book_at, stamp(at))
    return event


def dispatch(
    source: Depot, destination: Depot, quantity: int, at: datetime, item: str = MASK, available: int | None = None
) -> ev.TransferDispatched:
    transfer_id = f"T-{uuid.uuid4().hex[:12]}"
    lines = (ev.TransferLine(item=item, quantity=quantity),)
    available_now = source.available(item) if available is None else available
    dispatched = source.dispatch(transfer_id, destination.code, lines, {item: available_now}, stamp(at))
    destination.expect(dispatched, source.code)
    return dispatched


def receive_transfer(
    source: Depot, destination: Depot, transfer_id: str, received: dict[str, int] | None, at: datetime
) -> ev.TransferReceived:
    event = destination.receive(transfer_id, received, stamp(at))
    source.deliver(event)
    return event


def rebuilt(depot: Depot) -> Depot:
    """The depot folded again from every event it triggered, as the repository would."""
    rebuilt_depot = projector(Depot)(None, depot.pending_events)
    assert rebuilt_depot is not None
    return rebuilt_depot


# --- facts change on_hand ---------------------------------------------------------------


def test_new_depot_has_nothing_on_hand() -> None:
    depot = new_depot()
    assert depot.on_hand(MASK) == 0
    assert depot.version == 1


def test_receipt_adds_to_on_hand() -> None:
    depot = new_depot()
    receive(depot, 100, day(-3))
    receive(depot, 25, day(-2))
    assert depot.on_hand(MASK) == 125


def test_consumption_removes_from_on_hand() -> None:
    depot = new_depot()
    receive(depot, 100, day(-3))
    consume(depot, 30, day(-2))
    assert depot.on_hand(MASK) == 70


def test_adjustments_add_and_remove_signed_quantities() -> None:
    depot = new_depot()
    receive(depot, 100, day(-3))
    adjust(depot, -12, day(-2))
    adjust(depot, 5, day(-1))
    assert depot.on_hand(MASK) == 93


def test_items_have_separate_books() -> None:
    depot = new_depot()
    receive(depot, 100, day(-3), item=MASK)
    receive(depot, 40, day(-3), item=GLOVE)
    consume(depot, 10, day(-2), item=GLOVE)
    assert (depot.on_hand(MASK), depot.on_hand(GLOVE)) == (100, 30)


def test_consumption_beyond_the_book_is_accepted_with_a_warning() -> None:
    depot = new_depot()
    receive(depot, 10, day(-3))
    warnings = consume(depot, 25, day(-2))
    assert depot.on_hand(MASK) == -15
    assert len(warnings) == 1 and "exceeds the book balance of 10" in warnings[0]


def test_consumption_event_is_dated_at_the_end_of_its_period() -> None:
    depot = new_depot()
    event, _ = depot.report_consumption(MASK, 5, day(-3), stamp(day(-2)))
    assert (event.period_start, event.period_end, event.occurred_at) == (day(-3), day(-2), day(-2))


def test_each_event_increments_the_version() -> None:
    depot = new_depot()
    receive(depot, 10, day(-3))
    consume(depot, 1, day(-2))
    assert depot.version == 3
    assert [e.originator_version for e in depot.pending_events] == [1, 2, 3]


# --- a count is ground truth ---------------------------------------------------------------


def test_on_hand_right_after_a_count_equals_the_counted_quantity() -> None:
    depot = new_depot()
    receive(depot, 100, day(-5))
    consume(depot, 30, day(-4))
    count(depot, 64, book_at=70, at=day(-3))
    assert depot.on_hand(MASK) == 64


def test_count_variance_is_counted_minus_book() -> None:
    depot = new_depot()
    receive(depot, 100, day(-5))
    event, warnings = depot.count(MASK, 64, 100, stamp(day(-3)))
    assert event.counted - event.book_at_recording == -36
    assert warnings == [
        "count of FFP2 differs from the book: counted 64, book 100, variance -36: beyond the count variance share, "
        "the stock view flags a discrepancy until the next count"
    ]


def test_a_count_within_the_count_variance_share_warns_without_a_flag() -> None:
    depot = new_depot()
    receive(depot, 100, day(-5))
    _, warnings = depot.count(MASK, 90, 100, stamp(day(-3)))  # 10 % off: not more than the share
    assert warnings == ["count of FFP2 differs from the book: counted 90, book 100, variance -10"]


def test_count_that_agrees_with_the_book_gives_no_warning() -> None:
    depot = new_depot()
    receive(depot, 100, day(-5))
    _, warnings = depot.count(MASK, 100, 100, stamp(day(-3)))
    assert warnings == []
    assert depot.on_hand(MASK) == 100


def test_movements_after_a_count_apply_on_top_of_it() -> None:
    depot = new_depot()
    receive(depot, 100, day(-5))
    count(depot, 80, book_at=100, at=day(-4))
    consume(depot, 15, day(-3))
    receive(depot, 7, day(-2))
    assert depot.on_hand(MASK) == 72


def test_late_report_before_count_does_not_change_balance() -> None:
    depot = new_depot()
    receive(depot, 100, day(-10))
    count(depot, 60, book_at=100, at=day(-3))
    consume(depot, 30, day(-5))  # recorded now, happened before the count
    receive(depot, 500, day(-4))
    adjust(depot, -9, day(-3.5))
    assert depot.on_hand(MASK) == 60


def test_late_report_before_count_gives_no_shortfall_warning() -> None:
    depot = new_depot()
    receive(depot, 10, day(-10))
    count(depot, 10, book_at=10, at=day(-3))
    assert consume(depot, 500, day(-5)) == []
    assert depot.on_hand(MASK) == 10


def test_movement_recorded_later_at_the_same_instant_as_a_count_applies_after_it() -> None:
    depot = new_depot()
    receive(depot, 100, day(-10))
    count(depot, 40, book_at=100, at=day(-3))
    receive(depot, 5, day(-3))
    consume(depot, 2, day(-3))
    assert depot.on_hand(MASK) == 43


def test_backdated_count_keeps_the_movements_dated_after_it() -> None:
    depot = new_depot()
    receive(depot, 100, day(-10))
    consume(depot, 30, day(-2))
    # the book at day -5 was 100; the count says 90, the consumption after it still applies
    count(depot, 90, book_at=100, at=day(-5))
    assert depot.on_hand(MASK) == 60


def test_count_dated_before_the_latest_count_does_not_change_balance() -> None:
    depot = new_depot()
    receive(depot, 100, day(-10))
    count(depot, 70, book_at=100, at=day(-2))
    event, warnings = depot.count(MASK, 5, 100, stamp(day(-6)))
    assert depot.on_hand(MASK) == 70
    assert warnings[-1] == "a later count of FFP2 exists: this count does not change the current balance"
    assert event.counted == 5


def test_second_count_at_the_same_instant_wins() -> None:
    depot = new_depot()
    receive(depot, 100, day(-10))
    count(depot, 70, book_at=100, at=day(-2))
    count(depot, 75, book_at=70, at=day(-2))
    assert depot.on_hand(MASK) == 75


def test_count_of_one_item_leaves_other_items_alone() -> None:
    depot = new_depot()
    receive(depot, 100, day(-10), item=MASK)
    receive(depot, 50, day(-10), item=GLOVE)
    count(depot, 10, book_at=100, at=day(-2), item=MASK)
    consume(depot, 20, day(-5), item=GLOVE)
    assert (depot.on_hand(MASK), depot.on_hand(GLOVE)) == (10, 30)


def test_folding_the_events_again_gives_the_same_books() -> None:
    depot = new_depot()
    receive(depot, 100, day(-10))
    consume(depot, 30, day(-6))
    count(depot, 60, book_at=70, at=day(-4))
    consume(depot, 99, day(-5))
    receive(depot, 8, day(-4))
    again = rebuilt(depot)
    assert again.on_hand(MASK) == depot.on_hand(MASK) == 68
    assert again.version == depot.version


def test_snapshot_state_round_trips() -> None:
    depot = new_depot()
    receive(depot, 100, day(-10))
    count(depot, 60, book_at=100, at=day(-4))
    destination = new_depot("DEPOT-B")
    dispatch(depot, destination, 20, day(-1))
    snapshot = ev.Snapshot.take(depot)
    restored = Depot.model_validate(snapshot.state)
    assert restored.on_hand(MASK) == 40
    assert restored.in_transit(MASK, "out") == 20
    assert restored.book(MASK).last_count_at == day(-4)
    assert restored.version == depot.version


# --- transfers ------------------------------------------------------------------------------


@pytest.fixture
def pair() -> tuple[Depot, Depot]:
    source, destination = new_depot("DEPOT-A"), new_depot("DEPOT-B")
    receive(source, 100, day(-10))
    receive(destination, 5, day(-10))
    return source, destination


def test_dispatch_moves_stock_from_source_into_transit(pair: tuple[Depot, Depot]) -> None:
    source, destination = pair
    dispatch(source, destination, 30, day(-2))
    assert source.on_hand(MASK) == 70
    assert destination.on_hand(MASK) == 5
    assert source.in_transit(MASK, "out") == 30
    assert destination.in_transit(MASK, "in") == 30
    assert source.in_transit(MASK, "in") == 0
    assert destination.in_transit(MASK, "out") == 0


def test_dispatch_sums_lines_of_one_item(pair: tuple[Depot, Depot]) -> None:
    source, destination = pair
    lines = (ev.TransferLine(item=MASK, quantity=30, lot="L1"), ev.TransferLine(item=MASK, quantity=20, lot="L2"))
    dispatched = source.dispatch("T-1", destination.code, lines, {MASK: 100}, stamp(day(-2)))
    destination.expect(dispatched, source.code)
    assert source.on_hand(MASK) == 50
    assert source.in_transit(MASK, "out") == 50
    assert destination.in_transit(MASK, "in") == 50


def test_dispatch_of_more_than_available_is_insufficient_stock(pair: tuple[Depot, Depot]) -> None:
    source, destination = pair
    with pytest.raises(InsufficientStock) as refused:
        dispatch(source, destination, 101, day(-2))
    assert refused.value.extra == {"depot": "DEPOT-A", "item": MASK, "available": 100, "requested": 101}
    assert source.on_hand(MASK) == 100
    assert source.version == 2
    assert len(source.pending_events) == 2


def test_dispatch_is_checked_against_the_summed_lines(pair: tuple[Depot, Depot]) -> None:
    source, destination = pair
    lines = (ev.TransferLine(item=MASK, quantity=60), ev.TransferLine(item=MASK, quantity=41))
    with pytest.raises(InsufficientStock) as refused:
        source.dispatch("T-1", destination.code, lines, {MASK: 100}, stamp(day(-2)))
    assert (refused.value.extra["available"], refused.value.extra["requested"]) == (100, 101)


def test_dispatch_of_exactly_the_available_stock_is_accepted(pair: tuple[Depot, Depot]) -> None:
    source, destination = pair
    dispatch(source, destination, 100, day(-2))
    assert source.on_hand(MASK) == 0


def test_dispatch_uses_the_available_figure_it_is_given(pair: tuple[Depot, Depot]) -> None:
    """The service layer passes what a backdated dispatch may take; the depot obeys it."""
    source, destination = pair
    with pytest.raises(InsufficientStock) as refused:
        dispatch(source, destination, 21, day(-5), available=20)
    assert refused.value.extra["available"] == 20


def test_receipt_of_everything_lands_at_destination(pair: tuple[Depot, Depot]) -> None:
    source, destination = pair
    dispatched = dispatch(source, destination, 30, day(-2))
    event = receive_transfer(source, destination, dispatched.transfer_id, None, day(-1))
    assert destination.on_hand(MASK) == 35
    assert source.on_hand(MASK) == 70
    assert destination.in_transit(MASK, "in") == 0
    assert source.in_transit(MASK, "out") == 0
    assert event.lines == (ev.ReceivedLine(item=MASK, quantity_dispatched=30, quantity_received=30),)
    assert event.lines[0].shortfall == 0


def test_partial_receipt_lands_what_arrived_and_records_the_shortfall(pair: tuple[Depot, Depot]) -> None:
    source, destination = pair
    dispatched = dispatch(source, destination, 30, day(-2))
    event = receive_transfer(source, destination, dispatched.transfer_id, {MASK: 26}, day(-1))
    assert destination.on_hand(MASK) == 31
    assert source.on_hand(MASK) == 70  # the 4 lost in transit do not come back
    assert event.lines[0].shortfall == 4
    delivered = source.pending_events[-1]
    assert isinstance(delivered, ev.TransferDelivered)
    assert delivered.lines == event.lines


def test_receipt_that_omits_an_item_records_it_all_as_shortfall(pair: tuple[Depot, Depot]) -> None:
    source, destination = pair
    receive(source, 10, day(-10), item=GLOVE)
    lines = (ev.TransferLine(item=MASK, quantity=30), ev.TransferLine(item=GLOVE, quantity=10))
    dispatched = source.dispatch("T-1", destination.code, lines, {MASK: 100, GLOVE: 10}, stamp(day(-2)))
    destination.expect(dispatched, source.code)
    event = receive_transfer(source, destination, "T-1", {MASK: 30}, day(-1))
    assert [(line.item, line.shortfall) for line in event.lines] == [(MASK, 0), (GLOVE, 10)]
    assert destination.on_hand(GLOVE) == 0


def test_receiving_more_than_dispatched_is_invalid(pair: tuple[Depot, Depot]) -> None:
    source, destination = pair
    dispatched = dispatch(source, destination, 30, day(-2))
    version = destination.version
    with pytest.raises(InvalidCommand):
        destination.receive(dispatched.transfer_id, {MASK: 31}, stamp(day(-1)))
    assert destination.version == version
    assert destination.in_transit(MASK, "in") == 30


def test_receiving_an_item_not_in_the_transfer_is_invalid(pair: tuple[Depot, Depot]) -> None:
    source, destination = pair
    dispatched = dispatch(source, destination, 30, day(-2))
    with pytest.raises(InvalidCommand) as refused:
        destination.receive(dispatched.transfer_id, {MASK: 30, GLOVE: 1}, stamp(day(-1)))
    assert refused.value.extra == {"items": [GLOVE]}


def test_receipt_dated_before_dispatch_is_invalid(pair: tuple[Depot, Depot]) -> None:
    source, destination = pair
    dispatched = dispatch(source, destination, 30, day(-2))
    with pytest.raises(InvalidCommand):
        destination.receive(dispatched.transfer_id, None, stamp(day(-3)))
    assert destination.on_hand(MASK) == 5


def test_receipt_at_the_instant_of_dispatch_is_accepted(pair: tuple[Depot, Depot]) -> None:
    source, destination = pair
    dispatched = dispatch(source, destination, 30, day(-2))
    receive_transfer(source, destination, dispatched.transfer_id, None, day(-2))
    assert destination.on_hand(MASK) == 35


def test_receiving_a_transfer_twice_is_unknown_transfer(pair: tuple[Depot, Depot]) -> None:
    source, destination = pair
    dispatched = dispatch(source, destination, 30, day(-2))
    receive_transfer(source, destination, dispatched.transfer_id, None, day(-1))
    with pytest.raises(UnknownTransfer):
        destination.receive(dispatched.transfer_id, None, stamp(day(-1)))
    assert destination.on_hand(MASK) == 35


def test_receiving_at_the_source_is_unknown_transfer(pair: tuple[Depot, Depot]) -> None:
    source, destination = pair
    dispatched = dispatch(source, destination, 30, day(-2))
    with pytest.raises(UnknownTransfer):
        source.receive(dispatched.transfer_id, None, stamp(day(-1)))


def test_cancellation_returns_stock_to_the_source(pair: tuple[Depot, Depot]) -> None:
    source, destination = pair
    dispatched = dispatch(source, destination, 30, day(-2))
    source.cancel(dispatched.transfer_id, "truck broke down", stamp(day(-1)))
    destination.cancel(dispatched.transfer_id, "truck broke down", stamp(day(-1)))
    assert source.on_hand(MASK) == 100
    assert destination.on_hand(MASK) == 5
    assert source.in_transit(MASK, "out") == 0
    assert destination.in_transit(MASK, "in") == 0


def test_cancellation_dated_before_dispatch_is_invalid(pair: tuple[Depot, Depot]) -> None:
    source, destination = pair
    dispatched = dispatch(source, destination, 30, day(-2))
    with pytest.raises(InvalidCommand):
        source.cancel(dispatched.transfer_id, "oops", stamp(day(-3)))
    assert source.on_hand(MASK) == 70


def test_cancellation_after_receipt_is_transfer_closed(pair: tuple[Depot, Depot]) -> None:
    source, destination = pair
    dispatched = dispatch(source, destination, 30, day(-2))
    receive_transfer(source, destination, dispatched.transfer_id, None, day(-1))
    with pytest.raises(TransferClosed):
        source.cancel(dispatched.transfer_id, "too late", stamp(day(-1)))
    assert source.on_hand(MASK) == 70


def test_transfers_fold_again_to_the_same_books(pair: tuple[Depot, Depot]) -> None:
    source, destination = pair
    first = dispatch(source, destination, 30, day(-3))
    second = dispatch(source, destination, 20, day(-2))
    receive_transfer(source, destination, first.transfer_id, {MASK: 25}, day(-1))
    source.cancel(second.transfer_id, "not needed", stamp(day(-1)))
    destination.cancel(second.transfer_id, "not needed", stamp(day(-1)))
    for depot, on_hand in ((source, 70), (destination, 30)):
        again = rebuilt(depot)
        assert again.on_hand(MASK) == depot.on_hand(MASK) == on_hand
        assert again.open_transfers == depot.open_transfers == {}


# --- supply requests ---------------------------------------------------------------------------


def test_supply_request_is_open_until_closed() -> None:
    depot = new_depot()
    depot.request_supply("R-1", stamp(day(-1)), item=MASK, quantity=50, needed_by=None, priority="critical")
    assert depot.open_requests["R-1"].quantity == 50
    depot.close_request("R-1", "fulfilled", stamp(day(0)))
    assert depot.open_requests == {}


def test_closing_a_closed_request_is_request_closed() -> None:
    depot = new_depot()
    depot.request_supply("R-1", stamp(day(-1)), item=MASK, quantity=50, needed_by=None, priority="normal")
    depot.close_request("R-1", "withdrawn", stamp(day(0)))
    with pytest.raises(RequestClosed):
        depot.close_request("R-1", "withdrawn", stamp(day(0)))


# --- domain.stock ------------------------------------------------------------------------------


def movement(position: int, delta: int = 0, counted: int | None = None) -> Movement:
    return Movement(occurred_at=day(position), position=position, delta=delta, counted=counted)


def test_balance_adds_deltas_onto_the_start() -> None:
    assert balance([movement(1, 10), movement(2, -3), movement(3, 7)], start=5) == 19


def test_balance_of_nothing_is_the_start() -> None:
    assert balance([], start=12) == 12
    assert balance([]) == 0


def test_balance_resets_at_a_count() -> None:
    moves = [movement(1, 100), movement(2, -30), movement(3, counted=20), movement(4, 5), movement(5, -2)]
    assert balance(moves) == 23


def test_balance_takes_the_last_count() -> None:
    moves = [movement(1, 100), movement(2, counted=20), movement(3, 5), movement(4, counted=0), movement(5, 3)]
    assert balance(moves, start=1000) == 3


def test_dispatchable_is_the_lowest_later_running_balance() -> None:
    # 50 -> 30 -> 40 -> 5: taking more than 5 now would make day 3 negative
    later = [movement(1, -20), movement(2, 10), movement(3, -35)]
    assert dispatchable(50, later, reaches_now=False, available_now=0) == 5


def test_dispatchable_without_later_movements_is_the_balance_then() -> None:
    assert dispatchable(50, [], reaches_now=False, available_now=0) == 50


def test_dispatchable_balance_then_bounds_it_when_later_movements_only_add() -> None:
    assert dispatchable(20, [movement(1, 30), movement(2, 5)], reaches_now=False, available_now=0) == 20


def test_dispatchable_reaching_now_is_bounded_by_available_now() -> None:
    later = [movement(1, -20), movement(2, 10)]
    assert dispatchable(50, later, reaches_now=True, available_now=12) == 12
    assert dispatchable(50, later, reaches_now=True, available_now=1000) == 30


def test_dispatchable_ignores_available_now_when_a_count_follows() -> None:
    assert dispatchable(50, [movement(1, -10)], reaches_now=False, available_now=3) == 40


def test_dispatchable_is_negative_when_a_later_balance_already_is() -> None:
    assert dispatchable(10, [movement(1, -30), movement(2, 5)], reaches_now=False, available_now=0) == -20
