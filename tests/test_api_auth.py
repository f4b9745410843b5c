"""Who may do what over HTTP: bearer tokens, roles, operators' organisations, and logs
that never show a token."""

from __future__ import annotations

import json

import structlog
from api_helpers import (
    A_CLINIC,
    A_NORTH,
    B_SOUTH,
    FFP2,
    created,
    dispatch,
    nothing_stored,
    ok,
    on_hand,
    problem,
    production_logging,  # noqa: F401 - an autouse fixture
    receive_stock,
    seed,
    stock,
)

RECEIPT = {"item": FFP2, "quantity": 10}
DEPOT_COMMANDS = {
    "receipts": {"item": FFP2, "quantity": 10},
    "consumption": {"item": FFP2, "quantity": 10},
    "counts": {"item": FFP2, "counted": 10},
    "adjustments": {"item": FFP2, "quantity": -1, "reason": "damaged"},
    "requests": {"item": FFP2, "quantity": 10},
}


def assert_unauthorized(response) -> dict:
    body = problem(response, 401)
    assert response.headers["WWW-Authenticate"] == "Bearer"
    return body


# --- authentication ------------------------------------------------------------------------------


def test_every_v1_call_without_a_token_is_401_with_www_authenticate(api):
    seed(api)

    with nothing_stored(api):
        for response in (
            api.client.get("/v1/items"),
            api.client.get("/v1/depots"),
            api.client.get(f"/v1/depots/{A_NORTH}"),
            api.client.get(f"/v1/depots/{A_NORTH}/stock"),
            api.client.get("/v1/events"),
            api.client.get("/v1/transfers"),
            api.client.post(f"/v1/depots/{A_NORTH}/receipts", json=RECEIPT),
            api.client.post("/v1/transfers", json={"from": A_NORTH, "to": B_SOUTH, "lines": [RECEIPT]}),
            api.client.post("/v1/items", json={"code": "X", "name": "X", "unit": "piece", "category": "ppe"}),
            api.client.put(f"/v1/depots/{A_NORTH}/obligations/{FFP2}", json={"min_days": 9}),
        ):
            body = assert_unauthorized(response)
            assert "token" in body["detail"]


def test_a_bad_token_is_401(api):
    seed(api)

    with nothing_stored(api):
        for authorization in (
            "Bearer sl_not-a-real-token",
            f"Bearer {api.tokens['operator']}x",
            f"Basic {api.tokens['operator']}",
            api.tokens["operator"],
            "Bearer ",
        ):
            headers = {"Authorization": authorization}
            assert_unauthorized(api.client.get("/v1/items", headers=headers))
            assert_unauthorized(api.client.post(f"/v1/depots/{A_NORTH}/receipts", json=RECEIPT, headers=headers))


def test_a_request_without_a_token_is_401_even_when_its_body_is_malformed(api):
    """Who is asking comes first: an anonymous caller learns nothing about the body's shape."""
    seed(api)

    with nothing_stored(api):
        response = api.client.post(
            f"/v1/depots/{A_NORTH}/receipts", content=b'{"item": ', headers={"Content-Type": "application/json"}
        )
        assert_unauthorized(response)


# --- auditors ------------------------------------------------------------------------------------


def test_an_auditor_reads_everything_but_cannot_write(api):
    seed(api)
    receive_stock(api, A_NORTH, 100)

    ok(api.get(f"/v1/depots/{A_NORTH}/stock", role="auditor"))
    ok(api.get("/v1/events", role="auditor"))
    ok(api.get("/v1/transfers", role="auditor"))
    with nothing_stored(api):
        for name, body in DEPOT_COMMANDS.items():
            assert problem(api.post(f"/v1/depots/{A_NORTH}/{name}", body, role="auditor"), 403)["title"] == "Forbidden"
        problem(dispatch(api, A_NORTH, B_SOUTH, 5, role="auditor"), 403)


def test_an_auditor_cannot_receive_or_cancel_a_transfer(api):
    seed(api)
    receive_stock(api, A_NORTH, 100)
    transfer_id = created(dispatch(api, A_NORTH, B_SOUTH, 5))["transfer_id"]

    with nothing_stored(api):
        problem(api.post(f"/v1/transfers/{transfer_id}/receipt", {}, role="auditor"), 403)
        problem(api.post(f"/v1/transfers/{transfer_id}/cancel", {"reason": "audit"}, role="auditor"), 403)


