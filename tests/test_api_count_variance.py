"""A count that disagrees with the book flags a discrepancy (DESIGN.md core idea 3; API.md's alert
table, `count_variance`: 10 % by default).

The count is ground truth either way (on hand becomes what was counted); when it differs from
the balance just before it by more than 10 % of that balance (any difference from a balance of 0
or less), the depot stock view says `discrepancy: true` until the next count of that item at
that depot, at every cut that knows the count. Business times are whole days after BASE.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from api_helpers import (
    A_CLINIC,
    A_NORTH,
    B_SOUTH,
    FFP2,
    GLOVE,
    created,
    ok,
    production_logging,  # noqa: F401 - an autouse fixture
    seed,
    utc,
)

BASE = (datetime.now(UTC) - timedelta(days=30)).replace(hour=0, minute=0, second=0, microsecond=0)


def t(days: int, hour: int = 12) -> str:
    return utc(BASE + timedelta(days=days, hours=hour))


def post(api, depot: str, kind: str, **body: Any) -> dict[str, Any]:
    return created(api.post(f"/v1/depots/{depot}/{kind}", {"item": FFP2, **body}))


def flag(api, depot: str, item: str = FFP2, **params: Any) -> tuple[int, bool]:
    body = ok(api.get(f"/v1/depots/{depot}/stock", item=item, **params))
    [line] = body["items"]
    return line["on_hand"], line["discrepancy"]


def test_a_count_beyond_the_share_flags_a_discrepancy_until_the_next_count(api):
    seed(api)
    post(api, A_NORTH, "receipts", quantity=1000, occurred_at=t(1))
    post(api, A_NORTH, "consumption", quantity=20, occurred_at=t(2))  # book 980
    counted = post(api, A_NORTH, "counts", counted=1079, occurred_at=t(3))  # +99: 10.1 % of 980
    assert counted["variance"] == 99
    assert counted["warnings"] == [
        "count of FFP2 differs from the book: counted 1079, book 980, variance +99: beyond the count variance "
        "share, the stock view flags a discrepancy until the next count"
    ]
    post(api, A_NORTH, "consumption", quantity=79, occurred_at=t(4))  # 1000, still since that count
    settled = post(api, A_NORTH, "counts", counted=1000, occurred_at=t(5))  # agrees: settled
    assert (settled["variance"], settled["warnings"]) == (0, [])

    assert flag(api, A_NORTH, as_of=t(2, 18)) == (980, False)
    assert flag(api, A_NORTH, as_of=t(3, 18)) == (1079, True)
    assert flag(api, A_NORTH, as_of=t(4, 18)) == (1000, True)
    assert flag(api, A_NORTH, as_of=t(5, 18)) == (1000, False)
    assert flag(api, A_NORTH) == (1000, False)
    # As known before the settling count, the flag is still up now.
    assert flag(api, A_NORTH, known_at=f"pos:{settled['position'] - 1}") == (1000, True)


def test_a_count_within_the_share_is_no_discrepancy_and_a_book_of_zero_has_no_share(api):
    seed(api)
    for depot in (A_NORTH, B_SOUTH):
        post(api, depot, "receipts", quantity=1000, occurred_at=t(1))
        post(api, depot, "consumption", quantity=20, occurred_at=t(2))  # book 980
    post(api, A_NORTH, "counts", counted=1050, occurred_at=t(3))  # +70: 7.1 % of 980
    post(api, B_SOUTH, "counts", counted=882, occurred_at=t(3))  # -98: exactly 10 %, not more
    counted = post(api, A_CLINIC, "counts", counted=5, occurred_at=t(3))  # against a book of 0
    assert counted["variance"] == 5
    post(api, A_CLINIC, "counts", counted=0, occurred_at=t(3), item=GLOVE)  # 0 against 0: agrees

    assert flag(api, A_NORTH) == (1050, False)
    assert flag(api, B_SOUTH) == (882, False)
    assert flag(api, A_CLINIC) == (5, True)
    assert flag(api, A_CLINIC, GLOVE) == (0, False)


def test_a_count_recorded_late_flags_the_discrepancy_only_from_when_it_is_known(api):
    seed(api)
    post(api, A_NORTH, "receipts", quantity=100, occurred_at=t(1))
    known = post(api, A_NORTH, "consumption", quantity=10, occurred_at=t(3))
    late = post(api, A_NORTH, "counts", counted=70, occurred_at=t(2))  # dated day 2: book 100, -30 %
    assert late["position"] > known["position"]

    before = {"known_at": f"pos:{known['position']}"}
    assert flag(api, A_NORTH, as_of=t(4), **before) == (90, False)
    assert flag(api, A_NORTH, as_of=t(4)) == (60, True)  # 70 counted, then 10 consumed
    assert flag(api, A_NORTH, as_of=t(1, 18)) == (100, False)  # before the count's date
    assert flag(api, A_NORTH, **before) == (90, False)
    assert flag(api, A_NORTH) == (60, True)
