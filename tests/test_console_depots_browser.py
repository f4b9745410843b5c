"""The depot pages in a real browser: the directory, an operator recording consumption and
seeing the JSON API's figure, a double submit storing one event, a refusal in the command's
own words next to its field, a receipt from a scanned GS1 label, the correction of a chosen
timeline entry, and no forms (and a refused POST) at another organisation's depot. The
forms are photographed at a phone's width (390 × 844)."""

from __future__ import annotations

from typing import Any

from tests.api_helpers import A_CLINIC, A_NORTH, B_SOUTH, FFP2, ago, created, ok, seed
from tests.console_browser import Console

PHONE = {"width": 390, "height": 844}
GTIN = "05712345678909"


def _stocked(console: Console, quantity: int = 500) -> None:
    seed(console)
    created(console.post(f"/v1/depots/{A_NORTH}/receipts", {"item": FFP2, "quantity": quantity}))


def _on_hand(console: Console, depot: str, item: str = FFP2) -> int:
    line = next(line for line in ok(console.get(f"/v1/depots/{depot}/stock"))["items"] if line["item"] == item)
    return int(line["on_hand"])


def _shown(page: Any, item: str, figure: str) -> str:
    return page.inner_text(f'#stock tr[data-item="{item}"] [data-figure="{figure}"]').strip()


def _events(console: Console, depot: str, kind: str) -> list[dict[str, Any]]:
    return list(ok(console.get("/v1/events", depot=depot, type=kind, limit=1000))["events"])


def _open(console: Console, page: Any, depot: str) -> None:
    page.goto(f"{console.base_url}/depots/{depot}")
    page.wait_for_load_state()


def _submit(page: Any, form: str) -> None:
    page.click(f"#form-{form} button[type=submit]")
    page.wait_for_load_state()


def test_an_operator_records_consumption_and_sees_the_stock_change(console: Console) -> None:
    _stocked(console)
    ok(console.put(f"/v1/depots/{A_NORTH}/obligations/{FFP2}", {"min_days": 30}))
    page = console.page("operator", viewport=PHONE)
    assert page.url.endswith("/depots")
    mine = page.locator("#my-depots li")
    assert [mine.nth(i).get_attribute("data-depot") for i in range(mine.count())] == [A_CLINIC, A_NORTH]
    assert page.locator(f'tr[data-depot="{B_SOUTH}"] .mark-own').count() == 0
    console.shot(page, "depots-directory-phone")
    page.click(f'#my-depots a[href="/depots/{A_NORTH}"]')
    page.wait_for_load_state()
    assert _shown(page, FFP2, "on_hand") == "500"

    page.select_option("#form-consumption select[name=item]", FFP2)
    page.fill("#form-consumption input[name=quantity]", "120")
    console.shot(page, "depot-forms-phone")
    width = page.evaluate("document.querySelector('#form-consumption').getBoundingClientRect().right")
    assert width <= PHONE["width"], f"the consumption form runs off a phone's screen: {width}px"
    _submit(page, "consumption")
    console.shot(page, "depot-after-consumption-phone")
    assert "done=consumption" in page.url
    position = _events(console, A_NORTH, "ConsumptionReported")[0]["position"]
    assert page.inner_text("#done") == f"Consumption recorded at ledger position {position}."
    assert _on_hand(console, A_NORTH) == 380
    assert _shown(page, FFP2, "on_hand") == "380"
    line = next(line for line in ok(console.get(f"/v1/depots/{A_NORTH}/stock"))["items"] if line["item"] == FFP2)
    assert (line["required"], line["meets_obligation"]) == (258, True)  # 30 days × 120 / 14 a day, rounded up
    obligation = page.inner_text('#stock tr[data-item="FFP2"] .obligation')
    assert obligation == "met: 258 units required (30 days)"
    assert _shown(page, FFP2, "days_of_supply") == f"{line['days_of_supply']:.1f}" == "44.3"  # 380 / (120 / 14)
    newest = page.locator("#timeline tbody tr").first
    assert newest.get_attribute("data-position") == str(position)
    assert newest.locator('[data-figure="delta"]').inner_text() == "-120"
    assert newest.locator('[data-figure="balance"]').inner_text() == "380"
    # the timeline scrolls in its own box: its hidden "(position N)" texts must not widen the page
    wide = page.evaluate("document.documentElement.scrollWidth")
    assert wide <= PHONE["width"], f"the depot page scrolls sideways on a phone: {wide}px"
    assert console.outside() == []


