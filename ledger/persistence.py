"""How events are stored: pydantic events as orjson bytes, and the ledger's write indexes.

The event store itself is the `eventsourcing` library's (tables, optimistic concurrency,
notification log). What the library does not have, and what commands must read
consistently with the events, we write in the *same transaction* as the events through
the recorder hook the library provides for that (the SQLite `_insert_events`, the
PostgreSQL `_fetch_ids_after_insert_events`, both of which see the new positions). The
tables, what each is for, and the statements that write them are in `ledger.index_tables`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, cast
from uuid import UUID

import orjson
from eventsourcing.persistence import (
    InterfaceError,
    Mapper,
    OperationalError,
    ProgrammingError,
    StoredEvent,
    Transcoder,
)
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder
from eventsourcing.utils import get_topic, resolve_topic
from psycopg import ClientCursor
from psycopg.pq import TransactionStatus
from psycopg.sql import SQL, Composable, Composed, Identifier

from ledger.index_tables import SCHEMA, WRITES


class OrjsonTranscoder(Transcoder):
    def encode(self, obj: Any) -> bytes:
        return orjson.dumps(obj)

    def decode(self, data: bytes) -> Any:
        return orjson.loads(data)


class PydanticMapper(Mapper):
    """Stores a pydantic event as its JSON dump; reading it back validates it again."""

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        state = self.transcoder.encode(domain_event.model_dump(mode="json"))
        if self.compressor:
            state = self.compressor.compress(state)
        if self.cipher:
            state = self.cipher.encrypt(state)
        return StoredEvent(
            originator_id=domain_event.originator_id,
            originator_version=domain_event.originator_version,
            topic=get_topic(type(domain_event)),
            state=state,
        )

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        state = stored_event.state
        if self.cipher:
            state = self.cipher.decrypt(state)
        if self.compressor:
            state = self.compressor.decompress(state)
        return resolve_topic(stored_event.topic)(**self.transcoder.decode(state))


# --- index rows ------------------------------------------------------------------------


@dataclass
class IndexRows:
    """Rows to write with one batch of events; `event` is the index of the event in the batch,
    whose ledger position is filled in once the events are inserted."""

    rows: list[tuple[str, int, dict[str, Any]]] = field(default_factory=list)
    idempotency: dict[str, Any] | None = None

    def add(self, table_op: str, event: int, **params: Any) -> None:
        self.rows.append((table_op, event, params))


# A write that failed on its connection is tried this often in all, this long apart
# (the library's own recorder retries 10 times, 0.2 s apart, but blindly).
INSERT_ATTEMPTS = 10
INSERT_RETRY_WAIT = 0.2
BULK_EVENTS = 1000
"""A PostgreSQL save of at least this many events (an imported file) sends its index rows by
`executemany` with their positions (`_insert_bulk`) instead of in one rendered message."""

_NAMED = re.compile(r"(?<!:):([a-z_][a-z0-9_]*)")


class IndexStore:
    """The dialect-neutral part of both recorders: writing index rows and querying them."""

    table_prefix: str
    index_prefix: str
    time_type: str
    date_type: str

    def _sql(self, template: str) -> str:
        raise NotImplementedError

    def to_db_time(self, value: datetime) -> Any:
        raise NotImplementedError

    def from_db_time(self, value: Any) -> datetime:
        raise NotImplementedError

    def index_ddl(self) -> list[str]:
        return [
            statement.format(t=self.table_prefix, n=self.index_prefix, ts=self.time_type, date=self.date_type)
            for statement in SCHEMA.values()
        ]

    def _params(self, params: dict[str, Any]) -> dict[str, Any]:
        converted = {}
        for name, value in params.items():
            if isinstance(value, datetime):
                value = self.to_db_time(value)
            elif isinstance(value, date):
                value = value.isoformat()
            elif isinstance(value, (list, dict)):
                value = orjson.dumps(value).decode()
            converted[name] = value
        return converted

    def _position_of(self, stored_event: StoredEvent, notification_id: int | None) -> dict[str, Any]:
        """Parameters that give an index row the ledger position of its event."""
        raise NotImplementedError

    def _write_index_rows(
        self,
        cursor: Any,
        stored_events: Sequence[StoredEvent],
        notification_ids: Sequence[int] | None,
        index: IndexRows | None,
    ) -> None:
        for sql, rows in self._index_batches(stored_events, notification_ids, index):
            cursor.executemany(sql, rows)

    def _index_batches(
        self,
        stored_events: Sequence[StoredEvent],
        notification_ids: Sequence[int] | None,
        index: IndexRows | None,
    ) -> list[tuple[str, list[dict[str, Any]]]]:
        """The statements and parameters of a save's index rows, ready to send."""
        if index is None or not stored_events:
            return []

        def position(event: int) -> dict[str, Any]:
            return self._position_of(stored_events[event], notification_ids[event] if notification_ids else None)

        batches: dict[str, list[dict[str, Any]]] = {}
        for op, event, params in index.rows:
            batches.setdefault(op, []).append(self._params({**params, **position(event)}))
        if index.idempotency is not None:
            batches["idempotency"] = [self._params({**index.idempotency, **position(len(stored_events) - 1)})]
        return [(self._sql(WRITES[op]), rows) for op, rows in batches.items()]

    def query(self, template: str, **params: Any) -> list[dict[str, Any]]:
        raise NotImplementedError

    def check_schema(self) -> None:
        """Refuse to start on indexes written by an older version, rather than fail every command."""
        try:
            self.query("SELECT transit_in, min_days, backdated FROM {t}movements WHERE 1 = 0")
            self.query("SELECT position, recorded_at FROM {t}positions WHERE 1 = 0")
        except Exception as error:  # noqa: BLE001 - sqlite3 and psycopg raise different classes
            raise RuntimeError(
                "this ledger's write indexes predate the bitemporal views (no transit or obligation columns in "
                "the movement journal); load it into a new database with this version"
            ) from error

    def stream(self, originator_id: UUID, known: int) -> list[tuple[int, StoredEvent]]:
        raise NotImplementedError

    def event_position(self, originator_id: UUID, version: int) -> int | None:
        """The ledger position of one stored event, if there is one."""
        raise NotImplementedError

    def write(self, template: str, rows: list[dict[str, Any]]) -> None:
        """Rows for a cache table (fold checkpoints), in their own transaction."""
        raise NotImplementedError


