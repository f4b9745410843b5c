"""The materialised current-stock view: tables kept by the stock projection, with tracking.

Each batch of events is folded (`projections.current`) and written in one transaction
together with the library's tracking record of the last position in the batch, so the
view is updated exactly once per event: a batch either lands whole with its tracking
record or not at all, and a runner that restarts resumes after the tracked position.
The view lives beside the ledger (PostgreSQL: same schema, tables prefixed with the
view's name; SQLite: its own file, so projecting never holds the ledger's write lock).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, cast
from uuid import UUID

import orjson
from eventsourcing.persistence import IntegrityError, Tracking, TrackingRecorder
from eventsourcing.postgres import PostgresTrackingRecorder
from eventsourcing.sqlite import SQLiteTrackingRecorder
from psycopg.sql import SQL, Composed

from domain import events as ev
from ledger.persistence import pyformat, sqlite_time
from projections.current import AllocationRow, Changes, CurrentStock, DepotRow, StockRow, TransferRow
from projections.outbox import OUTBOX_TABLES

if TYPE_CHECKING:
    from projections.alert_watch import AlertWatch

TABLES = [
    """CREATE TABLE IF NOT EXISTS {t}stock (
        depot TEXT NOT NULL, item TEXT NOT NULL, region TEXT NOT NULL, on_hand BIGINT NOT NULL,
        transit_in BIGINT NOT NULL, transit_out BIGINT NOT NULL, reserved BIGINT NOT NULL, min_days INTEGER,
        obligation_at {ts}, last_count_at {ts}, last_movement_at {ts}, PRIMARY KEY (depot, item))""",
    "CREATE INDEX IF NOT EXISTS {n}stock_by_region ON {t}stock (region, item)",
    "CREATE INDEX IF NOT EXISTS {n}stock_by_item ON {t}stock (item)",
    """CREATE TABLE IF NOT EXISTS {t}transfers (
        transfer_id TEXT PRIMARY KEY, source TEXT NOT NULL, destination TEXT NOT NULL, lines TEXT NOT NULL,
        status TEXT NOT NULL, allocation_id TEXT)""",
    """CREATE TABLE IF NOT EXISTS {t}allocations (
        allocation_id TEXT PRIMARY KEY, source TEXT NOT NULL, revoked INTEGER NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS {n}transfers_by_status ON {t}transfers (status)",
    """CREATE TABLE IF NOT EXISTS {t}consumption (
        position BIGINT NOT NULL, line INTEGER NOT NULL, depot TEXT NOT NULL, region TEXT NOT NULL,
        item TEXT NOT NULL, occurred_at {ts} NOT NULL, quantity BIGINT NOT NULL, PRIMARY KEY (position, line))""",
    "CREATE INDEX IF NOT EXISTS {n}consumption_by_time ON {t}consumption (occurred_at, region, item, depot, quantity)",
    """CREATE TABLE IF NOT EXISTS {t}region_consumption (
        region TEXT NOT NULL, item TEXT NOT NULL, day TEXT NOT NULL, quantity BIGINT NOT NULL,
        PRIMARY KEY (day, region, item))""",
    """CREATE TABLE IF NOT EXISTS {t}depots (
        id TEXT PRIMARY KEY, code TEXT NOT NULL, region TEXT NOT NULL)""",
]

UPSERT_STOCK = """INSERT INTO {t}stock (depot, item, region, on_hand, transit_in, transit_out, reserved, min_days,
    obligation_at, last_count_at, last_movement_at) VALUES (:depot, :item, :region, :on_hand, :transit_in,
    :transit_out, :reserved, :min_days, :obligation_at, :last_count_at, :last_movement_at)
    ON CONFLICT (depot, item) DO UPDATE SET on_hand = excluded.on_hand, transit_in = excluded.transit_in,
    transit_out = excluded.transit_out, reserved = excluded.reserved, min_days = excluded.min_days,
    obligation_at = excluded.obligation_at,
    last_count_at = excluded.last_count_at, last_movement_at = excluded.last_movement_at"""
UPSERT_TRANSFER = """INSERT INTO {t}transfers (transfer_id, source, destination, lines, status, allocation_id)
    VALUES (:transfer_id, :source, :destination, :lines, :status, :allocation_id)
    ON CONFLICT (transfer_id) DO UPDATE SET status = excluded.status"""
UPSERT_ALLOCATION = """INSERT INTO {t}allocations (allocation_id, source, revoked)
    VALUES (:allocation_id, :source, :revoked)
    ON CONFLICT (allocation_id) DO UPDATE SET revoked = excluded.revoked"""