# --- operators and their organisations ------------------------------------------------------------------


def test_an_operator_writes_every_depot_command_to_its_own_organisations_depots(api):
    seed(api)

    for depot in (A_NORTH, A_CLINIC):
        for name, body in DEPOT_COMMANDS.items():
            answer = created(api.post(f"/v1/depots/{depot}/{name}", body, role="operator"))
            assert answer["depot"] == depot


def test_an_operator_cannot_write_to_another_organisations_depot(api):
    seed(api)
    receive_stock(api, B_SOUTH, 100)

    with nothing_stored(api):
        for name, body in DEPOT_COMMANDS.items():
            refusal = problem(api.post(f"/v1/depots/{B_SOUTH}/{name}", body, role="operator"), 403)
            assert refusal["title"] == "Forbidden"
            assert B_SOUTH in refusal["detail"]
    assert on_hand(api, B_SOUTH) == 100


def test_an_operator_cannot_close_another_organisations_supply_request(api):
    seed(api)
    request_id = created(api.post(f"/v1/depots/{B_SOUTH}/requests", {"item": FFP2, "quantity": 5}))["request_id"]

    with nothing_stored(api):
        problem(
            api.post(f"/v1/depots/{B_SOUTH}/requests/{request_id}/close", {"outcome": "withdrawn"}, role="operator"),
            403,
        )


def test_an_operator_may_dispatch_from_its_own_depot_to_another_organisations_depot(api):
    seed(api)
    receive_stock(api, A_NORTH, 100)

    body = created(dispatch(api, A_NORTH, B_SOUTH, 30, role="operator"))

    assert body["status"] == "in_transit"
    assert on_hand(api, A_NORTH) == 70
    assert stock(api, B_SOUTH)["in_transit_in"] == 30


def test_an_operator_may_not_dispatch_from_another_organisations_depot(api):
    seed(api)
    receive_stock(api, B_SOUTH, 100)

    with nothing_stored(api):
        problem(dispatch(api, B_SOUTH, A_NORTH, 30, role="operator"), 403)
    assert on_hand(api, B_SOUTH) == 100


def test_an_operator_may_receive_into_its_own_depot_from_another_organisation(api):
    seed(api)
    receive_stock(api, B_SOUTH, 100)
    transfer_id = created(dispatch(api, B_SOUTH, A_NORTH, 40))["transfer_id"]

    body = ok(api.post(f"/v1/transfers/{transfer_id}/receipt", {}, role="operator"))

    assert body["status"] == "received"
    assert on_hand(api, A_NORTH) == 40


def test_an_operator_may_not_receive_into_another_organisations_depot(api):
    seed(api)
    receive_stock(api, A_NORTH, 100)
    transfer_id = created(dispatch(api, A_NORTH, B_SOUTH, 40, role="operator"))["transfer_id"]

    with nothing_stored(api):
        problem(api.post(f"/v1/transfers/{transfer_id}/receipt", {}, role="operator"), 403)
    assert ok(api.get(f"/v1/transfers/{transfer_id}"))["status"] == "in_transit"
    assert on_hand(api, B_SOUTH) == 0


def test_an_operator_may_cancel_only_transfers_from_its_own_depots(api):
    seed(api)
    receive_stock(api, A_NORTH, 100)
    receive_stock(api, B_SOUTH, 100)
    outgoing = created(dispatch(api, A_NORTH, B_SOUTH, 10))["transfer_id"]
    incoming = created(dispatch(api, B_SOUTH, A_NORTH, 10))["transfer_id"]

    with nothing_stored(api):
        problem(api.post(f"/v1/transfers/{incoming}/cancel", {"reason": "not ours"}, role="operator"), 403)
    assert (
        ok(api.post(f"/v1/transfers/{outgoing}/cancel", {"reason": "wrong truck"}, role="operator"))["status"]
        == "cancelled"
    )


def test_an_operators_events_carry_its_name_as_actor(api):
    seed(api)

    receive_stock(api, A_NORTH, 10, role="operator")

    [event] = api.get("/v1/events", type="ReceiptRecorded").json()["events"]
    assert event["actor"] == "test-operator"