def _every_result(cursor: Any) -> Iterator[Any]:
    """The rows of every result an `executemany(..., returning=True)` left, in order."""
    while True:
        yield from cursor.fetchall()
        if not cursor.nextset():
            return


def pyformat(sql: str) -> str:
    """`:name` placeholders (SQLite's style, and ours) as psycopg's `%(name)s`."""
    return _NAMED.sub(r"%(\1)s", sql)


def sqlite_time(value: datetime) -> str:
    """SQLite keeps times as fixed-width UTC text, so text order is time order."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class SQLiteLedgerRecorder(SQLiteApplicationRecorder, IndexStore):
    table_prefix = index_prefix = "sl_"
    time_type = "TEXT"
    date_type = "TEXT"

    def construct_create_table_statements(self) -> list[str]:
        return [*super().construct_create_table_statements(), *self.index_ddl()]

    def _insert_events(self, c: Any, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        ids = cast(list[int], super()._insert_events(c, stored_events, **kwargs))
        self._write_index_rows(c, stored_events, ids, kwargs.get("index"))
        return ids

    def _position_of(self, stored_event: StoredEvent, notification_id: int | None) -> dict[str, Any]:
        return {"position": notification_id}

    def stream(self, originator_id: UUID, known: int) -> list[tuple[int, StoredEvent]]:
        """One aggregate's stored events with their ledger positions, up to position `known`."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT rowid, originator_version, topic, state FROM {self.events_table_name} "
                "WHERE originator_id = ? AND rowid <= ? ORDER BY originator_version",
                (originator_id.hex, known),
            )
            return [
                (row["rowid"], StoredEvent(originator_id, row["originator_version"], row["topic"], row["state"]))
                for row in c.fetchall()
            ]

    def event_position(self, originator_id: UUID, version: int) -> int | None:
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT rowid FROM {self.events_table_name} WHERE originator_id = ? AND originator_version = ?",
                (originator_id.hex, version),
            )
            row = c.fetchone()
            return None if row is None else int(row["rowid"])

    def _sql(self, template: str) -> str:
        return template.format(t=self.table_prefix)

    def to_db_time(self, value: datetime) -> str:
        return sqlite_time(value)

    def from_db_time(self, value: Any) -> datetime:
        return datetime.fromisoformat(value)

    def query(self, template: str, **params: Any) -> list[dict[str, Any]]:
        with self.datastore.transaction(commit=False) as c:
            c.execute(self._sql(template), self._params(params))
            return [dict(row) for row in c.fetchall()]

    def write(self, template: str, rows: list[dict[str, Any]]) -> None:
        with self.datastore.transaction(commit=True) as c:
            c.executemany(self._sql(template), [self._params(row) for row in rows])


