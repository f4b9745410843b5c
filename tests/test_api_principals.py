"""Principals over HTTP: idempotency keys belong to a token's stable id, never to its name;
revoked and expired tokens are refused with a 401 that says so."""

from __future__ import annotations

from datetime import timedelta

from api_helpers import (
    A_NORTH,
    B_SOUTH,
    FFP2,
    created,
    feed,
    legacy_token,
    nothing_stored,
    ok,
    on_hand,
    problem,
    production_logging,  # noqa: F401 - an autouse fixture
    seed,
)
from exercise_world import CODE, build_live, create

RECEIPT = {"item": FFP2, "quantity": 10}


def post(api, path: str, body: dict, token: str, key: str | None = None):  # type: ignore[no-untyped-def]
    headers = {"Authorization": f"Bearer {token}", **({"Idempotency-Key": key} if key else {})}
    return api.client.post(path, json=body, headers=headers)


def replayed(response) -> bool:  # type: ignore[no-untyped-def]
    return response.headers.get("Idempotent-Replayed") == "true"


def test_an_operator_sharing_the_admins_name_gets_its_own_answer_to_the_admins_key(api):
    """Two tokens named alike (possible only from before names were unique): the operator's
    retry of the admin's key is its own request, refused for the foreign depot."""
    seed(api)
    admin = legacy_token(api.stores.access, "ops")
    operator = legacy_token(api.stores.access, "ops", "operator", ("org-a",))
    path = f"/v1/depots/{B_SOUTH}/receipts"
    first = created(post(api, path, RECEIPT, admin, key="k-1"))

    with nothing_stored(api):
        body = problem(post(api, path, RECEIPT, operator, key="k-1"), 403)
        assert "org-b" in body["detail"]
        again = post(api, path, RECEIPT, admin, key="k-1")  # the admin's own retry still replays
        assert (again.status_code, again.json(), replayed(again)) == (201, first, True)

    own = created(post(api, f"/v1/depots/{A_NORTH}/receipts", RECEIPT, operator, key="k-1"))
    retry = post(api, f"/v1/depots/{A_NORTH}/receipts", RECEIPT, operator, key="k-1")
    assert (retry.status_code, retry.json(), replayed(retry)) == (201, own, True)
    assert own["event_id"] != first["event_id"]
    assert (on_hand(api, B_SOUTH), on_hand(api, A_NORTH)) == (10, 10)
    assert len(feed(api, type="ReceiptRecorded")) == 2


def test_an_exercise_control_key_belongs_to_the_principal_not_its_name(api):
    create(api, build_live(api))
    evaluator = legacy_token(api.stores.access, "evaluator", "auditor")
    namesake = legacy_token(api.stores.access, "evaluator", "admin")
    path = f"/v1/exercises/{CODE}/observations"
    note = {"text": "Situation report late", "rating": "M"}
    first = created(post(api, path, note, evaluator, key="obs-1"))

    other = post(api, path, {"text": "Allocation on time", "rating": "P"}, namesake, key="obs-1")
    again = post(api, path, note, evaluator, key="obs-1")
    assert (again.status_code, again.json(), replayed(again)) == (201, first, True)
    assert not replayed(other) and created(other)["text"] == "Allocation on time"
    assert [o["text"] for o in ok(api.get(f"/v1/exercises/{CODE}"))["observations"]] == [
        "Situation report late",
        "Allocation on time",
    ]


def test_a_revoked_token_is_401_and_stores_nothing(api):
    seed(api)
    token = api.stores.access.issue("kari", "coordinator")
    created(post(api, f"/v1/depots/{A_NORTH}/receipts", RECEIPT, token))
    api.stores.access.revoke("kari", by="test-admin", reason="left the team")

    with nothing_stored(api):
        for response in (
            post(api, f"/v1/depots/{A_NORTH}/receipts", RECEIPT, token),
            api.client.get("/v1/items", headers={"Authorization": f"Bearer {token}"}),
        ):
            body = problem(response, 401)
            assert body["detail"] == "the bearer token was revoked"
            assert response.headers["WWW-Authenticate"] == "Bearer"
    ok(api.get("/v1/items"))  # other tokens are unaffected


def test_an_expired_token_is_401_and_stores_nothing(api):
    seed(api)
    access = api.stores.access
    token = access.issue("temp", "coordinator", expires_in=timedelta(days=30))
    created(post(api, f"/v1/depots/{A_NORTH}/receipts", RECEIPT, token))  # cached from here on
    issued_at = access.tokens()[-1].issued_at
    access.clock = lambda: issued_at + timedelta(days=30)

    with nothing_stored(api):
        body = problem(post(api, f"/v1/depots/{A_NORTH}/receipts", RECEIPT, token), 401)
    assert body["detail"] == "the bearer token has expired"
    ok(api.get("/v1/items"))
