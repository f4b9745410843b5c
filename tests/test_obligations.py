"""Preparedness obligations on the three bases of API.md ("Preparedness obligations"), over HTTP
and the CLI, on both backends, with figures worked out by hand.

The world (`obligations_world`), besides api_helpers' items and depots:

- A-NORTH FFP2, recent_consumption 30 days: +1000 (20 days ago), -30 (2 days ago): on hand 970,
  avg 30/14 a day; required 30 x 30/14 = 64.28.. -> 65; days 970 x 14/30 = 452.66.. -> 452.7: met.
- A-CLINIC FFP2, fixed_daily 42 days x 2.5 a day: required 105; +100, -14 (1 day ago): on hand
  86, avg 1.0, days 86.0: short 19.
- A-CLINIC GLOVE, fixed_daily 10 days x 0.3 a day: required 3 exactly (0.3 * 10 in floating point
  is 3.0000000000000004, which would round up to 4); +3: met.
- B-SOUTH FFP2, annual_average (see `annual_history`).
"""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from api_helpers import (
    A_CLINIC,
    A_NORTH,
    B_SOUTH,
    FFP2,
    GLOVE,
    ago,
    created,
    error_locations,
    nothing_stored,
    ok,
    problem,
    production_logging,  # noqa: F401 - autouse fixture
    seed,
    stock,
)
from typer.testing import CliRunner

from api.cli import app as cli_app

NORWAY_2024 = {"basis": "annual_average", "share_of_year": 0.25, "years": 3, "occurred_at": "2025-03-01T00:00:00Z"}
"""Set on 2025-03-01, no year left out."""
NORWAY_2026 = {**NORWAY_2024, "exclude_years": [2024], "occurred_at": "2026-06-01T00:00:00Z"}
"""Set again on 2026-06-01, leaving out 2024 (the surge year)."""


def obligation(api: Any, depot: str, item: str, body: dict[str, Any]) -> dict[str, Any]:
    return ok(api.put(f"/v1/depots/{depot}/obligations/{item}", body))


def post(api: Any, depot: str, kind: str, **body: Any) -> dict[str, Any]:
    return created(api.post(f"/v1/depots/{depot}/{kind}", body))


def annual_history(api: Any) -> None:
    """B-SOUTH FFP2: +10000 on 2021-12-01; consumption 2022: 400; 2023: 1200; 2024: 2000 (the surge);
    2025: 800 + 100 at 2025-12-31T23:59Z = 900; 2026: 1000 at 2026-01-01T00:00Z; counted 300 on
    2026-01-15, so on hand is 300 from then on (5500 at the end of 2025)."""
    post(api, B_SOUTH, "receipts", item=FFP2, quantity=10_000, occurred_at="2021-12-01T12:00:00Z")
    for quantity, at in (
        (400, "2022-05-01T12:00:00Z"),
        (1200, "2023-05-01T12:00:00Z"),
        (2000, "2024-05-01T12:00:00Z"),
        (800, "2025-06-30T12:00:00Z"),
        (100, "2025-12-31T23:59:00Z"),
        (1000, "2026-01-01T00:00:00Z"),
    ):
        post(api, B_SOUTH, "consumption", item=FFP2, quantity=quantity, occurred_at=at)
    post(api, B_SOUTH, "counts", item=FFP2, counted=300, occurred_at="2026-01-15T12:00:00Z")


def obligations_world(api: Any) -> None:
    seed(api)
    post(api, A_NORTH, "receipts", item=FFP2, quantity=1000, occurred_at=ago(days=20))
    post(api, A_NORTH, "consumption", item=FFP2, quantity=30, occurred_at=ago(days=2))
    obligation(api, A_NORTH, FFP2, {"min_days": 30, "occurred_at": ago(days=19)})
    post(api, A_CLINIC, "receipts", item=FFP2, quantity=100, occurred_at=ago(days=20))
    post(api, A_CLINIC, "consumption", item=FFP2, quantity=14, occurred_at=ago(days=1))
    obligation(api, A_CLINIC, FFP2, {"basis": "fixed_daily", "min_days": 42, "daily_quantity": 2.5})
    post(api, A_CLINIC, "receipts", item=GLOVE, quantity=3, occurred_at=ago(days=20))
    obligation(api, A_CLINIC, GLOVE, {"basis": "fixed_daily", "min_days": 10, "daily_quantity": 0.3})
    annual_history(api)
    obligation(api, B_SOUTH, FFP2, NORWAY_2024)
    obligation(api, B_SOUTH, FFP2, NORWAY_2026)


