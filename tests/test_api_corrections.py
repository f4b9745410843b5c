"""Corrections: an adjustment with reason `correction` that `corrects` an earlier event of its depot.

The reference is the corrected event's `event_id` (as its command answered it) or its ledger
position `pos:N`; either way the ledger stores the event id. A correction is dated, unless
told otherwise, when the corrected event happened, so the balance at that moment is right.
Timelines and the feed link both ends (`corrects`, `corrected_by`), within the view's cut.
Every refusal is problem+json and stores nothing.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from api_helpers import (
    A_CLINIC,
    A_NORTH,
    B_SOUTH,
    DEPOTS,
    FFP2,
    GLOVE,
    ITEMS,
    created,
    feed,
    nothing_stored,
    ok,
    problem,
    production_logging,  # noqa: F401 - an autouse fixture
    utc,
)
from typer.testing import CliRunner

BASE = (datetime.now(UTC) - timedelta(days=30)).replace(hour=0, minute=0, second=0, microsecond=0)


def t(days: float, hour: int = 12) -> str:
    return utc(BASE + timedelta(days=days, hours=hour))


def seed_at_base(api: Any) -> None:
    for item in ITEMS:
        created(api.post("/v1/items", item))
    for depot in DEPOTS:
        created(api.post("/v1/depots", {**depot, "occurred_at": t(0, 0)}))


def command(api: Any, depot: str, kind: str, role: str = "coordinator", **body: Any) -> dict[str, Any]:
    return created(api.post(f"/v1/depots/{depot}/{kind}", body, role=role))


def adjust(api: Any, depot: str = A_NORTH, headers: dict[str, str] | None = None, **body: Any) -> Any:
    body = {"item": FFP2, "reason": "correction", **body}
    return api.post(f"/v1/depots/{depot}/adjustments", body, **(headers or {}))


def on_hand_as_of(api: Any, as_of: str, depot: str = A_NORTH, item: str = FFP2, **params: Any) -> int:
    body = ok(api.get(f"/v1/depots/{depot}/stock", item=item, as_of=as_of, **params))
    [line] = body["items"]
    return line["on_hand"]


def timeline(api: Any, depot: str = A_NORTH, **params: Any) -> dict[str, Any]:
    return ok(api.get(f"/v1/depots/{depot}/timeline", **params))


def entry_at(body: dict[str, Any], position: int) -> dict[str, Any]:
    [entry] = [e for e in body["entries"] if e["position"] == position]
    return entry


def feed_event(api: Any, position: int) -> dict[str, Any]:
    [event] = [e for e in feed(api) if e["position"] == position]
    return event


def story(api: Any) -> dict[str, dict[str, Any]]:
    """A-NORTH FFP2: +100 (day 1; really 90 arrived), -20 (day 3), +40 (day 5); B-SOUTH: +7 (day 1)."""
    seed_at_base(api)
    return {
        "receipt": command(api, A_NORTH, "receipts", item=FFP2, quantity=100, occurred_at=t(1)),
        "consumption": command(api, A_NORTH, "consumption", item=FFP2, quantity=20, occurred_at=t(3)),
        "later": command(api, A_NORTH, "receipts", item=FFP2, quantity=40, occurred_at=t(5)),
        "other_depot": command(api, B_SOUTH, "receipts", item=FFP2, quantity=7, occurred_at=t(1)),
    }


# --- recording a correction -------------------------------------------------------------------


def test_a_correction_by_event_id_is_stored_with_that_id_and_answers_the_link(api):
    events = story(api)
    receipt = events["receipt"]

    body = created(adjust(api, quantity=-10, corrects=receipt["event_id"], note="delivery note said 90"))

    assert body["corrects"] == {"event_id": receipt["event_id"], "position": receipt["position"]}
    stored = feed_event(api, body["position"])
    assert stored["type"] == "StockAdjusted"
    assert stored["data"]["corrects"] == receipt["event_id"]
    assert stored["data"]["reason"] == "correction"
    assert stored["event_id"] == body["event_id"]
    assert stored["corrects"] == {"event_id": receipt["event_id"], "position": receipt["position"]}
    assert feed_event(api, receipt["position"])["corrected_by"] == [
        {"event_id": body["event_id"], "position": body["position"]}
    ]


def test_a_correction_by_ledger_position_is_stored_as_the_event_id(api):
    events = story(api)
    receipt = events["receipt"]

    body = created(adjust(api, quantity=-10, corrects=f"pos:{receipt['position']}"))

    assert body["corrects"] == {"event_id": receipt["event_id"], "position": receipt["position"]}
    assert feed_event(api, body["position"])["data"]["corrects"] == receipt["event_id"]


def test_an_event_id_is_accepted_in_any_case_and_without_hyphens_and_normalised(api):
    receipt = story(api)["receipt"]
    uid, version = receipt["event_id"].rsplit(":", 1)

    body = created(adjust(api, quantity=-1, corrects=f"{uuid.UUID(uid).hex.upper()}:{version}"))

    assert feed_event(api, body["position"])["data"]["corrects"] == receipt["event_id"]


def test_a_correction_is_dated_when_the_corrected_event_happened_unless_told(api):
    events = story(api)

    defaulted = created(adjust(api, quantity=-10, corrects=events["receipt"]["event_id"]))
    explicit = created(adjust(api, quantity=2, corrects=events["consumption"]["event_id"], occurred_at=t(4)))

    assert feed_event(api, defaulted["position"])["occurred_at"] == t(1)
    assert feed_event(api, explicit["position"])["occurred_at"] == t(4)


def test_the_balance_at_the_corrected_moment_changes_by_exactly_the_correction(api):
    events = story(api)
    moments = [t(1), t(2), t(3), t(5), t(6)]
    before = [on_hand_as_of(api, moment) for moment in moments]
    assert before == [100, 100, 80, 120, 120]

    correction = created(adjust(api, quantity=-10, corrects=events["receipt"]["event_id"]))

    assert [on_hand_as_of(api, moment) for moment in moments] == [b - 10 for b in before]
    # As known just before the correction, the ledger still says what it said then.
    known_before = f"pos:{correction['position'] - 1}"
    assert [on_hand_as_of(api, moment, known_at=known_before) for moment in moments] == before


def test_reason_correction_without_a_reference_is_still_accepted(api):
    story(api)

    body = created(adjust(api, quantity=-3))

    assert body["corrects"] is None
    event = feed_event(api, body["position"])
    assert event["data"]["corrects"] is None and event["corrects"] is None


def test_a_correction_may_correct_a_correction(api):
    events = story(api)
    first = created(adjust(api, quantity=-10, corrects=events["receipt"]["event_id"]))

    second = created(adjust(api, quantity=5, corrects=first["event_id"]))

    assert second["corrects"] == {"event_id": first["event_id"], "position": first["position"]}
    assert on_hand_as_of(api, t(1)) == 95


# --- timelines and the feed show the link ------------------------------------------------------


def test_timelines_link_the_correction_and_the_corrected_event_both_ways(api):
    events = story(api)
    receipt = events["receipt"]
    correction = created(adjust(api, quantity=-10, corrects=receipt["event_id"]))
    link_to_receipt = {"event_id": receipt["event_id"], "position": receipt["position"]}
    link_to_correction = {"event_id": correction["event_id"], "position": correction["position"]}

    for order in ("occurred", "recorded"):
        body = timeline(api, order=order, item=FFP2)
        corrected, correcting = entry_at(body, receipt["position"]), entry_at(body, correction["position"])
        assert corrected["event_id"] == receipt["event_id"]
        assert corrected["corrected_by"] == [link_to_correction] and corrected["corrects"] is None
        assert correcting["event_id"] == correction["event_id"]
        assert correcting["corrects"] == link_to_receipt and correcting["corrected_by"] == []
        assert correcting["delta"] == -10
        for entry in body["entries"]:
            if entry["position"] not in (receipt["position"], correction["position"]):
                assert entry["corrects"] is None and entry["corrected_by"] == []

    # In business order the correction sits right after the receipt, at its time.
    occurred = timeline(api, order="occurred", item=FFP2)["entries"]
    assert [(e["type"], e["balance"]) for e in occurred][:2] == [("ReceiptRecorded", 100), ("StockAdjusted", 90)]


def test_a_view_as_known_before_the_correction_does_not_show_it(api):
    events = story(api)
    receipt = events["receipt"]
    correction = created(adjust(api, quantity=-10, corrects=receipt["event_id"]))

    body = timeline(api, known_at=f"pos:{correction['position'] - 1}", item=FFP2)

    assert entry_at(body, receipt["position"])["corrected_by"] == []
    assert correction["position"] not in [e["position"] for e in body["entries"]]
    # By recording time too: the correction's recorded_at minus a moment.
    recorded_at = datetime.fromisoformat(correction["recorded_at"].replace("Z", "+00:00"))
    by_time = timeline(api, known_at=utc(recorded_at - timedelta(microseconds=1)), item=FFP2)
    assert entry_at(by_time, receipt["position"])["corrected_by"] == []
    # And as known at the correction, it shows.
    at = timeline(api, known_at=f"pos:{correction['position']}", item=FFP2)
    assert entry_at(at, receipt["position"])["corrected_by"] == [
        {"event_id": correction["event_id"], "position": correction["position"]}
    ]


def test_a_view_as_of_before_a_later_dated_correction_does_not_show_it(api):
    events = story(api)
    correction = created(adjust(api, quantity=-10, corrects=events["receipt"]["event_id"], occurred_at=t(4)))

    body = timeline(api, as_of=t(2), item=FFP2)

    assert entry_at(body, events["receipt"]["position"])["corrected_by"] == []
    assert on_hand_as_of(api, t(2)) == 100
    assert on_hand_as_of(api, t(4)) == 70
    assert entry_at(timeline(api, item=FFP2), events["receipt"]["position"])["corrected_by"] == [
        {"event_id": correction["event_id"], "position": correction["position"]}
    ]


def test_every_feed_entry_names_its_event_id(api):
    story(api)

    for event in feed(api):
        assert isinstance(event["event_id"], str) and event["event_id"].endswith(f":{event['version']}")
        assert event["corrects"] is None and event["corrected_by"] == []


# --- refusals: problem+json, nothing stored ---------------------------------------------------


def test_an_unknown_reference_is_404(api):
    story(api)
    latest = api.position()

    with nothing_stored(api):
        for reference in (f"{uuid.uuid4()}:1", f"pos:{latest + 1}", "pos:0", f"{story_depot_id()}:999"):
            body = problem(adjust(api, quantity=-1, corrects=reference), 404)
            assert body["title"] == "Unknown event"


def story_depot_id() -> str:
    from domain.ids import depot_id

    return str(depot_id(A_NORTH))


def test_an_event_of_another_depot_is_422(api):
    events = story(api)
    other = events["other_depot"]

    with nothing_stored(api):
        for reference in (other["event_id"], f"pos:{other['position']}"):
            body = problem(adjust(api, quantity=-1, corrects=reference), 422)
            assert "not an event of depot A-NORTH" in body["detail"]
        # The item catalogue's events belong to no depot.
        problem(adjust(api, quantity=-1, corrects="pos:1"), 422)


def test_a_correction_of_another_item_is_422(api):
    events = story(api)

    with nothing_stored(api):
        body = problem(adjust(api, item=GLOVE, quantity=-1, corrects=events["receipt"]["event_id"]), 422)
        assert "FFP2" in body["detail"]


def test_corrects_with_another_reason_is_422(api):
    events = story(api)

    with nothing_stored(api):
        for reason in ("damaged", "expired", "lost", "found", "other"):
            problem(adjust(api, quantity=-1, reason=reason, corrects=events["receipt"]["event_id"]), 422)


def test_a_malformed_reference_is_422(api):
    story(api)

    with nothing_stored(api):
        for reference in ("yesterday's receipt", "pos:", "pos:-3", "42", "not-a-uuid-at-all-but-long-enough-xx:1", ""):
            problem(adjust(api, quantity=-1, corrects=reference), 422)


def test_a_correction_dated_before_the_corrected_event_is_422(api):
    events = story(api)

    with nothing_stored(api):
        problem(adjust(api, quantity=-1, corrects=events["later"]["event_id"], occurred_at=t(4)), 422)


def test_an_operator_cannot_correct_through_a_depot_of_another_organisation(api):
    events = story(api)

    with nothing_stored(api):
        problem(
            api.post(
                f"/v1/depots/{B_SOUTH}/adjustments",
                {"item": FFP2, "quantity": -1, "reason": "correction", "corrects": events["other_depot"]["event_id"]},
                role="operator",
            ),
            403,
        )
        problem(
            api.post(
                f"/v1/depots/{A_CLINIC}/adjustments",
                {"item": FFP2, "quantity": -1, "reason": "correction", "corrects": events["receipt"]["event_id"]},
                role="operator",
            ),
            422,
        )


# --- idempotency -----------------------------------------------------------------------------


def test_a_replayed_correction_answers_the_same_and_stores_nothing_new(api):
    events = story(api)
    key = {"Idempotency-Key": "correct-receipt-1"}
    first = adjust(api, quantity=-10, corrects=f"pos:{events['receipt']['position']}", headers=key)
    body = created(first)

    with nothing_stored(api):
        again = adjust(api, quantity=-10, corrects=f"pos:{events['receipt']['position']}", headers=key)
        assert created(again) == body
        assert again.headers.get("Idempotent-Replayed") == "true"
        # The same key with another body (here: the event id instead of the position) is a conflict.
        problem(adjust(api, quantity=-10, corrects=events["receipt"]["event_id"], headers=key), 409)

    assert on_hand_as_of(api, t(1)) == 90


# --- CLI ----------------------------------------------------------------------------------------


def test_the_cli_timeline_marks_corrections_and_corrected_events(api, database_url):
    events = story(api)
    correction = created(adjust(api, quantity=-10, corrects=events["receipt"]["event_id"]))

    from api.cli import app

    result = CliRunner().invoke(app, ["timeline", A_NORTH, "--item", FFP2, "--database", database_url])

    assert result.exit_code == 0, (result.output, result.exception)
    rows = [
        [cell.strip() for cell in line.strip().strip("│").split("│")]
        for line in result.stdout.splitlines()
        if line.startswith("│")
    ]
    by_position = {row[0]: row for row in rows}
    assert by_position[str(correction["position"])][-1] == f"corrects pos:{events['receipt']['position']}"
    assert by_position[str(events["receipt"]["position"])][-1] == f"corrected by pos:{correction['position']}"
