"""Commands: what a user asks the ledger to do.

They are also the HTTP request bodies, so what `/docs` shows is exactly what the domain
accepts. Quantities are strict integers (no "12", no 12.0, no true) within a sane bound.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from typing import Annotated, Any, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from domain.events import AdjustmentReason, DepotKind, ItemCategory, Priority, RequestOutcome
from domain.gs1 import Label, normalise_gtin, read_label
from domain.obligations import BASIS_FIELDS, DEFAULT_YEARS, MAX_YEARS, OBLIGATION_FIELDS
from domain.obligations import Basis as ObligationBasis

D = TypeVar("D", bound=date)  # a date, or a datetime (which is a date)

EARLIEST_YEAR, LATEST_YEAR = 1900, 2200
"""Times outside these years are typos, and would overflow date arithmetic."""


def _plausible_date(value: D) -> D:
    if not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
        raise ValueError(f"year {value.year} is outside {EARLIEST_YEAR}-{LATEST_YEAR}")
    return value


def _plausible_time(value: datetime) -> datetime:
    return _plausible_date(value).astimezone(UTC)


Instant = Annotated[AwareDatetime, AfterValidator(_plausible_time)]
"""A time with an offset, kept in UTC."""

_BARE_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _bare_date_at(moment: time) -> Any:
    """A bare date read as `moment` of that UTC day, as the views read `as_of` and `from`."""

    def read(value: Any) -> Any:
        if isinstance(value, str) and _BARE_DATE.match(value.strip()):
            try:
                return datetime.combine(date.fromisoformat(value.strip()), moment)
            except ValueError:
                return value  # not a real date: refused with the datetime's own words
        return value

    return BeforeValidator(read)


START_OF_DAY = time(0, tzinfo=UTC)
END_OF_DAY = time(23, 59, 59, 999999, tzinfo=UTC)
DayEnd = Annotated[
    Instant,
    _bare_date_at(END_OF_DAY),
    Field(description="A time with an offset, or a bare date: the end of that UTC day"),
]
"""A deadline or the end of a period: `2026-12-10` means 2026-12-10T23:59:59.999999Z."""
DayStart = Annotated[
    Instant,
    _bare_date_at(START_OF_DAY),
    Field(description="A time with an offset, or a bare date: the start of that UTC day"),
]
"""The start of a period: `2026-12-10` means 2026-12-10T00:00:00Z."""
Day = Annotated[date, AfterValidator(_plausible_date)]

NATIONAL_TOTAL = "national"
"""The `region` of GET /v1/stock's national total rows; no region of depots may be called so."""

MAX_POSITION = 10**18
"""No ledger reaches a position this high; a larger one is a typo (and would overflow SQLite's integers)."""

MAX_QUANTITY = 1_000_000_000
"""No single movement of one item is larger than a billion base units; larger is a typo."""

Quantity = Annotated[StrictInt, Field(gt=0, le=MAX_QUANTITY, description="Integer in the item's base unit")]
Count = Annotated[StrictInt, Field(ge=0, le=MAX_QUANTITY)]
Code = Annotated[
    str,
    Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", examples=["DK-84-CENTRAL"]),
]
Text = Annotated[str, Field(min_length=1, max_length=200)]
Note = Annotated[str | None, Field(default=None, max_length=2000)]


NUL_MESSAGE = "contains a NUL character (\\x00), which no text may hold"


def refuse_nul(value: Any) -> Any:
    """Text holding a NUL character is refused: PostgreSQL cannot store it, and no person types it."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError(NUL_MESSAGE)
    elif isinstance(value, (list, tuple)):
        for element in value:
            refuse_nul(element)
    elif isinstance(value, dict):
        for key, element in value.items():
            refuse_nul(key)
            refuse_nul(element)
    return value


class Command(BaseModel):
    """Every request body: no unknown fields, and no text with a NUL character in any field."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    _no_nul = field_validator("*", mode="after")(refuse_nul)


class Envelope(Command):
    occurred_at: Instant | None = Field(
        default=None, description="When it happened in the world; default now, at most 5 minutes ahead"
    )
    note: Note = None


def _distinct_gtins(gtins: list[str]) -> list[str]:
    """Each GTIN once: GTIN-13 `5712345678909` and GTIN-14 `05712345678909` are the same product."""
    twice = sorted({gtin for gtin in gtins if gtins.count(gtin) > 1})
    if twice:
        raise ValueError(f"names GTIN {', '.join(twice)} more than once")
    return gtins