def figures(line: dict[str, Any]) -> tuple[Any, ...]:
    return (line["basis"], line["min_days"], line["on_hand"], line["required"], line["meets_obligation"])


def at(api: Any, depot: str, item: str = FFP2, **cut: str) -> tuple[Any, ...]:
    [line] = ok(api.get(f"/v1/depots/{depot}/stock", item=item, **cut))["items"]
    return figures(line)


# --- each basis on the depot's stock view ------------------------------------------------------


def test_recent_consumption_requires_min_days_of_the_14_day_average_rounded_up(api):
    obligations_world(api)

    assert figures(stock(api, A_NORTH)) == ("recent_consumption", 30, 970, 65, True)
    assert stock(api, A_NORTH)["days_of_supply"] == 452.7


def test_fixed_daily_requires_min_days_of_the_stated_quantity_exactly(api):
    obligations_world(api)

    assert figures(stock(api, A_CLINIC)) == ("fixed_daily", 42, 86, 105, False)
    assert figures(stock(api, A_CLINIC, GLOVE)) == ("fixed_daily", 10, 3, 3, True)


def test_annual_average_over_the_last_complete_years_with_an_abnormal_year_replaced(api):
    obligations_world(api)

    # Now (2026), 2024 left out: 2025, 2023 and 2022 = (900 + 1200 + 400) / 3 x 0.25 = 208.33.. -> 209.
    assert at(api, B_SOUTH) == ("annual_average", None, 300, 209, True)
    # On 1 March 2026 the first setting was in force: 2025, 2024, 2023 = (900 + 2000 + 1200) / 3 x 0.25
    # = 341.66.. -> 342. The 100 dated 31 Dec 23:59 is 2025's (without it: 334); the 1000 dated
    # 1 Jan 00:00 is 2026's (in 2025 it would make 425). 300 on hand: short.
    assert at(api, B_SOUTH, as_of="2026-03-01") == ("annual_average", None, 300, 342, False)


def test_annual_average_as_of_an_earlier_year_counts_the_years_before_that_one(api):
    obligations_world(api)

    # In 2025 (after the last report of 2025): 2024, 2023, 2022 = (2000 + 1200 + 400) / 3 x 0.25 = 300;
    # on hand 10000 - 400 - 1200 - 2000 - 900 = 5500.
    assert at(api, B_SOUTH, as_of="2025-12-31T23:59:30Z") == ("annual_average", None, 5500, 300, True)
    # Before the obligation was set there was none.
    assert at(api, B_SOUTH, as_of="2025-02-28") == (None, None, 10_000 - 400 - 1200 - 2000, None, None)


def test_a_late_consumption_report_changes_the_annual_average_only_from_when_it_is_known(api):
    obligations_world(api)
    before = api.position()

    post(api, B_SOUTH, "consumption", item=FFP2, quantity=300, occurred_at="2023-09-01T12:00:00Z")

    # 2023 becomes 1500: (900 + 1500 + 400) / 3 x 0.25 = 233.33.. -> 234. On hand stays 300 (the
    # report is dated before the count, which is ground truth).
    assert at(api, B_SOUTH) == ("annual_average", None, 300, 234, True)
    assert at(api, B_SOUTH, known_at=f"pos:{before}") == ("annual_average", None, 300, 209, True)