VIEW_TABLES = ("stock", "transfers", "allocations", "consumption", "region_consumption", "depots")
INSERT_CONSUMPTION = """INSERT INTO {t}consumption (position, line, depot, region, item, occurred_at, quantity)
    VALUES (:position, :line, :depot, :region, :item, :occurred_at, :quantity)"""
ADD_REGION_CONSUMPTION = """INSERT INTO {t}region_consumption (region, item, day, quantity)
    VALUES (:region, :item, :day, :quantity)
    ON CONFLICT (day, region, item) DO UPDATE SET quantity = {t}region_consumption.quantity + excluded.quantity"""
INSERT_DEPOT = "INSERT INTO {t}depots (id, code, region) VALUES (:id, :code, :region)"

CLOSING_TRANSFER = (ev.TransferReceived, ev.TransferDelivered, ev.TransferCancelled)


class StaleBatch(Exception):
    """Another runner advanced the view since this batch was read: re-read and go on."""


class StockView(TrackingRecorder):
    """The dialect-neutral part; subclasses give the SQL dialect and the transaction."""

    prefix: str
    index_prefix: str
    time_type: str
    alerts: AlertWatch | None = None
    """The alert projection, when plugged in: it writes in each batch's transaction (`apply`)."""

    def view_ddl(self) -> list[str]:
        return [s.format(t=self.prefix, n=self.index_prefix, ts=self.time_type) for s in [*TABLES, *OUTBOX_TABLES]]

    # --- dialect hooks ---------------------------------------------------------------------

    def _sql(self, template: str) -> str:
        raise NotImplementedError

    def _transaction(self, commit: bool) -> Any:
        raise NotImplementedError

    def _tracking_position(self, cursor: Any, application_name: str) -> int | None:
        raise NotImplementedError

    def _lock(self, cursor: Any) -> None:
        """Hold the view for the rest of the transaction: writers of one view take turns."""

    def _write_tracking(self, cursor: Any, tracking: Tracking) -> None:
        raise NotImplementedError

    def to_db_time(self, value: datetime | None) -> Any:
        return value

    def from_db_time(self, value: Any) -> datetime | None:
        return cast(datetime | None, value)

    # --- writing ---------------------------------------------------------------------------

    def apply(self, events: Sequence[tuple[int, Any]], tracking: Tracking, after: int | None) -> None:
        """Fold `events` and record `tracking`, if the view is still at position `after`."""
        with self._transaction(commit=True) as cursor:
            self._lock(cursor)
            if self._tracking_position(cursor, tracking.application_name) != after:
                raise StaleBatch(f"the view moved past {after}")
            depots = self._depots(cursor)
            stock, transfers = self._prefetch(cursor, events, depots)
            current = CurrentStock(
                depots,
                lambda depot, item: stock.get((depot, item)),
                lambda transfer_id: transfers.get(transfer_id) or self._load_transfer(cursor, transfer_id),
                lambda allocation_id: self._load_allocation(cursor, allocation_id),
            )
            changes = current.fold(events)
            self._write(cursor, changes)
            if self.alerts is not None:  # alert changes and their deliveries land with the tracking record
                self.alerts.after_batch(cursor, events, changes, depots)
            self._write_tracking(cursor, tracking)

    def _write(self, cursor: Any, changes: Changes) -> None:
        if changes.depots:
            cursor.executemany(
                self._sql(INSERT_DEPOT), [{"id": str(d.id), "code": d.code, "region": d.region} for d in changes.depots]
            )
        if changes.stock:
            cursor.executemany(
                self._sql(UPSERT_STOCK),
                [
                    {
                        **row.__dict__,
                        "obligation_at": self.to_db_time(row.obligation_at),
                        "last_count_at": self.to_db_time(row.last_count_at),
                        "last_movement_at": self.to_db_time(row.last_movement_at),
                    }
                    for row in changes.stock.values()
                ],
            )
        if changes.transfers:
            cursor.executemany(
                self._sql(UPSERT_TRANSFER),
                [
                    {
                        "transfer_id": t.transfer_id,
                        "source": t.source,
                        "destination": t.destination,
                        "lines": orjson.dumps([line.model_dump(mode="json") for line in t.lines]).decode(),
                        "status": t.status,
                        "allocation_id": t.allocation_id,
                    }
                    for t in changes.transfers.values()
                ],
            )
        if changes.allocations:
            cursor.executemany(
                self._sql(UPSERT_ALLOCATION),
                [
                    {"allocation_id": a.allocation_id, "source": a.source, "revoked": int(a.revoked)}
                    for a in changes.allocations.values()
                ],
            )
        if changes.consumption:
            cursor.executemany(
                self._sql(INSERT_CONSUMPTION),
                [{**c.__dict__, "occurred_at": self.to_db_time(c.occurred_at)} for c in changes.consumption],
            )
            by_day: dict[tuple[str, str, str], int] = {}
            for c in changes.consumption:
                key = (c.region, c.item, c.occurred_at.astimezone(UTC).date().isoformat())
                by_day[key] = by_day.get(key, 0) + c.quantity
            cursor.executemany(
                self._sql(ADD_REGION_CONSUMPTION),
                [{"region": r, "item": i, "day": d, "quantity": q} for (r, i, d), q in sorted(by_day.items())],
            )

    def _depots(self, cursor: Any) -> dict[UUID, DepotRow]:
        cursor.execute(self._sql("SELECT id, code, region FROM {t}depots"))
        return {UUID(row["id"]): DepotRow(UUID(row["id"]), row["code"], row["region"]) for row in cursor.fetchall()}

    def _prefetch(
        self, cursor: Any, events: Sequence[tuple[int, Any]], depots: dict[UUID, DepotRow]
    ) -> tuple[dict[tuple[str, str], StockRow], dict[str, TransferRow]]:
        """The rows a batch will touch, in one query per table rather than one per row."""
        codes = sorted({depots[e.originator_id].code for _, e in events if getattr(e, "originator_id", None) in depots})
        transfer_ids = sorted({e.transfer_id for _, e in events if isinstance(e, CLOSING_TRANSFER)})
        stock: dict[tuple[str, str], StockRow] = {}
        if codes:
            cursor.execute(*self._in("SELECT * FROM {t}stock WHERE depot", codes))
            for row in cursor.fetchall():
                loaded = self._stock_row(dict(row))
                stock[loaded.depot, loaded.item] = loaded
        transfers: dict[str, TransferRow] = {}
        if transfer_ids:
            cursor.execute(*self._in("SELECT * FROM {t}transfers WHERE transfer_id", transfer_ids))
            for row in cursor.fetchall():
                transfers[row["transfer_id"]] = self._transfer_row(row)
        return stock, transfers

    def _in(self, head: str, values: list[str]) -> tuple[str, Any]:
        """`head IN (values)` in this dialect."""
        raise NotImplementedError

    def _stock_row(self, row: dict[str, Any]) -> StockRow:
        row["obligation_at"] = self.from_db_time(row["obligation_at"])
        row["last_count_at"] = self.from_db_time(row["last_count_at"])
        row["last_movement_at"] = self.from_db_time(row["last_movement_at"])
        return StockRow(**row)

    def _load_transfer(self, cursor: Any, transfer_id: str) -> TransferRow | None:
        cursor.execute(self._sql("SELECT * FROM {t}transfers WHERE transfer_id = :id"), {"id": transfer_id})
        row = cursor.fetchone()
        return None if row is None else self._transfer_row(row)

    @staticmethod
    def _transfer_row(row: Any) -> TransferRow:
        lines = [ev.TransferLine(**line) for line in orjson.loads(row["lines"])]
        return TransferRow(
            row["transfer_id"], row["source"], row["destination"], lines, row["status"], row["allocation_id"]
        )

    def _load_allocation(self, cursor: Any, allocation_id: str) -> AllocationRow | None:
        cursor.execute(self._sql("SELECT * FROM {t}allocations WHERE allocation_id = :id"), {"id": allocation_id})
        row = cursor.fetchone()
        return None if row is None else AllocationRow(row["allocation_id"], row["source"], bool(row["revoked"]))

    def reset(self, application_name: str) -> None:
        """Empty the view and forget its position, so it is rebuilt from the first event."""
        with self._transaction(commit=True) as cursor:
            self._lock(cursor)
            for table in VIEW_TABLES:
                cursor.execute(self._sql(f"DELETE FROM {{t}}{table}"))
            self._forget_tracking(cursor, application_name)

    def upgrade(self, application_name: str) -> bool:
        """A view written by an earlier version (its transfers without `allocation_id`) is
        dropped and created again empty, to be rebuilt from the ledger: a view is disposable."""
        try:
            self.query("SELECT allocation_id FROM {t}transfers WHERE 1 = 0")
            return False
        except Exception:  # noqa: BLE001 - sqlite3 and psycopg raise different classes
            pass
        with self._transaction(commit=True) as cursor:
            self._lock(cursor)
            for table in VIEW_TABLES:
                cursor.execute(self._sql(f"DROP TABLE IF EXISTS {{t}}{table}"))
            for statement in self.view_ddl():
                cursor.execute(statement)
            self._forget_tracking(cursor, application_name)
        return True

    def _forget_tracking(self, cursor: Any, application_name: str) -> None:
        raise NotImplementedError

    # --- reading ----------------------------------------------------------------------------

    def query(self, template: str, **params: Any) -> list[dict[str, Any]]:
        with self._transaction(commit=False) as cursor:
            cursor.execute(
                self._sql(template),
                {k: self.to_db_time(v) if isinstance(v, datetime) else v for k, v in params.items()},
            )
            return [dict(row) for row in cursor.fetchall()]


