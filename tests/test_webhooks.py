"""Signed webhooks for alert changes, through a transactional outbox (API.md, "Alerts").

A real receiver on 127.0.0.1 gets every opening, escalation and closing: signed with the
subscription's secret, in order, retried on the schedule (5 s, doubling, at most 15 min)
with the same delivery id, and none lost when the deliverer stops between retries.
Each test runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest

from ledger.webhooks import Backoff, Deliverer
from tests.api_helpers import A_NORTH, B_SOUTH, created, ok, problem, production_logging, receive_stock, seed
from tests.webhook_world import SECRET, Clock, Receiver, receiver, watch

__all__ = ["production_logging", "receiver"]  # fixtures


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The API with the test's own projection and delivery steps (no embedded threads), the
    seeded depots, and `LowStock` plugged in as the alert evaluation."""
    monkeypatch.setenv("SUPPLY_LEDGER_PROJECTIONS", "worker")
    monkeypatch.setenv("SUPPLY_LEDGER_DELIVERIES", "worker")
    return None


@pytest.fixture
def api(world: None, api: Any) -> Any:  # the conftest's `api`, created after `world` set the environment
    seed(api)
    watch(api.stores)
    api.stores.projector.catch_up()
    return api


def subscribe(api: Any, url: str, role: str = "coordinator", **fields: Any) -> str:
    return created(api.post("/v1/subscriptions", {"url": url, "secret": SECRET, **fields}, role=role))[
        "subscription_id"
    ]


def consume(api: Any, depot: str, quantity: int) -> None:
    created(api.post(f"/v1/depots/{depot}/consumption", {"item": "FFP2", "quantity": quantity}))


def deliveries(api: Any, subscription_id: str) -> list[dict[str, Any]]:
    return ok(api.get(f"/v1/subscriptions/{subscription_id}/deliveries", role="coordinator"))["deliveries"]


def test_each_change_is_posted_signed_in_order_and_retried_with_the_same_id(api: Any, receiver: Receiver) -> None:
    subscription = subscribe(api, receiver.url)
    receive_stock(api, A_NORTH, 50)  # below 100: a warning opens
    api.stores.projector.catch_up()
    consume(api, A_NORTH, 50)  # none left: it escalates
    api.stores.projector.catch_up()
    receive_stock(api, A_NORTH, 200)  # 200: it closes
    api.stores.projector.catch_up()
    queued = deliveries(api, subscription)
    assert [(d["sequence"], d["change"], d["status"], d["attempts"]) for d in queued] == [
        (1, "opened", "pending", []),
        (2, "escalated", "pending", []),
        (3, "closed", "pending", []),
    ]

    clock = Clock()
    receiver.answers = [500, 500]
    deliverer = Deliverer(api.stores.outbox, clock=clock)
    t0 = clock.now
    assert deliverer.deliver_due() == 1  # the first fails; the later ones wait behind it
    assert deliverer.deliver_due() == 0
    clock.advance(4.9)
    assert deliverer.deliver_due() == 0  # the first retry is 5 s after the failure
    clock.advance(0.1)
    assert deliverer.deliver_due() == 1
    clock.advance(9.9)
    assert deliverer.deliver_due() == 0  # then 10 s
    clock.advance(0.1)
    assert deliverer.deliver_due() == 3  # the first gets through, and the two behind it follow
    deliverer.close()

    first, second, third = (d["delivery_id"] for d in queued)
    assert receiver.ids() == [first, first, first, second, third]
    assert len({r.body for r in receiver.received[:3]}) == 1  # every retry: the same bytes, the same signature
    assert all(r.signed_with(SECRET) for r in receiver.received)
    assert not receiver.received[0].signed_with(SECRET + "x")
    bodies = [r.json for r in receiver.received[2:]]
    assert [(b["delivery_id"], b["sequence"], b["change"]) for b in bodies] == [
        (first, 1, "opened"),
        (second, 2, "escalated"),
        (third, 3, "closed"),
    ]
    opened = bodies[0]["alert"]
    assert opened["depot"] == A_NORTH and opened["region"] == "north" and opened["item"] == "FFP2"
    assert (opened["severity"], opened["figures"]) == ("warning", {"on_hand": 50})
    assert bodies[1]["alert"]["severity"] == "critical" and bodies[1]["alert"]["figures"] == {"on_hand": 0}
    assert bodies[0]["alert"]["alert_id"] == bodies[1]["alert"]["alert_id"] == bodies[2]["alert"]["alert_id"]
    assert bodies[0]["subscription_id"] == subscription

    done = deliveries(api, subscription)
    assert [d["status"] for d in done] == ["delivered"] * 3
    attempts = done[0]["attempts"]
    assert [(a["attempt"], a["status_code"], a["response_body"]) for a in attempts] == [
        (1, 500, "ok"),
        (2, 500, "ok"),
        (3, 200, "ok"),
    ]
    times = [a["at"] for a in attempts]
    assert times == [iso(t0), iso(t0 + timedelta(seconds=5)), iso(t0 + timedelta(seconds=15))]
    assert attempts[0]["error"] == "the receiver answered 500" and attempts[2]["error"] is None
    assert done[0]["delivered_at"] == iso(t0 + timedelta(seconds=15)) and done[0]["next_attempt_at"] is None