def test_the_obligation_answer_and_the_depot_say_what_was_stored(api):
    seed(api)

    body = obligation(api, B_SOUTH, FFP2, {"basis": "annual_average", "share_of_year": 0.25, "exclude_years": [2021]})

    assert {k: body[k] for k in ("min_days", "basis", "share_of_year", "years", "exclude_years", "daily_quantity")} == {
        "min_days": None,
        "basis": "annual_average",
        "share_of_year": 0.25,
        "years": 3,  # the default
        "exclude_years": [2021],
        "daily_quantity": None,
    }
    depot = ok(api.get(f"/v1/depots/{B_SOUTH}"))
    assert (depot["obligations"], depot["obligation_bases"]) == ({FFP2: None}, {FFP2: "annual_average"})
    [event] = [e for e in ok(api.get("/v1/events", after=0, limit=1000))["events"] if e["type"] == "ObligationSet"]
    assert (event["data"]["basis"], event["data"]["exclude_years"], event["data"]["years"]) == (
        "annual_average",
        [2021],
        3,
    )


# --- refusals -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "location"),
    [
        ({"basis": "annual_average"}, "body.share_of_year"),
        ({"basis": "annual_average", "share_of_year": 0}, "body.share_of_year"),
        ({"basis": "annual_average", "share_of_year": 1.5}, "body.share_of_year"),
        ({"basis": "annual_average", "share_of_year": "0.25"}, "body.share_of_year"),
        ({"basis": "annual_average", "share_of_year": True}, "body.share_of_year"),
        ({"basis": "annual_average", "share_of_year": 0.25, "years": 0}, "body.years"),
        ({"basis": "annual_average", "share_of_year": 0.25, "min_days": 90}, "body.min_days"),
        ({"basis": "annual_average", "share_of_year": 0.25, "exclude_years": [2020, 2020]}, "body.exclude_years"),
        ({"basis": "annual_average", "share_of_year": 0.25, "exclude_years": ["2020"]}, "body.exclude_years.0"),
        ({"basis": "fixed_daily", "min_days": 42}, "body.daily_quantity"),
        ({"basis": "fixed_daily", "daily_quantity": 2}, "body.min_days"),
        ({"basis": "fixed_daily", "min_days": 42, "daily_quantity": 0}, "body.daily_quantity"),
        ({"basis": "fixed_daily", "min_days": 42, "daily_quantity": 2, "years": 3}, "body.years"),
        ({"min_days": 30, "daily_quantity": 2}, "body.daily_quantity"),
        ({"min_days": 30, "share_of_year": 0.5}, "body.share_of_year"),
        ({"min_days": 30, "exclude_years": [2020]}, "body.exclude_years"),
        ({"basis": "weekly", "min_days": 30}, "body.basis"),
    ],
)
def test_a_body_that_does_not_fit_its_basis_is_refused_and_stores_nothing(api, body, location):
    seed(api)

    with nothing_stored(api):
        answer = problem(api.put(f"/v1/depots/{A_NORTH}/obligations/{FFP2}", body), 422)

    assert location in error_locations(answer), answer


def test_only_past_years_can_be_left_out(api):
    seed(api)
    body = {"basis": "annual_average", "share_of_year": 0.25}

    with nothing_stored(api):
        # the current year (2026, or whichever it is now) is not complete
        this_year = int(ago(days=0)[:4])
        answer = problem(
            api.put(f"/v1/depots/{A_NORTH}/obligations/{FFP2}", {**body, "exclude_years": [this_year]}), 422
        )
        assert "body.exclude_years" in error_locations(answer)
        # set as of 2024, 2024 and 2025 were not past years
        backdated = {**body, "exclude_years": [2023, 2024], "occurred_at": "2024-06-01T00:00:00Z"}
        answer = problem(api.put(f"/v1/depots/{A_NORTH}/obligations/{FFP2}", backdated), 422)
        assert "2024" in answer["detail"] and "2023" not in answer["detail"]

    obligation(api, A_NORTH, FFP2, {**body, "exclude_years": [2023], "occurred_at": "2024-06-01T00:00:00Z"})


# --- obligations stored before bases existed -------------------------------------------------------


NEW_FIELDS = ("basis", "share_of_year", "years", "exclude_years", "daily_quantity")


