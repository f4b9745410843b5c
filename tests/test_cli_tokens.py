"""`supply-ledger token create|list|revoke` as an administrator uses them (both backends)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from typer.testing import CliRunner

from api.cli import app
from api.cli.tokens import lifetime
from domain.ids import token_id
from ledger.access import Access, TokenRefused, hash_token
from ledger.settings import Database

runner = CliRunner()


def cli(*args: str, database: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, [*args, "--database", database])


def shown(database: str) -> str:
    """`token list` as a table."""
    result = cli("token", "list", database=database)
    assert result.exit_code == 0, (result.output, result.exception)
    return result.output


def create(database: str, name: str, *extra: str) -> str:
    result = cli("token", "create", "--name", name, "--role", "coordinator", *extra, database=database)
    assert result.exit_code == 0, result.output
    return result.output.strip().splitlines()[-1]


def listed(database: str) -> list[dict]:
    result = cli("token", "list", "--json", database=database)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def refusal(database: str, token: str) -> str:
    access = Access(Database(database).env("access", indexed=False))
    try:
        with pytest.raises(TokenRefused) as caught:
            access.check(token)
    finally:
        access.close()
    return caught.value.reason


def test_create_with_a_lifetime_and_list_without_secrets(database_url: str) -> None:
    kari = create(database_url, "kari", "--expires-in", "30d")
    desk = create(database_url, "desk")

    rows = listed(database_url)
    assert [(r["name"], r["role"], r["issued_by"], r["revoked"], r["expired"]) for r in rows] == [
        ("kari", "coordinator", "cli", False, False),
        ("desk", "coordinator", "cli", False, False),
    ]
    issued, expires = (datetime.fromisoformat(rows[0][k].replace("Z", "+00:00")) for k in ("issued_at", "expires_at"))
    assert abs(expires - issued - timedelta(days=30)) < timedelta(seconds=5)
    assert rows[1]["expires_at"] is None
    assert rows[0]["id"] == str(token_id(hash_token(kari)))
    table = shown(database_url)
    assert "2 tokens" in table and "kari" in table and "desk" in table and "never" in table
    for output in (json.dumps(rows), table):
        for token in (kari, desk):
            assert token not in output and hash_token(token) not in output


def test_a_name_in_use_and_a_bad_lifetime_are_clear_errors(database_url: str) -> None:
    create(database_url, "kari")
    again = cli("token", "create", "--name", "Kari", "--role", "auditor", database=database_url)
    assert again.exit_code == 2 and "the name 'Kari' is already in use" in again.output
    bad = cli("token", "create", "--name", "x", "--role", "auditor", "--expires-in", "5y", database=database_url)
    assert bad.exit_code == 2 and "12h or 30d" in bad.output
    assert [r["name"] for r in listed(database_url)] == ["kari"]


def test_revoke_by_name_or_id_stops_the_token(database_url: str) -> None:
    kari = create(database_url, "kari")
    desk = create(database_url, "desk")

    by_name = cli("token", "revoke", "kari", "--reason", "laptop lost", database=database_url)
    assert by_name.exit_code == 0 and "Revoked the token kari" in by_name.output
    desk_id = listed(database_url)[1]["id"]
    assert cli("token", "revoke", desk_id, database=database_url).exit_code == 0

    assert [(r["name"], r["revoked"], r["revoked_by"]) for r in listed(database_url)] == [
        ("kari", True, "cli"),
        ("desk", True, "cli"),
    ]
    assert refusal(database_url, kari) == refusal(database_url, desk) == "the bearer token was revoked"
    assert "revoked by cli" in shown(database_url)
    again = cli("token", "revoke", "kari", database=database_url)
    assert again.exit_code == 2 and "already revoked" in again.output
    unknown = cli("token", "revoke", "nobody", database=database_url)
    assert unknown.exit_code == 2 and "no token with the id or name 'nobody'" in unknown.output


@pytest.mark.parametrize(
    ("text", "duration"),
    [
        ("90m", timedelta(minutes=90)),
        ("12h", timedelta(hours=12)),
        ("30d", timedelta(days=30)),
        (" 2w ", timedelta(weeks=2)),
    ],
)
def test_lifetimes_are_minutes_hours_days_or_weeks(text: str, duration: timedelta) -> None:
    assert lifetime(text) == duration


@pytest.mark.parametrize("text", ["0d", "5y", "d", "-1d", "1.5h", "30"])
def test_other_lifetimes_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="12h or 30d"):
        lifetime(text)


def test_a_second_server_starting_at_the_same_moment_keeps_the_first_admin_token(
    database_url: str,
    tmp_path,
    monkeypatch,
    capsys,  # type: ignore[no-untyped-def]
) -> None:
    """Two servers on one fresh database both see no token; the one that issues second is
    told, starts anyway, and leaves the first one's token file alone (CI saw it exit 1)."""
    from api.cli.options import opened
    from api.cli.serve import ensure_admin_token

    monkeypatch.chdir(tmp_path)
    db = Database.from_environment(database_url)
    with opened(database_url) as stores:
        ensure_admin_token(stores, db)
        first = db.token_file("admin").read_text()
        monkeypatch.setattr(stores.access, "has_tokens", lambda: False)  # the moment both looked
        ensure_admin_token(stores, db)
    assert "Another server starting on this ledger created the admin token" in capsys.readouterr().out
    assert db.token_file("admin").read_text() == first
    assert [token["name"] for token in listed(database_url)] == ["admin"]
