"""Where a ledger lives: from one database URL to the `eventsourcing` library's settings.

SQLite table names are fixed, so every ledger (live, access tokens, each exercise) gets
its own file beside the live one. On PostgreSQL each ledger's tables carry its
application name as prefix (`supplyledger_events`, `access_events`, ...).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlparse

from eventsourcing.utils import get_topic

DEFAULT_DATA_DIR = Path("supply-ledger-data")
URL_VARIABLE = "SUPPLY_LEDGER_DATABASE_URL"


class BadDatabaseURL(ValueError):
    pass


@dataclass(frozen=True)
class Database:
    url: str

    @classmethod
    def from_environment(cls, url: str | None = None, data_dir: Path = DEFAULT_DATA_DIR) -> Database:
        url = url or os.environ.get(URL_VARIABLE) or f"sqlite:///{data_dir / 'ledger.sqlite3'}"
        database = cls(url)
        database.kind  # noqa: B018 - validate early
        return database

    @property
    def kind(self) -> str:
        scheme = urlparse(self.url).scheme
        if scheme == "sqlite":
            return "sqlite"
        if scheme in ("postgresql", "postgres"):
            return "postgres"
        raise BadDatabaseURL(f"unsupported database URL {self.url!r}: use sqlite:///FILE or postgresql://...")

    @property
    def sqlite_path(self) -> Path:
        return Path(unquote(self.url[len("sqlite:///") :]))

    def sqlite_file(self, ledger: str = "ledger") -> Path:
        """The SQLite file of one event store: the live ledger's is the URL's, the others beside it."""
        path = self.sqlite_path
        return path if ledger == "ledger" else path.with_name(f"{path.stem}-{ledger}{path.suffix or '.sqlite3'}")

    @property
    def data_dir(self) -> Path:
        """Where the token files go: beside the SQLite file, or the default directory."""
        return self.sqlite_path.parent if self.kind == "sqlite" else DEFAULT_DATA_DIR

    def token_file(self, name: str = "admin") -> Path:
        """The file that keeps this ledger's token `name` (`admin`, `demo-coordinator`, ...).

        A token file belongs to its database, so two ledgers never share one: on SQLite it is
        named after the file (`ledger-admin-token` beside `ledger.sqlite3`), on PostgreSQL after
        host, port, database and schema (`postgresql-db.example-5432-ledger-admin-token`)."""
        if self.kind == "sqlite":
            return self.sqlite_path.with_name(f"{self.sqlite_path.stem}-{name}-token")
        env = self.env(indexed=False)
        parts = [env["POSTGRES_HOST"], env["POSTGRES_PORT"], env["POSTGRES_DBNAME"], env.get("POSTGRES_SCHEMA")]
        ledger = "-".join(re.sub(r"[^A-Za-z0-9._]+", "_", part) for part in parts if part)
        return DEFAULT_DATA_DIR / f"postgresql-{ledger}-{name}-token"

    def env(self, ledger: str = "ledger", indexed: bool = True, shared_pool: bool = False) -> dict[str, str]:
        """Library settings for one event store in this database (`ledger`, `access`, `exercise-x`);
        `indexed` stores get the ledger's write indexes (see `ledger.persistence`); on PostgreSQL
        `shared_pool` stores draw on one connection pool between them (see `ledger.shared_pool`)."""
        from ledger.outage import ResilientPostgresFactory
        from ledger.persistence import OrjsonTranscoder, PydanticMapper, SQLiteLedgerRecorder
        from ledger.postgres_recorder import PostgresLedgerRecorder

        env = {
            "TRANSCODER_TOPIC": get_topic(OrjsonTranscoder),
            "MAPPER_TOPIC": get_topic(PydanticMapper),
        }
        if self.kind == "sqlite":
            path = self.sqlite_file(ledger)
            path.parent.mkdir(parents=True, exist_ok=True)
            env |= {
                "PERSISTENCE_MODULE": "eventsourcing.sqlite",
                "SQLITE_DBNAME": str(path),
                "SQLITE_LOCK_TIMEOUT": "30",
            }
            if indexed:
                env["APPLICATION_RECORDER_TOPIC"] = get_topic(SQLiteLedgerRecorder)
            return env
        parts = urlparse(self.url)
        query = parse_qs(parts.query)
        env |= {
            "PERSISTENCE_MODULE": get_topic(ResilientPostgresFactory),
            "POSTGRES_DBNAME": unquote(parts.path.lstrip("/")) or "postgres",
            "POSTGRES_HOST": parts.hostname or "127.0.0.1",
            "POSTGRES_PORT": str(parts.port or 5432),
            "POSTGRES_USER": unquote(parts.username or "postgres"),
            "POSTGRES_PASSWORD": unquote(parts.password or ""),
            # Also how long a request waits for a pooled connection before it is answered 503.
            "POSTGRES_CONNECT_TIMEOUT": query.get("connect_timeout", ["1"])[0],
            "POSTGRES_POOL_SIZE": query.get("pool_size", ["5"])[0],
            "POSTGRES_MAX_OVERFLOW": query.get("max_overflow", ["10"])[0],
            "POSTGRES_LOCK_TIMEOUT": "10",
        }
        if indexed:
            env["APPLICATION_RECORDER_TOPIC"] = get_topic(PostgresLedgerRecorder)
        if shared_pool:
            from ledger.shared_pool import SharedPoolPostgresFactory

            env["PERSISTENCE_MODULE"] = get_topic(SharedPoolPostgresFactory)
        if "schema" in query:
            env["POSTGRES_SCHEMA"] = query["schema"][0]
        return env

    def view_env(self, ledger: str = "ledger") -> dict[str, str]:
        """Library settings for a ledger's materialised views: on SQLite a file of their own
        (projecting must not hold the ledger's write lock), on PostgreSQL the same database."""
        env = self.env(f"{ledger}-view" if ledger != "ledger" else "view", indexed=False)
        env.pop("MAPPER_TOPIC", None)
        return env

    def describe(self) -> str:
        """The URL without its password, for logs."""
        parts = urlparse(self.url)
        if parts.password:
            return self.url.replace(f":{parts.password}@", ":***@")
        return self.url