def test_an_obligation_stored_before_bases_existed_reads_as_recent_consumption(api, database_url):
    """The event as an earlier version stored it (no basis fields) and a ledger whose indexes had no
    obligations table: the event reads back with the defaults, and opening the ledger backfills the
    index from the movement journal."""
    from fastapi.testclient import TestClient

    from api.app import Stores, create_app
    from ledger.settings import Database

    seed(api)
    post(api, A_NORTH, "receipts", item=FFP2, quantity=100, occurred_at=ago(days=10))
    post(api, A_NORTH, "consumption", item=FFP2, quantity=28, occurred_at=ago(days=1))
    set_at = obligation(api, A_NORTH, FFP2, {"min_days": 30})["position"]
    store_as_before_bases(api.stores.ledger, set_at)

    stores = Stores.open(Database(database_url))  # opening the ledger backfills the obligations index
    try:
        with TestClient(create_app(stores=stores, projections=False)) as client:
            client.headers["Authorization"] = f"Bearer {stores.access.issue('reader', 'auditor')}"
            [line] = client.get(f"/v1/depots/{A_NORTH}/stock").json()["items"]
            events = client.get("/v1/events", params={"after": set_at - 1, "limit": 1}).json()["events"]
            depot = client.get(f"/v1/depots/{A_NORTH}").json()
    finally:
        stores.close()
    # 72 on hand, 2.0 a day: 36.0 days >= 30; required 30 x 2 = 60
    assert figures(line) == ("recent_consumption", 30, 72, 60, True)
    assert events[0]["data"]["basis"] == "recent_consumption"
    assert (events[0]["data"]["min_days"], events[0]["data"]["exclude_years"]) == (30, [])
    assert (depot["obligations"], depot["obligation_bases"]) == ({FFP2: 30}, {FFP2: "recent_consumption"})


def store_as_before_bases(ledger: Any, position: int) -> None:
    """Rewrite the stored ObligationSet without the basis fields, and forget the obligations index."""
    recorder = ledger.recorder
    [notification] = recorder.select_notifications(start=position, limit=1)
    state = orjson.loads(notification.state)
    assert state["basis"] == "recent_consumption"
    stripped = orjson.dumps({k: v for k, v in state.items() if k not in NEW_FIELDS})
    store = ledger.index_store
    if store.time_type == "TEXT":  # SQLite
        with recorder.datastore.transaction(commit=True) as cursor:
            cursor.execute(f"UPDATE {recorder.events_table_name} SET state = ? WHERE rowid = ?", (stripped, position))
    else:
        with recorder.datastore.transaction(commit=True) as cursor:
            cursor.execute(
                f"UPDATE {recorder._events_table} SET state = %s WHERE notification_id = %s", (stripped, position)
            )
    store.write("DELETE FROM {t}obligations", [{}])
    store.write("DELETE FROM {t}backfills WHERE name = :name", [{"name": "obligations"}])


# --- GET /v1/obligations -----------------------------------------------------------------------------


def test_compliance_per_organisation_and_item_with_each_depot(api):
    obligations_world(api)

    report = ok(api.get("/v1/obligations"))

    summary = [
        (r["organisation"], r["item"], r["depots"], r["required"], r["held"], r["shortfall"], r["days_covered"])
        + (r["compliant"], r["depots_short"])
        for r in report["rows"]
    ]
    # org-a FFP2: required 65 + 105, held 970 + 86, short 0 + 19; days 1056 / (44/14) = 336.0
    assert summary == [
        ("org-a", FFP2, 2, 170, 1056, 19, 336.0, False, 1),
        ("org-a", GLOVE, 1, 3, 3, 0, None, True, 0),
        ("org-b", FFP2, 1, 209, 300, 0, None, True, 0),
    ]
    lines = [
        (line["depot"], line["basis"], line["required"], line["held"], line["shortfall"], line["days_covered"])
        + (line["meets_obligation"],)
        for line in report["rows"][0]["lines"]
    ]
    assert lines == [
        (A_CLINIC, "fixed_daily", 105, 86, 19, 86.0, False),
        (A_NORTH, "recent_consumption", 65, 970, 0, 452.7, True),
    ]
    assert report["position"] == api.position()