def iso(value: Any) -> str:
    return value.isoformat().replace("+00:00", "Z")


def test_the_retry_schedule_doubles_from_5_s_to_15_minutes_and_keeps_trying_past_24_h(
    api: Any, receiver: Receiver
) -> None:
    assert [Backoff().delay(n).total_seconds() for n in range(1, 11)] == [5, 10, 20, 40, 80, 160, 320, 640, 900, 900]
    subscription = subscribe(api, receiver.url)
    receive_stock(api, A_NORTH, 10)
    api.stores.projector.catch_up()
    receiver.answers = [503] * 1000
    clock = Clock()
    t0 = clock.now
    deliverer = Deliverer(api.stores.outbox, clock=clock)
    while clock.now <= t0 + timedelta(hours=24):
        deliverer.deliver_due()
        [pending] = deliveries(api, subscription)
        clock.now = max(clock.now, parse(pending["next_attempt_at"]))
    deliverer.close()
    # attempts at 0, 5, 15, 35, 75, 155, 315, 635, 1275 s, then every 900 s: 1275 + 94 × 900 = 85,875 s ≤ 24 h
    [pending] = deliveries(api, subscription)
    assert pending["status"] == "pending" and len(pending["attempts"]) == 9 + 94
    last = pending["attempts"][-1]
    assert parse(last["at"]) == t0 + timedelta(seconds=85_875)
    assert parse(pending["next_attempt_at"]) == t0 + timedelta(seconds=85_875 + 900)


def parse(text: str) -> Any:
    from datetime import datetime

    return datetime.fromisoformat(text)


def test_a_receivers_answer_is_kept_to_1_kb(api: Any, receiver: Receiver) -> None:
    subscription = subscribe(api, receiver.url)
    receive_stock(api, A_NORTH, 10)
    api.stores.projector.catch_up()
    receiver.answers, receiver.answer_body = [500], "é".encode() * 3000
    deliverer = Deliverer(api.stores.outbox, clock=Clock())
    deliverer.deliver_due()
    deliverer.close()
    [attempt] = deliveries(api, subscription)[0]["attempts"]
    assert attempt["status_code"] == 500 and attempt["response_body"] == "é" * 512  # 1,024 bytes


