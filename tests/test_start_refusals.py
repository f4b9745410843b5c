"""A start that cannot open its database or port: one line naming the file, database or port
and the cause, exit status 2 (API.md, "Operations"); `verify` on damaged storage names the
first position it cannot read. Every start is a real `python -m api serve` subprocess."""

from __future__ import annotations

import os
import random
import shutil
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from api.cli import app as cli
from ledger.settings import Database
from tests.api_helpers import A_NORTH, receive_stock, seed
from tests.conftest import Api
from tests.serving import free_port

START_SECONDS = 90  # a refused start exits on its own; this only bounds a broken one


def _closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on (bound and released just now)."""
    return free_port()


def _serve(database_url: str, cwd: Path, port: int | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "api", "serve", "--port", str(port or free_port()), "--database", database_url]
    env = {key: value for key, value in os.environ.items() if key != "SUPPLY_LEDGER_DATABASE_URL"}
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=START_SECONDS)


def _refused(result: subprocess.CompletedProcess[str], *named: str) -> str:
    """The one line a refused start printed; it names everything in `named`."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert len(lines) == 1, result.stderr
    for text in named:
        assert text in lines[0], (text, lines[0])
    assert "Supply Ledger on" not in result.stdout  # never claimed to be serving
    return lines[0]


@contextmanager
def _read_only(path: Path) -> Iterator[None]:
    """The file marked read-only for everyone (the start refuses it even as root, whom the
    mode would not stop)."""
    path.chmod(0o444)
    try:
        yield
    finally:
        path.chmod(0o644)


@contextmanager
def _client(path: Path) -> Iterator[Any]:
    """A TestClient on the ledger file, and its stores."""
    from fastapi.testclient import TestClient

    from api.app import Stores, create_app

    stores = Stores.open(Database(f"sqlite:///{path}"))
    try:
        with TestClient(create_app(stores=stores), raise_server_exceptions=False) as client:
            yield client, stores
    finally:
        stores.close()


def _ledger_file(directory: Path, receipts: int = 0) -> tuple[Path, list[tuple[int, bytes]]]:
    """A real ledger file (seeded, then `receipts` receipts, the chain sealed), closed and
    checkpointed; with its stored events as (position, state)."""
    path = directory / "ledger.sqlite3"
    with _client(path) as (client, stores):
        api = Api(client, stores)
        seed(api)
        for number in range(receipts):
            receive_stock(api, A_NORTH, 1 + number % 7, note=f"receipt {number:04d}")
        assert api.get("/v1/ledger/digest").status_code == 200  # seals the links verify compares with
        table = api.stores.ledger.recorder.events_table_name
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        rows = connection.execute(f"SELECT rowid, state FROM {table} ORDER BY rowid").fetchall()
    return path, [(position, bytes(state)) for position, state in rows]


@pytest.fixture(scope="module")
def sound_ledger(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[tuple[int, bytes]]]:
    return _ledger_file(tmp_path_factory.mktemp("sound"), receipts=300)


def _copy(sound: Path, directory: Path) -> Path:
    for file in sound.parent.glob("ledger*.sqlite3"):
        shutil.copy(file, directory / file.name)
    return directory / sound.name


