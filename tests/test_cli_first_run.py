"""A new user's first and second `supply-ledger demo`: where the tokens are, and that a token
file belongs to its database (two ledgers side by side never overwrite each other's)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.cli import app
from ledger.settings import Database
from tests.conftest import fresh_postgres_schema

runner = CliRunner()
ROLES = ("coordinator", "operator", "auditor")


def printed_tokens(output: str) -> dict[str, str]:
    """`admin` from "Created the admin token ...:" and the line after it, and each demo role's line."""
    lines = output.splitlines()
    tokens = {line.split()[0]: line.split()[-1] for line in lines if line.split() and line.split()[0] in ROLES}
    for i, line in enumerate(lines):
        if line.startswith("Created the admin token"):
            tokens["admin"] = lines[i + 1].strip()
    return tokens


def answers(database_url: str, token: str) -> int:
    """The HTTP status `GET /v1/depots` answers this token on that ledger."""
    from api.app import Stores, create_app

    stores = Stores.open(Database(database_url))
    try:
        with TestClient(create_app(stores=stores, projections=False)) as client:
            return client.get("/v1/depots", headers={"Authorization": f"Bearer {token}"}).status_code
    finally:
        stores.close()


def test_the_demo_keeps_every_token_in_its_ledgers_files_and_a_second_run_says_where(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    database = Database(database_url)
    first = runner.invoke(app, ["demo", "--database", database_url])
    assert first.exit_code == 0, first.output
    tokens = printed_tokens(first.output)
    assert set(tokens) == {"admin", *ROLES}
    files = {name: database.token_file(name if name == "admin" else f"demo-{name}") for name in tokens}
    for name, path in files.items():
        assert path.read_text() == tokens[name] + "\n"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert answers(database_url, tokens["coordinator"]) == 200

    second = runner.invoke(app, ["demo", "--database", database_url])
    assert second.exit_code == 1
    assert second.output.splitlines() == [
        "The ledger already has depots: demo data not loaded again.",
        f"Its tokens are kept in {', '.join(str(files[name]) for name in ('admin', *ROLES))}.",
        "`supply-ledger token list --database ...` lists every token issued (never the secret); "
        "`supply-ledger token create --database ... --name NAME --role ROLE` issues another.",
    ]
    for name, path in files.items():  # kept as they were
        assert path.read_text() == tokens[name] + "\n"
    assert "sl_" not in second.output


def test_a_second_demo_on_the_default_ledger_names_its_token_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SUPPLY_LEDGER_DATABASE_URL", raising=False)
    assert runner.invoke(app, ["demo"]).exit_code == 0
    second = runner.invoke(app, ["demo"])
    assert second.exit_code == 1
    assert second.output.splitlines()[1:] == [
        "Its tokens are kept in supply-ledger-data/ledger-admin-token, "
        "supply-ledger-data/ledger-demo-coordinator-token, "
        "supply-ledger-data/ledger-demo-operator-token, supply-ledger-data/ledger-demo-auditor-token.",
        "`supply-ledger token list` lists every token issued (never the secret); "
        "`supply-ledger token create --name NAME --role ROLE` issues another.",
    ]


@pytest.mark.postgres
def test_a_demo_on_postgresql_leaves_the_sqlite_ledgers_token_file_alone(
    postgres_server_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SUPPLY_LEDGER_DATABASE_URL", raising=False)
    sqlite = runner.invoke(app, ["demo"])  # the default: ./supply-ledger-data/ledger.sqlite3
    assert sqlite.exit_code == 0, sqlite.output
    postgres_url = fresh_postgres_schema(postgres_server_url)
    postgres = runner.invoke(app, ["demo", "--database", postgres_url])
    assert postgres.exit_code == 0, postgres.output

    sqlite_url = Database.from_environment().url
    sqlite_admin, postgres_admin = printed_tokens(sqlite.output)["admin"], printed_tokens(postgres.output)["admin"]
    assert sqlite_admin != postgres_admin
    sqlite_file, postgres_file = Database(sqlite_url).token_file(), Database(postgres_url).token_file()
    assert sqlite_file == Path("supply-ledger-data/ledger-admin-token")
    assert postgres_file.parent == Path("supply-ledger-data") and postgres_file != sqlite_file
    assert sqlite_file.read_text() == sqlite_admin + "\n"
    assert postgres_file.read_text() == postgres_admin + "\n"
    assert answers(sqlite_url, sqlite_file.read_text().strip()) == 200
    assert answers(postgres_url, postgres_file.read_text().strip()) == 200
    assert answers(sqlite_url, postgres_admin) == 401  # each token opens its own ledger only