def test_the_same_rendered_form_sent_twice_stores_one_event(console: Console) -> None:
    _stocked(console)
    page = console.page("operator")
    _open(console, page, A_NORTH)
    page.select_option("#form-consumption select[name=item]", FFP2)
    page.fill("#form-consumption input[name=quantity]", "75")
    fields = page.evaluate("f => Object.fromEntries(new FormData(f))", page.query_selector("#form-consumption"))
    assert fields["idempotency_key"] and fields["csrf"]
    _submit(page, "consumption")
    first = page.url
    again = page.request.post(f"{console.base_url}/depots/{A_NORTH}/consumption", form=fields, max_redirects=0)
    assert again.status == 303
    assert first.endswith(again.headers["location"])  # the first outcome, replayed: same position
    assert len(_events(console, A_NORTH, "ConsumptionReported")) == 1
    assert _on_hand(console, A_NORTH) == 425


def test_a_refused_command_shows_its_words_next_to_the_field_and_stores_nothing(console: Console) -> None:
    _stocked(console)
    page = console.page("operator")
    _open(console, page, A_NORTH)
    before = ok(console.get("/v1/stock"))["position"]
    page.select_option("#form-consumption select[name=item]", FFP2)
    page.fill("#form-consumption input[name=quantity]", "-5")
    key = page.get_attribute("#form-consumption input[name=idempotency_key]", "value")
    with page.expect_response(f"**/depots/{A_NORTH}/consumption") as answer:
        _submit(page, "consumption")
    assert answer.value.status == 422
    console.shot(page, "depot-consumption-refused")
    field = page.locator("#form-consumption .field.invalid")
    assert field.locator("input").get_attribute("name") == "quantity"
    assert field.locator(".field-problem").inner_text() == "Input should be greater than 0"
    assert page.input_value("#form-consumption input[name=quantity]") == "-5"  # what was typed is kept
    assert page.get_attribute("#form-consumption input[name=idempotency_key]", "value") == key
    assert "Invalid request" in page.inner_text("#form-consumption .problem")
    assert page.locator("#form-count .problem").count() == 0  # the other forms are fresh
    assert ok(console.get("/v1/stock"))["position"] == before
    assert _events(console, A_NORTH, "ConsumptionReported") == []
    page.click(".picker button[type=submit]")  # the picker on the refused form's page: back to the depot
    page.wait_for_load_state()
    assert f"/depots/{A_NORTH}?" in page.url and _shown(page, FFP2, "on_hand") == "500"


def test_a_scanned_gs1_label_records_item_lot_and_expiry(console: Console) -> None:
    seed(console)
    ok(console.put(f"/v1/items/{FFP2}/gtins", {"gtins": [GTIN]}))
    page = console.page("operator", viewport=PHONE)
    _open(console, page, A_NORTH)
    # A scanner types the label and Enter: the form is not sent without the quantity, which gets the focus.
    page.fill("#form-receipt input[name=gs1]", f"(01){GTIN}(17)271231(10)LOT42")
    page.press("#form-receipt input[name=gs1]", "Enter")
    assert page.url.endswith(f"/depots/{A_NORTH}")
    assert page.evaluate("document.activeElement.name") == "quantity"
    page.keyboard.type("400")
    console.shot(page, "depot-receipt-scanned-phone")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    assert "done=receipt" in page.url
    line = next(line for line in ok(console.get(f"/v1/depots/{A_NORTH}/stock"))["items"] if line["item"] == FFP2)
    assert line["on_hand"] == 400
    assert line["lots"] == [{"lot": "LOT42", "expires_on": "2027-12-31", "quantity": 400}]
    lot = page.locator('#stock tr[data-item="FFP2"] li[data-lot="LOT42"]')
    assert lot.locator('[data-figure="lot_quantity"]').inner_text() == "400"
    assert "Dec 31, 2027" in lot.inner_text()


