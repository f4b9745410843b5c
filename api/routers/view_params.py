"""The query parameters every view shares, documented once for `/docs`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query

from domain.commands import MAX_POSITION
from projections.national import GroupBy
from projections.timeline import Order

TIME_FORMAT = (
    "ISO 8601: a time with an offset (`2020-03-05T10:00:00+01:00`, `2020-03-05T09:00:00Z`) "
    "or a bare date (`2020-03-05`), in the years 1900-2200 and not in the future"
)
TIME_EXAMPLES = ["2020-03-05T10:00:00+01:00", "2020-03-05"]

AsOf = Annotated[
    str | None,
    Query(
        max_length=40,
        description=f"Business time. {TIME_FORMAT}. A bare date (`as_of=2020-03-05`) means the end of that UTC day "
        "(2020-03-05T23:59:59.999999Z), as for `known_at`, `to` and `until`; only `from` and `since`, which open a "
        "range, read it as its start. Default: now.",
        examples=TIME_EXAMPLES,
    ),
]
KnownAt = Annotated[
    str | None,
    Query(
        max_length=40,
        description="What the ledger knew: a time (events recorded at or before it) or a position `pos:N`. "
        f"A time is {TIME_FORMAT}. A bare date (`known_at=2020-03-05`) means the end of that UTC day, as for "
        "`as_of`. Default: everything recorded.",
        examples=[*TIME_EXAMPLES, "pos:1234"],
    ),
]
ItemParam = Annotated[str | None, Query(max_length=64, description="Only this item code")]
RegionParam = Annotated[str | None, Query(max_length=64, description="Only depots of this region")]
GroupByParam = Annotated[
    GroupBy,
    Query(
        description="`region`: one row per region and item, then the national total of each item "
        '(`"region": "national"`: every depot of every region, the national stockpile included; left out '
        "with `region=`); `depot`: one row per depot and item; `national`: only the national totals"
    ),
]
OrderParam = Annotated[Order, Query(description="Business order (`occurred_at`) or recorded order (position)")]


OPENS = (
    "the start of that UTC day (2020-03-05T00:00:00Z): it opens the range, so the whole day is in it "
    "(unlike `as_of` and `known_at`, where a bare date means the end of that UTC day)"
)
CLOSES = "the end of that UTC day (2020-03-05T23:59:59.999999Z), as for `as_of` and `known_at`"


def _time(what: str, a_date_means: str, name: str, alias: str | None = None) -> Any:
    """A time parameter of a range, described with the formats it takes."""
    return Annotated[
        str | None,
        Query(
            alias=alias,
            max_length=40,
            description=f"{what}. {TIME_FORMAT}. A bare date (`{name}=2020-03-05`) means {a_date_means}.",
            examples=TIME_EXAMPLES,
        ),
    ]


From = _time("Entries at or after this time", OPENS, "from", alias="from")
To = _time("Entries at or before this time", CLOSES, "to", alias="to")
Since = _time("Recorded at or after this time", OPENS, "since")
Until = _time("Recorded at or before this time", CLOSES, "until")

Limit = Annotated[int, Query(ge=1, le=10000, description="At most this many entries")]
After = Annotated[
    int, Query(ge=0, le=MAX_POSITION, description="Ledger position to read after: the previous page's `next_after`")
]
