"""Import rows: what each column of a stock report, consumption or receipts file means, and
reading one row's cells into what the ledger records (`ImportRow`), or into every mistake
of it, each with its spreadsheet row and column.

Pure: the service layer (`ledger.imports`) checks what needs the ledger (depots, items, who
may write where) and decides the events. Cells come as text (CSV) or as numbers and dates
(XLSX); a blank cell is an absent one. The range and length rules are the API commands' own
(`domain.commands`), so a file accepts exactly what one-by-one posts accept.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, Literal, Self

from pydantic import Field, TypeAdapter, ValidationError

from domain.aggregate import Aggregate
from domain.commands import (
    END_OF_DAY,
    START_OF_DAY,
    Code,
    Count,
    Day,
    Instant,
    Note,
    Quantity,
    refuse_nul,
)
from domain.events import ImportRecorded

ImportKind = Literal["stock_report", "consumption", "receipts"]
KINDS: tuple[ImportKind, ...] = ("stock_report", "consumption", "receipts")

REQUIRED: dict[ImportKind, tuple[str, ...]] = {
    "stock_report": ("depot", "item", "date"),
    "consumption": ("depot", "item", "date", "consumed"),
    "receipts": ("depot", "item", "date", "quantity"),
}
OPTIONAL: dict[ImportKind, tuple[str, ...]] = {
    "stock_report": ("on_hand", "consumed", "period_start", "received", "lot", "expires_on", "note"),
    "consumption": ("period_start", "note"),
    "receipts": ("lot", "expires_on", "supplier", "reference", "note"),
}
PROGRESS_EVERY = 1000
STOCK_FIGURES = ("on_hand", "consumed", "received")
"""A stock report row states at least one of these."""


def columns(kind: ImportKind) -> tuple[str, ...]:
    """The columns of a file of `kind`, in the order a template lists them."""
    return REQUIRED[kind] + OPTIONAL[kind]


def column_name(header: object) -> str:
    """A header as a column name: case, surrounding space, a BOM, inner spaces and hyphens
    do not matter (`On hand`, `on-hand` and `ON_HAND` are `on_hand`)."""
    text = "" if header is None else str(header)
    return re.sub(r"[\s\-]+", "_", text.replace("\ufeff", "").strip().lower())


@dataclass(frozen=True)
class RowError:
    """One mistake in a file: its spreadsheet row (the header is row 1), its column (None:
    the whole row or file) and what is wrong, in words."""

    row: int
    column: str | None
    message: str

    def as_dict(self) -> dict[str, Any]:
        """As a 422's field error: `row`, `column`, `message`, and the `loc`/`msg` every field error has."""
        return {
            "row": self.row,
            "column": self.column,
            "message": self.message,
            "loc": ["file", self.row] + ([self.column] if self.column else []),
            "msg": self.message,
            "type": "invalid_row",
        }


@dataclass(frozen=True, slots=True)
class ImportRow:
    """One data row, read: when it happened and what it records. On a stock report a row may
    record a receipt, a consumption and a count; the other kinds record one of them."""

    row: int
    depot: str
    item: str
    at: datetime
    on_hand: int | None = None
    consumed: int | None = None
    period_start: datetime | None = None
    received: int | None = None
    lot: str | None = None
    expires_on: date | None = None
    supplier: str | None = None
    reference: str | None = None
    note: str | None = None


class _CellError(ValueError):
    pass


_CODE: TypeAdapter[str] = TypeAdapter(Code)
_QUANTITY: TypeAdapter[int] = TypeAdapter(Quantity)
_COUNT: TypeAdapter[int] = TypeAdapter(Count)
_DAY: TypeAdapter[date] = TypeAdapter(Day)
_INSTANT: TypeAdapter[datetime] = TypeAdapter(Instant)
_NOTE: TypeAdapter[str | None] = TypeAdapter(Note)
_SHORT: TypeAdapter[str] = TypeAdapter(Annotated[str, Field(max_length=64)])
_TEXT: TypeAdapter[str] = TypeAdapter(Annotated[str, Field(max_length=200)])
_WHOLE = re.compile(r"^[+-]?\d+$")
_ISO_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DANISH_DAY = re.compile(r"^(\d{1,2})[-.](\d{1,2})[-.](\d{4})$")


def _checked(adapter: TypeAdapter[Any], value: Any) -> Any:
    """`value` through one of the commands' types; its first complaint as the cell's."""
    try:
        return adapter.validate_python(value)
    except ValidationError as error:
        raise _CellError(error.errors()[0]["msg"]) from None


