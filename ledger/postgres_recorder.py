"""The PostgreSQL recorder: the library's, writing the ledger's index rows in the same
transaction as the events (see `ledger.persistence` for the shared part and the SQLite one).

Small saves (a command) go out as one rendered message so the table lock is held for one
round trip; a large save (an imported file) is sent by `executemany` with the positions
its events' INSERT returned.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, cast
from uuid import UUID

from eventsourcing.persistence import InterfaceError, OperationalError, ProgrammingError, StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from psycopg import ClientCursor
from psycopg.pq import TransactionStatus
from psycopg.sql import SQL, Composable, Composed, Identifier

from ledger.persistence import IndexStore, pyformat

# A write that failed on its connection is tried this often in all, this long apart
# (the library's own recorder retries 10 times, 0.2 s apart, but blindly).
INSERT_ATTEMPTS = 10
INSERT_RETRY_WAIT = 0.2
BULK_EVENTS = 1000
"""A PostgreSQL save of at least this many events (an imported file) sends its index rows by
`executemany` with their positions (`_insert_bulk`) instead of in one rendered message."""


def _every_result(cursor: Any) -> Iterator[Any]:
    """The rows of every result an `executemany(..., returning=True)` left, in order."""
    while True:
        yield from cursor.fetchall()
        if not cursor.nextset():
            return


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
