"""The command line as a user meets it: a real `supply-ledger serve` on a free port, tokens, the demo."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from api.cli import app
from ledger.settings import Database
from tests.serving import free_port, wait_healthy

runner = CliRunner()


def test_serve_creates_an_admin_token_once_and_answers_with_it(database_url: str, tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "SUPPLY_LEDGER_DATABASE_URL": database_url}
    command = [sys.executable, "-m", "api", "serve", "--port", str(port)]
    process = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_healthy(url, process)
        assert httpx.get(f"{url}/healthz").json() == {"status": "ok", "database": "ok", "position": 0}
        token_file = tmp_path / Database(database_url).token_file("admin")  # relative: in the cwd
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        token = token_file.read_text().strip()
        answer = httpx.post(
            f"{url}/v1/items",
            headers={"Authorization": f"Bearer {token}"},
            json={"code": "FFP2", "name": "FFP2 respirator", "unit": "piece", "category": "ppe"},
        )
        assert answer.status_code == 201, answer.text
        assert httpx.get(f"{url}/v1/items").status_code == 401
    finally:
        process.terminate()
        out, err = process.communicate(timeout=15)
    assert token in out  # printed once, on the first start
    assert token not in err  # and never logged
    request_lines = [line for line in err.splitlines() if '"event": "request"' in line]
    assert request_lines, err
    assert any('"path": "/v1/items"' in line and '"actor": "admin"' in line for line in request_lines)

    second = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_healthy(f"http://127.0.0.1:{port}", second)
    finally:
        second.terminate()
        out, _ = second.communicate(timeout=15)
    assert "admin token" not in out  # not created again


def test_token_create_prints_the_token_alone_on_the_last_line(database_url: str) -> None:
    result = runner.invoke(
        app, ["token", "create", "--name", "kari", "--role", "operator", "--org", "DK-84", "--database", database_url]
    )
    assert result.exit_code == 0, result.output
    token = result.output.strip().splitlines()[-1]
    assert token.startswith("sl_") and " " not in token

    from ledger.access import Access
    from ledger.settings import Database

    access = Access(Database(database_url).env("access", indexed=False))
    try:
        principal = access.authenticate(token)
    finally:
        access.close()
    assert principal is not None
    assert (principal.name, principal.role, principal.organisations) == ("kari", "operator", frozenset({"DK-84"}))


def test_token_create_refuses_an_unknown_role_and_an_operator_without_organisation(database_url: str) -> None:
    bad_role = runner.invoke(app, ["token", "create", "--name", "x", "--role", "superuser", "--database", database_url])
    assert bad_role.exit_code == 2 and "unknown role" in bad_role.output
    no_org = runner.invoke(app, ["token", "create", "--name", "x", "--role", "operator", "--database", database_url])
    assert no_org.exit_code == 2 and "organisation" in no_org.output


def test_a_bad_database_url_is_a_clear_error() -> None:
    result = runner.invoke(app, ["token", "create", "--name", "x", "--role", "admin", "--database", "mysql://x/y"])
    assert result.exit_code != 0
    assert "unsupported database URL" in str(result.exception or result.output)


def test_demo_prints_a_token_per_role_and_refuses_to_load_twice(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # where a PostgreSQL ledger's token files go
    first = runner.invoke(app, ["demo", "--database", database_url])
    assert first.exit_code == 0, first.output
    assert "Loaded the demo: 16 depots, 6 items," in first.output
    tokens = {
        line.split()[0]: line.split()[-1]
        for line in first.output.splitlines()
        if line.split() and line.split()[0] in ("coordinator", "operator", "auditor")
    }
    assert set(tokens) == {"coordinator", "operator", "auditor"}
    assert "(organisation DK-84)" in first.output

    from api.app import Stores
    from ledger.settings import Database

    stores = Stores.open(Database(database_url))
    try:
        principals = {role: stores.access.authenticate(token) for role, token in tokens.items()}
        depots = stores.ledger.journal.depots()
    finally:
        stores.close()
    assert {role: p.role for role, p in principals.items() if p} == {r: r for r in tokens}
    assert principals["operator"].organisations == frozenset({"DK-84"})
    assert len(depots) == 16

    second = runner.invoke(app, ["demo", "--database", database_url])
    assert second.exit_code == 1
    assert "already has depots" in second.output
