"""Imports in the service layer: a file's rows become ordinary depot events, all stored in one
transaction with the import's own record, or none of them.

A file is refused whole, with every mistake by row and column: what the rows say
(`domain.imports`), then what needs the ledger (an unknown depot or item, a depot of another
organisation for an operator). Each depot's rows are decided in business-time order, so a
count later in a file sees the receipts and consumption of the rows before it. The book a count
is compared with is the depot's own, pending events included; for a count dated before stored
movements (a backdated row), it is the movement journal's as of the count's time plus this
import's movements up to it, since the journal sees only what is stored.

The same content again from the same principal is the same import: its record's aggregate id
and its idempotency key are derived from the principal, the kind and the content hash, so a
re-upload (even a concurrent one) stores nothing and gets the first answer back.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import orjson
from pydantic import BaseModel, Field, field_serializer

from domain import events as ev
from domain.depot import Depot, Stamp
from domain.exceptions import InvalidCommand, InvalidFile, NotFound
from domain.ids import import_id
from domain.imports import KINDS, PROGRESS_EVERY, Clock, ImportKind, ImportRecord, ImportRow, RowError, read_rows
from domain.stock import Movement, balance
from ledger import clock
from ledger.clock import utc_text
from ledger.outcomes import Outcome

if TYPE_CHECKING:
    from ledger.application import Context
    from ledger.host import LedgerHost
else:
    LedgerHost = object

MAX_LISTED = 1000
"""A 422 lists at most this many mistakes (and says how many there are); an outcome at most
this many warnings."""
MAX_WARNINGS = 100
PENDING = 10**18
"""Positions given to this import's own movements when folding them after the stored ones."""


class UnknownImport(NotFound):
    title = "Unknown import"


class ImportWarning(BaseModel):
    row: int = Field(description="The spreadsheet row (the header is row 1)")
    message: str


class PlannedEvent(BaseModel):
    """An event a dry run would store."""

    row: int
    depot: str
    item: str
    type: str
    occurred_at: datetime
    quantity: int | None = Field(None, description="Receipts and consumption")
    counted: int | None = Field(None, description="Counts")
    variance: int | None = Field(None, description="Counts: counted minus the book at the count's time")

    @field_serializer("occurred_at")
    def _utc(self, value: datetime) -> str:
        return utc_text(value)


class ImportOutcome(Outcome):
    """What an import stored (or, on a dry run, would store). `position` is the import record's,
    the last of its events; its depot events are the `events` positions before it."""

    import_id: str
    kind: str
    file_name: str | None = None
    content_hash: str
    rows: int
    events: int
    first_position: int | None = Field(None, description="The position of the import's first event")
    depots: list[str] = Field(description="The depots the rows are about")
    dry_run: bool = False
    warning_count: int = 0
    warnings: list[ImportWarning] = Field([], description=f"The first {MAX_WARNINGS} warnings, by row")
    planned: list[PlannedEvent] | None = Field(None, description="Dry run: every event the import would store")


class ImportRecordView(BaseModel):
    """A stored import, as `GET /v1/imports` lists it."""

    import_id: str
    kind: str
    actor: str
    file_name: str | None
    content_hash: str
    rows: int
    events: int
    recorded_at: datetime
    first_position: int
    position: int

    @field_serializer("recorded_at")
    def _utc(self, value: datetime) -> str:
        return utc_text(value)


def content_hash_of(rows: Sequence[Mapping[str, object]]) -> str:
    """A hash of rows given without a file (a caller that built them itself)."""
    return hashlib.sha256(orjson.dumps(list(rows), default=str, option=orjson.OPT_SORT_KEYS)).hexdigest()


@dataclass
class _Books:
    """One depot's book of each item at a business time, with this import's events so far."""

    journal: Any
    depot: Depot
    stored: dict[str, list[Movement]] = field(default_factory=dict)  # loaded only for backdated rows
    pending: dict[str, list[Movement]] = field(default_factory=lambda: defaultdict(list))

    def book_at(self, item: str, at: datetime) -> int:
        if not self.depot.book(item).is_backdated(at):
            return self.depot.on_hand(item)
        if item not in self.stored:
            self.stored[item] = [
                Movement(row["occurred_at"], row["position"], row["delta"], row["counted"])
                for row in self.journal.history(self.depot.code, item)
            ]
        movements = sorted(
            (m for m in [*self.stored[item], *self.pending[item]] if m.occurred_at <= at),
            key=lambda m: (m.occurred_at, m.position),
        )
        return balance(movements)

    def recorded(self, event: ev.LedgerEvent) -> None:
        for effect in self.depot.effects_of(event):
            if effect.moves_stock:
                movement = Movement(event.occurred_at, PENDING + len(self.pending[effect.item]), effect.delta)
                if effect.counted is not None:
                    movement = replace(movement, counted=effect.counted)
                self.pending[effect.item].append(movement)