class PostgresLedgerRecorder(PostgresApplicationRecorder, IndexStore):
    bulk_events = BULK_EVENTS
    time_type = "TIMESTAMPTZ"
    date_type = "DATE"

    def __init__(self, datastore: Any, *, events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        base = events_table_name.removesuffix("_events")
        self.index_prefix = f"{base}_"
        self.table_prefix = f'"{self.datastore.schema}".{base}_'
        self._events_table = f'"{self.datastore.schema}"."{events_table_name}"'
        self.sql_create_statements.extend(Composed([SQL(s.replace("%", "%%"))]) for s in self.index_ddl())

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        """Store, retrying a lost connection; but a write whose COMMIT went out may have been
        stored although its answer was lost, so before each retry look for it: writing it
        again would fail as a conflict, and the command, decided again, would be stored twice."""
        for attempt in range(1, INSERT_ATTEMPTS + 1):
            try:
                if attempt > 1:
                    stored = self._positions_if_stored(stored_events)
                    if stored is not None:
                        return stored
                return self._insert_once(stored_events, **kwargs)
            except (InterfaceError, OperationalError):
                if attempt == INSERT_ATTEMPTS:
                    raise
                time.sleep(INSERT_RETRY_WAIT)
        raise AssertionError("unreachable")

    def _insert_once(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        """The whole write as one message: the library's table lock, NOTIFY, the INSERT of the
        events, the index rows and the COMMIT, bound here and sent at once, so the server runs
        the transaction without waiting for the client between statements. The table lock
        serialises every writer of the ledger; sent statement by statement, a client thread
        that lost the CPU (or the GIL) between them kept every other writer waiting. Index
        rows find their position in the events table. A conflict (version or idempotency key)
        fails the whole write as IntegrityError, and nothing is stored."""
        if not stored_events:
            return []
        if len(stored_events) >= self.bulk_events:
            return self._insert_bulk(stored_events, **kwargs)
        index_batches = self._index_batches(stored_events, None, kwargs.get("index"))
        with self.datastore.get_connection() as conn:
            curs = ClientCursor(conn)
            statements = self._opening(conn, curs, stored_events)
            statements += [curs.mogrify(sql, row) for sql, batch in index_batches for row in batch]
            statements.append("COMMIT")
            with self._rolled_back_on_failure(conn):
                curs.execute(";\n".join(statements))
                return self._inserted_positions(curs)

    def _insert_bulk(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        """A save of thousands of events (an imported file) in one transaction: the events'
        INSERT first, then each index table's rows given the positions it returned, sent by
        `executemany` (pipelined, bound by the server), instead of a statement per row rendered
        here and finding its position by a subquery, which took most of a large import's time."""
        with self.datastore.get_connection() as conn:
            curs = ClientCursor(conn)
            with self._rolled_back_on_failure(conn):
                curs.execute(";\n".join(self._opening(conn, curs, ())))
                with conn.cursor() as rows_cursor:
                    rows_cursor.executemany(
                        f"INSERT INTO {self._events_table} (originator_id, originator_version, topic, state) "
                        "VALUES (%s, %s, %s, %s) RETURNING notification_id",
                        [(e.originator_id, e.originator_version, e.topic, e.state) for e in stored_events],
                        returning=True,
                    )
                    positions = [int(row["notification_id"]) for row in _every_result(rows_cursor)]
                    for sql, rows in self._index_batches(stored_events, positions, kwargs.get("index")):
                        rows_cursor.executemany(sql, rows)
                conn.execute("COMMIT")
                return positions

    def _opening(self, conn: Any, curs: ClientCursor[Any], stored_events: Sequence[StoredEvent]) -> list[str]:
        """BEGIN, the library's table lock, NOTIFY and the events' INSERT (if any), rendered."""
        # the library types its lock statements as any query; it builds them as composed SQL
        statements = ["BEGIN", *(s.as_string(conn) for s in self.lock_table_statements if isinstance(s, Composable))]
        if len(statements) != 1 + len(self.lock_table_statements):
            raise TypeError("the library's table lock statements are no longer composed SQL")
        statements.append(SQL("NOTIFY {0}").format(Identifier(self.channel_name)).as_string(conn))
        if not stored_events:
            return statements
        rows = ", ".join(["(%s, %s, %s, %s)"] * len(stored_events))
        values = [v for e in stored_events for v in (e.originator_id, e.originator_version, e.topic, e.state)]
        statements.append(
            curs.mogrify(
                f"INSERT INTO {self._events_table} (originator_id, originator_version, topic, state) "
                f"VALUES {rows} RETURNING notification_id",
                values,
            )
        )
        return statements

    @staticmethod
    def _inserted_positions(curs: ClientCursor[Any]) -> list[int]:
        while curs.statusmessage is None or not curs.statusmessage.startswith("INSERT"):
            if not curs.nextset():
                raise ProgrammingError("the write's INSERT returned no positions")
        return [row["notification_id"] for row in curs.fetchall()]

    @staticmethod
    @contextmanager
    def _rolled_back_on_failure(conn: Any) -> Iterator[None]:
        try:
            yield
        except BaseException:
            if conn.info.transaction_status != TransactionStatus.IDLE:
                conn.execute("ROLLBACK")
            raise

    def _positions_if_stored(self, stored_events: Sequence[StoredEvent]) -> list[int] | None:
        """The positions of exactly these events (same bytes), if an earlier attempt stored them."""
        if not stored_events:
            return []
        positions = []
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            for event in stored_events:
                curs.execute(
                    f"SELECT notification_id, topic, state FROM {self._events_table} "
                    "WHERE originator_id = %s AND originator_version = %s",
                    (event.originator_id, event.originator_version),
                )
                row = curs.fetchone()
                if row is None or row["topic"] != event.topic or bytes(row["state"]) != event.state:
                    return None
                positions.append(int(row["notification_id"]))
        return positions

    def _position_of(self, stored_event: StoredEvent, notification_id: int | None) -> dict[str, Any]:
        """The position itself when known (`_insert_bulk`), else what finds it (see `_sql`)."""
        return {
            "position": notification_id,
            "originator_id": stored_event.originator_id,
            "originator_version": stored_event.originator_version,
        }

    def stream(self, originator_id: UUID, known: int) -> list[tuple[int, StoredEvent]]:
        """One aggregate's stored events with their ledger positions, up to position `known`."""
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(
                f"SELECT notification_id, originator_version, topic, state FROM {self._events_table} "
                "WHERE originator_id = %s AND notification_id <= %s ORDER BY originator_version",
                (originator_id, known),
            )
            return [
                (
                    row["notification_id"],
                    StoredEvent(originator_id, row["originator_version"], row["topic"], bytes(row["state"])),
                )
                for row in curs.fetchall()
            ]

    def event_position(self, originator_id: UUID, version: int) -> int | None:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(
                f"SELECT notification_id FROM {self._events_table} "
                "WHERE originator_id = %s AND originator_version = %s",
                (originator_id, version),
            )
            row = curs.fetchone()
            return None if row is None else int(row["notification_id"])

    def _sql(self, template: str) -> str:
        position = (  # given, or found by the event it indexes (evaluated only when not given)
            f"COALESCE(%(position)s::bigint, (SELECT notification_id FROM {self._events_table} "
            "WHERE originator_id = %(originator_id)s AND originator_version = %(originator_version)s))"
        )
        sql = template.format(t=self.table_prefix).replace(":position", position)
        return pyformat(sql)

    def to_db_time(self, value: datetime) -> datetime:
        return value

    def from_db_time(self, value: Any) -> datetime:
        return cast(datetime, value)

    def query(self, template: str, **params: Any) -> list[dict[str, Any]]:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self._sql(template), self._params(params))
            return list(curs.fetchall())

    def write(self, template: str, rows: list[dict[str, Any]]) -> None:
        with self.datastore.transaction(commit=True) as curs:
            curs.executemany(self._sql(template), [self._params(row) for row in rows])