MAX_GTINS = 50
Gtins = Annotated[
    list[Annotated[str, Field(pattern=r"^(\d{8}|\d{12,14})$"), AfterValidator(normalise_gtin)]],
    AfterValidator(_distinct_gtins),
    Field(
        max_length=MAX_GTINS,
        description="GS1 trade item numbers: GTIN-8, -12, -13 or -14 with a correct check digit, kept as GTIN-14",
        examples=[["05712345678909"]],
    ),
]


class DefineItem(Command):
    code: Code
    name: Text
    unit: Annotated[str, Field(min_length=1, max_length=32)]
    category: ItemCategory
    atc_code: Annotated[str | None, Field(default=None, pattern=r"^[A-Z][0-9]{2}[A-Z]{0,2}[0-9]{0,2}$")] = None
    gtins: Gtins = []


class SetItemGtins(Command):
    """Replaces all of an item's GTINs (an empty list removes them)."""

    gtins: Gtins
    note: Note = None


class RegisterDepot(Command):
    code: Code
    occurred_at: Instant | None = Field(
        default=None, description="Since when the depot holds stock (default now), so views as of earlier dates see it"
    )
    name: Text
    region: Annotated[Code, Field(description="Any code but `national`, which names the national total's rows")]
    organisation: Code
    kind: DepotKind
    population_served: Annotated[StrictInt | None, Field(default=None, ge=0, le=2_000_000_000)] = None

    @field_validator("region")
    @classmethod
    def _not_the_national_total(cls, region: str) -> str:
        if region.lower() == NATIONAL_TOTAL:
            raise ValueError(f"region {region!r} would read as the national total of GET /v1/stock: choose another")
        return region


class SetObligation(Envelope):
    """An obligation on one basis (API.md, "Preparedness obligations"); `{min_days}` alone is
    recent_consumption, as before bases existed. Each basis takes its own fields and no others:
    a field missing or out of place is refused at its own location."""

    basis: ObligationBasis = Field(
        default="recent_consumption",
        description="recent_consumption: min_days × the 14-day average; annual_average: share_of_year × the "
        "average annual consumption over the last `years` complete calendar years, exclude_years replaced by "
        "earlier years; fixed_daily: min_days × daily_quantity",
    )
    min_days: Annotated[
        StrictInt | None,
        Field(gt=0, le=3650, validate_default=True, description="Days: recent_consumption, fixed_daily (needed)"),
    ] = None
    share_of_year: Annotated[
        StrictFloat | None,
        Field(gt=0, le=1, validate_default=True, description="annual_average (needed): e.g. 0.25, three months"),
    ] = None
    years: Annotated[StrictInt | None, Field(ge=1, le=MAX_YEARS, description="annual_average: default 3")] = None
    exclude_years: list[Annotated[StrictInt, Field(ge=EARLIEST_YEAR, le=LATEST_YEAR)]] = Field(
        default_factory=list,
        max_length=MAX_YEARS,
        description="annual_average: abnormal years, before the year the obligation is set in; earlier years "
        "are counted in their place",
    )
    daily_quantity: Annotated[
        StrictFloat | None,
        Field(gt=0, le=MAX_QUANTITY, validate_default=True, description="fixed_daily (needed): units a day"),
    ] = None

    @field_validator(*OBLIGATION_FIELDS, mode="after")
    @classmethod
    def _of_the_basis(cls, value: Any, info: ValidationInfo) -> Any:
        basis = info.data.get("basis")
        if basis is None:  # the basis itself was refused
            return value
        name, (needs, takes) = info.field_name, BASIS_FIELDS[basis]
        if value in (None, []):
            if name in needs:
                raise ValueError(f"basis {basis} needs {name}")
        elif name not in needs | takes:
            raise ValueError(f"basis {basis} does not take {name}")
        if name == "exclude_years" and len(set(value)) != len(value):
            raise ValueError("names a year twice")
        return value

    def terms(self) -> dict[str, Any]:
        """The event's fields for these terms: years defaulted on annual_average."""
        years = (self.years or DEFAULT_YEARS) if self.basis == "annual_average" else None
        return {
            "min_days": self.min_days,
            "basis": self.basis,
            "share_of_year": self.share_of_year,
            "years": years,
            "exclude_years": tuple(sorted(self.exclude_years)),
            "daily_quantity": self.daily_quantity,
        }