def test_a_chosen_timeline_entry_is_corrected(console: Console) -> None:
    _stocked(console)
    late = created(
        console.post(f"/v1/depots/{A_NORTH}/receipts", {"item": FFP2, "quantity": 30, "occurred_at": ago(days=3)})
    )
    consumed = created(console.post(f"/v1/depots/{A_NORTH}/consumption", {"item": FFP2, "quantity": 120}))
    page = console.page("operator")
    _open(console, page, A_NORTH)
    assert page.locator(f'#timeline tr[data-position="{late["position"]}"] [data-late]').count() == 1
    assert page.locator(f'#timeline tr[data-position="{consumed["position"]}"] [data-late]').count() == 0
    page.click(f'#timeline tr[data-position="{consumed["position"]}"] a.correct')
    page.wait_for_load_state()
    assert page.input_value("#form-adjustment input[name=corrects]") == consumed["event_id"]
    assert page.input_value("#form-adjustment select[name=reason]") == "correction"
    assert page.input_value("#form-adjustment select[name=item]") == FFP2
    page.fill("#form-adjustment input[name=quantity]", "20")  # 100 were used, not 120: 530 - 100
    console.shot(page, "depot-correction")
    _submit(page, "adjustment")
    assert "done=adjustment" in page.url
    correction = _events(console, A_NORTH, "StockAdjusted")[0]
    assert correction["corrects"] == {"event_id": consumed["event_id"], "position": consumed["position"]}
    assert correction["data"]["quantity"] == 20 and correction["data"]["reason"] == "correction"
    assert _on_hand(console, A_NORTH) == 430
    assert _shown(page, FFP2, "on_hand") == "430"
    row = page.locator(f'#timeline tr[data-position="{consumed["position"]}"]')
    assert f"corrected at position {correction['position']}" in row.inner_text()


def test_an_operator_sees_no_forms_at_another_organisations_depot_and_may_not_post(console: Console) -> None:
    seed(console)
    before = ok(console.get("/v1/stock"))["position"]
    created(console.post(f"/v1/depots/{B_SOUTH}/receipts", {"item": FFP2, "quantity": 300}))
    page = console.page("operator", viewport=PHONE)
    _open(console, page, B_SOUTH)
    console.shot(page, "depot-other-organisation-phone")
    assert _shown(page, FFP2, "on_hand") == "300"
    assert page.locator("form.command").count() == 0
    assert page.locator("a.correct").count() == 0
    csrf = page.evaluate("document.querySelector('form.sign-out input[name=csrf]').value")
    fields = {"csrf": csrf, "idempotency_key": "forged-1", "item": FFP2, "quantity": "10"}
    answer = page.request.post(f"{console.base_url}/depots/{B_SOUTH}/consumption", form=fields, max_redirects=0)
    assert answer.status == 403
    assert "may not write to depot B-SOUTH of organisation org-b" in answer.text()
    assert 'class="problem"' in answer.text() and '<form method="post" action="/depots' not in answer.text()
    assert _events(console, B_SOUTH, "ConsumptionReported") == []
    assert _on_hand(console, B_SOUTH) == 300

    coordinator = console.page("coordinator")
    coordinator.goto(f"{console.base_url}/depots/{B_SOUTH}?known_at=pos:{before}")
    assert "Not the current picture" in coordinator.inner_text(".banner")
    assert coordinator.locator("#stock").count() == 0  # nothing received yet, as then known
    assert coordinator.locator("form.command").count() == 0  # forms only with the current picture
    _open(console, coordinator, B_SOUTH)
    assert coordinator.locator("form.command").count() == 5