class SQLiteStockView(SQLiteTrackingRecorder, StockView):
    prefix = index_prefix = ""
    time_type = "TEXT"

    def construct_create_table_statements(self) -> list[str]:
        return [*super().construct_create_table_statements(), *self.view_ddl()]

    def _sql(self, template: str) -> str:
        return template.format(t=self.prefix)

    @contextmanager
    def _transaction(self, commit: bool) -> Iterator[Any]:
        """Writes begin IMMEDIATE: a batch reads the tracking row before writing, and two
        runners that both began by reading would otherwise fail to upgrade ("database is
        locked") instead of waiting their turn."""
        if not commit:
            with self.datastore.transaction(commit=False) as cursor:
                yield cursor
            return
        with self.datastore.get_connection(commit=True) as connection:
            cursor = connection.cursor()
            cursor.execute("BEGIN IMMEDIATE")
            try:
                yield cursor
            except BaseException:
                connection.rollback()
                raise
            connection.commit()

    def _in(self, head: str, values: list[str]) -> tuple[str, Any]:
        return self._sql(head) + " IN (SELECT value FROM json_each(?))", (orjson.dumps(values).decode(),)

    def _tracking_position(self, cursor: Any, application_name: str) -> int | None:
        cursor.execute("SELECT notification_id FROM tracking WHERE application_name = ?", (application_name,))
        row = cursor.fetchone()
        return None if row is None else row[0]

    def _write_tracking(self, cursor: Any, tracking: Tracking) -> None:
        self._insert_tracking(cursor, tracking)

    def _forget_tracking(self, cursor: Any, application_name: str) -> None:
        cursor.execute("DELETE FROM tracking WHERE application_name = ?", (application_name,))

    def to_db_time(self, value: datetime | None) -> Any:
        return None if value is None else sqlite_time(value)

    def from_db_time(self, value: Any) -> datetime | None:
        return None if value is None else datetime.fromisoformat(value)


