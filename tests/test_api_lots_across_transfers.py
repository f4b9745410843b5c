"""Lots across transfers over HTTP (DESIGN.md "Derived figures", lots; issue 13).

- A lot's expiry is a fact about the lot, learnt from the receipt that states it: a view as
  known at a cut uses what is known at that cut, also at a depot the lot reached by transfer,
  and also when that receipt is recorded late, after the dispatch.
- A dispatch naming a lot the source does not hold (enough of) at the dispatch's time is
  refused with 409 and the lot's available quantity, backdated dispatches included.
- A dispatch records the lots it draws (the named ones, and first-expiry-first-out for lines
  naming none, at its own place in business order): the destination receives those lots (a
  shortfall is lost from the last drawn), and a cancellation returns them.

Business times are whole days after BASE, midnight UTC thirty days ago; every figure is worked
out in the comments.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from api_helpers import (
    A_NORTH,
    B_SOUTH,
    FFP2,
    created,
    feed,
    nothing_stored,
    ok,
    problem,
    production_logging,  # noqa: F401 - an autouse fixture
    seed,
    utc,
)

BASE = (datetime.now(UTC) - timedelta(days=30)).replace(hour=0, minute=0, second=0, microsecond=0)


def t(days: int, hour: int = 12) -> str:
    return utc(BASE + timedelta(days=days, hours=hour))


def day(days: int) -> str:
    """The date BASE + `days` (as `as_of`: the end of that UTC day)."""
    return (BASE + timedelta(days=days)).date().isoformat()


def receipt(api, depot: str, quantity: int, when: str, **fields: Any) -> dict[str, Any]:
    body = {"item": FFP2, "quantity": quantity, "occurred_at": when, **fields}
    return created(api.post(f"/v1/depots/{depot}/receipts", body))


def transfer(api, lines: list[dict[str, Any]], when: str, source: str = A_NORTH, destination: str = B_SOUTH):
    """The raw answer to a dispatch of `lines` (each FFP2, with `quantity` and maybe `lot`)."""
    body = {"from": source, "to": destination, "lines": [{"item": FFP2, **line} for line in lines], "occurred_at": when}
    return api.post("/v1/transfers", body)


def stock_line(api, depot: str, **params: Any) -> dict[str, Any]:
    body = ok(api.get(f"/v1/depots/{depot}/stock", item=FFP2, **params))
    [line] = body["items"]
    return line


def lots(api, depot: str, **params: Any) -> list[tuple[str | None, str | None, int]]:
    return [(lot["lot"], lot["expires_on"], lot["quantity"]) for lot in stock_line(api, depot, **params)["lots"]]


# --- the lot's expiry is resolved for the view's cut -------------------------------------------------


def test_a_lots_expiry_recorded_after_its_dispatch_reaches_the_destination_from_when_it_is_known(api):
    seed(api)
    receipt(api, A_NORTH, 30, t(1), lot="L-1")  # the delivery note gave no expiry
    transfer_id = created(transfer(api, [{"quantity": 20, "lot": "L-1"}], t(3)))["transfer_id"]
    arrived = ok(api.post(f"/v1/transfers/{transfer_id}/receipt", {"occurred_at": t(4)}))
    before = {"known_at": f"pos:{arrived['position']}"}
    # A late report: 15 more of L-1 received on day 2, with the expiry (day 10) on its label.
    late = receipt(api, A_NORTH, 15, t(2), lot="L-1", expires_on=day(10))

    # Before the late report, nobody knew when L-1 expires: undated, never expired.
    assert lots(api, B_SOUTH, as_of=day(12), **before) == [("L-1", None, 20)]
    assert stock_line(api, B_SOUTH, as_of=day(12), **before)["expired"] == 0
    # As known since: B-SOUTH's 20 of L-1 expire on day 10, and are expired from day 11.
    for known in ({}, {"known_at": f"pos:{late['position']}"}):
        assert lots(api, B_SOUTH, as_of=day(12), **known) == [("L-1", day(10), 20)]
        assert stock_line(api, B_SOUTH, as_of=day(12), **known)["expired"] == 20
        assert stock_line(api, B_SOUTH, as_of=day(10), **known)["expired"] == 0  # not before day 10
    # The source: 30 + 15 - 20 = 25 of L-1, dated now, and expired on day 12.
    assert lots(api, A_NORTH, as_of=day(12)) == [("L-1", day(10), 25)]
    assert stock_line(api, A_NORTH, as_of=day(12))["expired"] == 25
    assert lots(api, A_NORTH, as_of=day(12), **before) == [("L-1", None, 10)]


def test_a_destination_draws_a_transferred_lot_first_once_its_expiry_is_known(api):
    seed(api)
    receipt(api, A_NORTH, 10, t(1), lot="L-1")  # no expiry given
    receipt(api, B_SOUTH, 10, t(1), lot="L-9", expires_on=day(40))
    transfer_id = created(transfer(api, [{"quantity": 10, "lot": "L-1"}], t(2)))["transfer_id"]
    ok(api.post(f"/v1/transfers/{transfer_id}/receipt", {"occurred_at": t(3)}))
    used = created(api.post(f"/v1/depots/{B_SOUTH}/consumption", {"item": FFP2, "quantity": 4, "occurred_at": t(5)}))

    # L-1 undated: first expiry first out takes L-9 (dated) before it.
    assert lots(api, B_SOUTH, as_of=day(6), known_at=f"pos:{used['position']}") == [
        ("L-9", day(40), 6),
        ("L-1", None, 10),
    ]
    receipt(api, A_NORTH, 5, t(1), lot="L-1", expires_on=day(20))  # late: L-1 expires on day 20
    # Known now, L-1 expires first, so the same consumption drew it.
    assert lots(api, B_SOUTH, as_of=day(6)) == [("L-1", day(20), 6), ("L-9", day(40), 10)]


# --- a dispatch may not name a lot the source does not hold -------------------------------------------


def test_a_dispatch_naming_a_lot_beyond_what_the_source_holds_of_it_is_409_with_the_lots_available(api):
    seed(api)
    receipt(api, A_NORTH, 40, t(1), lot="L-1", expires_on=day(60))
    receipt(api, A_NORTH, 60, t(1))  # no lot: 100 on hand, so the item itself is not short

    with nothing_stored(api):
        body = problem(transfer(api, [{"quantity": 10, "lot": "L-9"}], t(2)), 409)
        assert (body["lot"], body["available"], body["requested"]) == ("L-9", 0, 10)
        body = problem(transfer(api, [{"quantity": 41, "lot": "L-1"}], t(2)), 409)
        assert (body["item"], body["lot"], body["available"], body["requested"]) == (FFP2, "L-1", 40, 41)
        # Two lines of one lot count together: 25 + 20 = 45 of L-1's 40.
        body = problem(transfer(api, [{"quantity": 25, "lot": "L-1"}, {"quantity": 20, "lot": "L-1"}], t(2)), 409)
        assert (body["lot"], body["available"], body["requested"]) == ("L-1", 40, 45)

    created(transfer(api, [{"quantity": 40, "lot": "L-1"}], t(2)))
    assert lots(api, A_NORTH) == [(None, None, 60)]


def test_a_backdated_dispatch_may_take_of_a_lot_only_what_the_source_held_of_it_at_its_time(api):
    seed(api)
    receipt(api, A_NORTH, 50, t(1))
    receipt(api, A_NORTH, 30, t(5), lot="L-2", expires_on=day(60))  # L-2 arrived on day 5

    with nothing_stored(api):  # on day 3 the depot held 50 of no lot, none of L-2
        body = problem(transfer(api, [{"quantity": 10, "lot": "L-2"}], t(3)), 409)
        assert (body["lot"], body["available"], body["requested"]) == ("L-2", 0, 10)

    created(transfer(api, [{"quantity": 10, "lot": "L-2"}], t(6)))
    assert lots(api, A_NORTH) == [("L-2", day(60), 20), (None, None, 50)]


# --- the lots drawn are recorded: the destination receives them, a cancellation returns them --------


def test_a_cancelled_dispatch_that_named_no_lot_returns_the_lots_it_drew(api):
    seed(api)
    receipt(api, A_NORTH, 30, t(1), lot="L-SOON", expires_on=day(10))
    receipt(api, A_NORTH, 50, t(1), lot="L-LATE", expires_on=day(20))
    receipt(api, A_NORTH, 10, t(1))
    # 40 of no named lot: first expiry first out draws L-SOON's 30, then 10 of L-LATE.
    transfer_id = created(transfer(api, [{"quantity": 40}], t(2)))["transfer_id"]
    dispatched = next(event for event in feed(api) if event["type"] == "TransferDispatched")
    assert dispatched["data"]["drawn"] == [
        {"item": FFP2, "lot": "L-SOON", "quantity": 30},
        {"item": FFP2, "lot": "L-LATE", "quantity": 10},
    ]
    assert lots(api, A_NORTH, as_of=t(2, 18)) == [("L-LATE", day(20), 40), (None, None, 10)]

    ok(api.post(f"/v1/transfers/{transfer_id}/cancel", {"reason": "truck broke down", "occurred_at": t(3)}))

    # Back in their lots, not as stock of no known lot; on day 11 L-SOON's 30 are expired.
    assert lots(api, A_NORTH, as_of=day(11)) == [("L-SOON", day(10), 30), ("L-LATE", day(20), 50), (None, None, 10)]
    line = stock_line(api, A_NORTH, as_of=day(11))
    assert (line["on_hand"], line["expired"]) == (90, 30)


def test_the_destination_receives_the_lots_drawn_and_a_shortfall_is_lost_from_the_last_drawn(api):
    seed(api)
    receipt(api, A_NORTH, 30, t(1), lot="L-SOON", expires_on=day(10))
    receipt(api, A_NORTH, 50, t(1), lot="L-LATE", expires_on=day(20))
    receipt(api, A_NORTH, 10, t(1))
    # 85: L-SOON 30, L-LATE 50, then 5 of no known lot; 75 arrive: L-SOON 30, L-LATE 45.
    transfer_id = created(transfer(api, [{"quantity": 85}], t(2)))["transfer_id"]
    received = {"lines": [{"item": FFP2, "quantity_received": 75}], "occurred_at": t(3)}
    assert ok(api.post(f"/v1/transfers/{transfer_id}/receipt", received))["shortfall"][0]["shortfall"] == 10

    assert lots(api, B_SOUTH, as_of=day(11)) == [("L-SOON", day(10), 30), ("L-LATE", day(20), 45)]
    line = stock_line(api, B_SOUTH, as_of=day(11))
    assert (line["on_hand"], line["expired"]) == (75, 30)
    assert lots(api, A_NORTH, as_of=day(11)) == [(None, None, 5)]


def test_a_backdated_dispatch_draws_the_lots_held_at_its_own_time(api):
    seed(api)
    receipt(api, A_NORTH, 20, t(1), lot="L-LATE", expires_on=day(20))
    receipt(api, A_NORTH, 20, t(5), lot="L-SOON", expires_on=day(10))  # expires first, but arrived on day 5
    # Dated day 3: only L-LATE was there to draw, though L-SOON expires first today.
    transfer_id = created(transfer(api, [{"quantity": 15}], t(3)))["transfer_id"]
    dispatched = next(event for event in feed(api) if event["type"] == "TransferDispatched")
    assert dispatched["data"]["drawn"] == [{"item": FFP2, "lot": "L-LATE", "quantity": 15}]
    assert lots(api, A_NORTH) == [("L-SOON", day(10), 20), ("L-LATE", day(20), 5)]

    ok(api.post(f"/v1/transfers/{transfer_id}/receipt", {"occurred_at": t(6)}))
    assert lots(api, B_SOUTH) == [("L-LATE", day(20), 15)]