def test_an_exercise_depot_page_records_in_the_exercise_ledger_only(console: Console) -> None:
    _stocked(console)
    body = {"code": "drill", "name": "Depot drill", "scenario_start": ago(seconds=0), "fork_known_at": ago(seconds=0)}
    created(console.post("/v1/exercises", body, role="admin"))
    page = console.page("coordinator")
    page.goto(f"{console.base_url}/exercises/drill/depots")
    page.click(f'tr[data-depot="{A_NORTH}"] a')
    page.wait_for_load_state()
    assert page.url.endswith(f"/exercises/drill/depots/{A_NORTH}")
    assert page.locator(".exercise-mark").count() == 1
    page.select_option("#form-consumption select[name=item]", FFP2)
    page.fill("#form-consumption input[name=quantity]", "200")
    _submit(page, "consumption")
    console.shot(page, "exercise-depot")
    assert f"/exercises/drill/depots/{A_NORTH}?done=consumption" in page.url
    assert _shown(page, FFP2, "on_hand") == "300"
    assert _on_hand(console, A_NORTH) == 500  # the live ledger is untouched
    exercise = ok(console.get(f"/v1/exercises/drill/depots/{A_NORTH}/stock"))
    assert next(line for line in exercise["items"] if line["item"] == FFP2)["on_hand"] == 300


def test_a_busy_depots_timeline_shows_the_newest_fifty_and_pages_back(console: Console) -> None:
    """60 receipts in the last 60 hours and 5 more 40 days ago: the page shows the newest 50,
    "Older entries" the 16 before them (its registration is an entry too), and nothing more;
    the forms come before the timeline."""
    seed(console)
    for hours in range(60):
        created(
            console.post(
                f"/v1/depots/{A_NORTH}/receipts", {"item": FFP2, "quantity": 1, "occurred_at": ago(hours=hours + 1)}
            )
        )
    for days in range(5):
        created(
            console.post(
                f"/v1/depots/{A_NORTH}/receipts", {"item": FFP2, "quantity": 1, "occurred_at": ago(days=40 + days)}
            )
        )
    every = ok(console.get(f"/v1/depots/{A_NORTH}/timeline", **{"from": ago(days=100), "limit": 1000}))["entries"]
    newest_first = [entry["position"] for entry in reversed(every)]
    assert len(newest_first) == 66  # the depot's registration too

    page = console.page("operator", viewport=PHONE)
    _open(console, page, A_NORTH)
    assert page.locator("#record-heading").bounding_box()["y"] < page.locator("#timeline-heading").bounding_box()["y"]
    pages = []
    while True:
        rows = page.locator("#timeline tbody tr")
        pages.append([int(rows.nth(i).get_attribute("data-position")) for i in range(rows.count())])
        if page.locator("#older-entries").count() == 0:
            break
        page.click("#older-entries")
        page.wait_for_load_state()
    assert [len(shown) for shown in pages] == [50, 16]
    assert [position for shown in pages for position in shown] == newest_first
    assert page.inner_text('#timeline tbody tr:last-child [data-figure="balance"]').strip() == "1"

    page.goto(f"{console.base_url}/depots/{A_NORTH}?as_of={ago(minutes=30)}")
    page.wait_for_load_state()
    assert page.locator("#timeline tbody tr").count() == 50
    assert "as_of=" in (page.get_attribute("#older-entries", "href") or "")


def test_a_cut_beyond_the_ledger_or_the_exercises_clock_is_told_at_the_picker(console: Console) -> None:
    _stocked(console)
    latest = ok(console.get("/v1/stock"))["position"]
    page = console.page("operator")
    response = page.goto(f"{console.base_url}/depots/{A_NORTH}?known_at=pos:{latest + 100}")
    assert response is not None and response.status == 422
    words = f"position {latest + 100} is beyond the ledger's latest position {latest}"
    assert words in page.inner_text("#picker-known_at-problem")
    assert _shown(page, FFP2, "on_hand") == "500"  # the depot now, its forms usable
    assert page.locator("form.command").count() == 5

    body = {"code": "drill", "name": "Depot drill", "scenario_start": ago(days=20), "fork_known_at": ago(seconds=0)}
    created(console.post("/v1/exercises", body, role="admin"))
    beyond = ago(days=2)  # the live clock's past, the exercise's future
    response = page.goto(f"{console.base_url}/exercises/drill/depots/{A_NORTH}?as_of={beyond}")
    assert response is not None and response.status == 422
    assert f"{beyond} is in the future" in page.inner_text("#picker-as_of-problem")
    assert page.locator("#stock").count() == 1
