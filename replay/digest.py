"""Tamper evidence: a SHA-256 hash chain over every stored event, in ledger position order.

The chain (DESIGN.md principle 8)
---------------------------------
    link(0) = GENESIS = 32 zero bytes (hex: 64 zeros)
    link(n) = SHA-256(link(previous event's position) || canonical(event at position n))

and the digest at position P is the hex of the link of the last event at or before P
(positions can have gaps; the digest at a gap is the digest of the event before it, the
digest at 0 is GENESIS).

Canonical bytes of one event, from its row in the library's stored-events table exactly
as stored (never through our domain decoding, so that an edit of any byte shows):

    u64  position (the notification id)                      8 bytes, big-endian
    u32  length of the originator id, then its 16 UUID bytes  (SQLite keeps it as hex text,
         PostgreSQL as uuid: both give the same 16 bytes; text that is not a UUID is taken
         as its UTF-8 bytes)
    i64  originator version                                   8 bytes, big-endian, signed
    u32  length of the topic, then the topic as UTF-8
    u32  length of the state, then the state bytes as stored (orjson, compressed or
         encrypted if the ledger is configured so)

A NULL field (only possible after an edit) is the length 0xFFFFFFFF with no bytes. The
encoding is the same on both backends, so a ledger copied from SQLite to PostgreSQL with
the same positions has the same digests.

Recorded links
--------------
`sl_chain`/`<app>_chain` (position -> digest hex) holds the link of every event up to a
contiguous "sealed" position. Links are sealed when a digest is computed (GET digest,
verify, the CLI), not in the write transaction: on PostgreSQL each write is one pipelined
round trip under the ledger's table lock, and hashing there would need a second one.
Sealing later is still exact because commit order is position order (the table lock), so
whatever a reader sees is a prefix of the ledger, and every sealer computes the same links
(`ON CONFLICT DO NOTHING`). What a recorded link gives `verify` is *where*: an edit made
after its position was sealed is reported as that exact position. The trust anchor is a
digest an auditor keeps outside the database (the chain table sits beside the events);
an edit made before any digest covered its position has no recorded link to differ from.
"""

from __future__ import annotations

import hashlib
import sqlite3
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder

from domain.exceptions import InvalidCommand, NotFound
from ledger.outage import causes
from ledger.persistence import IndexStore

GENESIS = bytes(32)
GENESIS_HEX = GENESIS.hex()
BATCH = 2000

_U64 = struct.Struct(">Q")
_I64 = struct.Struct(">q")
_U32 = struct.Struct(">I")
_NULL = _U32.pack(0xFFFFFFFF)


class PositionBeyondEnd(NotFound):
    title = "Position beyond the ledger"


@dataclass(frozen=True)
class StoredRow:
    """One row of the library's stored-events table, as stored."""

    position: int
    originator_id: Any
    originator_version: int | None
    topic: str | None
    state: bytes | None


# --- pure hashing ---------------------------------------------------------------------------


def _field(value: bytes | None) -> bytes:
    return _NULL if value is None else _U32.pack(len(value)) + value


def _originator_bytes(value: Any) -> bytes | None:
    if value is None:
        return None
    if isinstance(value, UUID):
        return value.bytes
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    try:
        return UUID(str(value)).bytes
    except ValueError:
        return str(value).encode()


def canonical_bytes(row: StoredRow) -> bytes:
    version = -(2**63) if row.originator_version is None else row.originator_version
    return b"".join(
        (
            _U64.pack(row.position),
            _field(_originator_bytes(row.originator_id)),
            _I64.pack(version),
            _field(None if row.topic is None else row.topic.encode()),
            _field(None if row.state is None else bytes(row.state)),
        )
    )


def link(previous: bytes, row: StoredRow) -> bytes:
    return hashlib.sha256(previous + canonical_bytes(row)).digest()


def chain(rows: Iterator[StoredRow] | list[StoredRow], start: bytes = GENESIS) -> Iterator[tuple[int, bytes]]:
    """(position, link) for each row, continuing from `start`."""
    current = start
    for row in rows:
        current = link(current, row)
        yield row.position, current


# --- reading the stored rows ----------------------------------------------------------------


class UnreadableEvent(Exception):
    """The storage itself is damaged at `position` (a corrupt page, a cut-short file): the
    event there cannot be read at all, so nothing from it on can be hashed."""

    def __init__(self, position: int, cause: str) -> None:
        super().__init__(f"the stored event at position {position} cannot be read: {cause}")
        self.position = position
        self.cause = cause


