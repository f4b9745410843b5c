"""`GET /v1/late`, on both backends: the events recorded more than 24 h after they occurred,
by recording time, each with the allocation decisions whose inputs it changed."""

from __future__ import annotations

import pytest
from allocation_world import EAST, FFP2, NAT, SOUTH, request, world
from api_helpers import (
    ago,
    created,
    ok,
    problem,
    production_logging,  # noqa: F401 - an autouse fixture
)


def consumption(api, depot: str, quantity: int, days_ago: float) -> dict:  # type: ignore[no-untyped-def, type-arg]
    return created(
        api.post(
            f"/v1/depots/{depot}/consumption", {"item": FFP2, "quantity": quantity, "occurred_at": ago(days=days_ago)}
        )
    )


def test_late_reports_are_listed_with_the_decisions_they_changed(api):
    world(api)
    known = consumption(api, EAST, 10, days_ago=2)  # late, but recorded before the decision: it was known
    on_time = consumption(api, EAST, 10, days_ago=0.5)  # 12 h: not late
    allocation = created(api.post("/v1/allocations", request()))["allocation_id"]
    changed = consumption(api, SOUTH, 30, days_ago=3)  # late, dated before the decision, recorded after it
    events = ok(api.get("/v1/late"))["events"]
    assert [(e["position"], e["depot"], e["type"], e["items"]) for e in events] == [
        (known["position"], EAST, "ConsumptionReported", [FFP2]),
        (changed["position"], SOUTH, "ConsumptionReported", [FFP2]),
    ]
    assert on_time["position"] not in {e["position"] for e in events}
    assert [e["changed_allocations"] for e in events] == [[], [allocation]]
    assert 48 <= events[0]["delay_hours"] < 48.2 and 72 <= events[1]["delay_hours"] < 72.2


def test_late_reports_page_by_position_and_filter_by_recording_time(api):
    world(api)
    late = [consumption(api, NAT, 1, days_ago=2 + n)["position"] for n in range(3)]
    first = ok(api.get("/v1/late", limit=2))
    assert [e["position"] for e in first["events"]] == late[:2]
    second = ok(api.get("/v1/late", limit=2, after=first["next_after"]))
    assert [e["position"] for e in second["events"]] == late[2:]
    assert ok(api.get("/v1/late", after=second["next_after"]))["events"] == []
    assert [e["position"] for e in ok(api.get("/v1/late", since=ago(minutes=5)))["events"]] == late
    assert ok(api.get("/v1/late", until=ago(minutes=5)))["events"] == []
    assert ok(api.get("/v1/late", since=ago(days=2), until=ago(days=1)))["events"] == []  # recorded now, not then


@pytest.mark.parametrize(
    ("params", "where"),
    [
        ({"since": "yesterday"}, "since"),
        ({"since": ago(days=-2)}, "since"),
        ({"until": "2026-13-01"}, "until"),
        ({"since": ago(hours=1), "until": ago(hours=2)}, "since"),
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"after": -1}, "after"),
        ({"after": "first"}, "after"),
    ],
)
def test_bad_late_report_questions_are_problems(api, params, where):
    body = problem(api.get("/v1/late", **params), 422, field_errors=False)
    assert where in body["detail"] or where in str(body.get("errors"))


def test_the_late_report_needs_a_token(api):
    problem(api.client.get("/v1/late"), 401)
    for role in ("auditor", "operator", "coordinator"):
        ok(api.get("/v1/late", role=role))