def test_compliance_now_from_the_projection_equals_the_fold_at_the_same_cut(api):
    """Now, the depots' figures are the stock projection's; at an asked cut, the fold's."""
    obligations_world(api)
    now = ok(api.get("/v1/obligations"))
    folded = ok(api.get("/v1/obligations", as_of=now["as_of"], known_at=f"pos:{now['position']}"))
    assert folded["rows"] == now["rows"]
    assert [r["held"] for r in now["rows"]] == [1056, 3, 300]


def test_compliance_by_organisation_region_item_and_cut(api):
    obligations_world(api)

    def rows(**params: str) -> list[tuple[str, str, int, int]]:
        return [
            (r["organisation"], r["item"], r["required"], r["shortfall"])
            for r in ok(api.get("/v1/obligations", **params))["rows"]
        ]

    assert rows(organisation="org-a", item=GLOVE) == [("org-a", GLOVE, 3, 0)]
    assert rows(region="south") == [("org-b", FFP2, 209, 0)]
    assert rows(organisation="org-b", as_of="2026-03-01") == [("org-b", FFP2, 342, 42)]
    assert rows(organisation="nobody") == []
    problem(api.get("/v1/obligations", item="NOTHING"), 404)
    problem(api.get("/v1/obligations", as_of="yesterday"), 422)


def test_compliance_is_read_by_every_role_that_reads_stock(api):
    obligations_world(api)
    for role in ("operator", "auditor", "coordinator", "admin"):
        assert len(ok(api.get("/v1/obligations", role=role))["rows"]) == 3
    problem(api.client.get("/v1/obligations"), 401)


# --- the CLI ---------------------------------------------------------------------------------------


def test_the_cli_prints_compliance_and_its_json_is_the_apis(api, database_url):
    obligations_world(api)
    expected = ok(api.get("/v1/obligations", organisation="org-a"))
    runner = CliRunner()

    as_json = runner.invoke(cli_app, ["obligations", "--organisation", "org-a", "--json", "--database", database_url])
    table = runner.invoke(cli_app, ["obligations", "--region", "north", "--item", FFP2, "--database", database_url])

    assert as_json.exit_code == 0, as_json.output
    body = json.loads(as_json.stdout)
    assert {k: v for k, v in body.items() if k not in ("as_of", "known_at")} == {
        k: v for k, v in expected.items() if k not in ("as_of", "known_at")
    }
    assert table.exit_code == 0, table.output
    cells = [
        [c.strip() for c in line.strip().strip("│").split("│")] for line in table.stdout.splitlines() if "│" in line
    ]
    body_rows = [row for row in cells if row and row[0] != "organisation"]
    assert body_rows == [
        ["org-a", FFP2, "2 depots", "", "170", "1056", "19", "336.0", "NO"],
        ["", "", A_CLINIC, "fixed_daily", "105", "86", "19", "86.0", "NO"],
        ["", "", A_NORTH, "recent_consumption", "65", "970", "0", "452.7", "yes"],
    ]


def test_the_materialised_stock_view_keeps_the_obligation_in_force(api):
    """The projection's `min_days` follows the obligation in force, as the depot's stock line does:
    an annual average (no min_days) replaces a 90-day obligation, and `obligation_at` says one is in force."""
    seed(api)
    obligation(api, B_SOUTH, FFP2, {"min_days": 90, "occurred_at": "2026-01-01T00:00:00Z"})
    obligation(api, B_SOUTH, FFP2, {**NORWAY_2024, "occurred_at": "2026-02-01T00:00:00Z"})
    obligation(api, B_SOUTH, GLOVE, {"min_days": 30, "occurred_at": "2026-03-01T00:00:00Z"})
    obligation(api, B_SOUTH, GLOVE, {"min_days": 60, "occurred_at": "2026-02-01T00:00:00Z"})  # backdated: not in force

    api.stores.projector.catch_up()
    rows = api.stores.projector.view.query(
        "SELECT item, min_days, obligation_at FROM {t}stock WHERE depot = :d", d=B_SOUTH
    )

    assert sorted((r["item"], r["min_days"], r["obligation_at"] is not None) for r in rows) == [
        (FFP2, None, True),
        (GLOVE, 30, True),
    ]
    assert at(api, B_SOUTH)[:2] == ("annual_average", None)
    assert at(api, B_SOUTH, GLOVE)[:2] == ("recent_consumption", 30)


