"""The national dashboard in a real browser: signing in and out, the figures beside the JSON
API's at now and at a past cut, a region opened, nothing fetched from another host, and a
form without its CSRF token refused."""

from __future__ import annotations

import time
from typing import Any

import httpx

from tests.api_helpers import A_CLINIC, A_NORTH, B_SOUTH, FFP2, GLOVE, ago, created, ok, seed
from tests.console_browser import Console


def _world(console: Console) -> int:
    """Stock in both regions, consumption a week ago; returns the position before today's events."""
    seed(console)
    created(
        console.post(f"/v1/depots/{A_NORTH}/receipts", {"item": FFP2, "quantity": 1200, "occurred_at": ago(days=10)})
    )
    created(
        console.post(f"/v1/depots/{B_SOUTH}/receipts", {"item": FFP2, "quantity": 300, "occurred_at": ago(days=10)})
    )
    created(
        console.post(f"/v1/depots/{A_CLINIC}/receipts", {"item": GLOVE, "quantity": 90, "occurred_at": ago(days=9)})
    )
    for depot, quantity in ((A_NORTH, 140), (B_SOUTH, 280)):
        body = {"item": FFP2, "quantity": quantity, "occurred_at": ago(days=2)}
        created(console.post(f"/v1/depots/{depot}/consumption", body))
    before = ok(console.get("/v1/stock"))["position"]
    created(console.post(f"/v1/depots/{A_NORTH}/receipts", {"item": FFP2, "quantity": 500}))
    return int(before)


def _cell(page: Any, row: str, item: str, figure: str) -> str:
    return page.inner_text(f'tr[data-row="{row}"] td[data-item="{item}"] [data-figure="{figure}"]').strip()


def _units(value: int) -> str:
    return f"{value:,}"


def test_the_dashboard_shows_the_json_figures_now_and_at_a_past_cut(console: Console) -> None:
    before = _world(console)
    page = console.page("coordinator")
    page.goto(console.base_url + "/")
    console.shot(page, "dashboard-now")
    now = ok(console.get("/v1/stock"))
    shown = 0
    for row in now["rows"]:
        name = "national" if row["region"] == "national" else row["region"]
        assert _cell(page, name, row["item"], "on_hand") == _units(row["on_hand"])
        assert _cell(page, name, row["item"], "in_transit_in") == _units(row["in_transit_in"])
        days = row["days_of_supply"]
        assert _cell(page, name, row["item"], "days_of_supply") == ("–" if days is None else f"{days:.1f}")
        shown += 1
    assert shown >= 4
    assert _cell(page, "north", FFP2, "on_hand") == "1,560"  # 1200 - 140 + 500

    page.fill('input[name="known_at"]', "")
    page.goto(console.base_url + f"/?known_at=pos:{before}")
    console.shot(page, "dashboard-known-at")
    assert "Not the current picture" in page.inner_text(".banner")
    then = ok(console.get("/v1/stock", known_at=f"pos:{before}"))
    north = next(r for r in then["rows"] if r["region"] == "north" and r["item"] == FFP2)
    assert north["on_hand"] == 1060
    assert _cell(page, "north", FFP2, "on_hand") == "1,060"

    page.click('tr[data-row="north"] th a')
    page.wait_for_load_state()
    console.shot(page, "region-north")
    assert f"pos:{before}" in page.url.replace("%3A", ":")
    assert _cell(page, A_NORTH, FFP2, "on_hand") == "1,060"
    assert console.outside() == []


def test_a_danish_reader_gets_danish_numbers(console: Console) -> None:
    _world(console)
    page = console.page("auditor", language="da-DK")
    page.goto(console.base_url + "/")
    console.shot(page, "dashboard-da")
    assert page.locator("html").get_attribute("lang") == "da"
    assert _cell(page, "north", FFP2, "on_hand") == "1.560"
    page.click('a[hreflang="nb"]')
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "nb"
    assert _cell(page, "north", FFP2, "on_hand").replace("\xa0", " ") == "1 560"


def test_an_operator_is_sent_to_their_depots_and_may_not_open_the_dashboard(console: Console) -> None:
    seed(console)
    page = console.page("operator")
    assert page.url.endswith("/depots")
    response = page.goto(console.base_url + "/regions/north")
    assert response is not None and response.status == 403