class ImportCommands(LedgerHost):
    """Mixed into `Ledger`: `import_rows`, and reading the stored imports."""

    def import_rows(
        self,
        kind: ImportKind,
        rows: Sequence[Mapping[str, object]],
        ctx: Context,
        *,
        dry_run: bool = False,
        file_name: str | None = None,
        content_hash: str | None = None,
        first_row: int = 2,
        progress: Callable[[int], None] | None = None,
    ) -> tuple[ImportOutcome, bool]:
        """Store every row of a file as events in one transaction, or refuse the whole file with
        every mistake (`InvalidFile`, `errors` of `{row, column, message}`). Returns the
        outcome and whether it is the stored answer to the same content imported before.
        `progress` (the CLI's bar) is told the rows read, then the rows read plus those decided."""
        if kind not in KINDS:
            raise InvalidCommand(
                f"unknown import kind {kind!r}: one of {', '.join(KINDS)}",
                errors=[{"loc": ["query", "kind"], "msg": "unknown import kind", "type": "enum"}],
            )
        content_hash = content_hash or content_hash_of(rows)
        record_id = import_id(ctx.idempotency_scope, kind, content_hash)
        ctx = replace(
            ctx,
            source="import",
            idempotency_key=f"import:{record_id}",
            fingerprint=content_hash,
            expected_version=None,
        )
        stored = self._replay(ctx, ImportOutcome)
        if stored is not None:
            return _with_first_position(stored), True
        read = self._checked_rows(kind, rows, ctx, first_row, progress)

        def decide() -> tuple[list[Any], ImportOutcome]:
            aggregates, outcome, planned = self._decide_import(
                kind, read, ctx, record_id, file_name, content_hash, len(rows), progress
            )
            if dry_run:
                outcome.planned = planned
            return aggregates, outcome

        if dry_run:
            _, outcome = self._decide_in_time(decide)
            update = {"dry_run": True, "position": self.position(), "recorded_at": self.clock()}
            return outcome.model_copy(update=update), False
        outcome, replayed = self._execute(ctx, ImportOutcome, decide)
        return _with_first_position(outcome), replayed

    def _checked_rows(
        self,
        kind: ImportKind,
        rows: Sequence[Mapping[str, object]],
        ctx: Context,
        first_row: int,
        progress: Callable[[int], None] | None,
    ) -> list[ImportRow]:
        """The rows read, or `InvalidFile` with every mistake of every row."""
        reading = read_rows(kind, rows, Clock(self.clock(), clock.FUTURE_TOLERANCE), first_row, progress)
        errors = reading.errors
        organisations = {row["code"]: row["organisation"] for row in self.journal.depots()}
        items = {row["code"] for row in self.journal.items()}
        for number, depot, item in reading.named:
            organisation = organisations.get(depot) if depot is not None else ""
            if organisation is None:
                errors.append(RowError(number, "depot", f"no depot {depot}"))
            elif organisation and not ctx.writes_for(organisation):
                errors.append(
                    RowError(number, "depot", f"{ctx.actor} may not write to depot {depot} of {organisation}")
                )
            if item is not None and item not in items:
                errors.append(RowError(number, "item", f"no item {item} in the catalogue"))
        if errors:
            errors.sort(key=lambda error: error.row)  # stable: a row's mistakes stay in column order
            shown = "; ".join(f"row {e.row}{' ' + e.column if e.column else ''}: {e.message}" for e in errors[:5])
            raise InvalidFile(
                f"{len(errors)} mistake{'s' if len(errors) != 1 else ''} in the file, nothing stored: {shown}",
                errors=[error.as_dict() for error in errors[:MAX_LISTED]],
                error_count=len(errors),
            )
        return reading.rows

    def _decide_import(
        self,
        kind: ImportKind,
        read: list[ImportRow],
        ctx: Context,
        record_id: Any,
        file_name: str | None,
        content_hash: str,
        row_count: int,
        progress: Callable[[int], None] | None = None,
    ) -> tuple[list[Any], ImportOutcome, list[PlannedEvent]]:
        """The depots with their new events and the import's record; the outcome; every event planned."""
        by_depot: dict[str, list[ImportRow]] = defaultdict(list)
        for row in read:
            by_depot[row.depot].append(row)
        depots: list[Depot] = []
        planned: list[PlannedEvent] = []
        warnings: list[ImportWarning] = []
        decided = 0
        for code in sorted(by_depot):
            depot = self.depot(code)
            depots.append(depot)
            books = _Books(self.journal, depot)
            for row in sorted(by_depot[code], key=lambda row: (row.at, row.row)):
                decided += 1
                if progress is not None and decided % PROGRESS_EVERY == 0:
                    progress(row_count + decided)
                stamp = Stamp(row.at, ctx.actor, "import", ctx.command_id, row.note)
                for event, variance, said in _row_events(depot, row, stamp, books):
                    planned.append(_planned(row, code, event, variance))
                    warnings += [ImportWarning(row=row.row, message=message) for message in said]
        now = self.clock()
        record = ImportRecord.start(
            ev.ImportRecorded,
            record_id,
            kind=kind,
            file_name=file_name,
            content_hash=content_hash,
            rows=row_count,
            events=len(planned),
            **Stamp(now, ctx.actor, "import", ctx.command_id).fields(),
        )
        warnings.sort(key=lambda warning: warning.row)
        return (
            [*depots, record],
            ImportOutcome(
                import_id=str(record_id),
                kind=kind,
                file_name=file_name,
                content_hash=content_hash,
                rows=row_count,
                events=len(planned),
                depots=sorted(by_depot),
                warning_count=len(warnings),
                warnings=warnings[:MAX_WARNINGS],
            ),
            planned,
        )

    # --- reading stored imports ----------------------------------------------------------------

    def imports(self, limit: int = 100, before: int | None = None) -> list[ImportRecordView]:
        """The stored imports, newest first; `before`: only those recorded before that position."""
        rows = self.index_store.query(
            "SELECT * FROM {t}imports WHERE position < :before ORDER BY position DESC LIMIT :limit",
            before=before if before is not None else PENDING,
            limit=limit,
        )
        return [self._import_view(row) for row in rows]

    def import_record(self, record_id: str) -> ImportRecordView:
        rows = self.index_store.query("SELECT * FROM {t}imports WHERE import_id = :id", id=record_id.strip().lower())
        if not rows:
            raise UnknownImport(f"no import {record_id}")
        return self._import_view(rows[0])

    def _import_view(self, row: dict[str, Any]) -> ImportRecordView:
        return ImportRecordView(
            import_id=row["import_id"],
            kind=row["kind"],
            actor=row["actor"],
            file_name=row["file_name"],
            content_hash=row["content_hash"],
            rows=int(row["row_count"]),
            events=int(row["event_count"]),
            recorded_at=self.index_store.from_db_time(row["recorded_at"]),
            first_position=int(row["position"]) - int(row["event_count"]),
            position=int(row["position"]),
        )


