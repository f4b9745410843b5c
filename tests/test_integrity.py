"""Tamper evidence: GET /v1/ledger/digest, POST /v1/ledger/verify and `supply-ledger digest|verify`,
on both backends, including edits made directly in the database behind the ledger's back."""

from __future__ import annotations

import hashlib
import sqlite3
import struct
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from api.cli import app as cli
from tests.api_helpers import (  # noqa: F401 - production_logging is autouse
    A_NORTH,
    B_SOUTH,
    nothing_stored,
    ok,
    problem,
    production_logging,
    receive_stock,
    seed,
)

GENESIS = "0" * 64
runner = CliRunner()


def _digest(api: Any, **params: Any) -> dict[str, Any]:
    return ok(api.get("/v1/ledger/digest", **params))


def _verify(api: Any, body: Any = None, role: str = "auditor") -> dict[str, Any]:
    return ok(api.post("/v1/ledger/verify", body, role=role))


def _three_receipts(api: Any) -> list[int]:
    """The seeded world plus receipts of 10, 20 and 30 at A-NORTH; their positions."""
    seed(api)
    return [receive_stock(api, A_NORTH, quantity)["position"] for quantity in (10, 20, 30)]


def _tamper(api: Any, database_url: str, position: int, sql: str = "update") -> None:
    """Edits (or deletes) the stored event at `position` directly in the database."""
    recorder = api.stores.ledger.recorder
    if database_url.startswith("sqlite"):
        with sqlite3.connect(database_url[len("sqlite:///") :]) as conn:
            table = recorder.events_table_name
            if sql == "delete":
                changed = conn.execute(f"DELETE FROM {table} WHERE rowid = ?", (position,)).rowcount
            else:
                (state,) = conn.execute(f"SELECT state FROM {table} WHERE rowid = ?", (position,)).fetchone()
                edited = state.replace(b'"quantity":20', b'"quantity":2000')
                assert edited != state
                changed = conn.execute(f"UPDATE {table} SET state = ? WHERE rowid = ?", (edited, position)).rowcount
    else:
        table = f'"{recorder.datastore.schema}"."{recorder.events_table_name}"'
        with psycopg.connect(database_url.split("?")[0], autocommit=True) as conn:
            if sql == "delete":
                changed = conn.execute(f"DELETE FROM {table} WHERE notification_id = %s", (position,)).rowcount
            else:
                changed = conn.execute(
                    f"UPDATE {table} SET state = convert_to(replace(convert_from(state, 'UTF8'), "  # type: ignore[arg-type]
                    "'\"quantity\":20', '\"quantity\":2000'), 'UTF8') "
                    "WHERE notification_id = %s AND position('\"quantity\":20' in convert_from(state, 'UTF8')) > 0",
                    (position,),
                ).rowcount
    assert changed == 1


def _documented_chain(api: Any, upto: int) -> str:
    """The digest by the encoding documented in replay/digest.py, from the library's own
    notification reader (a different read path than the one under test)."""
    current = bytes(32)
    for n in api.stores.ledger.recorder.select_notifications(1, upto, stop=upto):
        topic = n.topic.encode()
        canonical = (
            struct.pack(">Q", n.id)
            + struct.pack(">I", 16)
            + n.originator_id.bytes
            + struct.pack(">q", n.originator_version)
            + struct.pack(">I", len(topic))
            + topic
            + struct.pack(">I", len(n.state))
            + n.state
        )
        current = hashlib.sha256(current + canonical).digest()
    return current.hex()


