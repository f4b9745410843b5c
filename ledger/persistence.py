"""How events are stored: pydantic events as orjson bytes, and the ledger's write indexes.

The event store itself is the `eventsourcing` library's (tables, optimistic concurrency,
notification log). What the library does not have, and what commands must read
consistently with the events, we write in the *same transaction* as the events through
the recorder hook the library provides for that (the SQLite `_insert_events`, the
PostgreSQL `_fetch_ids_after_insert_events`, both of which see the new positions). The
tables, what each is for, and the statements that write them are in `ledger.index_tables`;
the PostgreSQL recorder is in `ledger.postgres_recorder`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, cast
from uuid import UUID

import orjson
from eventsourcing.persistence import (
    Mapper,
    StoredEvent,
    Transcoder,
)
from eventsourcing.sqlite import SQLiteApplicationRecorder
from eventsourcing.utils import get_topic, resolve_topic

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
