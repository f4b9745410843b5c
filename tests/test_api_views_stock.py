"""GET /v1/depots/{code}/stock at any cut: hand-computed scenarios for the bitemporal fold.

Every figure below is worked out by hand in the comments from DESIGN.md ("Two clocks",
"A count is ground truth", "Derived figures") and API.md ("Views"). Business times are
fixed relative to BASE, midnight UTC thirty days ago, so that every scenario lies in the
past, whole days apart, and no figure depends on when the test runs.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from api_helpers import (
    A_CLINIC,
    A_NORTH,
    B_SOUTH,
    FFP2,
    GLOVE,
    created,
    ok,
    production_logging,  # noqa: F401 - an autouse fixture
    seed,
    utc,
)

BASE = (datetime.now(UTC) - timedelta(days=30)).replace(hour=0, minute=0, second=0, microsecond=0)


def at(days: float, hour: int = 12, minute: int = 0, second: int = 0) -> datetime:
    """BASE + `days` days, at hour:minute:second UTC (noon by default)."""
    return BASE + timedelta(days=days, hours=hour, minutes=minute, seconds=second)


def t(days: float, hour: int = 12, minute: int = 0, second: int = 0) -> str:
    return utc(at(days, hour, minute, second))


def day(days: int) -> str:
    """The bare date BASE + `days` (as a query: the end of that UTC day)."""
    return (BASE + timedelta(days=days)).date().isoformat()


def command(api, depot: str, kind: str, **body: Any) -> dict[str, Any]:
    return created(api.post(f"/v1/depots/{depot}/{kind}", body))


def receipt(api, depot: str, quantity: int, when: str, item: str = FFP2, **fields: Any) -> dict[str, Any]:
    return command(api, depot, "receipts", item=item, quantity=quantity, occurred_at=when, **fields)


def consume(api, depot: str, quantity: int, when: str, item: str = FFP2) -> dict[str, Any]:
    return command(api, depot, "consumption", item=item, quantity=quantity, occurred_at=when)


def count(api, depot: str, counted: int, when: str, item: str = FFP2) -> dict[str, Any]:
    return command(api, depot, "counts", item=item, counted=counted, occurred_at=when)


def view(api, depot: str, **params: Any) -> dict[str, Any]:
    body = ok(api.get(f"/v1/depots/{depot}/stock", **params))
    assert body["depot"] == depot
    return body


def line(api, depot: str, item: str = FFP2, **params: Any) -> dict[str, Any]:
    body = view(api, depot, item=item, **params)
    [only] = body["items"]
    assert only["item"] == item
    return only


def figures(entry: dict[str, Any], *names: str) -> tuple[Any, ...]:
    return tuple(entry[name] for name in names)


# --- the shape of the answer -------------------------------------------------------------------


def test_depot_stock_lists_every_item_of_the_depot_with_every_figure(api):
    seed(api)
    receipt(api, A_NORTH, 100, t(1))
    receipt(api, A_NORTH, 40, t(1), item=GLOVE)
    last = consume(api, A_NORTH, 28, t(2), item=GLOVE)

    body = view(api, A_NORTH, as_of=t(3))

    assert set(body) == {"depot", "as_of", "known_at", "position", "items"}
    assert body["as_of"] == t(3)
    assert body["position"] == last["position"] == api.position()
    assert [entry["item"] for entry in body["items"]] == [FFP2, GLOVE]  # by item code
    ffp2, glove = body["items"]
    assert set(ffp2) == {
        "item",
        "on_hand",
        "in_transit_in",
        "in_transit_out",
        "reserved",
        "available",
        "avg_daily_consumption",
        "days_of_supply",
        "min_days",
        "basis",
        "required",
        "meets_obligation",
        "expired",
        "lots",
        "discrepancy",
    }
    # FFP2: received 100, nothing consumed: no days of supply, no obligation.
    assert ffp2 == {
        "item": FFP2,
        "on_hand": 100,
        "in_transit_in": 0,
        "in_transit_out": 0,
        "reserved": 0,
        "available": 100,
        "avg_daily_consumption": 0.0,
        "days_of_supply": None,
        "min_days": None,
        "basis": None,
        "required": None,
        "meets_obligation": None,
        "expired": 0,
        "lots": [{"lot": None, "expires_on": None, "quantity": 100}],
        "discrepancy": False,
    }
    # GLOVE: 40 - 28 = 12; avg = 28 / 14 = 2.0; days = 12 / 2 = 6.0.
    assert figures(glove, "on_hand", "available", "avg_daily_consumption", "days_of_supply") == (12, 12, 2.0, 6.0)


def test_a_depot_stock_as_of_a_bare_date_is_the_end_of_that_utc_day(api):
    seed(api)
    receipt(api, A_NORTH, 100, t(2, 0, 0))
    receipt(api, A_NORTH, 10, t(2, 23, 59, 59))  # still day 2
    receipt(api, A_NORTH, 1, t(3, 0, 0))  # day 3

    body = view(api, A_NORTH, as_of=day(2))

    assert body["as_of"] == utc(at(2, 23, 59, 59) + timedelta(microseconds=999999))
    assert body["items"][0]["on_hand"] == 110
    assert line(api, A_NORTH, as_of=day(1))["on_hand"] == 0
    assert line(api, A_NORTH, as_of=day(3))["on_hand"] == 111


def test_as_of_with_an_offset_is_the_same_instant_in_utc(api):
    seed(api)
    receipt(api, A_NORTH, 100, t(2, 10))
    receipt(api, A_NORTH, 5, t(2, 11))

    # 12:30+02:00 is 10:30Z: after the first receipt, before the second.
    local = at(2, 10, 30).astimezone(timezone(timedelta(hours=2))).isoformat()
    assert local.endswith("+02:00")
    body = view(api, A_NORTH, as_of=local)

    assert body["as_of"] == t(2, 10, 30)
    assert body["items"][0]["on_hand"] == 100


def test_an_offset_whose_plus_was_not_percent_encoded_still_reads_as_that_offset(api):
    """A hand-typed URL (curl, a browser) sends `+02:00` as is, which a query string decodes as a space."""
    seed(api)
    receipt(api, A_NORTH, 100, t(2, 10))
    receipt(api, A_NORTH, 5, t(2, 11))

    local = at(2, 10, 30).astimezone(timezone(timedelta(hours=2))).isoformat()  # ...T12:30:00+02:00
    response = api.client.get(f"/v1/depots/{A_NORTH}/stock?item={FFP2}&as_of={local}", headers=api.headers("auditor"))

    body = ok(response)
    assert body["as_of"] == t(2, 10, 30)
    assert body["items"][0]["on_hand"] == 100


# --- two clocks: a late report dated before a count --------------------------------------------


def test_a_late_report_dated_before_a_count_as_known_before_and_after_it_was_recorded(api):
    seed(api)
    receipt(api, A_NORTH, 100, t(1))  # on_hand 100
    consume(api, A_NORTH, 20, t(3))  # 80
    counted = count(api, A_NORTH, 75, t(5))  # the count finds 75: variance -5
    assert counted["variance"] == -5
    after_count = consume(api, A_NORTH, 10, t(7))  # dated after the count: 65
    late = consume(api, A_NORTH, 30, t(4))  # recorded last, dated between day 3 and the count
    assert late["position"] > after_count["position"]

    before = {"known_at": f"pos:{after_count['position']}"}
    now_known = {"known_at": f"pos:{late['position']}"}

    # Between the late report's date and the count: 80 before it was known, 80 - 30 = 50 after.
    assert line(api, A_NORTH, as_of=t(4, 18), **before)["on_hand"] == 80
    assert line(api, A_NORTH, as_of=t(4, 18), **now_known)["on_hand"] == 50
    assert line(api, A_NORTH, as_of=t(4, 18))["on_hand"] == 50  # no known_at: everything recorded

    # Right after the count: 75 either way, the count is ground truth.
    assert line(api, A_NORTH, as_of=t(5, 18), **before)["on_hand"] == 75
    assert line(api, A_NORTH, as_of=t(5, 18), **now_known)["on_hand"] == 75

    # On day 8, with the report dated after the count: 75 - 10 = 65 either way. The window
    # (day 8 - 14 days, day 8] holds every consumption report.
    # Before the late report: consumed 20 + 10 = 30, avg 30/14 = 2.142.. -> 2.14,
    #   days = 65 * 14 / 30 = 30.33.. -> 30.3.
    # After: consumed 20 + 10 + 30 = 60, avg 60/14 = 4.285.. -> 4.29, days = 65 * 14 / 60 = 15.166.. -> 15.2.
    then = line(api, A_NORTH, as_of=t(8), **before)
    now = line(api, A_NORTH, as_of=t(8), **now_known)
    assert figures(then, "on_hand", "avg_daily_consumption", "days_of_supply") == (65, 2.14, 30.3)
    assert figures(now, "on_hand", "avg_daily_consumption", "days_of_supply") == (65, 4.29, 15.2)
    # The count's variance is measured against the balance just before it in the cut: 80 before
    # the late report (75 is 6.25 % off: within the 10 % count variance share), 50 after it (75 is
    # 50 % off: the count disagrees with the book, flagged until the next count).
    assert then["discrepancy"] is False and now["discrepancy"] is True


def test_known_at_as_a_position_or_a_time_answers_that_cut(api):
    seed(api)
    receipt(api, A_NORTH, 100, t(1))
    count(api, A_NORTH, 90, t(5))
    first = consume(api, A_NORTH, 10, t(6))  # 80
    late = consume(api, A_NORTH, 30, t(3))  # before the count: 100 - 30 = 70 as of day 4

    by_position = view(api, A_NORTH, item=FFP2, as_of=t(4), known_at=f"pos:{first['position']}")
    assert by_position["position"] == first["position"]
    assert by_position["known_at"] == first["recorded_at"]
    assert by_position["items"][0]["on_hand"] == 100

    # A time: every event recorded at or before it.
    by_time = view(api, A_NORTH, item=FFP2, as_of=t(4), known_at=first["recorded_at"])
    assert by_time["position"] == first["position"]
    assert by_time["known_at"] == first["recorded_at"]
    assert by_time["items"][0]["on_hand"] == 100

    at_late = view(api, A_NORTH, item=FFP2, as_of=t(4), known_at=late["recorded_at"])
    assert at_late["position"] == late["position"]
    assert at_late["items"][0]["on_hand"] == 70

    # A time between the two recordings sees the first only.
    between = datetime.fromisoformat(first["recorded_at"]) + timedelta(microseconds=1)
    assert between < datetime.fromisoformat(late["recorded_at"])
    assert line(api, A_NORTH, as_of=t(4), known_at=utc(between))["on_hand"] == 100
    # Now, with everything known: the count (90) then the report dated after it: 80.
    assert line(api, A_NORTH, known_at=late["recorded_at"])["on_hand"] == 80


def test_a_count_dated_before_later_movements_resets_only_what_came_before_it(api):
    seed(api)
    receipt(api, A_NORTH, 100, t(1))
    receipt(api, A_NORTH, 50, t(5))
    # Recorded last, dated day 3: the book at day 3 was 100, so the variance is 80 - 100 = -20.
    counted = count(api, A_NORTH, 80, t(3))
    assert counted["variance"] == -20

    assert line(api, A_NORTH, as_of=t(2))["on_hand"] == 100
    assert line(api, A_NORTH, as_of=t(4))["on_hand"] == 80
    assert line(api, A_NORTH, as_of=t(6))["on_hand"] == 130  # the receipt dated after the count still counts
    assert line(api, A_NORTH)["on_hand"] == 130


# --- transfers at the as_of boundary -----------------------------------------------------------


def test_a_transfer_dispatched_before_and_received_after_as_of_is_in_transit_at_as_of(api):
    seed(api)
    receipt(api, A_NORTH, 100, t(1))
    transfer = created(
        api.post(
            "/v1/transfers",
            {"from": A_NORTH, "to": B_SOUTH, "lines": [{"item": FFP2, "quantity": 30}], "occurred_at": t(2)},
        )
    )
    received = ok(
        api.post(
            f"/v1/transfers/{transfer['transfer_id']}/receipt",
            {"lines": [{"item": FFP2, "quantity_received": 28}], "occurred_at": t(4)},
        )
    )
    assert received["shortfall"][0]["item"] == FFP2

    names = ("on_hand", "in_transit_out", "in_transit_in", "available")
    # Before the dispatch.
    assert figures(line(api, A_NORTH, as_of=t(1, 18)), *names) == (100, 0, 0, 100)
    assert figures(line(api, B_SOUTH, as_of=t(1, 18)), *names) == (0, 0, 0, 0)
    # Day 3: dispatched, not yet received: 30 left the source and is in transit at both depots.
    assert figures(line(api, A_NORTH, as_of=t(3)), *names) == (70, 30, 0, 70)
    assert figures(line(api, B_SOUTH, as_of=t(3)), *names) == (0, 0, 30, 0)
    # Day 5: received, 28 of 30 (2 lost in transit).
    assert figures(line(api, A_NORTH, as_of=t(5)), *names) == (70, 0, 0, 70)
    assert figures(line(api, B_SOUTH, as_of=t(5)), *names) == (28, 0, 0, 28)
    # Day 5 as known before the receipt was recorded: still in transit.
    before = {"known_at": f"pos:{transfer['position']}"}
    assert figures(line(api, A_NORTH, as_of=t(5), **before), *names) == (70, 30, 0, 70)
    assert figures(line(api, B_SOUTH, as_of=t(5), **before), *names) == (0, 0, 30, 0)


def test_a_cancelled_transfer_returns_the_stock_to_the_source_from_its_cancellation_on(api):
    seed(api)
    receipt(api, A_NORTH, 100, t(1))
    transfer = created(
        api.post(
            "/v1/transfers",
            {"from": A_NORTH, "to": B_SOUTH, "lines": [{"item": FFP2, "quantity": 40}], "occurred_at": t(2)},
        )
    )
    ok(api.post(f"/v1/transfers/{transfer['transfer_id']}/cancel", {"reason": "road closed", "occurred_at": t(3)}))

    names = ("on_hand", "in_transit_out", "in_transit_in", "available")
    assert figures(line(api, A_NORTH, as_of=t(2, 18)), *names) == (60, 40, 0, 60)
    assert figures(line(api, B_SOUTH, as_of=t(2, 18)), *names) == (0, 0, 40, 0)
    assert figures(line(api, A_NORTH, as_of=t(3, 18)), *names) == (100, 0, 0, 100)
    assert figures(line(api, B_SOUTH, as_of=t(3, 18)), *names) == (0, 0, 0, 0)
    assert figures(line(api, A_NORTH), *names) == (100, 0, 0, 100)
    assert figures(line(api, B_SOUTH), *names) == (0, 0, 0, 0)


# --- lots: first expiry first out, expired stock ----------------------------------------------


def test_consumption_draws_the_lot_that_expires_first_then_the_next_then_stock_of_no_lot(api):
    seed(api)
    late_expiry, soon_expiry = day(20), day(10)
    receipt(api, A_NORTH, 50, t(1), lot="L-LATE", expires_on=late_expiry)  # received first, expires last
    receipt(api, A_NORTH, 30, t(2), lot="L-SOON", expires_on=soon_expiry)

    assert line(api, A_NORTH, as_of=t(2, 18))["lots"] == [
        {"lot": "L-SOON", "expires_on": soon_expiry, "quantity": 30},
        {"lot": "L-LATE", "expires_on": late_expiry, "quantity": 50},
    ]

    consume(api, A_NORTH, 40, t(3))  # L-SOON 30 (all of it), then L-LATE 10: L-LATE 40 left
    state = line(api, A_NORTH, as_of=t(3, 18))
    assert state["on_hand"] == 40
    assert state["lots"] == [{"lot": "L-LATE", "expires_on": late_expiry, "quantity": 40}]

    receipt(api, A_NORTH, 5, t(4))  # no lot
    consume(api, A_NORTH, 42, t(5))  # L-LATE 40, then 2 of the 5 of no lot: 3 left
    state = line(api, A_NORTH, as_of=t(5, 18))
    assert state["on_hand"] == 3
    assert state["lots"] == [{"lot": None, "expires_on": None, "quantity": 3}]


def test_a_transfer_of_a_named_lot_carries_the_lot_and_its_expiry_to_the_destination(api):
    seed(api)
    receipt(api, A_NORTH, 50, t(1), lot="L-SOON", expires_on=day(10))
    receipt(api, A_NORTH, 50, t(1), lot="L-LATE", expires_on=day(20))
    transfer = created(
        api.post(
            "/v1/transfers",
            {
                "from": A_NORTH,
                "to": B_SOUTH,
                "lines": [{"item": FFP2, "quantity": 20, "lot": "L-LATE"}],
                "occurred_at": t(2),
            },
        )
    )
    ok(api.post(f"/v1/transfers/{transfer['transfer_id']}/receipt", {"occurred_at": t(3)}))

    # The named lot is drawn, not the first to expire.
    assert line(api, A_NORTH, as_of=t(4))["lots"] == [
        {"lot": "L-SOON", "expires_on": day(10), "quantity": 50},
        {"lot": "L-LATE", "expires_on": day(20), "quantity": 30},
    ]
    assert line(api, B_SOUTH, as_of=t(4))["lots"] == [{"lot": "L-LATE", "expires_on": day(20), "quantity": 20}]


def test_expired_is_the_quantity_in_lots_whose_expiry_is_before_the_as_of_date(api):
    seed(api)
    receipt(api, A_NORTH, 50, t(1), lot="L-LATE", expires_on=day(20))
    receipt(api, A_NORTH, 30, t(2), lot="L-SOON", expires_on=day(10))
    consume(api, A_NORTH, 20, t(3))  # from L-SOON: L-SOON 10, L-LATE 50, on_hand 60

    def expired(as_of: str) -> tuple[int, int]:
        state = line(api, A_NORTH, as_of=as_of)
        return state["on_hand"], state["expired"]

    assert expired(t(5)) == (60, 0)
    assert expired(day(10)) == (60, 0)  # expires on day 10: not yet expired on day 10
    assert expired(day(11)) == (60, 10)  # L-SOON's 10
    assert expired(t(11, 0, 0)) == (60, 10)  # the first instant of day 11
    # 00:30 on day 11 at +02:00 is 22:30Z on day 10: not yet expired.
    assert expired(at(11, 0, 30).replace(tzinfo=timezone(timedelta(hours=2))).isoformat()) == (60, 0)
    assert expired(day(21)) == (60, 60)  # both lots
    assert line(api, A_NORTH, as_of=day(21))["lots"] == [
        {"lot": "L-SOON", "expires_on": day(10), "quantity": 10},
        {"lot": "L-LATE", "expires_on": day(20), "quantity": 50},
    ]


# --- obligations and days of supply --------------------------------------------------------------


def test_meets_obligation_is_true_false_or_unknown(api):
    seed(api)
    # A-NORTH: 100 - 28 = 72; avg 28/14 = 2.0; days 36.0; obligation 30 from day 6: meets.
    receipt(api, A_NORTH, 100, t(1))
    consume(api, A_NORTH, 28, t(5))
    ok(api.put(f"/v1/depots/{A_NORTH}/obligations/{FFP2}", {"min_days": 30, "occurred_at": t(6)}))
    # B-SOUTH: 50 - 28 = 22; days 11.0; obligation 11: exactly met.
    receipt(api, B_SOUTH, 50, t(1))
    consume(api, B_SOUTH, 28, t(5))
    ok(api.put(f"/v1/depots/{B_SOUTH}/obligations/{FFP2}", {"min_days": 11, "occurred_at": t(1)}))
    # A-CLINIC: 30 - 28 = 2; days 1.0; obligation 30: not met.
    receipt(api, A_CLINIC, 30, t(1))
    consume(api, A_CLINIC, 28, t(5))
    ok(api.put(f"/v1/depots/{A_CLINIC}/obligations/{FFP2}", {"min_days": 30, "occurred_at": t(1)}))
    # A-CLINIC GLOVE: an obligation but no consumption: days unknown, so is compliance.
    receipt(api, A_CLINIC, 500, t(1), item=GLOVE)
    ok(api.put(f"/v1/depots/{A_CLINIC}/obligations/{GLOVE}", {"min_days": 90, "occurred_at": t(1)}))
    # A-NORTH GLOVE: consumption but no obligation: 70 - 14 = 56, avg 1.0, days 56.0.
    receipt(api, A_NORTH, 70, t(1), item=GLOVE)
    consume(api, A_NORTH, 14, t(5), item=GLOVE)

    names = ("on_hand", "avg_daily_consumption", "days_of_supply", "min_days", "meets_obligation")
    assert figures(line(api, A_NORTH, as_of=t(10)), *names) == (72, 2.0, 36.0, 30, True)
    assert figures(line(api, A_NORTH, as_of=t(5, 18)), *names) == (72, 2.0, 36.0, None, None)  # before the obligation
    assert figures(line(api, B_SOUTH, as_of=t(10)), *names) == (22, 2.0, 11.0, 11, True)
    assert figures(line(api, A_CLINIC, as_of=t(10)), *names) == (2, 2.0, 1.0, 30, False)
    assert figures(line(api, A_CLINIC, GLOVE, as_of=t(10)), *names) == (500, 0.0, None, 90, None)
    assert figures(line(api, A_NORTH, GLOVE, as_of=t(10)), *names) == (56, 1.0, 56.0, None, None)


def test_days_of_supply_is_rounded_half_up_to_one_decimal(api):
    seed(api)
    # FFP2: 69 - 56 = 13; avg 56/14 = 4.0; days 13 / 4 = 3.25 exactly -> 3.3 (half even would give 3.2).
    receipt(api, A_NORTH, 69, t(1))
    consume(api, A_NORTH, 56, t(5))
    # GLOVE: 49 - 40 = 9; avg 40/14 = 2.857.. -> 2.86; days 9 * 14 / 40 = 3.15 exactly -> 3.2
    # (the float 3.15 is 3.1499.., which round() would take to 3.1).
    receipt(api, A_NORTH, 49, t(1), item=GLOVE)
    consume(api, A_NORTH, 40, t(5), item=GLOVE)

    body = view(api, A_NORTH, as_of=t(6))
    ffp2, glove = body["items"]
    assert figures(ffp2, "on_hand", "avg_daily_consumption", "days_of_supply") == (13, 4.0, 3.3)
    assert figures(glove, "on_hand", "avg_daily_consumption", "days_of_supply") == (9, 2.86, 3.2)


def test_the_consumption_window_is_the_14_days_up_to_as_of_excluding_its_start(api):
    seed(api)
    end = at(20)
    receipt(api, A_NORTH, 1000, t(1))
    consume(api, A_NORTH, 7, utc(end - timedelta(days=14)))  # exactly 14 days before: outside
    consume(api, A_NORTH, 14, utc(end - timedelta(days=14) + timedelta(seconds=1)))  # just inside
    consume(api, A_NORTH, 28, utc(end))  # at as_of: inside
    consume(api, A_NORTH, 100, utc(end + timedelta(seconds=1)))  # after as_of: not yet happened

    # on_hand = 1000 - 7 - 14 - 28 = 951; consumed 14 + 28 = 42, avg 3.0; days 951 / 3 = 317.0.
    state = line(api, A_NORTH, as_of=utc(end))
    assert figures(state, "on_hand", "avg_daily_consumption", "days_of_supply") == (951, 3.0, 317.0)
    # One second later the 100 is in and the window starts one second later, so the 14
    # (dated exactly at the new start) drops out: 851; consumed 28 + 100 = 128,
    # avg 128/14 = 9.142.. -> 9.14, days 851 * 14 / 128 = 93.078.. -> 93.1.
    state = line(api, A_NORTH, as_of=utc(end + timedelta(seconds=1)))
    assert figures(state, "on_hand", "avg_daily_consumption", "days_of_supply") == (851, 9.14, 93.1)
    # One second earlier the 7 is still in the window and the 28 has not happened:
    # 1000 - 7 - 14 = 979; consumed 7 + 14 = 21, avg 1.5; days 979 / 1.5 = 652.66.. -> 652.7.
    state = line(api, A_NORTH, as_of=utc(end - timedelta(seconds=1)))
    assert figures(state, "on_hand", "avg_daily_consumption", "days_of_supply") == (979, 1.5, 652.7)


# --- discrepancies ----------------------------------------------------------------------------


def test_a_balance_below_zero_flags_a_discrepancy_until_the_next_count(api):
    seed(api)
    receipt(api, A_NORTH, 10, t(1))
    short = consume(api, A_NORTH, 15, t(2))  # 10 - 15 = -5: a fact, accepted with a warning
    assert len(short["warnings"]) == 1
    receipt(api, A_NORTH, 20, t(3))  # 15: back above zero, still flagged (no count since)
    count(api, A_NORTH, 14, t(4))  # the count settles it: 14
    consume(api, A_NORTH, 4, t(5))  # 10

    names = ("on_hand", "discrepancy")
    assert figures(line(api, A_NORTH, as_of=t(1, 18)), *names) == (10, False)
    state = line(api, A_NORTH, as_of=t(2, 18))
    assert figures(state, *names) == (-5, True)
    assert state["lots"] == [{"lot": None, "expires_on": None, "quantity": -5}]
    assert figures(line(api, A_NORTH, as_of=t(3, 18)), *names) == (15, True)
    assert figures(line(api, A_NORTH, as_of=t(4, 18)), *names) == (14, False)
    assert figures(line(api, A_NORTH, as_of=t(5, 18)), *names) == (10, False)
    assert figures(line(api, A_NORTH), *names) == (10, False)


def test_a_late_report_can_raise_a_discrepancy_in_the_past_that_was_not_known_then(api):
    seed(api)
    receipt(api, A_NORTH, 10, t(1))
    known = receipt(api, A_NORTH, 30, t(3))  # 40
    consume(api, A_NORTH, 12, t(2))  # recorded late, dated day 2: 10 - 12 = -2 on day 2

    assert figures(
        line(api, A_NORTH, as_of=t(2, 18), known_at=f"pos:{known['position']}"), "on_hand", "discrepancy"
    ) == (10, False)
    assert figures(line(api, A_NORTH, as_of=t(2, 18)), "on_hand", "discrepancy") == (-2, True)
    # Still flagged on day 4 (no count since), with on_hand 10 - 12 + 30 = 28.
    assert figures(line(api, A_NORTH, as_of=t(4)), "on_hand", "discrepancy") == (28, True)


# --- long histories: folds resume from checkpoints, which must never hide a late report -----------


def dispatch_one_by_one(api, lines: int, when: str) -> dict[str, Any]:
    """One transfer of `lines` lines of one FFP2 each: `lines` journal rows at each depot."""
    body = {"from": A_NORTH, "to": B_SOUTH, "lines": [{"item": FFP2, "quantity": 1}] * lines, "occurred_at": when}
    return created(api.post("/v1/transfers", body))


def test_a_long_history_gives_the_same_figures_whatever_was_folded_before(api):
    """Over a thousand rows for one item: folding them leaves checkpoints behind (projections.history).
    A report recorded later but dated before a checkpoint, an earlier as_of and an earlier known_at
    must each still get the exact fold."""
    seed(api)
    receipt(api, A_NORTH, 5000, t(1))
    for n in range(5):  # days 2..6: 5 x 200 = 1000 rows, one unit each
        last = dispatch_one_by_one(api, 200, t(2 + n))
    known_before = last["position"]

    names = ("on_hand", "in_transit_out", "in_transit_in")
    # 5000 - 1000 = 4000, all 1000 in transit; the destination expects 1000.
    assert figures(line(api, A_NORTH), *names) == (4000, 1000, 0)
    assert figures(line(api, B_SOUTH), *names) == (0, 0, 1000)
    assert figures(line(api, A_NORTH), *names) == (4000, 1000, 0)  # asked again: the same

    consume(api, A_NORTH, 7, t(3, 18))  # recorded now, dated between the 2nd and 3rd dispatch

    assert figures(line(api, A_NORTH), *names) == (3993, 1000, 0)
    assert figures(line(api, A_NORTH, known_at=f"pos:{known_before}"), *names) == (4000, 1000, 0)
    # Day 5 at 18:00: four dispatches and the 7: 5000 - 800 - 7 = 4193.
    assert figures(line(api, A_NORTH, as_of=t(5, 18)), *names) == (4193, 800, 0)
    assert figures(line(api, A_NORTH, as_of=t(5, 18), known_at=f"pos:{known_before}"), *names) == (4200, 800, 0)
    assert figures(line(api, A_NORTH), *names) == (3993, 1000, 0)

    # A count on day 7 and a late report dated before it: the count is ground truth.
    count(api, A_NORTH, 3990, t(7))
    consume(api, A_NORTH, 11, t(6, 18))
    assert figures(line(api, A_NORTH), *names) == (3990, 1000, 0)
    assert figures(line(api, A_NORTH, as_of=t(6, 20)), *names) == (3982, 1000, 0)  # 3993 - 11
    # The national fold agrees.
    body = ok(api.get("/v1/stock", group_by="depot", item=FFP2, known_at=f"pos:{api.position()}"))
    assert [(r["depot"], r["on_hand"], r["in_transit_out"], r["in_transit_in"]) for r in body["rows"]] == [
        (A_NORTH, 3990, 1000, 0),
        (B_SOUTH, 0, 0, 1000),
    ]