def test_the_digest_is_deterministic_follows_appends_and_keeps_earlier_positions(api: Any) -> None:
    assert _digest(api) == {"position": 0, "digest": GENESIS}
    positions = _three_receipts(api)
    last = positions[-1]
    assert api.position() == last
    first = _digest(api)
    assert first == {"position": last, "digest": _documented_chain(api, last)}
    assert _digest(api) == first
    assert _digest(api, position=last) == first
    assert _digest(api, position=0) == {"position": 0, "digest": GENESIS}
    earlier = _digest(api, position=positions[0])
    assert earlier == {"position": positions[0], "digest": _documented_chain(api, positions[0])}

    appended = receive_stock(api, B_SOUTH, 5)["position"]
    assert appended == last + 1
    after = _digest(api)
    assert after["position"] == appended
    assert after["digest"] != first["digest"]
    assert after["digest"] == _documented_chain(api, appended)
    assert _digest(api, position=last) == first
    assert _digest(api, position=positions[0]) == earlier


def test_a_kept_digest_verifies(api: Any) -> None:
    _three_receipts(api)
    kept = _digest(api, role="auditor")
    receive_stock(api, B_SOUTH, 5)
    answer = _verify(api, kept)
    assert answer["valid"] is True
    assert answer["position"] == kept["position"]
    assert answer["digest"] == kept["digest"]
    assert answer["first_mismatch"] is None
    whole = _verify(api)
    assert whole["valid"] is True and whole["position"] == api.position() and whole["first_mismatch"] is None
    assert whole["digest"] == _digest(api)["digest"]


def test_a_wrong_digest_for_a_position_is_not_valid(api: Any) -> None:
    positions = _three_receipts(api)
    kept = _digest(api, position=positions[1])
    other = _digest(api, position=positions[2])["digest"]
    answer = _verify(api, {"position": positions[1], "digest": other})
    assert answer == {
        "valid": False,
        "position": positions[1],
        "digest": kept["digest"],
        "first_mismatch": None,
        "first_unreadable": None,
        "detail": answer["detail"],
    }
    assert _verify(api, {"position": positions[1], "digest": kept["digest"].upper()})["valid"] is True


def test_an_event_edited_in_the_database_is_found_by_the_api_and_the_cli(api: Any, database_url: str) -> None:
    positions = _three_receipts(api)
    kept = _digest(api)
    edited = positions[1]
    _tamper(api, database_url, edited)

    answer = _verify(api, kept)
    assert answer["valid"] is False
    assert answer["first_mismatch"] == edited
    assert answer["position"] == kept["position"]
    assert answer["digest"] != kept["digest"]
    whole = _verify(api)
    assert (whole["valid"], whole["first_mismatch"]) == (False, edited)
    # Before the edit the chain still matches its recorded links and the digest kept for it.
    before = _verify(api, _digest(api, position=positions[0]))
    assert (before["valid"], before["first_mismatch"]) == (True, None)
    # The digest served for a recorded position is the one recorded, not the edited one.
    assert _digest(api) == kept

    result = runner.invoke(cli, ["verify", "--database", database_url])
    assert result.exit_code == 1, result.output
    assert f"first mismatch at position {edited}" in result.output
    assert "MISMATCH" in result.output
    result = runner.invoke(
        cli, ["verify", "--digest", kept["digest"], "--position", str(kept["position"]), "--database", database_url]
    )
    assert result.exit_code == 1, result.output
    assert f"first mismatch at position {edited}" in result.output


def test_an_edit_before_any_link_was_recorded_is_found_by_a_kept_digest(api: Any, database_url: str) -> None:
    positions = _three_receipts(api)
    kept = {"position": positions[2], "digest": _documented_chain(api, positions[2])}  # kept elsewhere
    _tamper(api, database_url, positions[1])
    answer = _verify(api, kept)
    assert (answer["valid"], answer["first_mismatch"]) == (False, None)
    result = runner.invoke(
        cli, ["verify", "--digest", kept["digest"], "--position", str(kept["position"]), "--database", database_url]
    )
    assert result.exit_code == 1, result.output


def test_a_deleted_event_is_found(api: Any, database_url: str) -> None:
    positions = _three_receipts(api)
    _digest(api)
    _tamper(api, database_url, positions[2], "delete")
    answer = _verify(api)
    assert (answer["valid"], answer["first_mismatch"]) == (False, positions[2])