class PostgresStockView(PostgresTrackingRecorder, StockView):
    time_type = "TIMESTAMPTZ"

    def __init__(self, datastore: Any, *, tracking_table_name: str = "notification_tracking", **kwargs: Any) -> None:
        super().__init__(datastore, tracking_table_name=tracking_table_name, **kwargs)
        base = tracking_table_name.removesuffix("_tracking")
        self.index_prefix = f"{base}_"
        self.prefix = f'"{self.datastore.schema}".{base}_'
        self._tracking_table = f'"{self.datastore.schema}"."{tracking_table_name}"'
        self.follower_lock = f"follower {self._tracking_table}"  # see projections.runner.Turn
        self.sql_create_statements.extend(Composed([SQL(s.replace("%", "%%"))]) for s in self.view_ddl())

    def _sql(self, template: str) -> str:
        return pyformat(template.format(t=self.prefix))

    def _in(self, head: str, values: list[str]) -> tuple[str, Any]:
        return self._sql(head) + " = ANY(%s)", (values,)

    def _transaction(self, commit: bool) -> Any:
        return self.datastore.transaction(commit=commit)

    def _lock(self, cursor: Any) -> None:
        # The tracking row cannot be locked before it exists, so two runners starting on an
        # empty view would both write (and deadlock on the rows); a lock on the view's name
        # makes them take turns, and the second then finds the view moved (`StaleBatch`).
        cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self._tracking_table,))

    def _tracking_position(self, cursor: Any, application_name: str) -> int | None:
        cursor.execute(
            f"SELECT notification_id FROM {self._tracking_table} WHERE application_name = %s",
            (application_name,),
        )
        row = cursor.fetchone()
        return None if row is None else row["notification_id"]

    def _write_tracking(self, cursor: Any, tracking: Tracking) -> None:
        self._insert_tracking(cursor, tracking)

    def _forget_tracking(self, cursor: Any, application_name: str) -> None:
        cursor.execute(f"DELETE FROM {self._tracking_table} WHERE application_name = %s", (application_name,))


__all__ = ["IntegrityError", "PostgresStockView", "SQLiteStockView", "StaleBatch", "StockView"]