def _text(value: object) -> str:
    text = str(value).strip()
    try:
        refuse_nul(text)
    except ValueError as error:
        raise _CellError(str(error)) from None
    return text


def _whole(value: object) -> int:
    """A whole number: an int, an integral XLSX float, or text of digits."""
    if isinstance(value, bool):
        raise _CellError(f"{value!r} is not a whole number")
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and _WHOLE.match(value.strip()):
        number = int(value.strip())
    else:
        raise _CellError(f"{_text(value)!r} is not a whole number")
    if number < 0:
        raise _CellError(f"{number} is negative")
    return number


def _quantity(value: object) -> int:
    return int(_checked(_QUANTITY, _whole(value)))


def _count(value: object) -> int:
    return int(_checked(_COUNT, _whole(value)))


def _day_of(value: object) -> date | datetime:
    """A cell as a bare date or an aware time. XLSX has no bare dates: a date cell at midnight
    is one, any other time of a date cell is UTC. Text: YYYY-MM-DD, DD-MM-YYYY or DD.MM.YYYY
    (as Danish spreadsheets write dates), or ISO 8601 with an offset."""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            return value
        return value.date() if value.time() == time(0) else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return value
    text = _text(value)
    if _ISO_DAY.match(text):
        try:
            return date.fromisoformat(text)
        except ValueError:
            raise _CellError(f"{text!r} is not a date") from None
    danish = _DANISH_DAY.match(text)
    if danish:
        day, month, year = (int(part) for part in danish.groups())
        try:
            return date(year, month, day)
        except ValueError:
            raise _CellError(f"{text!r} is not a date") from None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise _CellError(f"{text!r} is not a date (YYYY-MM-DD) or a time with an offset") from None
    if moment.tzinfo is None:
        raise _CellError(f"{text!r} has no offset: give a date, or a time with an offset (e.g. Z or +01:00)")
    return moment


def _date_column(value: object) -> date:
    moment = _day_of(value)
    return _checked(_DAY, moment.date() if isinstance(moment, datetime) else moment)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class Clock:
    """What "now" is for a file's dates, and how far ahead of it a time may be (clock skew)."""

    now: datetime
    tolerance: timedelta

    def happened_at(self, value: object) -> datetime:
        """A row's `date`: a bare date is the end of that UTC day, today's date is now; a time
        is itself. A date or time in the future is refused."""
        moment = _day_of(value)
        if isinstance(moment, datetime):
            at = _checked(_INSTANT, moment)
            if at > self.now + self.tolerance:
                raise _CellError(f"{at.isoformat()} is in the future (now {self.now.isoformat()})")
            return at  # type: ignore[no-any-return]
        day = _checked(_DAY, moment)
        today = self.now.astimezone(UTC).date()
        if day > today:
            raise _CellError(f"{day.isoformat()} is in the future (today is {today.isoformat()})")
        return self.now if day == today else datetime.combine(day, END_OF_DAY)

    def period_start(self, value: object) -> datetime:
        """A period's start: a bare date is the start of that UTC day."""
        moment = _day_of(value)
        if isinstance(moment, datetime):
            return _checked(_INSTANT, moment)  # type: ignore[no-any-return]
        return datetime.combine(_checked(_DAY, moment), START_OF_DAY)


def _present(cells: Mapping[str, object], column: str) -> object | None:
    value = cells.get(column)
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return value


_READERS: dict[str, Callable[[Clock, object], Any]] = {
    "depot": lambda clock, v: _checked(_CODE, _text(v)),
    "item": lambda clock, v: _checked(_CODE, _text(v)),
    "date": lambda clock, v: clock.happened_at(v),
    "on_hand": lambda clock, v: _count(v),
    "consumed": lambda clock, v: _whole(v),
    "received": lambda clock, v: _whole(v),
    "quantity": lambda clock, v: _quantity(v),
    "period_start": lambda clock, v: clock.period_start(v),
    "lot": lambda clock, v: _checked(_SHORT, _text(v)),
    "expires_on": lambda clock, v: _date_column(v),
    "supplier": lambda clock, v: _checked(_TEXT, _text(v)),
    "reference": lambda clock, v: _checked(_TEXT, _text(v)),
    "note": lambda clock, v: _checked(_NOTE, _text(v)),
}


