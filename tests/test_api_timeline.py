"""GET /v1/depots/{code}/timeline: every entry of a depot with its running balance, in business
(`occurred`) or recorded order, with late entries flagged (recorded over 24 h after they occurred).

Balances are computed by hand in the comments: in business order the fold of everything dated up
to the entry; in recorded order the book right after the entry was recorded, which a late report
dated before a count leaves alone (DESIGN.md, "A count is ground truth").
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from api_helpers import (
    A_NORTH,
    B_SOUTH,
    DEPOTS,
    FFP2,
    GLOVE,
    ITEMS,
    ago,
    created,
    ok,
    production_logging,  # noqa: F401 - an autouse fixture
    utc,
)

BASE = (datetime.now(UTC) - timedelta(days=30)).replace(hour=0, minute=0, second=0, microsecond=0)
ENTRY_FIELDS = {
    "position",
    "version",
    "type",
    "occurred_at",
    "recorded_at",
    "actor",
    "source",
    "item",
    "delta",
    "balance",
    "late",
    "data",
    "event_id",
    "corrects",
    "corrected_by",
}


def t(days: float, hour: int = 12) -> str:
    return utc(BASE + timedelta(days=days, hours=hour))


def day(days: int) -> str:
    return (BASE + timedelta(days=days)).date().isoformat()


def seed_at_base(api) -> dict[str, dict[str, Any]]:
    """The usual items and depots, the depots registered (occurred) at BASE."""
    for item in ITEMS:
        created(api.post("/v1/items", item))
    return {depot["code"]: created(api.post("/v1/depots", {**depot, "occurred_at": t(0, 0)})) for depot in DEPOTS}


def command(api, depot: str, kind: str, **body: Any) -> dict[str, Any]:
    return created(api.post(f"/v1/depots/{depot}/{kind}", body))


def timeline(api, depot: str = A_NORTH, **params: Any) -> dict[str, Any]:
    body = ok(api.get(f"/v1/depots/{depot}/timeline", **params))
    assert set(body) == {"depot", "order", "as_of", "known_at", "position", "truncated", "entries"}
    assert body["depot"] == depot
    for entry in body["entries"]:
        assert set(entry) == ENTRY_FIELDS
    return body


def rows(body: dict[str, Any]) -> list[tuple[Any, ...]]:
    """(position, version, type, item, delta, balance, late) of each entry."""
    return [
        (e["position"], e["version"], e["type"], e["item"], e["delta"], e["balance"], e["late"])
        for e in body["entries"]
    ]


def story(api) -> dict[str, dict[str, Any]]:
    """A-NORTH, in recording order:

    p0 v1 DepotRegistered            occurred BASE
    p1 v2 receipt FFP2 +100          day 1
    p2 v3 consumption FFP2 -20       day 3
    p3 v4 count FFP2 75              day 5   (book 80: variance -5)
    p4 v5 consumption FFP2 -10       23 hours ago (not late)
    p5 v6 consumption FFP2 -30       day 4   (late, dated before the count)
    p6 v7 receipt GLOVE +5           25 hours ago (late)
    """
    registered = seed_at_base(api)[A_NORTH]
    written = {"p0": registered}
    written["p1"] = command(api, A_NORTH, "receipts", item=FFP2, quantity=100, occurred_at=t(1))
    written["p2"] = command(api, A_NORTH, "consumption", item=FFP2, quantity=20, occurred_at=t(3))
    written["p3"] = command(api, A_NORTH, "counts", item=FFP2, counted=75, occurred_at=t(5))
    written["p4"] = command(api, A_NORTH, "consumption", item=FFP2, quantity=10, occurred_at=ago(hours=23))
    written["p5"] = command(api, A_NORTH, "consumption", item=FFP2, quantity=30, occurred_at=t(4))
    written["p6"] = command(api, A_NORTH, "receipts", item=GLOVE, quantity=5, occurred_at=ago(hours=25))
    assert written["p3"]["variance"] == -5
    return written


def pos(written: dict[str, dict[str, Any]]) -> dict[str, int]:
    return {name: answer["position"] for name, answer in written.items()}


def test_the_newest_entries_of_a_timeline_are_its_tail_with_the_same_balances(api):
    """The console's depot page reads the newest entries in one pass (`newest`): they are the last
    entries of the whole timeline, with the balances the whole timeline gives them."""
    story(api)
    views = api.stores.views
    whole = views.timeline(A_NORTH)
    for limit in (1, 3, 6):
        newest = views.timeline(A_NORTH, limit=limit, newest=True)
        assert newest.entries == whole.entries[-limit:]
        assert newest.truncated is (limit < len(whole.entries))
    end = whole.entries[3].occurred_at
    upto = views.timeline(A_NORTH, end=end, limit=2, newest=True)
    assert upto.entries == [e for e in whole.entries if e.occurred_at <= end][-2:]


# --- business order ----------------------------------------------------------------------------


def test_timeline_in_business_order_folds_everything_dated_up_to_each_entry(api):
    written = story(api)
    p = pos(written)

    body = timeline(api)

    assert body["order"] == "occurred"
    assert body["position"] == p["p6"] == api.position()
    assert body["truncated"] is False
    assert rows(body) == [
        (p["p0"], 1, "DepotRegistered", None, 0, None, True),
        (p["p1"], 2, "ReceiptRecorded", FFP2, 100, 100, True),
        (p["p2"], 3, "ConsumptionReported", FFP2, -20, 80, True),
        (p["p5"], 6, "ConsumptionReported", FFP2, -30, 50, True),  # dated day 4: 80 - 30
        (p["p3"], 4, "StockCounted", FFP2, 25, 75, True),  # the count finds 75: +25 in business order
        (p["p6"], 7, "ReceiptRecorded", GLOVE, 5, 5, True),  # 25 hours late
        (p["p4"], 5, "ConsumptionReported", FFP2, -10, 65, False),  # 23 hours: not late
    ]
    by_position = {e["position"]: e for e in body["entries"]}
    late = by_position[p["p5"]]
    assert late["occurred_at"] == t(4)
    assert late["recorded_at"] == written["p5"]["recorded_at"]
    assert (late["actor"], late["source"]) == ("test-coordinator", "api")
    assert late["data"]["quantity"] == 30 and late["data"]["item"] == FFP2
    assert "occurred_at" not in late["data"] and "actor" not in late["data"]
    count = by_position[p["p3"]]
    assert (count["data"]["counted"], count["data"]["book_at_recording"]) == (75, 80)


def test_timeline_in_recorded_order_shows_the_book_as_each_entry_arrived(api):
    written = story(api)
    p = pos(written)

    body = timeline(api, order="recorded")

    assert body["order"] == "recorded"
    assert rows(body) == [
        (p["p0"], 1, "DepotRegistered", None, 0, None, True),
        (p["p1"], 2, "ReceiptRecorded", FFP2, 100, 100, True),
        (p["p2"], 3, "ConsumptionReported", FFP2, -20, 80, True),
        (p["p3"], 4, "StockCounted", FFP2, -5, 75, True),  # the book was 80: -5
        (p["p4"], 5, "ConsumptionReported", FFP2, -10, 65, False),
        # Dated before the count: the count already saw it, the book stays 65.
        (p["p5"], 6, "ConsumptionReported", FFP2, -30, 65, True),
        (p["p6"], 7, "ReceiptRecorded", GLOVE, 5, 5, True),
    ]
    assert [e["recorded_at"] for e in body["entries"]] == [written[f"p{i}"]["recorded_at"] for i in range(7)]


def test_timeline_as_known_at_a_position_and_as_of_a_business_time(api):
    p = pos(story(api))

    # Known before the late report: the count now finds 80 - 75 = -5 in business order too.
    before_late = timeline(api, known_at=f"pos:{p['p4']}")
    assert before_late["position"] == p["p4"]
    assert rows(before_late) == [
        (p["p0"], 1, "DepotRegistered", None, 0, None, True),
        (p["p1"], 2, "ReceiptRecorded", FFP2, 100, 100, True),
        (p["p2"], 3, "ConsumptionReported", FFP2, -20, 80, True),
        (p["p3"], 4, "StockCounted", FFP2, -5, 75, True),
        (p["p4"], 5, "ConsumptionReported", FFP2, -10, 65, False),
    ]

    # As of day 4 at 18:00: only what is dated up to then.
    as_of = timeline(api, as_of=t(4, 18))
    assert as_of["as_of"] == t(4, 18)
    assert rows(as_of) == [
        (p["p0"], 1, "DepotRegistered", None, 0, None, True),
        (p["p1"], 2, "ReceiptRecorded", FFP2, 100, 100, True),
        (p["p2"], 3, "ConsumptionReported", FFP2, -20, 80, True),
        (p["p5"], 6, "ConsumptionReported", FFP2, -30, 50, True),
    ]


# --- filters -------------------------------------------------------------------------------------


def test_from_and_to_filter_entries_but_not_the_running_balances(api):
    written = story(api)
    p = pos(written)

    # Business order: from the start of day 3 (a bare date) to day 4 at 18:00.
    window = timeline(api, **{"from": day(3), "to": t(4, 18)})
    assert rows(window) == [
        (p["p2"], 3, "ConsumptionReported", FFP2, -20, 80, True),
        (p["p5"], 6, "ConsumptionReported", FFP2, -30, 50, True),
    ]
    # A bare date `to` is the end of that day: days 1 to 3 hold the receipt and the first report.
    assert [e["position"] for e in timeline(api, **{"from": day(1), "to": day(3)})["entries"]] == [p["p1"], p["p2"]]

    # Recorded order filters on the recorded time: from the count's recording to p4's.
    recorded = timeline(
        api, order="recorded", **{"from": written["p3"]["recorded_at"], "to": written["p4"]["recorded_at"]}
    )
    assert rows(recorded) == [
        (p["p3"], 4, "StockCounted", FFP2, -5, 75, True),
        (p["p4"], 5, "ConsumptionReported", FFP2, -10, 65, False),
    ]


def test_item_filter_keeps_that_item_only(api):
    p = pos(story(api))

    assert rows(timeline(api, item=GLOVE)) == [(p["p6"], 7, "ReceiptRecorded", GLOVE, 5, 5, True)]
    assert [(e["position"], e["balance"]) for e in timeline(api, item=FFP2)["entries"]] == [
        (p["p1"], 100),
        (p["p2"], 80),
        (p["p5"], 50),
        (p["p3"], 75),
        (p["p4"], 65),
    ]
    assert [(e["position"], e["balance"]) for e in timeline(api, item=FFP2, order="recorded")["entries"]] == [
        (p["p1"], 100),
        (p["p2"], 80),
        (p["p3"], 75),
        (p["p4"], 65),
        (p["p5"], 65),
    ]


def test_limit_truncates_and_says_so(api):
    p = pos(story(api))

    first_three = timeline(api, limit=3)
    assert first_three["truncated"] is True
    assert [e["position"] for e in first_three["entries"]] == [p["p0"], p["p1"], p["p2"]]
    assert timeline(api, limit=7)["truncated"] is False
    assert len(timeline(api, limit=7)["entries"]) == 7
    recorded = timeline(api, order="recorded", limit=6)
    assert recorded["truncated"] is True
    assert [e["position"] for e in recorded["entries"]] == [p["p0"], p["p1"], p["p2"], p["p3"], p["p4"], p["p5"]]


# --- transfers on the timelines of both depots ----------------------------------------------------


def test_transfer_entries_on_the_source_and_destination_timelines(api):
    seed_at_base(api)
    command(api, A_NORTH, "receipts", item=FFP2, quantity=100, occurred_at=t(1))
    delivered = created(
        api.post(
            "/v1/transfers",
            {"from": A_NORTH, "to": B_SOUTH, "lines": [{"item": FFP2, "quantity": 30}], "occurred_at": t(2)},
        )
    )
    ok(
        api.post(
            f"/v1/transfers/{delivered['transfer_id']}/receipt",
            {"lines": [{"item": FFP2, "quantity_received": 28}], "occurred_at": t(4)},
        )
    )
    cancelled = created(
        api.post(
            "/v1/transfers",
            {"from": A_NORTH, "to": B_SOUTH, "lines": [{"item": FFP2, "quantity": 10}], "occurred_at": t(5)},
        )
    )
    ok(api.post(f"/v1/transfers/{cancelled['transfer_id']}/cancel", {"reason": "no truck", "occurred_at": t(6)}))

    source = timeline(api, A_NORTH, item=FFP2)
    assert [(e["type"], e["occurred_at"], e["delta"], e["balance"]) for e in source["entries"]] == [
        ("ReceiptRecorded", t(1), 100, 100),
        ("TransferDispatched", t(2), -30, 70),
        ("TransferDelivered", t(4), 0, 70),
        ("TransferDispatched", t(5), -10, 60),
        ("TransferCancelled", t(6), 10, 70),
    ]
    destination = timeline(api, B_SOUTH, item=FFP2)
    assert [(e["type"], e["occurred_at"], e["delta"], e["balance"]) for e in destination["entries"]] == [
        ("TransferExpected", t(2), 0, 0),
        ("TransferReceived", t(4), 28, 28),  # 28 of 30 arrived
        ("TransferExpected", t(5), 0, 28),
        ("TransferCancelled", t(6), 0, 28),
    ]
    received = destination["entries"][1]
    assert received["data"]["transfer_id"] == delivered["transfer_id"]
    assert received["data"]["lines"] == [{"item": FFP2, "quantity_dispatched": 30, "quantity_received": 28}]
    # Each half of the dispatch was stored in one transaction, the source's first.
    assert source["entries"][1]["position"] < destination["entries"][0]["position"] == delivered["position"]


# --- known_at as a time covers every event, not only those that move stock ------------------------


def request_after_receipt(api) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """A-NORTH registered, a receipt (a movement), then a supply request (an event that moves no stock)."""
    registered = seed_at_base(api)[A_NORTH]
    received = command(api, A_NORTH, "receipts", item=FFP2, quantity=100, occurred_at=t(1))
    requested = command(api, A_NORTH, "requests", item=FFP2, quantity=50)
    assert requested["position"] > received["position"]
    return registered, received, requested


def test_known_at_a_time_includes_events_recorded_by_then_that_move_no_stock(api):
    _, _, requested = request_after_receipt(api)

    # Everything recorded at or before the request's recording: the request is part of it.
    body = timeline(api, known_at=requested["recorded_at"])
    assert [e["type"] for e in body["entries"]] == ["DepotRegistered", "ReceiptRecorded", "SupplyRequested"]
    assert body["position"] == requested["position"]
    # The same cut as a position says the same.
    by_position = timeline(api, known_at=f"pos:{requested['position']}")
    assert [e["type"] for e in by_position["entries"]] == ["DepotRegistered", "ReceiptRecorded", "SupplyRequested"]


def test_known_at_a_time_of_the_registration_shows_the_registration(api):
    registered, _, _ = request_after_receipt(api)

    first = timeline(api, known_at=registered["recorded_at"])
    assert [e["type"] for e in first["entries"]] == ["DepotRegistered"]
    assert first["position"] == registered["position"]


def test_known_at_a_position_reports_when_that_position_was_recorded(api):
    _, _, requested = request_after_receipt(api)

    by_position = timeline(api, known_at=f"pos:{requested['position']}")
    assert by_position["position"] == requested["position"]
    # The answer's known_at, given back as known_at, must name the same cut.
    assert by_position["known_at"] == requested["recorded_at"]
    again = timeline(api, known_at=by_position["known_at"])
    assert again["position"] == by_position["position"]
