"""The 14-day window of the current national view, whose whole days come from per-day sums
and part days from the rows: it must equal the on-demand fold at the same instant."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from tests.conftest import Api


def _setup(api: Api) -> None:
    assert (
        api.post("/v1/items", {"code": "FFP2", "name": "FFP2", "unit": "piece", "category": "ppe"}).status_code == 201
    )
    for code, region in (("N-1", "NORTH"), ("N-2", "NORTH"), ("S-1", "SOUTH")):
        body = {
            "code": code,
            "name": code,
            "region": region,
            "organisation": "org-a",
            "kind": "hospital",
            "occurred_at": "2020-01-01T00:00:00Z",
        }
        assert api.post("/v1/depots", body).status_code == 201
        receipt = {"item": "FFP2", "quantity": 1_000_000, "occurred_at": "2020-01-02T00:00:00Z"}
        assert api.post(f"/v1/depots/{code}/receipts", receipt).status_code == 201


def test_the_view_window_equals_the_fold_at_the_same_instant(api: Api) -> None:
    _setup(api)
    now = datetime.now(UTC)
    today = datetime.combine(now.date(), time(0), UTC)
    # Midnights, one microsecond either side of them, and times of day around now's, over 16 days.
    moments = []
    for days in range(0, 17):
        midnight = today - timedelta(days=days)
        moments += [midnight, midnight - timedelta(microseconds=1), midnight + timedelta(microseconds=1)]
        moments += [now - timedelta(days=days, seconds=s) for s in (-30, 30, 300)]
    quantity = 1
    for n, moment in enumerate(sorted(m for m in moments if m < now - timedelta(seconds=1))):
        depot = ("N-1", "N-2", "S-1")[n % 3]
        body = {"item": "FFP2", "quantity": quantity, "period_end": moment.isoformat()}
        assert api.post(f"/v1/depots/{depot}/consumption", body).status_code == 201, moment
        quantity = quantity * 2 % 997 + 1  # distinct quantities, so a row counted twice or missed shows

    for group_by in ("region", "depot"):
        view = api.get("/v1/stock", group_by=group_by).json()
        assert view["source"] == "view"
        fold = api.get("/v1/stock", group_by=group_by, as_of=view["as_of"]).json()
        assert fold["source"] == "fold"
        assert view["rows"] == fold["rows"]
        assert all(row["avg_daily_consumption"] > 0 for row in view["rows"])