_CORRUPT_SQLITE = (11, 26)  # SQLITE_CORRUPT, SQLITE_NOTADB
_CORRUPT_POSTGRES = ("XX001", "XX002")  # data_corrupted, index_corrupted


def _damage(error: BaseException) -> str | None:
    """What the driver said, if `error` (or what it wraps) says the stored data is damaged;
    None for anything else (a database that is away is not a damaged event)."""
    for cause in causes(error):
        if (
            isinstance(cause, sqlite3.DatabaseError)
            and (getattr(cause, "sqlite_errorcode", 0) & 0xFF) in _CORRUPT_SQLITE
        ):
            return str(cause)
        if getattr(cause, "sqlstate", None) in _CORRUPT_POSTGRES:
            return " ".join(str(cause).split())
    return None


def stored_rows(recorder: Any, after: int = 0, upto: int | None = None, batch: int = BATCH) -> Iterator[StoredRow]:
    """The library's stored-event rows with `after < position <= upto`, in position order,
    read `batch` rows per query from either backend; UnreadableEvent at the first position
    whose row the storage cannot give back."""
    if upto is None:
        upto = recorder.max_notification_id() or 0
    while after < upto:
        try:
            rows = _read_batch(recorder, after, upto, batch)
        except Exception as error:
            cause = _damage(error)
            if cause is None:
                raise
            raise UnreadableEvent(_first_unreadable(recorder, after, upto), cause) from error
        if not rows:
            return
        yield from rows
        after = rows[-1].position


def _first_unreadable(recorder: Any, after: int, upto: int) -> int:
    """A batch after `after` failed: read its positions one by one to name the first that fails."""
    for position in range(after + 1, upto + 1):
        try:
            _read_batch(recorder, position - 1, position, 1)
        except Exception as error:  # noqa: BLE001 - either driver's class, checked by _damage
            if _damage(error) is not None:
                return position
            raise
    return after + 1


def _read_batch(recorder: Any, after: int, upto: int, batch: int) -> list[StoredRow]:
    if isinstance(recorder, SQLiteApplicationRecorder):
        with recorder.datastore.transaction(commit=False) as c:
            c.execute(
                "SELECT rowid, originator_id, originator_version, topic, state "
                f"FROM {recorder.events_table_name} WHERE rowid > ? AND rowid <= ? ORDER BY rowid LIMIT ?",
                (after, upto, batch),
            )
            return [StoredRow(r[0], r[1], r[2], r[3], r[4]) for r in c.fetchall()]
    if isinstance(recorder, PostgresApplicationRecorder):
        table = f'"{recorder.datastore.schema}"."{recorder.events_table_name}"'
        with recorder.datastore.get_connection() as conn, conn.cursor() as curs:
            curs.execute(
                "SELECT notification_id, originator_id, originator_version, topic, state "
                f"FROM {table} WHERE notification_id > %s AND notification_id <= %s "
                "ORDER BY notification_id LIMIT %s",
                (after, upto, batch),
            )
            return [
                StoredRow(
                    r["notification_id"],
                    r["originator_id"],
                    r["originator_version"],
                    r["topic"],
                    None if r["state"] is None else bytes(r["state"]),
                )
                for r in curs.fetchall()
            ]
    raise TypeError(f"no stored-event reader for {type(recorder).__name__}")


# --- recorded links ---------------------------------------------------------------------------

_TAIL = "SELECT position AS at, digest FROM {t}chain ORDER BY position DESC LIMIT 1"
_AT_OR_BEFORE = "SELECT position AS at, digest FROM {t}chain WHERE position <= :upto ORDER BY position DESC LIMIT 1"
_RANGE = (
    "SELECT position AS at, digest FROM {t}chain WHERE position > :after AND position <= :upto "
    "ORDER BY position LIMIT :limit"
)
_SEAL = "INSERT INTO {t}chain (position, digest) VALUES (:at, :digest) ON CONFLICT (position) DO NOTHING"


def _tail(store: IndexStore) -> tuple[int, bytes]:
    rows = store.query(_TAIL)
    return (rows[0]["at"], bytes.fromhex(rows[0]["digest"])) if rows else (0, GENESIS)