# --- open endpoints -----------------------------------------------------------------------------------


def test_healthz_and_metrics_need_no_token(api):
    assert ok(api.client.get("/healthz"))["status"] == "ok"
    metrics = api.client.get("/metrics")
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")


# --- tokens never in logs ---------------------------------------------------------------------------


def _exercise_every_kind_of_answer(api) -> None:
    """A 201, a 200, a 401 (token of the wrong form), a 403, a 404 and a 422, each with a token."""
    created(api.post(f"/v1/depots/{A_NORTH}/receipts", RECEIPT, role="operator"))
    ok(api.get(f"/v1/depots/{A_NORTH}/stock", role="auditor"))
    api.client.get("/v1/items", headers={"Authorization": f"Bearer {api.tokens['admin']}-revoked"})
    problem(api.post(f"/v1/depots/{B_SOUTH}/receipts", RECEIPT, role="operator"), 403)
    problem(api.get("/v1/depots/NOWHERE", role="coordinator"), 404)
    problem(api.post(f"/v1/depots/{A_NORTH}/receipts", {"item": FFP2, "quantity": "x"}, role="admin"), 422)


def _assert_no_token_in(text: str, api) -> None:
    for role, token in api.tokens.items():
        assert token not in text, f"the {role} token appears in the logs"
        assert token[3:] not in text, f"the secret part of the {role} token appears in the logs"


def test_request_logs_never_contain_the_token(api, capsys, caplog):
    """The app as `create_app` builds it, with structlog's own defaults."""
    seed(api)
    structlog.reset_defaults()  # put back by `production_logging` afterwards

    _exercise_every_kind_of_answer(api)

    captured = capsys.readouterr()
    _assert_no_token_in(captured.out + captured.err + caplog.text, api)


def _json_lines(text: str) -> list[dict]:
    lines = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


def test_the_production_request_log_is_one_json_line_per_request_naming_the_actor_never_the_token(api, capsys):
    seed(api)
    capsys.readouterr()

    response = api.post(f"/v1/depots/{A_NORTH}/receipts", RECEIPT, role="operator")
    created(response)

    captured = capsys.readouterr()
    _assert_no_token_in(captured.out + captured.err, api)
    [line] = [entry for entry in _json_lines(captured.err) if entry.get("event") == "request"]
    assert line["method"] == "POST"
    assert line["path"] == f"/v1/depots/{A_NORTH}/receipts"
    assert line["status"] == 201
    assert line["actor"] == "test-operator"
    assert line["request_id"] == response.headers["x-request-id"]
    assert isinstance(line["duration_ms"], (int, float))


def test_the_production_logs_never_contain_the_token(api, capsys):
    seed(api)
    capsys.readouterr()

    _exercise_every_kind_of_answer(api)

    captured = capsys.readouterr()
    _assert_no_token_in(captured.out + captured.err, api)
    assert len([entry for entry in _json_lines(captured.err) if entry.get("event") == "request"]) == 6


def _fail_the_database(api, monkeypatch) -> None:
    def unavailable() -> int:
        raise RuntimeError("the database went away")

    monkeypatch.setattr(api.stores.ledger, "position", unavailable)


def test_a_server_error_is_a_problem_and_its_log_never_contains_the_token(api, capsys, monkeypatch):
    seed(api)
    _fail_the_database(api, monkeypatch)

    response = api.get(f"/v1/depots/{A_NORTH}/stock", role="auditor")

    problem(response, 500)
    captured = capsys.readouterr()
    _assert_no_token_in(captured.out + captured.err, api)


def test_a_server_error_log_never_contains_the_token_whatever_the_logging_setup(api, capsys, caplog, monkeypatch):
    """The app as `create_app` builds it, without the CLI's logging set up (tests, `uvicorn --factory`
    with `create_app`): an unexpected error must not dump the request's Authorization header."""
    seed(api)
    _fail_the_database(api, monkeypatch)
    structlog.reset_defaults()  # put back by `production_logging` afterwards

    problem(api.get(f"/v1/depots/{A_NORTH}/stock", role="auditor"), 500)

    captured = capsys.readouterr()
    _assert_no_token_in(captured.out + captured.err + caplog.text, api)