def _damage_middle_page(path: Path, events: list[tuple[int, bytes]]) -> int:
    """Garbage over the page holding the middle event; the first position stored on that page."""
    data = path.read_bytes()
    page_size = int.from_bytes(data[16:18], "big")
    page_of = {position: data.find(state) // page_size for position, state in events}
    assert all(data.find(state) >= 0 for _, state in events)
    middle = page_of[events[len(events) // 2][0]]
    assert 1 < middle < len(data) // page_size - 1
    with path.open("r+b") as file:
        file.seek(middle * page_size)
        file.write(random.Random(12).randbytes(page_size))
    return min(position for position, page in page_of.items() if page == middle)


def test_a_read_only_ledger_file_is_refused_naming_it(sound_ledger: Any, tmp_path: Path) -> None:
    path = _copy(sound_ledger[0], tmp_path)
    with _read_only(path):
        _refused(_serve(f"sqlite:///{path}", tmp_path), str(path), "read-only")


def test_a_ledger_file_with_a_corrupt_header_is_refused(sound_ledger: Any, tmp_path: Path) -> None:
    path = _copy(sound_ledger[0], tmp_path)
    with path.open("r+b") as file:
        file.write(b"not a ledger at all, just some words")
    _refused(_serve(f"sqlite:///{path}", tmp_path), str(path), "file is not a database")


def test_a_ledger_file_cut_short_is_refused(sound_ledger: Any, tmp_path: Path) -> None:
    path = _copy(sound_ledger[0], tmp_path)
    with path.open("r+b") as file:
        file.truncate(path.stat().st_size // 2)
    _refused(_serve(f"sqlite:///{path}", tmp_path), str(path), "malformed", "cut short")


def test_a_corrupt_page_in_the_middle_is_refused_at_start_and_verify_names_the_position(
    sound_ledger: Any, tmp_path: Path
) -> None:
    path = _copy(sound_ledger[0], tmp_path)
    first_unreadable = _damage_middle_page(path, sound_ledger[1])
    assert first_unreadable > 1
    _refused(_serve(f"sqlite:///{path}", tmp_path), str(path), "damaged")

    result = CliRunner().invoke(cli, ["verify", "--database", f"sqlite:///{path}"])
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    detail = f"the stored event at position {first_unreadable} cannot be read: database disk image is malformed"
    assert result.output.splitlines() == [f"UNREADABLE: {detail}"]

    # The API's verify (on stores opened without the start's check) says the same, not 500.
    with _client(path) as (client, stores):
        token = stores.access.issue("auditor-after-the-damage", "auditor")
        answer = client.post("/v1/ledger/verify", headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "valid": False,
        "position": sound_ledger[1][-1][0],
        "digest": "",
        "first_mismatch": None,
        "first_unreadable": first_unreadable,
        "detail": detail,
    }

    # A digest not yet recorded must be computed through the damaged page: one line, exit 2.
    with sqlite3.connect(path) as connection:
        connection.execute("DELETE FROM sl_chain WHERE position >= ?", (first_unreadable - 1,))
    digest = CliRunner().invoke(cli, ["digest", "--database", f"sqlite:///{path}"])
    assert (digest.exit_code, digest.output.splitlines()) == (2, [f"error: cannot compute the digest: {detail}"])


def test_a_damaged_access_file_beside_the_ledger_is_named(sound_ledger: Any, tmp_path: Path) -> None:
    path = _copy(sound_ledger[0], tmp_path)
    access = Database(f"sqlite:///{path}").sqlite_file("access")
    with access.open("r+b") as file:
        file.write(b"\0" * 100)
    _refused(_serve(f"sqlite:///{path}", tmp_path), str(access), "file is not a database")


def test_a_directory_that_cannot_be_made_is_refused(tmp_path: Path) -> None:
    (tmp_path / "plain-file").write_text("in the way")
    directory = tmp_path / "plain-file" / "data"
    _refused(_serve(f"sqlite:///{directory / 'ledger.sqlite3'}", tmp_path), str(directory), "Not a directory")


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_port_in_use_is_refused_naming_it(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.sqlite3'}"
    if backend == "postgres":
        from tests.conftest import fresh_postgres_schema

        url = fresh_postgres_schema(request.getfixturevalue("postgres_server_url"))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        _refused(_serve(url, tmp_path, port), f"127.0.0.1:{port}", "Address already in use")


def test_an_unreachable_postgresql_is_refused_naming_it_without_the_password(tmp_path: Path) -> None:
    port = _closed_port()
    url = f"postgresql://postgres:s3cret@127.0.0.1:{port}/ledger"
    line = _refused(_serve(url, tmp_path), f"postgresql://postgres:***@127.0.0.1:{port}/ledger", "Connection refused")
    assert "s3cret" not in line


def test_a_missing_postgresql_database_is_refused_naming_it(postgres_server_url: str, tmp_path: Path) -> None:
    url = postgres_server_url.rsplit("/", 1)[0] + "/no_such_ledger_database"
    _refused(_serve(url, tmp_path), "no_such_ledger_database", "does not exist")
