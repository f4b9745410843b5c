"""One scratch database per benchmark run: created on a PostgreSQL server, always dropped.

Every benchmark that measures PostgreSQL makes its own database so figures never share
tables with anything else, and drops it on the way out, on failure and Ctrl-C too.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlparse, urlunparse

import psycopg

DEFAULT_SERVER_URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def with_dbname(url: str, dbname: str, query: str = "") -> str:
    """`url` pointing at database `dbname` (and with `query` as its query string, if given)."""
    parts = urlparse(url)._replace(path=f"/{dbname}")
    if query:
        parts = parts._replace(query=query)
    return urlunparse(parts)


@contextmanager
def scratch_database(
    server_url: str, prefix: str = "supply_ledger_bench", query: str = "", keep: bool = False
) -> Iterator[str]:
    """The URL of a new, empty database on the server of `server_url`, dropped on leaving
    (unless `keep`: then left for a look afterwards, and its URL printed)."""
    dbname = f"{prefix}_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server_url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{dbname}"')
    url = with_dbname(server_url, dbname, query)
    try:
        yield url
    finally:
        # no `return` in here: it would swallow the failure the database was kept to look at
        if keep:
            print(f"kept the database: {url}", flush=True)
        else:
            with psycopg.connect(server_url, autocommit=True, connect_timeout=5) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
