"""Properties of the stock fold, checked against a brute-force reference (DESIGN.md "Derived figures").

Random receipts, consumption, adjustments, counts and backdated dispatches, dated at random
instants of the last 60 days (several movements often share one instant) and recorded in
random order. The reference fold sorts every recorded movement by (occurred_at, recording
order); a count resets the balance to what was counted, everything else adds its delta.

- The depot aggregate's `on_hand`, the journal's fold and the reference agree after every
  command, and a second ledger reading the same database folds the same.
- A count's variance is counted minus the reference balance just before it, and the on-demand
  fold's discrepancy flag is the reference's (a count more than 10 % off the balance just before
  it, or a balance below zero, flags it until the next count).
- A backdated dispatch is accepted exactly when it leaves every running balance from its
  time up to the next count non-negative (with no later count: up to now); otherwise it is
  refused with the most that could have left.

Each example gets a fresh ledger: SQLite for the main runs, PostgreSQL (a fresh schema per
example) for a smaller run.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal

import pytest
from conftest import fresh_postgres_schema
from hypothesis import HealthCheck, Phase, event, example, given, settings
from hypothesis import strategies as st

from domain import commands as cmd
from domain.exceptions import InsufficientStock
from ledger import clock
from ledger.application import Context, Ledger
from ledger.settings import Database
from projections.history import History

MASK = "FFP2"
DEPOT = "DEPOT-A"
OTHER = "DEPOT-B"
CTX = Context(actor="property")
SIXTY_DAYS_IN_MINUTES = 60 * 24 * 60

Kind = Literal["receipt", "consumption", "adjustment", "count", "dispatch"]


@dataclass(frozen=True)
class Op:
    kind: Kind
    quantity: int
    instant: int  # index into the example's instants


@dataclass(frozen=True)
class Scenario:
    minutes_ago: tuple[int, ...]  # the instants, as minutes before now
    ops: tuple[Op, ...]  # in recording order


@dataclass(frozen=True)
class Recorded:
    """One movement in the reference: its business time and its place in recording order."""

    occurred_at: datetime
    seq: int
    delta: int = 0
    counted: int | None = None


# --- the reference fold ---------------------------------------------------------------------


def business_order(movements: list[Recorded]) -> list[Recorded]:
    return sorted(movements, key=lambda m: (m.occurred_at, m.seq))


def running_balances(movements: list[Recorded]) -> list[tuple[Recorded, int]]:
    """Each movement in business order with the balance right after it."""
    running, out = 0, []
    for movement in business_order(movements):
        running = movement.counted if movement.counted is not None else running + movement.delta
        out.append((movement, running))
    return out


def reference_balance(movements: list[Recorded]) -> int:
    balances = running_balances(movements)
    return balances[-1][1] if balances else 0


def reference_discrepancy(movements: list[Recorded]) -> bool:
    """The discrepancy flag now: the last count was more than 10 % off the balance just before it
    (any difference from a balance of 0 or less), or the balance went below zero after it."""
    flagged, running = False, 0
    for movement in business_order(movements):
        if movement.counted is not None:
            off = abs(movement.counted - running)
            flagged = off * 10 > running if running > 0 else off != 0
            running = movement.counted
        else:
            running += movement.delta
        flagged = flagged or running < 0
    return flagged


def window(movements: list[Recorded], at: datetime, seq: int) -> list[int]:
    """The running balances from a movement at (at, seq) up to, not including, the next count after it.

    The first entry is the balance just after everything ordered before (at, seq)."""
    before = [m for m in movements if (m.occurred_at, m.seq) < (at, seq)]
    after = business_order([m for m in movements if (m.occurred_at, m.seq) > (at, seq)])
    balances = [reference_balance(before)]
    for movement in after:
        if movement.counted is not None:
            break
        balances.append(balances[-1] + movement.delta)
    return balances


def balances_from(movements: list[Recorded], at: datetime, seq: int) -> list[int]:
    """The running balances from the movement at (at, seq) on, up to, not including, the next count."""
    balances = running_balances(movements)
    start = next(i for i, (m, _) in enumerate(balances) if (m.occurred_at, m.seq) == (at, seq))
    out = [balances[start][1]]
    for movement, balance in balances[start + 1 :]:
        if movement.counted is not None:
            break
        out.append(balance)
    return out


def reference_dispatchable(movements: list[Recorded], at: datetime, seq: int) -> int:
    """The most a dispatch at (at, seq) can take without any balance up to the next count going negative."""
    return min(window(movements, at, seq))


# --- strategies -------------------------------------------------------------------------------


def op(kind: Kind, quantity: st.SearchStrategy[int], instants: int) -> st.SearchStrategy[Op]:
    return st.builds(Op, kind=st.just(kind), quantity=quantity, instant=st.integers(0, instants - 1))


@st.composite
def scenarios(draw: st.DrawFn, with_dispatches: bool, max_ops: int) -> Scenario:
    # few distinct instants, so movements often share one (ties are broken by recording order)
    minutes_ago = draw(st.lists(st.integers(1, SIXTY_DAYS_IN_MINUTES), min_size=1, max_size=4, unique=True))
    n = len(minutes_ago)
    kinds = [
        op("receipt", st.integers(1, 200), n),
        op("consumption", st.integers(1, 80), n),
        op("adjustment", st.one_of(st.integers(-30, -1), st.integers(1, 30)), n),
        op("count", st.integers(0, 200), n),
    ]
    if with_dispatches:
        kinds.append(op("dispatch", st.integers(1, 60), n))
    ops = draw(st.lists(st.one_of(kinds), min_size=4, max_size=max_ops))
    return Scenario(tuple(minutes_ago), tuple(ops))


# --- ledgers ---------------------------------------------------------------------------------


LedgerFactory = Callable[[], Ledger]


@contextmanager
def fresh(make_ledger: LedgerFactory) -> Iterator[Ledger]:
    ledger = make_ledger()
    try:
        ledger.define_item(cmd.DefineItem(code=MASK, name="Respirator FFP2", unit="each", category="ppe"), CTX)
        for code in (DEPOT, OTHER):
            command = cmd.RegisterDepot(code=code, name=code, region="R1", organisation="ORG", kind="regional")
            ledger.register_depot(command, CTX)
        yield ledger
    finally:
        ledger.close()


@pytest.fixture(scope="module")
def sqlite_ledgers(tmp_path_factory: pytest.TempPathFactory) -> LedgerFactory:
    directory: Path = tmp_path_factory.mktemp("properties")
    return lambda: Ledger(Database(f"sqlite:///{directory}/x-{uuid.uuid4().hex}.sqlite3").env())


@pytest.fixture(scope="module")
def postgres_ledgers(postgres_server_url: str) -> LedgerFactory:
    return lambda: Ledger(Database(fresh_postgres_schema(postgres_server_url)).env())


# --- running a scenario --------------------------------------------------------------------------


def record(ledger: Ledger, o: Op, at: datetime, seq: int, movements: list[Recorded]) -> None:
    """Record one fact, check what the ledger answered, and add it to the reference."""
    if o.kind == "receipt":
        ledger.record_receipt(DEPOT, cmd.RecordReceipt(item=MASK, quantity=o.quantity, occurred_at=at), CTX)
        movements.append(Recorded(at, seq, delta=o.quantity))
    elif o.kind == "consumption":
        ledger.report_consumption(DEPOT, cmd.ReportConsumption(item=MASK, quantity=o.quantity, occurred_at=at), CTX)
        movements.append(Recorded(at, seq, delta=-o.quantity))
    elif o.kind == "adjustment":
        command = cmd.AdjustStock(item=MASK, quantity=o.quantity, reason="correction", occurred_at=at)
        ledger.adjust_stock(DEPOT, command, CTX)
        movements.append(Recorded(at, seq, delta=o.quantity))
    elif o.kind == "count":
        book_before = window(movements, at, seq)[0]
        outcome, _ = ledger.count_stock(DEPOT, cmd.CountStock(item=MASK, counted=o.quantity, occurred_at=at), CTX)
        assert outcome.variance == o.quantity - book_before, "variance is counted minus the book just before"
        movements.append(Recorded(at, seq, counted=o.quantity))
    else:
        raise AssertionError(o.kind)


def try_dispatch(ledger: Ledger, o: Op, at: datetime, seq: int, movements: list[Recorded]) -> None:
    """A backdated dispatch: accepted exactly when no balance up to the next count goes negative."""
    expected_available = reference_dispatchable(movements, at, seq)
    before = window(movements, at, seq)
    command = cmd.DispatchTransfer(
        source=DEPOT, destination=OTHER, lines=[cmd.LineRequest(item=MASK, quantity=o.quantity)], occurred_at=at
    )
    position = ledger.position()
    backdated = any(m.occurred_at > at for m in movements)
    try:
        ledger.dispatch_transfer(command, CTX)
    except InsufficientStock as refused:
        event(f"dispatch refused ({'backdated' if backdated else 'current'})")
        assert ledger.position() == position, "a refused dispatch stores nothing"
        assert refused.extra["available"] == max(0, expected_available), "refused with the most that could leave"
        assert o.quantity > expected_available, f"refused although {expected_available} could leave"
        return
    event(f"dispatch accepted ({'backdated' if backdated else 'current'})")
    movements.append(Recorded(at, seq, delta=-o.quantity))
    after = balances_from(movements, at, seq)
    if min(before) >= 0:
        assert min(after) >= 0, f"accepted dispatch of {o.quantity} drove a balance negative: {after}"
    assert o.quantity <= expected_available, f"accepted {o.quantity} though only {expected_available} could leave"


def run(make_ledger: LedgerFactory, scenario: Scenario) -> None:
    with fresh(make_ledger) as ledger:
        now = clock.now()
        instants = [now - timedelta(minutes=m) for m in scenario.minutes_ago]
        movements: list[Recorded] = []
        for seq, o in enumerate(scenario.ops):
            at = instants[o.instant]
            if o.kind == "dispatch":
                try_dispatch(ledger, o, at, seq, movements)
            else:
                record(ledger, o, at, seq, movements)
            expected = reference_balance(movements)
            assert ledger.journal.balance_now(DEPOT, MASK) == expected, "journal fold vs reference"
            assert ledger.depot(DEPOT).on_hand(MASK) == expected, "aggregate vs reference"
            history = History(ledger.index_store)
            flagged = history.item_fold(DEPOT, MASK, history.cut(None, None, ledger.position())).state.discrepancy
            assert flagged == reference_discrepancy(movements), "discrepancy flag: on-demand fold vs reference"
            event(f"discrepancy flagged: {flagged}")
        # a second ledger on the same database rebuilds the depot from stored events alone
        rereader = Ledger(ledger.env)
        try:
            assert rereader.depot(DEPOT).on_hand(MASK) == reference_balance(movements)
        finally:
            rereader.close()


# --- the properties ------------------------------------------------------------------------------

SQLITE = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    report_multiple_bugs=False,
)
# No shrinking on PostgreSQL (a fresh schema per example makes it slow): the SQLite runs shrink.
POSTGRES = settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    report_multiple_bugs=False,
)

# End-of-day reports and counts often share an instant: receipt 100 ten days ago, then
# consumption 80 and a count of 20 both dated two days ago (the consumption recorded first,
# so it comes before the count); a dispatch of 50 dated five days ago would make the balance
# just before the count -30, so at most 20 may leave.
SAME_INSTANT_AS_NEXT_COUNT = Scenario(
    minutes_ago=(10 * 24 * 60, 2 * 24 * 60, 5 * 24 * 60),
    ops=(Op("receipt", 100, 0), Op("consumption", 80, 1), Op("count", 20, 1), Op("dispatch", 50, 2)),
)

# A late report dated before a count, and movements recorded after a count at its very instant.
LATE_REPORTS_AROUND_A_COUNT = Scenario(
    minutes_ago=(10 * 24 * 60, 3 * 24 * 60, 5 * 24 * 60),
    ops=(
        Op("receipt", 100, 0),
        Op("count", 60, 1),
        Op("consumption", 30, 2),
        Op("receipt", 5, 1),
        Op("count", 90, 2),
        Op("adjustment", -2, 1),
    ),
)


@SQLITE
@given(scenario=scenarios(with_dispatches=False, max_ops=25))
@example(scenario=LATE_REPORTS_AROUND_A_COUNT)
def test_aggregate_journal_and_reference_fold_agree_sqlite(sqlite_ledgers: LedgerFactory, scenario: Scenario) -> None:
    run(sqlite_ledgers, scenario)


@SQLITE
@given(scenario=scenarios(with_dispatches=True, max_ops=25))
@example(scenario=SAME_INSTANT_AS_NEXT_COUNT)
def test_backdated_dispatch_never_drives_a_balance_negative_sqlite(
    sqlite_ledgers: LedgerFactory, scenario: Scenario
) -> None:
    run(sqlite_ledgers, scenario)


@POSTGRES
@given(scenario=scenarios(with_dispatches=False, max_ops=15))
@example(scenario=LATE_REPORTS_AROUND_A_COUNT)
def test_aggregate_journal_and_reference_fold_agree_postgres(
    postgres_ledgers: LedgerFactory, scenario: Scenario
) -> None:
    run(postgres_ledgers, scenario)


@POSTGRES
@given(scenario=scenarios(with_dispatches=True, max_ops=15))
@example(scenario=SAME_INSTANT_AS_NEXT_COUNT)
def test_backdated_dispatch_never_drives_a_balance_negative_postgres(
    postgres_ledgers: LedgerFactory, scenario: Scenario
) -> None:
    run(postgres_ledgers, scenario)


# --- the reference itself (so that a wrong reference cannot hide a wrong ledger) ------------------


def test_reference_orders_by_business_time_then_recording_order() -> None:
    t = clock.now()
    movements = [
        Recorded(t, 0, delta=100),
        Recorded(t - timedelta(days=1), 1, counted=5),  # before the receipt: the receipt still adds
        Recorded(t, 2, counted=40),  # same instant, recorded after the receipt: resets after it
        Recorded(t, 3, delta=-3),
    ]
    assert [b for _, b in running_balances(movements)] == [5, 105, 40, 37]


def test_reference_dispatchable_stops_at_the_next_count() -> None:
    t = clock.now()
    movements = [
        Recorded(t - timedelta(days=10), 0, delta=100),
        Recorded(t - timedelta(days=4), 1, delta=-70),
        Recorded(t - timedelta(days=2), 2, counted=500),
        Recorded(t - timedelta(days=1), 3, delta=-499),
    ]
    assert window(movements, t - timedelta(days=5), 4) == [100, 30]
    assert reference_dispatchable(movements, t - timedelta(days=5), 4) == 30
    assert reference_dispatchable(movements, t - timedelta(days=3), 4) == 30
    assert reference_dispatchable(movements, t, 4) == 1


def test_reference_balances_from_a_movement_stop_before_the_next_count() -> None:
    t = clock.now()
    movements = [
        Recorded(t - timedelta(days=10), 0, delta=100),
        Recorded(t - timedelta(days=5), 4, delta=-50),
        Recorded(t - timedelta(days=2), 1, delta=-80),
        Recorded(t - timedelta(days=2), 2, counted=20),
        Recorded(t - timedelta(days=1), 3, delta=-5),
    ]
    assert balances_from(movements, t - timedelta(days=5), 4) == [50, -30]
    assert balances_from(movements, t - timedelta(days=1), 3) == [15]