def test_alert_changes_and_their_deliveries_land_with_the_tracking_record_or_not_at_all(
    api: Any, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    subscription = subscribe(api, receiver.url)
    view = api.stores.projector.view
    before = api.stores.projector.position()
    receive_stock(api, A_NORTH, 50)

    def fail(*_: Any) -> None:
        raise RuntimeError("the database went away between the outbox and the tracking record")

    monkeypatch.setattr(type(view), "_write_tracking", fail)
    with pytest.raises(RuntimeError):
        api.stores.projector.step()
    assert api.stores.projector.position() == before
    assert deliveries(api, subscription) == []
    assert view.query("SELECT alert_id FROM {t}current_alerts") == []

    monkeypatch.undo()
    api.stores.projector.catch_up()
    assert api.stores.projector.position() == api.position()
    assert [d["change"] for d in deliveries(api, subscription)] == ["opened"]
    assert len(view.query("SELECT alert_id FROM {t}current_alerts")) == 1


def test_no_duplicate_delivery_for_one_change_even_after_a_rebuild(api: Any, receiver: Receiver) -> None:
    north = subscribe(api, receiver.url)
    south_only = subscribe(api, receiver.url, regions=["south"])
    criticals = subscribe(api, receiver.url, kinds=["stockout"])
    receive_stock(api, A_NORTH, 50)
    receive_stock(api, B_SOUTH, 20)
    api.stores.projector.catch_up()
    api.stores.projector.rebuild()  # the stock view again from the first event; current alerts are kept
    first = deliveries(api, north)
    assert sorted(d["body"]["alert"]["depot"] for d in first) == [A_NORTH, B_SOUTH]
    assert [d["body"]["alert"]["depot"] for d in deliveries(api, south_only)] == [B_SOUTH]
    assert deliveries(api, criticals) == []  # that kind never opened
    ids = [d["delivery_id"] for s in (north, south_only) for d in deliveries(api, s)]
    assert len(ids) == len(set(ids)) == 3


def test_time_passing_opens_and_closes_alerts_through_the_tick(api: Any, receiver: Receiver) -> None:
    """An alert that opens without any event (a silent depot) reaches subscribers through `tick(now)`."""
    from domain.alerts import Alert
    from projections.alert_watch import AlertWatch

    silent_after = Clock().now + timedelta(days=3)

    def silence(depots: frozenset[str], now: Any) -> list[Alert]:
        if now < silent_after or now >= silent_after + timedelta(days=1) or A_NORTH not in depots:
            return []
        return [Alert("silent_depot", "warning", A_NORTH, "north", None, silent_after, "no report for 3 days")]

    view = api.stores.projector.view
    view.alerts = AlertWatch(view, silence)
    subscription = subscribe(api, receiver.url)
    assert view.alerts.tick(silent_after - timedelta(seconds=1)) == []
    [opened] = view.alerts.tick(silent_after)
    assert opened.change == "opened" and opened.at == silent_after
    assert view.alerts.tick(silent_after + timedelta(hours=1)) == []  # still open: nothing new
    assert [a.kind for a in view.alerts.current()] == ["silent_depot"]
    [closed] = view.alerts.tick(silent_after + timedelta(days=1))
    assert closed.change == "closed"
    assert [(d["sequence"], d["change"], d["body"]["alert"]["kind"]) for d in deliveries(api, subscription)] == [
        (1, "opened", "silent_depot"),
        (2, "closed", "silent_depot"),
    ]


def test_two_deliverers_on_one_database_send_each_delivery_once_in_order(api: Any, receiver: Receiver) -> None:
    subscription = subscribe(api, receiver.url)
    for change in (lambda: receive_stock(api, A_NORTH, 50), lambda: consume(api, A_NORTH, 50)):
        change()
        api.stores.projector.catch_up()
    receive_stock(api, A_NORTH, 200)
    receive_stock(api, B_SOUTH, 30)
    api.stores.projector.catch_up()
    expected = [d["delivery_id"] for d in deliveries(api, subscription)]
    assert len(expected) == 4  # opened, escalated, closed at A-NORTH; opened at B-SOUTH
    workers = [Deliverer(api.stores.outbox) for _ in range(2)]
    threads = [threading.Thread(target=w.deliver_due) for w in workers for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for worker in workers:
        worker.close()
    assert receiver.ids() == expected
    assert all(len(d["attempts"]) == 1 for d in deliveries(api, subscription))


def test_a_secret_is_never_answered_logged_or_in_the_feed(
    api: Any, receiver: Receiver, capfd: pytest.CaptureFixture[str]
) -> None:
    digest_before = ok(api.get("/v1/ledger/digest"))
    subscription = subscribe(api, receiver.url)
    receive_stock(api, A_NORTH, 50)
    api.stores.projector.catch_up()
    receiver.answers = [500]
    deliverer = Deliverer(api.stores.outbox, clock=Clock(), backoff=Backoff(first=0.0))
    deliverer.deliver_due()
    deliverer.deliver_due()
    deliverer.close()
    answers = [
        api.get("/v1/subscriptions", role="coordinator"),
        api.get(f"/v1/subscriptions/{subscription}", role="coordinator"),
        api.get(f"/v1/subscriptions/{subscription}/deliveries", role="coordinator"),
        api.get("/v1/events", role="auditor"),
        api.post("/v1/subscriptions", {"url": receiver.url, "secret": "tiny-s3cr3t"}),  # too short: 422
    ]
    assert [a.status_code for a in answers] == [200, 200, 200, 200, 422]
    listed = ok(answers[0])["subscriptions"]
    assert [set(s) for s in listed] == [{"subscription_id", "url", "kinds", "regions", "created_at", "created_by"}]
    assert listed[0]["created_by"] == "test-coordinator"
    assert receiver.received[-1].signed_with(SECRET)
    out, err = capfd.readouterr()
    assert "webhook_failed" in err and "webhook_delivered" in err  # the worker did log
    for text in [*(a.text for a in answers), out, err]:
        assert SECRET not in text and "tiny-s3cr3t" not in text
    digest_after = ok(api.get("/v1/ledger/digest"))
    assert digest_after["position"] == api.position() == digest_before["position"] + 1  # only the receipt


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.org/hook",
        "file:///etc/passwd",
        "javascript:alert(1)",
        "http://",
        "example.org/hook",
        "https://exa mple.org/hook",
        "http://example.org:port/",
    ],
)
def test_only_http_and_https_urls_are_taken(api: Any, url: str) -> None:
    body = problem(api.post("/v1/subscriptions", {"url": url, "secret": SECRET}), 422)
    assert {tuple(e["loc"]) for e in body["errors"]} == {("body", "url")}
    assert ok(api.get("/v1/subscriptions", role="coordinator")) == {"subscriptions": []}


