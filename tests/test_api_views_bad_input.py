"""Bad view parameters are 422 problem+json naming the parameter; unknown depots and items are
404; no token is 401 (API.md, "Views" and "Conventions")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from api_helpers import (
    A_NORTH,
    FFP2,
    PROBLEM_JSON,
    created,
    error_locations,
    ok,
    problem,
    production_logging,  # noqa: F401 - an autouse fixture
    seed,
    utc,
)

STOCK = f"/v1/depots/{A_NORTH}/stock"
NATIONAL = "/v1/stock"
TIMELINE = f"/v1/depots/{A_NORTH}/timeline"
BEYOND_LATEST = object()  # replaced by pos:<latest position + 1> in the test

PAST = (datetime.now(UTC) - timedelta(days=10)).replace(microsecond=0)
FUTURE = datetime.now(UTC) + timedelta(days=1)
IN_TWO_DAYS = (datetime.now(UTC) + timedelta(days=2)).date().isoformat()

CASES = [
    # (id, path, query, the parameter in error)
    ("stock-as_of-garbage", STOCK, {"as_of": "yesterday"}, "as_of"),
    ("stock-as_of-impossible-date", STOCK, {"as_of": "2024-02-30"}, "as_of"),
    ("stock-as_of-without-offset", STOCK, {"as_of": PAST.replace(tzinfo=None).isoformat()}, "as_of"),
    ("stock-as_of-future-time", STOCK, {"as_of": utc(FUTURE)}, "as_of"),
    ("stock-as_of-future-date", STOCK, {"as_of": IN_TWO_DAYS}, "as_of"),
    ("stock-known_at-beyond-latest", STOCK, {"known_at": BEYOND_LATEST}, "known_at"),
    ("stock-known_at-pos-abc", STOCK, {"known_at": "pos:abc"}, "known_at"),
    ("stock-known_at-pos-negative", STOCK, {"known_at": "pos:-1"}, "known_at"),
    ("stock-known_at-garbage", STOCK, {"known_at": "last tuesday"}, "known_at"),
    ("stock-known_at-future", STOCK, {"known_at": utc(FUTURE)}, "known_at"),
    ("national-group_by-foo", NATIONAL, {"group_by": "foo"}, "group_by"),
    ("national-as_of-garbage", NATIONAL, {"as_of": "not a time"}, "as_of"),
    ("national-as_of-without-offset", NATIONAL, {"as_of": PAST.replace(tzinfo=None).isoformat()}, "as_of"),
    ("national-known_at-beyond-latest", NATIONAL, {"known_at": BEYOND_LATEST}, "known_at"),
    ("national-known_at-pos-abc", NATIONAL, {"known_at": "pos:abc"}, "known_at"),
    ("timeline-order-foo", TIMELINE, {"order": "foo"}, "order"),
    ("timeline-limit-0", TIMELINE, {"limit": 0}, "limit"),
    ("timeline-limit-too-big", TIMELINE, {"limit": 10001}, "limit"),
    ("timeline-limit-not-a-number", TIMELINE, {"limit": "many"}, "limit"),
    ("timeline-from-after-to", TIMELINE, {"from": utc(PAST), "to": utc(PAST - timedelta(seconds=1))}, "from"),
    ("timeline-from-date-after-to-date", TIMELINE, {"from": "2024-03-02", "to": "2024-03-01"}, "from"),
    ("timeline-from-garbage", TIMELINE, {"from": "soon"}, "from"),
    ("timeline-to-without-offset", TIMELINE, {"to": PAST.replace(tzinfo=None).isoformat()}, "to"),
    ("timeline-as_of-garbage", TIMELINE, {"as_of": "garbage"}, "as_of"),
    ("timeline-known_at-beyond-latest", TIMELINE, {"known_at": BEYOND_LATEST}, "known_at"),
    ("timeline-known_at-pos-abc", TIMELINE, {"known_at": "pos:abc"}, "known_at"),
]


def seeded(api):
    seed(api)
    created(api.post(f"/v1/depots/{A_NORTH}/receipts", {"item": FFP2, "quantity": 10, "occurred_at": utc(PAST)}))
    return api


def refusal(response, parameter: str) -> str | None:
    """None when `response` is a 422 problem naming query parameter `parameter`, else what is wrong."""
    try:
        body = problem(response, 422)
    except AssertionError as error:
        return str(error).splitlines()[0]
    locations = error_locations(body)
    return None if f"query.{parameter}" in locations else f"errors name {sorted(locations)}, not query.{parameter}"


@pytest.mark.parametrize("view", ["stock", "national", "timeline"])
def test_a_bad_view_parameter_is_422_naming_it(api, view):
    """Every case is tried, and every wrong answer listed, so that one failure hides no other."""
    seeded(api)
    latest = api.position()
    wrong = []
    for case, path, query, parameter in CASES:
        if not case.startswith(view):
            continue
        query = {k: (f"pos:{latest + 1}" if v is BEYOND_LATEST else v) for k, v in query.items()}
        why = refusal(api.get(path, **query), parameter)
        if why is not None:
            wrong.append(f"{case}: {why}")

    assert wrong == []
    assert api.position() == latest  # reading stores nothing


def test_limits_of_the_good_values_are_accepted(api):
    seeded(api)
    latest = api.position()

    # Up to five minutes ahead is still "now"; today's date is the end of today.
    soon = utc(datetime.now(UTC) + timedelta(minutes=2))
    assert ok(api.get(STOCK, as_of=soon))["items"][0]["on_hand"] == 10
    assert ok(api.get(STOCK, as_of=datetime.now(UTC).date().isoformat()))["items"][0]["on_hand"] == 10
    assert ok(api.get(STOCK, known_at=f"pos:{latest}"))["position"] == latest
    assert ok(api.get(STOCK, known_at="pos:0"))["items"] == []
    assert ok(api.get(NATIONAL, known_at=f"pos:{latest}"))["position"] == latest
    body = ok(api.get(TIMELINE, limit=1, **{"from": utc(PAST), "to": utc(PAST)}))
    assert [e["type"] for e in body["entries"]] == ["ReceiptRecorded"]


def test_an_unknown_depot_or_item_is_404(api):
    seeded(api)

    for path, query, unknown in [
        ("/v1/depots/NOWHERE/stock", {}, "NOWHERE"),
        ("/v1/depots/NOWHERE/timeline", {}, "NOWHERE"),
        (STOCK, {"item": "NO-SUCH-ITEM"}, "NO-SUCH-ITEM"),
        (NATIONAL, {"item": "NO-SUCH-ITEM"}, "NO-SUCH-ITEM"),
        (TIMELINE, {"item": "NO-SUCH-ITEM"}, "NO-SUCH-ITEM"),
    ]:
        body = problem(api.get(path, **query), 404)
        assert unknown in body["detail"], (path, query, body)


def test_views_need_a_token(api):
    seeded(api)

    for path in (STOCK, NATIONAL, TIMELINE):
        missing = api.client.get(path)
        problem(missing, 401)
        assert missing.headers["www-authenticate"].startswith("Bearer"), path
        wrong = api.client.get(path, headers={"Authorization": "Bearer sl_not-a-token"})
        assert wrong.status_code == 401, path
        assert wrong.headers["content-type"].split(";")[0] == PROBLEM_JSON, path


def test_every_role_may_read_the_views(api):
    seeded(api)

    for role in ("operator", "coordinator", "auditor", "admin"):
        for path in (STOCK, NATIONAL, TIMELINE):
            assert api.get(path, role=role).status_code == 200, (role, path)
