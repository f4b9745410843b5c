"""How events are stored: pydantic events as orjson bytes, and the ledger's write indexes.

The event store itself is the `eventsourcing` library's (tables, optimistic concurrency,
notification log). What the library does not have, and what commands must read
consistently with the events, we write in the *same transaction* as the events through
the recorder hook the library provides for that (the SQLite `_insert_events`, the
PostgreSQL `_fetch_ids_after_insert_events`, both of which see the new positions):

- `positions`: when each ledger position was recorded, so "as known at" a time becomes
  a position.
- `movements`: the per-depot movement journal, one row per item line that changes a
  book, indexed by depot, item and business time. Backdated commands and historical
  views read it instead of replaying a depot's whole stream.
- `transfers`: transfer id -> source, destination, status, so a receipt or cancellation
  naming only the transfer finds both depots.
- `depots`, `items`: the directory, for listing and filtering.
- `allocations`: allocation id -> source, item, status and the decision's position, so a
  transfer or revocation naming only the allocation finds its depot, and decisions can be
  listed and found by item.
- `late_events`: every event recorded more than 24 hours after it occurred, by recording
  time, for the late-data report.
- `chain`: the recorded links of the tamper-evidence hash chain (position -> digest). Unlike
  the tables above it is not written with the events but sealed afterwards, whenever a
  digest is computed (see `replay.digest`).
- `corrections`: one row per adjustment that corrects an earlier event of its depot: its
  position and event id, and the corrected event's id and position, so the feed shows the
  link both ways (`corrects`, `corrected_by`) without scanning.
- `backfills`: which index tables added by a later version have been filled in for the
  events stored before it (`ledger.backfill`), and up to which position.
- `idempotency`: one row per (principal, Idempotency-Key). Its primary key makes a
  concurrent duplicate fail the whole transaction, so one key stores one command.
- `exercise_reviews`: a cache, used in the exercises' control store only: each exercise's
  latest review per policy with the state it was computed from (`ledger.exercise_reviews`).
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
    InterfaceError,
    Mapper,
    OperationalError,
    StoredEvent,
    Transcoder,
)
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder
from eventsourcing.utils import get_topic, resolve_topic, retry
from psycopg.sql import SQL


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


SCHEMA = {
    "movements": """
        CREATE TABLE IF NOT EXISTS {t}movements (
            position BIGINT NOT NULL, line INTEGER NOT NULL, depot TEXT NOT NULL, item TEXT NOT NULL,
            occurred_at {ts} NOT NULL, recorded_at {ts} NOT NULL, version BIGINT NOT NULL,
            event_type TEXT NOT NULL, delta BIGINT NOT NULL, counted BIGINT, lot TEXT, expires_on {date},
            transit_in BIGINT NOT NULL DEFAULT 0, transit_out BIGINT NOT NULL DEFAULT 0,
            reserved BIGINT NOT NULL DEFAULT 0, min_days INTEGER, backdated INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (position, line))""",
    "movements_index": """
        CREATE INDEX IF NOT EXISTS {n}movements_by_depot_item
            ON {t}movements (depot, item, occurred_at, position)""",
    "movements_by_recording": """
        CREATE INDEX IF NOT EXISTS {n}movements_by_depot_item_position ON {t}movements (depot, item, position)""",
    "positions": """
        CREATE TABLE IF NOT EXISTS {t}positions (position BIGINT PRIMARY KEY, recorded_at {ts} NOT NULL)""",
    "positions_by_time": """
        CREATE INDEX IF NOT EXISTS {n}positions_by_recorded_at ON {t}positions (recorded_at, position)""",
    "movements_backdated": """
        CREATE INDEX IF NOT EXISTS {n}movements_backdated ON {t}movements (depot, item, position, occurred_at)
            WHERE backdated = 1""",
    "movements_by_lot": """
        CREATE INDEX IF NOT EXISTS {n}movements_by_lot ON {t}movements (depot, item, lot)
            WHERE expires_on IS NOT NULL""",
    "fold_checkpoints": """
        CREATE TABLE IF NOT EXISTS {t}fold_checkpoints (
            depot TEXT NOT NULL, item TEXT NOT NULL, known_position BIGINT NOT NULL,
            occurred_at {ts} NOT NULL, position BIGINT NOT NULL, line INTEGER NOT NULL, state TEXT NOT NULL,
            PRIMARY KEY (depot, item, occurred_at, position, line, known_position))""",
    "transfers": """
        CREATE TABLE IF NOT EXISTS {t}transfers (
            transfer_id TEXT PRIMARY KEY, source TEXT NOT NULL, destination TEXT NOT NULL,
            status TEXT NOT NULL, lines TEXT NOT NULL, allocation_id TEXT, reference TEXT,
            dispatched_at {ts} NOT NULL, received_at {ts}, cancelled_at {ts}, cancel_reason TEXT,
            received_lines TEXT, dispatched_position BIGINT NOT NULL, updated_position BIGINT NOT NULL)""",
    "transfers_index": """
        CREATE INDEX IF NOT EXISTS {n}transfers_by_status ON {t}transfers (status, dispatched_position)""",
    "depots": """
        CREATE TABLE IF NOT EXISTS {t}depots (
            code TEXT PRIMARY KEY, name TEXT NOT NULL, region TEXT NOT NULL, organisation TEXT NOT NULL,
            kind TEXT NOT NULL, population_served BIGINT, position BIGINT NOT NULL)""",
    "items": """
        CREATE TABLE IF NOT EXISTS {t}items (
            code TEXT PRIMARY KEY, name TEXT NOT NULL, unit TEXT NOT NULL, category TEXT NOT NULL,
            atc_code TEXT, position BIGINT NOT NULL)""",
    "transfers_by_allocation": """
        CREATE INDEX IF NOT EXISTS {n}transfers_by_allocation ON {t}transfers (allocation_id)
            WHERE allocation_id IS NOT NULL""",
    "allocations": """
        CREATE TABLE IF NOT EXISTS {t}allocations (
            allocation_id TEXT PRIMARY KEY, source TEXT NOT NULL, item TEXT NOT NULL, quantity BIGINT NOT NULL,
            policy TEXT NOT NULL, status TEXT NOT NULL, decided_at {ts} NOT NULL, recorded_at {ts} NOT NULL,
            basis_position BIGINT NOT NULL, recipients TEXT NOT NULL, decided_position BIGINT NOT NULL,
            revoked_at {ts}, revoke_reason TEXT, revoked_position BIGINT)""",
    "allocations_by_item": """
        CREATE INDEX IF NOT EXISTS {n}allocations_by_item ON {t}allocations (item, decided_at)""",
    "late_events": """
        CREATE TABLE IF NOT EXISTS {t}late_events (
            position BIGINT PRIMARY KEY, depot TEXT, event_type TEXT NOT NULL, occurred_at {ts} NOT NULL,
            recorded_at {ts} NOT NULL)""",
    "late_events_by_recording": """
        CREATE INDEX IF NOT EXISTS {n}late_events_by_recorded_at ON {t}late_events (recorded_at, position)""",
    "backfills": """
        CREATE TABLE IF NOT EXISTS {t}backfills (name TEXT PRIMARY KEY, upto BIGINT NOT NULL)""",
    "chain": """
        CREATE TABLE IF NOT EXISTS {t}chain (position BIGINT PRIMARY KEY, digest TEXT NOT NULL)""",
    "corrections": """
        CREATE TABLE IF NOT EXISTS {t}corrections (
            position BIGINT PRIMARY KEY, depot TEXT NOT NULL, event_id TEXT NOT NULL, corrects TEXT NOT NULL,
            corrects_position BIGINT NOT NULL)""",
    "corrections_by_corrected": """
        CREATE INDEX IF NOT EXISTS {n}corrections_by_corrected ON {t}corrections (corrects_position, position)""",
    "exercise_reviews": """
        CREATE TABLE IF NOT EXISTS {t}exercise_reviews (
            exercise TEXT NOT NULL, policy TEXT NOT NULL, state TEXT NOT NULL, review TEXT NOT NULL,
            PRIMARY KEY (exercise, policy))""",
    "idempotency": """
        CREATE TABLE IF NOT EXISTS {t}idempotency (
            scope TEXT NOT NULL, key TEXT NOT NULL, fingerprint TEXT NOT NULL, outcome TEXT NOT NULL,
            position BIGINT NOT NULL, PRIMARY KEY (scope, key))""",
}

WRITES = {
    "position": "INSERT INTO {t}positions (position, recorded_at) VALUES (:position, :recorded_at)",
    "movement": """INSERT INTO {t}movements (position, line, depot, item, occurred_at, recorded_at, version,
        event_type, delta, counted, lot, expires_on, transit_in, transit_out, reserved, min_days, backdated)
        VALUES (:position, :line, :depot, :item, :occurred_at, :recorded_at, :version, :event_type, :delta,
        :counted, :lot, :expires_on, :transit_in, :transit_out, :reserved, :min_days, :backdated)""",
    "depot": """INSERT INTO {t}depots (code, name, region, organisation, kind, population_served, position)
        VALUES (:code, :name, :region, :organisation, :kind, :population_served, :position)""",
    "item": """INSERT INTO {t}items (code, name, unit, category, atc_code, position)
        VALUES (:code, :name, :unit, :category, :atc_code, :position)""",
    "transfer_dispatched": """INSERT INTO {t}transfers (transfer_id, source, destination, status, lines,
        allocation_id, reference, dispatched_at, dispatched_position, updated_position) VALUES (:transfer_id,
        :source, :destination, 'in_transit', :lines, :allocation_id, :reference, :dispatched_at, :position,
        :position)""",
    "transfer_received": """UPDATE {t}transfers SET status = 'received', received_at = :received_at,
        received_lines = :received_lines, updated_position = :position WHERE transfer_id = :transfer_id""",
    "transfer_cancelled": """UPDATE {t}transfers SET status = 'cancelled', cancelled_at = :cancelled_at,
        cancel_reason = :reason, updated_position = :position WHERE transfer_id = :transfer_id""",
    "idempotency": """INSERT INTO {t}idempotency (scope, key, fingerprint, outcome, position)
        VALUES (:scope, :key, :fingerprint, :outcome, :position)""",
    "allocation_decided": """INSERT INTO {t}allocations (allocation_id, source, item, quantity, policy, status,
        decided_at, recorded_at, basis_position, recipients, decided_position) VALUES (:allocation_id, :source,
        :item, :quantity, :policy, 'open', :decided_at, :recorded_at, :basis_position, :recipients, :position)""",
    "allocation_revoked": """UPDATE {t}allocations SET status = 'revoked', revoked_at = :revoked_at,
        revoke_reason = :reason, revoked_position = :position WHERE allocation_id = :allocation_id""",
    "correction": """INSERT INTO {t}corrections (position, depot, event_id, corrects, corrects_position)
        VALUES (:position, :depot, :event_id, :corrects, :corrects_position)""",
    "late_event": """INSERT INTO {t}late_events (position, depot, event_type, occurred_at, recorded_at)
        VALUES (:position, :depot, :event_type, :occurred_at, :recorded_at)""",
}

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
        if index is None or not stored_events:
            return

        def position(event: int) -> dict[str, Any]:
            return self._position_of(stored_events[event], notification_ids[event] if notification_ids else None)

        batches: dict[str, list[dict[str, Any]]] = {}
        for op, event, params in index.rows:
            batches.setdefault(op, []).append(self._params({**params, **position(event)}))
        if index.idempotency is not None:
            batches["idempotency"] = [self._params({**index.idempotency, **position(len(stored_events) - 1)})]
        for op, rows in batches.items():
            cursor.executemany(self._sql(WRITES[op]), rows)

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


class PostgresLedgerRecorder(PostgresApplicationRecorder, IndexStore):
    time_type = "TIMESTAMPTZ"
    date_type = "DATE"

    def __init__(self, datastore: Any, *, events_table_name: str = "stored_events") -> None:
        super().__init__(datastore, events_table_name=events_table_name)
        base = events_table_name.removesuffix("_events")
        self.index_prefix = f"{base}_"
        self.table_prefix = f'"{self.datastore.schema}".{base}_'
        self._events_table = f'"{self.datastore.schema}"."{events_table_name}"'
        self.sql_create_statements.extend(SQL(s.replace("%", "%%")) for s in self.index_ddl())  # type: ignore[arg-type]

    @retry((InterfaceError, OperationalError), max_attempts=10, wait=0.2)
    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        """One round trip for the whole write: the library's table lock, NOTIFY and INSERT,
        the index rows and the COMMIT go out as one pipeline and are synced once.

        The library's own version syncs after the INSERT (to fetch positions) and then
        commits, so its table lock, which serialises every writer of the ledger, is held
        across two client round trips; here it is taken and released within one. Index
        rows find their position in the events table, so they need no round trip either.
        A conflict (version or idempotency key) fails the whole batch as IntegrityError."""
        if not stored_events:
            return []
        with self.datastore.get_connection() as conn:
            with conn.pipeline(), conn.transaction():
                curs = conn.cursor()
                self._insert_stored_events(curs, stored_events, **kwargs)
                self._write_index_rows(conn.cursor(), stored_events, None, kwargs.get("index"))
            return self._fetch_ids_after_insert_events(curs, stored_events, **kwargs)

    def _position_of(self, stored_event: StoredEvent, notification_id: int | None) -> dict[str, Any]:
        return {"originator_id": stored_event.originator_id, "originator_version": stored_event.originator_version}

    def stream(self, originator_id: UUID, known: int) -> list[tuple[int, StoredEvent]]:
        """One aggregate's stored events with their ledger positions, up to position `known`."""
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(
                f"SELECT notification_id, originator_version, topic, state FROM {self._events_table} "  # type: ignore[arg-type]
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
                f"SELECT notification_id FROM {self._events_table} "  # type: ignore[arg-type]
                "WHERE originator_id = %s AND originator_version = %s",
                (originator_id, version),
            )
            row = curs.fetchone()
            return None if row is None else int(row["notification_id"])

    def _sql(self, template: str) -> str:
        position = (
            f"(SELECT notification_id FROM {self._events_table} "
            "WHERE originator_id = %(originator_id)s AND originator_version = %(originator_version)s)"
        )
        sql = template.format(t=self.table_prefix).replace(":position", position)
        return pyformat(sql)

    def to_db_time(self, value: datetime) -> datetime:
        return value

    def from_db_time(self, value: Any) -> datetime:
        return cast(datetime, value)

    def query(self, template: str, **params: Any) -> list[dict[str, Any]]:
        with self.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(self._sql(template), self._params(params))  # type: ignore[arg-type]
            return list(curs.fetchall())

    def write(self, template: str, rows: list[dict[str, Any]]) -> None:
        with self.datastore.transaction(commit=True) as curs:
            curs.executemany(self._sql(template), [self._params(row) for row in rows])  # type: ignore[arg-type]