# --- for readers that walk through business time (the alert scan) -----------------------------------


def test_an_obligation_timeline_gives_at_each_instant_what_the_views_give_as_of_it(api):
    from datetime import UTC, datetime

    from projections.obligations import obligation_timeline

    obligations_world(api)
    cut = api.stores.views.cut(None, None)
    timeline = obligation_timeline(
        api.stores.ledger.index_store, B_SOUTH, FFP2, cut, since=datetime(2025, 1, 1, tzinfo=UTC)
    )

    def at(text: str, on_hand: int) -> tuple[Any, ...] | None:
        found = timeline.figures(datetime.fromisoformat(text), on_hand, None, 0)
        return None if found is None else (found.basis, found.required, found.meets, found.shortfall)

    assert at("2025-02-28T23:59:59+00:00", 6400) is None
    assert at("2025-12-31T23:59:30+00:00", 5500) == ("annual_average", 300, True, 0)
    assert at("2026-03-01T23:59:59+00:00", 300) == ("annual_average", 342, False, 42)
    assert at(cut.business_time.isoformat(), 300) == ("annual_average", 209, True, 0)


def test_a_stock_line_without_obligation_figures_reads_min_days_as_recent_consumption():
    from datetime import UTC, datetime

    from projections.cut import Cut
    from projections.fold import ItemFold, ItemState
    from projections.obligations import required_and_shortfall
    from projections.stock import stock_line

    now = datetime.now(UTC)
    # 50 on hand, 60 consumed in 14 days: 11.7 days; 30 days x 60/14 = 128.57.. -> 129 required, 79 short
    line = stock_line(FFP2, ItemFold(ItemState(on_hand=50, min_days=30), consumed_14d=60), Cut(None, 0, None, now))

    assert (line.basis, line.required, line.meets_obligation, line.days_of_supply) == (
        "recent_consumption",
        129,
        False,
        11.7,
    )
    assert required_and_shortfall(line) == (129, 79)
    assert required_and_shortfall(stock_line(FFP2, ItemFold(ItemState(on_hand=5)), Cut(None, 0, None, now))) is None


def test_a_depot_whose_days_of_supply_round_up_to_min_days_meets_it_and_is_not_short():
    from datetime import UTC, datetime

    from projections.cut import Cut
    from projections.fold import ItemFold, ItemState
    from projections.obligations import required_and_shortfall
    from projections.stock import stock_line

    # 2996 on hand at 100 a day: 29.96 days, shown 30.0 >= 30 (the rule views always had), though
    # 30 days require 3000 units
    line = stock_line(
        FFP2,
        ItemFold(ItemState(on_hand=2996, min_days=30), consumed_14d=1400),
        Cut(None, 0, None, datetime.now(UTC)),
    )

    assert (line.days_of_supply, line.required, line.meets_obligation) == (30.0, 3000, True)
    assert required_and_shortfall(line) == (3000, 0)


def test_an_obligation_breach_alert_reads_the_obligations_own_basis(api: Any) -> None:
    """A-CLINIC holds 86 FFP2 and uses 1 a day: 86 days of supply, compliant if its 42 days were
    recent consumption; under fixed_daily (42 x 2.5 = 105 units) it is 19 short, and the alert says so."""
    obligations_world(api)
    for answer in (
        ok(api.get("/v1/alerts", depot=A_CLINIC, kind="obligation_breach")),
        ok(api.get("/v1/alerts", depot=A_CLINIC, kind="obligation_breach", as_of=ago(hours=0))),
    ):
        [alert] = answer["alerts"]
        assert alert["item"] == FFP2
        assert {k: alert["figures"][k] for k in ("basis", "required", "on_hand", "shortfall")} == {
            "basis": "fixed_daily",
            "required": 105,
            "on_hand": 86,
            "shortfall": 19,
        }
    north = ok(api.get("/v1/alerts", depot=A_NORTH, kind="obligation_breach"))
    assert north["alerts"] == []  # 970 on hand at 30/14 a day: 452.7 days, above its 30