def _readable_label(text: str | None) -> str | None:
    if text is not None:
        read_label(text)
    return text


class RecordReceipt(Envelope):
    # `gs1` comes first: `item` is required only without it, and a validator sees the fields before its own.
    gs1: Annotated[
        str | None,
        Field(
            default=None,
            max_length=200,
            description="A GS1 element string as scanned (raw, with GS separators) or printed `(01)…(17)…(10)…`: "
            "the GTIN names the item, AI 10 the lot, AI 17 the expiry (docs/gs1.md)",
            examples=["(01)05712345678909(17)271231(10)LOT42"],
        ),
        AfterValidator(_readable_label),
    ] = None
    item: Annotated[Code | None, Field(default=None, validate_default=True, description="Required without `gs1`")]
    quantity: Quantity
    lot: Annotated[str | None, Field(default=None, max_length=64)] = None
    expires_on: Day | None = None
    supplier: Annotated[str | None, Field(default=None, max_length=200)] = None
    reference: Annotated[str | None, Field(default=None, max_length=200)] = None

    @field_validator("item", mode="after")
    @classmethod
    def _named_by_item_or_label(cls, item: str | None, info: ValidationInfo) -> str | None:
        if item is None and "gs1" in info.data and info.data["gs1"] is None:  # a refused gs1 has its own error
            raise PydanticCustomError("missing", "Field required (or give `gs1`, a scanned label naming the item)")
        return item

    def label(self) -> Label | None:
        """The scanned label, read (it was found readable when the command was validated)."""
        return None if self.gs1 is None else read_label(self.gs1)


class ReportConsumption(Envelope):
    """A period's consumption; it is dated at the end of its period."""

    item: Code
    quantity: Quantity
    period_start: DayStart | None = None
    period_end: DayEnd | None = None

    @model_validator(mode="after")
    def _period_is_ordered(self) -> ReportConsumption:
        if self.period_end and self.occurred_at and self.period_end != self.occurred_at:
            raise ValueError("occurred_at is the end of the period: give one or make them equal")
        if self.period_start and self.period_end and self.period_start > self.period_end:
            raise ValueError("period_start is after period_end")
        return self


class CountStock(Envelope):
    item: Code
    counted: Count


class AdjustStock(Envelope):
    item: Code
    quantity: Annotated[StrictInt, Field(ge=-MAX_QUANTITY, le=MAX_QUANTITY, description="Signed, non-zero")]
    reason: AdjustmentReason
    corrects: Annotated[
        str | None,
        Field(
            default=None,
            max_length=100,
            pattern=r"^\s*(pos:\d{1,18}|[0-9A-Fa-f-]{32,36}:\d{1,18})\s*$",
            description="The event this corrects, of the same depot: its event_id, or its ledger position as pos:N "
            "(stored as the event_id). Only with reason correction.",
            examples=["pos:1234"],
        ),
    ] = None

    @model_validator(mode="after")
    def _non_zero(self) -> AdjustStock:
        if self.quantity == 0:
            raise ValueError("an adjustment of 0 changes nothing")
        if self.corrects is not None and self.reason != "correction":
            raise ValueError(f"an adjustment that corrects an event has reason correction, not {self.reason}")
        return self


class RequestSupply(Envelope):
    item: Code
    quantity: Quantity
    needed_by: DayEnd | None = None
    priority: Priority = "normal"


class CloseRequest(Envelope):
    outcome: RequestOutcome


class LineRequest(Command):
    item: Code
    quantity: Quantity
    lot: Annotated[str | None, Field(default=None, max_length=64)] = None


class DispatchTransfer(Envelope):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    source: Code = Field(alias="from")
    destination: Code = Field(alias="to")
    lines: Annotated[list[LineRequest], Field(min_length=1, max_length=200)]
    allocation_id: Annotated[str | None, Field(default=None, max_length=100)] = None
    reference: Annotated[str | None, Field(default=None, max_length=200)] = None

    @model_validator(mode="after")
    def _two_depots(self) -> DispatchTransfer:
        if self.source == self.destination:
            raise ValueError("a transfer goes from one depot to another")
        return self


class ReceivedQuantity(Command):
    item: Code
    quantity_received: Annotated[StrictInt, Field(ge=0, le=MAX_QUANTITY)]


class ReceiveTransfer(Envelope):
    lines: Annotated[list[ReceivedQuantity] | None, Field(default=None, max_length=200)] = None


class CancelTransfer(Envelope):
    reason: Text