def test_the_cli_prints_the_digest_and_verifies_it(api: Any, database_url: str) -> None:
    positions = _three_receipts(api)
    result = runner.invoke(cli, ["digest", "--position", str(positions[0]), "--database", database_url])
    assert result.exit_code == 0, result.output
    expected = _documented_chain(api, positions[0])
    assert result.output.splitlines() == [f"position {positions[0]}", f"digest {expected}"]
    result = runner.invoke(
        cli, ["verify", "--digest", expected, "--position", str(positions[0]), "--database", database_url]
    )
    assert result.exit_code == 0, result.output
    assert result.output.startswith("valid")
    result = runner.invoke(cli, ["verify", "--database", database_url])
    assert result.exit_code == 0, result.output
    result = runner.invoke(cli, ["verify", "--digest", "0" * 63 + "1", "--position", "1", "--database", database_url])
    assert result.exit_code == 1, result.output
    for bad in (
        ["--digest", "xyz", "--position", "1"],
        ["--position", "1"],
        ["--digest", GENESIS, "--position", "999"],
    ):
        result = runner.invoke(cli, ["verify", *bad, "--database", database_url])
        assert result.exit_code == 2, (bad, result.output)
    result = runner.invoke(cli, ["digest", "--position", "999", "--database", database_url])
    assert result.exit_code == 2, result.output


def test_bad_input_is_a_problem_and_stores_nothing(api: Any) -> None:
    positions = _three_receipts(api)
    last = positions[-1]
    good = _digest(api)["digest"]
    with nothing_stored(api):
        problem(api.get("/v1/ledger/digest", position=-1), 422)
        problem(api.get("/v1/ledger/digest", position="two"), 422)
        beyond = problem(api.get("/v1/ledger/digest", position=last + 1), 404)
        assert str(last) in beyond["detail"]
        for body in (
            {"position": -1, "digest": good},
            {"position": "3", "digest": good},
            {"position": last, "digest": "g" * 64},
            {"position": last, "digest": good[:-1]},
            {"position": last},
            {"digest": good},
            {"position": last, "digest": good, "extra": 1},
            [1, 2],
        ):
            problem(api.post("/v1/ledger/verify", body, role="auditor"), 422)
        problem(api.post("/v1/ledger/verify", {"position": last + 1, "digest": good}, role="auditor"), 404)


def test_every_reader_may_read_the_digest_and_auditors_coordinators_and_admins_verify(api: Any) -> None:
    """Operators read everything (API.md), the digest too; verification is the auditor's."""
    _three_receipts(api)
    for role in ("auditor", "coordinator", "admin"):
        kept = _digest(api) if role == "auditor" else ok(api.get("/v1/ledger/digest", role=role))
        assert _verify(api, kept, role=role)["valid"] is True
    assert ok(api.get("/v1/ledger/digest", role="operator")) == _digest(api)
    problem(api.post("/v1/ledger/verify", None, role="operator"), 403)
    problem(api.client.get("/v1/ledger/digest"), 401)
    problem(api.client.post("/v1/ledger/verify", json={"position": 0, "digest": GENESIS}), 401)
    problem(api.client.get("/v1/ledger/digest", headers={"Authorization": "Bearer nonsense"}), 401)


@pytest.mark.parametrize("batch", [1, 2, 1000])
def test_batched_reading_gives_the_same_rows(api: Any, batch: int) -> None:
    from replay.digest import stored_rows

    positions = _three_receipts(api)
    recorder = api.stores.ledger.recorder
    rows = list(stored_rows(recorder, 0, positions[-1], batch=batch))
    assert [row.position for row in rows] == list(range(1, positions[-1] + 1))
    assert [row.position for row in stored_rows(recorder, positions[0], positions[1], batch=batch)] == [positions[1]]
