"""The query parameters every view shares, documented once for `/docs`."""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from projections.national import GroupBy
from projections.timeline import Order

AsOf = Annotated[
    str | None,
    Query(
        max_length=40,
        description="Business time: ISO 8601 with offset, or a date (the end of that UTC day). Default: now.",
        examples=["2020-03-05T10:00:00+01:00", "2020-03-05"],
    ),
]
KnownAt = Annotated[
    str | None,
    Query(
        max_length=40,
        description="What the ledger knew: a time (events recorded at or before it) or a position `pos:N`. "
        "Default: everything recorded.",
        examples=["2020-03-05T10:00:00+01:00", "pos:1234"],
    ),
]
ItemParam = Annotated[str | None, Query(max_length=64, description="Only this item code")]
RegionParam = Annotated[str | None, Query(max_length=64, description="Only depots of this region")]
GroupByParam = Annotated[GroupBy, Query(description="One row per region and item, or per depot and item")]
OrderParam = Annotated[Order, Query(description="Business order (`occurred_at`) or recorded order (position)")]
From = Annotated[str | None, Query(alias="from", max_length=40, description="Entries at or after this time")]
To = Annotated[str | None, Query(alias="to", max_length=40, description="Entries at or before this time")]
Limit = Annotated[int, Query(ge=1, le=10000, description="At most this many entries")]