def test_coordinators_and_admins_manage_subscriptions_and_no_one_else(api: Any, receiver: Receiver) -> None:
    mine = subscribe(api, receiver.url)
    admins = subscribe(api, receiver.url, role="admin", kinds=["stockout", "silent_depot"], regions=["north"])
    for role in ("operator", "auditor"):
        problem(api.post("/v1/subscriptions", {"url": receiver.url, "secret": SECRET}, role=role), 403)
        problem(api.get("/v1/subscriptions", role=role), 403)
        problem(api.get(f"/v1/subscriptions/{mine}/deliveries", role=role), 403)
        problem(api.client.delete(f"/v1/subscriptions/{mine}", headers=api.headers(role)), 403)
    listed = ok(api.get("/v1/subscriptions", role="admin"))["subscriptions"]
    assert sorted((s["subscription_id"], s["created_by"], s["kinds"], s["regions"]) for s in listed) == sorted(
        [(mine, "test-coordinator", None, None), (admins, "test-admin", ["stockout", "silent_depot"], ["north"])]
    )
    assert api.client.delete(f"/v1/subscriptions/{admins}", headers=api.headers("coordinator")).status_code == 204
    problem(api.get(f"/v1/subscriptions/{admins}/deliveries", role="coordinator"), 404)
    problem(api.client.delete(f"/v1/subscriptions/{admins}", headers=api.headers("admin")), 404)
    assert [s["subscription_id"] for s in ok(api.get("/v1/subscriptions", role="coordinator"))["subscriptions"]] == [
        mine
    ]


def test_a_repeated_subscribe_with_one_idempotency_key_makes_one_subscription(api: Any, receiver: Receiver) -> None:
    body = {"url": receiver.url, "secret": SECRET}
    first = api.post("/v1/subscriptions", body, **{"Idempotency-Key": "sub-1"})
    again = api.post("/v1/subscriptions", body, **{"Idempotency-Key": "sub-1"})
    assert created(first) == created(again) and again.headers["Idempotent-Replayed"] == "true"
    problem(api.post("/v1/subscriptions", {**body, "regions": ["north"]}, **{"Idempotency-Key": "sub-1"}), 409)
    assert len(ok(api.get("/v1/subscriptions", role="coordinator"))["subscriptions"]) == 1