def test_a_form_without_its_csrf_token_is_refused_and_signing_out_ends_the_session(console: Console) -> None:
    seed(console)
    page = console.page("coordinator")
    page.goto(console.base_url + "/")
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    session = cookies["sl_session"]
    assert next(c for c in page.context.cookies() if c["name"] == "sl_session")["httpOnly"] is True
    assert next(c for c in page.context.cookies() if c["name"] == "sl_session")["sameSite"] == "Strict"
    forged = httpx.post(console.base_url + "/sign-out", cookies={"sl_session": session}, data={"csrf": "forged"})
    assert forged.status_code == 403
    assert "This form has expired" in forged.text
    assert httpx.get(console.base_url + "/", cookies={"sl_session": session}).status_code == 200  # still signed in
    with page.expect_navigation():
        page.click("form.sign-out button")
    assert "/sign-in" in page.url
    # Every worker knows within about a second (the access store's refresh, docs/console.md): on
    # PostgreSQL the test's server has two, and the next request may reach the other one.
    deadline = time.monotonic() + 5
    while True:
        after = httpx.get(console.base_url + "/", cookies={"sl_session": session}, follow_redirects=False)
        if after.status_code == 303 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert after.status_code == 303 and after.headers["location"].startswith("/sign-in")


def test_a_wrong_token_is_told_why(console: Console) -> None:
    page = console.page(None)
    page.goto(console.base_url + "/sign-in")
    page.fill("#token", "sl_not-a-token")
    page.click("form.sign-in button[type=submit]")
    page.wait_for_load_state()
    console.shot(page, "sign-in-refused")
    assert "the token is not valid" in page.inner_text(".problem")
    assert "sl_not-a-token" not in page.content()


def test_signing_in_and_reaching_the_figures_needs_only_the_keyboard(console: Console) -> None:
    _world(console)
    page = console.page(None, viewport={"width": 390, "height": 844})
    page.goto(console.base_url + "/sign-in")
    assert page.evaluate("document.activeElement.id") == "token"  # the token field has the focus
    page.keyboard.type(console.tokens["coordinator"])
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert page.url == console.base_url + "/"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    page.keyboard.press("Enter")
    page.wait_for_function("location.hash === '#main'")  # the jump lands a moment after the key
    console.shot(page, "dashboard-phone")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390  # the matrix scrolls inside its own box, the page does not


def test_a_refused_cut_draws_the_page_at_now_with_the_problem_at_the_picker(console: Console) -> None:
    """`?as_of=garbage` and a future time are the views' BadCut: the dashboard and the region
    page are drawn at now with the refusal's words next to the field, which fixes the cut."""
    _world(console)
    page = console.page("coordinator")
    response = page.goto(console.base_url + "/?as_of=garbage")
    assert response is not None and response.status == 422
    console.shot(page, "dashboard-refused-cut")
    assert "'garbage' is not an ISO 8601 date or time with offset" in page.inner_text("#picker-as_of-problem")
    assert page.get_attribute('input[name="as_of"]', "aria-invalid") == "true"
    assert page.locator("#picker-known_at-problem").count() == 0
    assert page.locator(".banner").count() == 0  # drawn at now
    assert _cell(page, "north", FFP2, "on_hand") == "1,560"
    assert "garbage" not in (page.get_attribute('tr[data-row="north"] th a', "href") or "")

    page.fill('input[name="as_of"]', ago(days=5)[:16])
    page.click("form.picker button[type=submit]")
    page.wait_for_load_state()
    assert page.locator("#picker-as_of-problem").count() == 0
    assert "Not the current picture" in page.inner_text(".banner")
    assert _cell(page, "north", FFP2, "on_hand") == "1,200"  # before the consumption and today's receipt

    future = ago(days=-3)
    response = page.goto(console.base_url + f"/regions/north?as_of={future}")
    assert response is not None and response.status == 422
    assert f"{future} is in the future" in page.inner_text("#picker-as_of-problem")
    assert page.input_value('input[name="as_of"]') == future[:16]  # kept where it was typed
    assert _cell(page, A_NORTH, FFP2, "on_hand") == "1,560"