def _row_events(
    depot: Depot, row: ImportRow, stamp: Stamp, books: _Books
) -> list[tuple[ev.LedgerEvent, int | None, list[str]]]:
    """A row's events, in the order they are dated at one instant: what arrived, what was used,
    then the count, which sees both. Each with a count's variance and the warnings it gave."""
    events: list[tuple[ev.LedgerEvent, int | None, list[str]]] = []
    if row.received is not None:
        receipt = depot.record_receipt(
            stamp,
            item=row.item,
            quantity=row.received,
            lot=row.lot,
            expires_on=row.expires_on,
            supplier=row.supplier,
            reference=row.reference,
        )
        events.append((receipt, None, []))
        books.recorded(receipt)
    if row.consumed is not None:
        period_start = row.period_start or stamp.occurred_at - timedelta(days=1)
        consumption, said = depot.report_consumption(row.item, row.consumed, period_start, stamp)
        events.append((consumption, None, said))
        books.recorded(consumption)
    if row.on_hand is not None:
        book_at = books.book_at(row.item, stamp.occurred_at)
        count, said = depot.count(row.item, row.on_hand, book_at, stamp)
        events.append((count, row.on_hand - book_at, said))
        books.recorded(count)
    return events


def _planned(row: ImportRow, depot: str, event: ev.LedgerEvent, variance: int | None) -> PlannedEvent:
    return PlannedEvent(
        row=row.row,
        depot=depot,
        item=row.item,
        type=type(event).__name__,
        occurred_at=event.occurred_at,
        quantity=getattr(event, "quantity", None),
        counted=getattr(event, "counted", None),
        variance=variance,
    )


def _with_first_position(outcome: ImportOutcome) -> ImportOutcome:
    """The first event's position, from the record's (the import's events precede it, contiguous)."""
    return outcome.model_copy(
        update={"first_position": outcome.position - outcome.events if outcome.position else None}
    )
