"""The query parameters every view shares, documented once for `/docs`."""

from __future__ import annotations

from typing import Annotated

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
        description=f"Business time. {TIME_FORMAT}; a date means the end of that UTC day. Default: now.",
        examples=TIME_EXAMPLES,
    ),
]
KnownAt = Annotated[
    str | None,
    Query(
        max_length=40,
        description="What the ledger knew: a time (events recorded at or before it) or a position `pos:N`. "
        f"A time is {TIME_FORMAT}; a date means the end of that UTC day. Default: everything recorded.",
        examples=[*TIME_EXAMPLES, "pos:1234"],
    ),
]
ItemParam = Annotated[str | None, Query(max_length=64, description="Only this item code")]
RegionParam = Annotated[str | None, Query(max_length=64, description="Only depots of this region")]
GroupByParam = Annotated[GroupBy, Query(description="One row per region and item, or per depot and item")]
OrderParam = Annotated[Order, Query(description="Business order (`occurred_at`) or recorded order (position)")]
From = Annotated[
    str | None,
    Query(
        alias="from",
        max_length=40,
        description=f"Entries at or after this time. {TIME_FORMAT}; a date means the start of that UTC day.",
        examples=TIME_EXAMPLES,
    ),
]
To = Annotated[
    str | None,
    Query(
        alias="to",
        max_length=40,
        description=f"Entries at or before this time. {TIME_FORMAT}; a date means the end of that UTC day.",
        examples=TIME_EXAMPLES,
    ),
]
Since = Annotated[
    str | None,
    Query(
        max_length=40,
        description=f"Recorded at or after this time. {TIME_FORMAT}; a date means the start of that UTC day.",
        examples=TIME_EXAMPLES,
    ),
]
Until = Annotated[
    str | None,
    Query(
        max_length=40,
        description=f"Recorded at or before this time. {TIME_FORMAT}; a date means the end of that UTC day.",
        examples=TIME_EXAMPLES,
    ),
]
Limit = Annotated[int, Query(ge=1, le=10000, description="At most this many entries")]
After = Annotated[
    int, Query(ge=0, le=MAX_POSITION, description="Ledger position to read after: the previous page's `next_after`")
]
