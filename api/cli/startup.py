"""Refusing a start in one line: the port, file or database that cannot be used, and why.

`serve` binds its port and checks its database before anything else, so an operator reads
`error: cannot open /srv/ledger.sqlite3: the file is read-only` (exit 2) instead of a
traceback that never names the file. A SQLite file is checked with `PRAGMA quick_check`
(every page's structure, without matching indexes to tables: 12-28 ms for the demo's four
files, 4 MB; it grows with the file, about 3 ms per MB), so a file with a corrupt page is
refused at start rather than answering 500 on the reads that reach it.
"""

from __future__ import annotations

import os
import socket
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from ledger.settings import Database

if TYPE_CHECKING:
    from api.app import Stores

STARTUP_STORES = ("ledger", "access", "view", "exercises")
"""The event stores a start opens (exercise ledgers open on first use)."""
LOCK_WAIT_SECONDS = 5.0


class StartRefused(Exception):
    """A start that cannot go on; its message is the one line printed."""


def one_line(error: BaseException) -> str:
    text = " ".join(line.strip() for line in str(error).splitlines() if line.strip())
    return text or type(error).__name__


def bind(host: str, port: int) -> socket.socket:
    from api.server import listening_socket

    try:
        return listening_socket(host, port)
    except OSError as error:
        raise StartRefused(f"cannot listen on {host}:{port}: {error.strerror or one_line(error)}") from None


def check_database(database: Database, thorough: bool = True) -> None:
    """Raise StartRefused naming the first file (or the database URL) a start could not use;
    `thorough` reads every SQLite page's structure, else only the header and schema."""
    if database.kind == "sqlite":
        for store in STARTUP_STORES:
            check_sqlite_file(database.sqlite_file(store), thorough)
    else:
        check_postgres(database)


def check_sqlite_file(path: Path, thorough: bool = True) -> None:
    directory = path.parent
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise StartRefused(f"cannot create the directory {directory}: {error.strerror or one_line(error)}") from None
    if not os.access(directory, os.W_OK | os.X_OK):
        raise StartRefused(f"cannot open {path}: its directory is read-only (SQLite writes its journal beside it)")
    if not path.exists():
        return  # created on open
    if not path.is_file():
        raise StartRefused(f"cannot open {path}: not a file")
    if not os.access(path, os.R_OK):
        raise StartRefused(f"cannot open {path}: the file is unreadable")
    if not os.access(path, os.W_OK) or not path.stat().st_mode & 0o222:
        # root may write a file nobody may write; a file marked so is still not for the ledger
        raise StartRefused(f"cannot open {path}: the file is read-only")
    problem = _read_check(path, "quick_check" if thorough else "schema_version")
    if problem:
        raise StartRefused(f"cannot open {path}: {problem}")


def _read_check(path: Path, pragma: str) -> str | None:
    """None for a sound file, else what SQLite found wrong with it."""
    try:
        connection = sqlite3.connect(f"file:{quote(str(path))}?mode=rw", uri=True, timeout=LOCK_WAIT_SECONDS)
    except sqlite3.Error as error:
        return one_line(error)
    try:
        rows = connection.execute(f"PRAGMA {pragma}").fetchall()
    except sqlite3.DatabaseError as error:
        cause = one_line(error)
        if cause == "file is not a database":
            return f"{cause} (not a SQLite file, or its header is damaged)"
        return f"{cause} (the file is damaged or cut short)"
    finally:
        connection.close()
    if pragma != "quick_check" or rows == [("ok",)]:
        return None
    return f"the file is damaged (SQLite quick_check: {one_line(Exception(rows[0][0]))})"


def check_postgres(database: Database) -> None:
    import psycopg

    env = database.env(indexed=False)
    try:
        psycopg.connect(
            host=env["POSTGRES_HOST"],
            port=env["POSTGRES_PORT"],
            dbname=env["POSTGRES_DBNAME"],
            user=env["POSTGRES_USER"],
            password=env["POSTGRES_PASSWORD"] or None,
            connect_timeout=env["POSTGRES_CONNECT_TIMEOUT"],
        ).close()
    except psycopg.Error as error:
        raise StartRefused(f"cannot open the database {database.describe()}: {one_line(error)}") from None


def open_checked(database: Database, thorough: bool = True) -> Stores:
    """The stores, after `check_database`; any failure to open them is one line."""
    from api.app import Stores

    check_database(database, thorough)
    try:
        return Stores.open(database)
    except Exception as error:  # noqa: BLE001 - whatever the driver raised, told in one line
        raise StartRefused(f"cannot open the database {database.describe()}: {one_line(error)}") from None
