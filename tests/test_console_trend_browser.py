"""The region page's trend chart in a real browser: days of supply per item at weekly cuts
back from the page's moment, each point the JSON `/v1/stock` figure at that cut (as_of a
week apart, known_at the page's position), drawn as server-side SVG."""

from __future__ import annotations

from typing import Any

from tests.api_helpers import A_CLINIC, A_NORTH, FFP2, GLOVE, ago, created, ok, seed
from tests.console_browser import Console


def _world(console: Console) -> None:
    """North: 1,400 FFP2 received 60 days ago, 70 consumed 30 days ago, 140 ten and 140 two days
    ago; 90 GLOVE never consumed. Days of supply = on hand x 14 / consumption in the 14 days
    before the cut: now 1,050 x 14 / 280 = 52.5; a week ago 1,190 x 14 / 140 = 119.0; three and
    four weeks ago 1,330 x 14 / 70 = 266.0; the other weeks consumed nothing (no figure)."""
    seed(console)
    created(
        console.post(f"/v1/depots/{A_NORTH}/receipts", {"item": FFP2, "quantity": 1400, "occurred_at": ago(days=60)})
    )
    created(
        console.post(f"/v1/depots/{A_CLINIC}/receipts", {"item": GLOVE, "quantity": 90, "occurred_at": ago(days=59)})
    )
    for days, quantity in ((30, 70), (10, 140), (2, 140)):
        body = {"item": FFP2, "quantity": quantity, "occurred_at": ago(days=days)}
        created(console.post(f"/v1/depots/{A_NORTH}/consumption", body))


def _shown(page: Any, item: str) -> list[tuple[str, str]]:
    cells = page.locator(f'#trend-table tr[data-item="{item}"] td')
    return [
        (cells.nth(n).get_attribute("data-as-of") or "", cells.nth(n).inner_text().strip())
        for n in range(cells.count())
    ]


def test_the_region_trend_shows_the_json_days_of_supply_at_each_weekly_cut(console: Console) -> None:
    _world(console)
    page = console.page("coordinator")
    page.goto(console.base_url + "/regions/north")
    page.click("details.trend-figures summary")
    console.shot(page, "region-trend")
    position = page.locator("#trend-title + p").inner_text()
    ffp2, gloves = _shown(page, FFP2), _shown(page, GLOVE)
    assert len(ffp2) == 9 and len(gloves) == 9
    assert [days for _, days in ffp2] == ["–", "–", "–", "–", "266.0", "266.0", "–", "119.0", "52.5"]
    assert [days for _, days in gloves] == ["–"] * 9
    known_at = "pos:" + position.split("position ")[1].split(".")[0]
    for as_of, days in ffp2:
        row = next(
            r
            for r in ok(console.get("/v1/stock", as_of=as_of, known_at=known_at, region="north"))["rows"]
            if r["item"] == FFP2
        )
        assert days == ("–" if row["days_of_supply"] is None else f"{row['days_of_supply']:.1f}")

    chart = page.locator("section.trend svg.line-chart")
    assert chart.get_attribute("aria-label") == "Days of supply per item in north"
    lines = page.locator(f'section.trend g.series[data-region="{FFP2}"] polyline')
    assert lines.count() == 2  # 266.0, 266.0 and 119.0, 52.5: two runs, broken by the week without consumption
    assert page.locator(f'section.trend g.series[data-region="{GLOVE}"]').count() == 1
    assert console.outside() == []

    page.goto(console.base_url + "/")
    assert page.locator("section.trend").count() == 0  # only on the region page: each point is a fold


def test_the_trend_speaks_danish(console: Console) -> None:
    _world(console)
    page = console.page("auditor", language="da-DK")
    page.goto(console.base_url + "/regions/north")
    console.shot(page, "region-trend-da")
    assert page.locator("#trend-title").inner_text() == "Dages forsyning, uge for uge"
    assert (
        page.locator("section.trend svg.line-chart").get_attribute("aria-label") == "Dages forsyning pr. vare i north"
    )
    assert page.locator(f'#trend-table tr[data-item="{FFP2}"] td').last.text_content().strip() == "52,5"