def recorded_links(store: IndexStore, after: int, upto: int, batch: int = BATCH) -> Iterator[tuple[int, str]]:
    while after < upto:
        rows = store.query(_RANGE, after=after, upto=upto, limit=batch)
        if not rows:
            return
        for row in rows:
            yield row["at"], row["digest"]
        after = rows[-1]["at"]


def _last_position(recorder: Any, position: int | None) -> int:
    last = recorder.max_notification_id() or 0
    if position is None:
        return last
    if position < 0:
        raise InvalidCommand("position must be 0 or more", position=position)
    if position > last:
        raise PositionBeyondEnd(f"position {position} is beyond the ledger's last position {last}", last=last)
    return position


def seal(recorder: Any, upto: int) -> bytes:
    """Records the links of every event up to `upto` not yet recorded; returns the link at `upto`."""
    store: IndexStore = recorder
    at, current = _tail(store)
    if at >= upto:
        rows = store.query(_AT_OR_BEFORE, upto=upto)
        return bytes.fromhex(rows[0]["digest"]) if rows else GENESIS
    pending: list[dict[str, Any]] = []
    for position, current in chain(stored_rows(recorder, at, upto), current):  # noqa: B020
        pending.append({"at": position, "digest": current.hex()})
        if len(pending) >= BATCH:
            store.write(_SEAL, pending)
            pending = []
    if pending:
        store.write(_SEAL, pending)
    return current


# --- what the API and CLI call ------------------------------------------------------------------


@dataclass(frozen=True)
class Digest:
    position: int
    digest: str


@dataclass(frozen=True)
class Verification:
    valid: bool
    position: int
    digest: str  # recomputed from the stored rows
    first_mismatch: int | None
    detail: str
    first_unreadable: int | None = None  # the storage cannot give this position's event back


def digest(recorder: Any, position: int | None = None) -> Digest:
    """The digest at `position` (default: the last), sealing the links up to it."""
    position = _last_position(recorder, position)
    return Digest(position, seal(recorder, position).hex())


def verify(recorder: Any, position: int | None = None, expected: str | None = None) -> Verification:
    """Recomputes the chain from the stored rows up to `position` (default: the last) and
    compares every link with the recorded one, and the result with `expected` if given.

    `first_mismatch` is the first position whose recomputed link differs from its recorded
    link: an edited event, an event where a link was recorded but none is stored (deleted),
    or a stored event inside the sealed range without a link (inserted)."""
    store: IndexStore = recorder
    whole = position is None
    position = _last_position(recorder, position)
    sealed, _ = _tail(store)
    # Without a position, also look past the last stored event: links recorded beyond it
    # mean events were deleted from the end.
    upto = max(position, sealed) if whole else position
    try:
        return _compare(recorder, store, position, sealed, upto, expected)
    except UnreadableEvent as unreadable:
        return Verification(False, position, "", None, str(unreadable), unreadable.position)


def _compare(
    recorder: Any, store: IndexStore, position: int, sealed: int, upto: int, expected: str | None
) -> Verification:
    rows = iter(chain(stored_rows(recorder, 0, upto)))
    links = iter(recorded_links(store, 0, upto))
    row = next(rows, None)
    recorded = next(links, None)
    current, first_mismatch = GENESIS, None
    while row is not None or recorded is not None:
        if recorded is None or (row is not None and row[0] < recorded[0]):
            at, current = row  # type: ignore[misc]
            if first_mismatch is None and at <= sealed:
                first_mismatch = at  # stored, inside the sealed range, but never recorded
            row = next(rows, None)
        elif row is None or recorded[0] < row[0]:
            if first_mismatch is None:
                first_mismatch = recorded[0]  # recorded, but no longer stored
            recorded = next(links, None)
        else:
            at, current = row
            if first_mismatch is None and current.hex() != recorded[1]:
                first_mismatch = at
            row, recorded = next(rows, None), next(links, None)
    recomputed = current.hex()
    if first_mismatch is not None:
        return Verification(
            False,
            position,
            recomputed,
            first_mismatch,
            f"the stored event at position {first_mismatch} does not match the link recorded for it",
        )
    if expected is not None and expected.lower() != recomputed:
        return Verification(
            False,
            position,
            recomputed,
            None,
            f"the digest at position {position} recomputed from the stored events differs from the one given",
        )
    if position > sealed:
        seal(recorder, position)
    checked = min(sealed, position)
    detail = f"the stored events up to position {position} match"
    detail += f" the {'given digest and the ' if expected else ''}links recorded up to position {checked}"
    return Verification(True, position, recomputed, None, detail)
