"""Request bodies read a bare date as the views read one, and a receipt needs no body.

`needed_by` and `period_end` are deadlines and ends of periods: `2026-12-10` is the end
of that UTC day, as `as_of` reads it; `period_start` opens a period: the start of the
day, as `from` reads it. `POST /v1/transfers/{id}/receipt` without `lines` means
everything dispatched arrived, whether the body is `{}` or left out.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from api_helpers import (
    A_NORTH,
    B_SOUTH,
    FFP2,
    created,
    dispatch,
    error_locations,
    feed,
    nothing_stored,
    ok,
    on_hand,
    problem,
    production_logging,  # noqa: F401 - an autouse fixture
    receive_stock,
    seed,
)


def event_at(api, position: int) -> dict:  # type: ignore[no-untyped-def, type-arg]
    [event] = [e for e in feed(api) if e["position"] == position]
    return event


def test_needed_by_as_a_bare_date_is_the_end_of_that_utc_day(api):
    seed(api)
    day = (datetime.now(UTC) + timedelta(days=7)).date().isoformat()

    asked = created(api.post(f"/v1/depots/{B_SOUTH}/requests", {"item": FFP2, "quantity": 40, "needed_by": day}))

    assert asked["request_id"]
    assert event_at(api, asked["position"])["data"]["needed_by"] == f"{day}T23:59:59.999999Z"
    # A time with an offset is kept as that instant; a time without one is still refused.
    timed = created(
        api.post(
            f"/v1/depots/{B_SOUTH}/requests",
            {"item": FFP2, "quantity": 5, "needed_by": f"{day}T10:00:00+01:00"},
        )
    )
    assert event_at(api, timed["position"])["data"]["needed_by"] == f"{day}T09:00:00Z"
    with nothing_stored(api):
        for wrong in (f"{day}T10:00:00", "2026-13-01"):
            body = problem(
                api.post(f"/v1/depots/{B_SOUTH}/requests", {"item": FFP2, "quantity": 5, "needed_by": wrong}), 422
            )
            assert error_locations(body) == {"body.needed_by"}


def test_a_consumption_period_of_bare_dates_runs_from_the_first_midnight_to_the_end_of_the_last_day(api):
    seed(api)
    receive_stock(api, A_NORTH, 100)
    first = (datetime.now(UTC) - timedelta(days=3)).date().isoformat()
    last = (datetime.now(UTC) - timedelta(days=1)).date().isoformat()

    reported = created(
        api.post(
            f"/v1/depots/{A_NORTH}/consumption",
            {"item": FFP2, "quantity": 30, "period_start": first, "period_end": last},
        )
    )

    event = event_at(api, reported["position"])
    assert (event["data"]["period_start"], event["occurred_at"]) == (f"{first}T00:00:00Z", f"{last}T23:59:59.999999Z")
    assert on_hand(api, A_NORTH) == 70


def test_a_receipt_with_no_body_or_an_empty_one_means_everything_arrived(api):
    seed(api)
    receive_stock(api, A_NORTH, 100)
    first = created(dispatch(api, A_NORTH, B_SOUTH, 30))
    second = created(dispatch(api, A_NORTH, B_SOUTH, 20))

    no_body = api.client.post(
        f"/v1/transfers/{first['transfer_id']}/receipt", headers=api.headers(**{"Idempotency-Key": "arrived-1"})
    )
    assert ok(no_body)["status"] == "received"
    empty = ok(api.post(f"/v1/transfers/{second['transfer_id']}/receipt", {}))
    assert empty["status"] == "received"
    assert on_hand(api, B_SOUTH) == 50
    assert on_hand(api, A_NORTH) == 50

    # `{}` with the key the bodiless receipt used is the same request: replayed, nothing stored.
    with nothing_stored(api):
        again = api.post(f"/v1/transfers/{first['transfer_id']}/receipt", {}, **{"Idempotency-Key": "arrived-1"})
        assert ok(again) == ok(no_body)
        assert again.headers["Idempotent-Replayed"] == "true"
        # A body that is not JSON at all is still refused.
        broken = api.client.post(
            f"/v1/transfers/{second['transfer_id']}/receipt",
            content=b"{",
            headers=api.headers(**{"Content-Type": "application/json"}),
        )
        assert broken.status_code in (400, 422), broken.text