def header_errors(kind: ImportKind, named: Iterable[str]) -> list[RowError]:
    """Mistakes of the header (row 1): a column the kind does not have, one named twice, a
    required one missing."""
    errors, seen = [], set()
    known = set(columns(kind))
    for name in named:
        if name in seen:
            errors.append(RowError(1, name, f"column {name} appears twice"))
        elif name not in known:
            listed = any(error.message.startswith("unknown column") for error in errors)
            columns_of_kind = "" if listed else f": a {kind} file has {', '.join(columns(kind))}"
            errors.append(RowError(1, name or None, f"unknown column {name!r}{columns_of_kind}"))
        seen.add(name)
    errors += [RowError(1, name, f"required column {name} is missing") for name in REQUIRED[kind] if name not in seen]
    return errors


def _read_cells(
    kind: ImportKind, row: int, cells: Mapping[str, object], clock: Clock
) -> tuple[dict[str, Any], list[RowError]]:
    """What each cell of a row says, and every mistake in them."""
    values: dict[str, Any] = {}
    errors: list[RowError] = []
    for name in columns(kind):
        cell = _present(cells, name)
        if cell is None:
            if name in REQUIRED[kind]:
                errors.append(RowError(row, name, f"{name} is required"))
            continue
        try:
            values[name] = _READERS[name](clock, cell)
        except _CellError as error:
            errors.append(RowError(row, name, str(error)))
    if kind == "consumption":
        _positive(values, "consumed", row, errors)
    if kind == "stock_report":
        if not any(_present(cells, name) is not None for name in STOCK_FIGURES):
            errors.append(RowError(row, None, "a stock report row states on_hand, consumed or received"))
        for name in ("consumed", "received"):
            if values.get(name) == 0:
                del values[name]  # nothing consumed or received: nothing to record
            else:
                _positive(values, name, row, errors)
    start, at = values.get("period_start"), values.get("date")
    if start is not None and at is not None and start > at:
        errors.append(RowError(row, "period_start", "period_start is after the row's date"))
    return values, errors


def _positive(values: dict[str, Any], column: str, row: int, errors: list[RowError]) -> None:
    """A quantity that is recorded is one a post of it would accept (above 0, within bounds)."""
    if column in values:
        try:
            values[column] = _quantity(values[column])
        except _CellError as error:
            errors.append(RowError(row, column, str(error)))


@dataclass
class Reading:
    """A file's rows read: those without mistakes, every mistake, and the depot and item each
    row names where those cells read (so that a row with a bad quantity is also told of an
    unknown depot)."""

    rows: list[ImportRow]
    errors: list[RowError]
    named: list[tuple[int, str | None, str | None]]


def read_rows(
    kind: ImportKind,
    rows: Sequence[Mapping[str, object]],
    clock: Clock,
    first_row: int = 2,
    progress: Callable[[int], None] | None = None,
) -> Reading:
    """Every row read, and every mistake of every row (and of the header the rows' keys make);
    `progress` is told how many rows are read, every `PROGRESS_EVERY` rows."""
    if not rows:
        return Reading([], [RowError(1, None, "the file has no data rows")], [])
    named: dict[str, None] = {}
    normalised = []
    for cells in rows:
        row_cells = {}
        for key, value in cells.items():
            name = column_name(key)
            named.setdefault(name, None)
            row_cells[name] = value
        normalised.append(row_cells)
    errors = header_errors(kind, named)
    if any(error.message.startswith("required column") for error in errors):
        return Reading([], errors, [])  # every row would repeat that its cell is missing
    reading = Reading([], errors, [])  # an unknown column is ignored while the rows are read: all mistakes at once
    for row, cells in enumerate(normalised, start=first_row):
        if progress is not None and (row - first_row) % PROGRESS_EVERY == 0:
            progress(row - first_row)
        values, mistakes = _read_cells(kind, row, cells, clock)
        reading.named.append((row, values.get("depot"), values.get("item")))
        if mistakes:
            reading.errors += mistakes
            continue
        if kind == "receipts":
            values["received"] = values.pop("quantity")
        reading.rows.append(ImportRow(row=row, at=values.pop("date"), **values))
    return reading


class ImportRecord(Aggregate):
    """One stored import: a single event (`ImportRecorded`), never changed."""

    kind: str
    content_hash: str

    @classmethod
    def created(cls, event: ImportRecorded) -> Self:
        return cls(**cls.born(event), kind=event.kind, content_hash=event.content_hash)

    def mutate(self, event: object) -> None:
        raise TypeError(f"an import record cannot apply {type(event).__name__}")
