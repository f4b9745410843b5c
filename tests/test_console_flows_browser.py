"""Transfers and allocations in a real browser, on both backends: a dispatch beyond stock
refused with the problem's `available` figure, a dispatch received with a shortfall (the
figures the JSON API's), a cancellation, and a coordinator who changes a recommendation's
lines, is stopped for want of a rationale, then decides; the replay opens, for an auditor too."""

from __future__ import annotations

from typing import Any

from tests.api_helpers import A_CLINIC, A_NORTH, B_SOUTH, FFP2, GLOVE, ago, created, ok, seed
from tests.console_browser import Console


def _stocked(console: Console) -> None:
    """A-NORTH holds 500 FFP2 and 60 GLOVE; A-CLINIC used 70 FFP2 and B-SOUTH 280 in the last 14 days."""
    seed(console)
    for depot, item, quantity in (
        (A_NORTH, FFP2, 500),
        (A_NORTH, GLOVE, 60),
        (A_CLINIC, FFP2, 100),
        (B_SOUTH, FFP2, 300),
    ):
        body = {"item": item, "quantity": quantity, "occurred_at": ago(days=10)}
        created(console.post(f"/v1/depots/{depot}/receipts", body))
    for depot, quantity in ((A_CLINIC, 70), (B_SOUTH, 280)):
        created(
            console.post(
                f"/v1/depots/{depot}/consumption", {"item": FFP2, "quantity": quantity, "occurred_at": ago(days=3)}
            )
        )


def _submit(page: Any, form: str, button: str = "button[type=submit]") -> Any:
    with page.expect_navigation():
        page.click(f"{form} {button}")
    return page


def test_a_dispatch_beyond_stock_shows_the_available_figure_and_stores_nothing(console: Console) -> None:
    _stocked(console)
    page = console.page("operator", viewport={"width": 390, "height": 844})  # a phone
    page.goto(console.base_url + f"/transfers?depot={A_NORTH}&box=outbox")
    assert page.input_value("#form-dispatch select[name=from]") == A_NORTH
    page.select_option("#form-dispatch select[name=to]", A_CLINIC)
    page.select_option("#form-dispatch select[name=item-0]", FFP2)
    page.fill("#form-dispatch input[name=quantity-0]", "900")
    with page.expect_navigation() as answer:
        page.click("#form-dispatch button[type=submit]")
    console.shot(page, "dispatch-refused")
    assert answer.value.status == 409
    line = page.locator('fieldset.transfer-line[data-row="0"]')
    assert line.locator('[data-figure="available"]').inner_text() == "500"
    assert "only 500 available" in line.locator(".field-problem").inner_text()
    assert page.input_value("#form-dispatch input[name=quantity-0]") == "900"  # what was typed is kept
    assert ok(console.get("/v1/transfers", status="in_transit"))["transfers"] == []
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")  # no sideways scrolling

    # The same form sent twice (a double click, or a retry after a lost answer) stores one transfer.
    page.fill("#form-dispatch input[name=quantity-0]", "300")
    fields = page.eval_on_selector(
        "#form-dispatch", "form => Object.fromEntries([...new FormData(form)].filter(([k, v]) => v !== ''))"
    )
    answers = [page.request.post(console.base_url + "/transfers", form=fields, max_redirects=0) for _ in range(2)]
    assert [a.status for a in answers] == [303, 303]
    assert answers[0].headers["location"] == answers[1].headers["location"]
    [sent] = ok(console.get("/v1/transfers", status="in_transit"))["transfers"]
    assert sent["lines"] == [{"item": FFP2, "quantity": 300, "lot": None}]
    assert answers[0].headers["location"].startswith(f"/transfers/{sent['transfer_id']}?done=")
    assert console.outside() == []


def test_a_dispatch_is_received_with_a_shortfall_and_another_is_cancelled(console: Console) -> None:
    _stocked(console)
    page = console.page("operator")
    page.goto(console.base_url + "/transfers")
    console.shot(page, "transfers")
    page.select_option("#form-dispatch select[name=from]", A_NORTH)
    page.select_option("#form-dispatch select[name=to]", A_CLINIC)
    page.select_option("#form-dispatch select[name=item-0]", FFP2)
    page.fill("#form-dispatch input[name=quantity-0]", "200")
    page.select_option("#form-dispatch select[name=item-2]", GLOVE)  # the empty line between is ignored
    page.fill("#form-dispatch input[name=quantity-2]", "40")
    _submit(page, "#form-dispatch")
    transfer_id = page.url.split("/transfers/")[1].split("?")[0]
    sent = ok(console.get(f"/v1/transfers/{transfer_id}"))
    assert [(line["item"], line["quantity"]) for line in sent["lines"]] == [(FFP2, 200), (GLOVE, 40)]
    assert sent["status"] == "in_transit"

    page.goto(console.base_url + f"/transfers?depot={A_CLINIC}&box=inbox")
    assert page.locator(f'tr[data-transfer="{transfer_id}"]').count() == 1
    page.goto(console.base_url + f"/transfers?depot={A_CLINIC}&box=outbox")
    assert page.locator(f'tr[data-transfer="{transfer_id}"]').count() == 0
    page.goto(console.base_url + f"/transfers/{transfer_id}")
    page.fill(f"#form-receive input[name=received-{FFP2}]", "185")
    page.fill("#form-receive input[name=note]", "one carton crushed")
    _submit(page, "#form-receive")
    console.shot(page, "transfer-received")
    received = ok(console.get(f"/v1/transfers/{transfer_id}"))
    assert received["status"] == "received"
    assert received["shortfall"] == [
        {"item": FFP2, "quantity_dispatched": 200, "quantity_received": 185, "shortfall": 15}
    ]
    for line in received["received"]:
        row = page.locator(f'#received tr[data-item="{line["item"]}"]')
        assert row.locator('[data-figure="quantity_received"]').inner_text() == f"{line['quantity_received']:,}"
    assert page.inner_text(f'#received tr[data-item="{FFP2}"] [data-figure="shortfall"]') == "15"
    assert page.inner_text(f'#received tr[data-item="{GLOVE}"] [data-figure="shortfall"]') == "0"
    stock = ok(console.get(f"/v1/depots/{A_CLINIC}/stock"))
    assert next(line["on_hand"] for line in stock["items"] if line["item"] == FFP2) == 100 - 70 + 185
    assert page.locator("#form-receive").count() == 0  # received: nothing more to do

    other = created(
        console.post("/v1/transfers", {"from": A_NORTH, "to": B_SOUTH, "lines": [{"item": FFP2, "quantity": 50}]})
    )
    page.goto(console.base_url + f"/transfers/{other['transfer_id']}")  # org-a's operator: B-SOUTH is org-b's
    assert (page.locator("#form-receive").count(), page.locator("#form-cancel").count()) == (0, 1)
    coordinator = console.page("coordinator")
    coordinator.goto(console.base_url + f"/transfers?depot={B_SOUTH}&box=inbox")
    with coordinator.expect_navigation():
        coordinator.click(f'tr[data-transfer="{other["transfer_id"]}"] a')
    assert coordinator.get_attribute("#form-cancel", "data-confirm")
    coordinator.once("dialog", lambda dialog: dialog.accept())
    coordinator.fill("#form-cancel input[name=reason]", "sent to the wrong depot")
    _submit(coordinator, "#form-cancel")
    console.shot(coordinator, "transfer-cancelled")
    cancelled = ok(console.get(f"/v1/transfers/{other['transfer_id']}"))
    assert (cancelled["status"], cancelled["cancel_reason"]) == ("cancelled", "sent to the wrong depot")
    assert coordinator.inner_text('[data-figure="status"]') == "cancelled"
    north = ok(console.get(f"/v1/depots/{A_NORTH}/stock"))
    assert next(line["on_hand"] for line in north["items"] if line["item"] == FFP2) == 500 - 200
    assert console.outside() == []


def _recommend(page: Any) -> None:
    """100 FFP2 from A-NORTH to the clinic and the south hospital, in proportion to consumption."""
    page.select_option("#form-recommend select[name=from]", A_NORTH)
    page.select_option("#form-recommend select[name=item]", FFP2)
    page.fill("#form-recommend input[name=quantity]", "100")
    page.select_option("#form-recommend select[name=policy]", "proportional_to_consumption")
    page.check(f'#form-recommend input[name=recipients][value="{A_CLINIC}"]')
    page.check(f'#form-recommend input[name=recipients][value="{B_SOUTH}"]')
    _submit(page, "#form-recommend")


def test_changed_lines_need_a_rationale_and_the_replay_opens_for_an_auditor(console: Console) -> None:
    _stocked(console)
    page = console.page("coordinator")
    page.goto(console.base_url + "/allocations")
    _recommend(page)
    console.shot(page, "recommendation")
    asked = {"from": A_NORTH, "item": FFP2, "quantity": 100, "recipients": [A_CLINIC, B_SOUTH]}
    expected = ok(console.post("/v1/allocations/recommend", {**asked, "policy": "proportional_to_consumption"}))
    assert {line["to"]: line["quantity"] for line in expected["lines"]} == {A_CLINIC: 20, B_SOUTH: 80}
    # A-CLINIC: 30 on hand, 5 a day; B-SOUTH: 20 on hand, 20 a day (DESIGN.md's days of supply)
    shown = {A_CLINIC: ("20", "6.0", "10.0"), B_SOUTH: ("80", "1.0", "5.0")}
    for depot, (units, before, after) in shown.items():
        row = page.locator(f'#recommendation tr[data-depot="{depot}"]')
        assert row.locator('[data-figure="recommended"]').inner_text() == units
        assert row.locator('[data-figure="days_of_supply"]').inner_text() == before
        assert row.locator('[data-figure="days_of_supply_after"]').inner_text() == after
    assert page.inner_text('[data-figure="available"]') == "500"

    page.fill(f'#form-decide input[name="line-{A_CLINIC}"]', "35")
    page.fill(f'#form-decide input[name="line-{B_SOUTH}"]', "65")
    with page.expect_navigation() as answer:
        page.click("#form-decide button[value=change]")
    console.shot(page, "decision-refused")
    assert answer.value.status == 422
    assert "required when lines differ" in page.inner_text("#form-decide .field.invalid .field-problem")
    assert page.get_attribute("#form-decide textarea[name=rationale]", "aria-invalid") == "true"
    assert page.input_value(f'#form-decide input[name="line-{A_CLINIC}"]') == "35"
    assert ok(console.get("/v1/allocations"))["allocations"] == []  # nothing stored

    page.fill("#form-decide textarea[name=rationale]", "the clinic opens a second ward tomorrow")
    page.check("#form-decide input[name=dispatch]")
    _submit(page, "#form-decide", "button[value=change]")
    console.shot(page, "allocation")
    [decided] = ok(console.get("/v1/allocations"))["allocations"]
    assert page.url.split("/allocations/")[1].startswith(decided["allocation_id"])
    assert decided["departed"] is True and decided["rationale"] == "the clinic opens a second ward tomorrow"
    assert {line["to"]: line["quantity"] for line in decided["lines"]} == {A_CLINIC: 35, B_SOUTH: 65}
    assert {line["to"]: line["quantity"] for line in decided["recommended_lines"]} == {A_CLINIC: 20, B_SOUTH: 80}
    assert sorted((t["to"], t["quantity"]) for t in decided["transfers"]) == [(A_CLINIC, 35), (B_SOUTH, 65)]
    for line in decided["lines"]:
        row = page.locator(f'#allocation-lines tr[data-depot="{line["to"]}"]')
        assert row.locator('[data-figure="quantity"]').inner_text() == str(line["quantity"])
        assert row.locator('[data-figure="dispatched"]').inner_text() == str(line["dispatched"])

    links = page.locator(".transfers-of a")
    assert sorted(links.nth(i).inner_text() for i in range(links.count())) == sorted(
        t["transfer_id"] for t in decided["transfers"]
    )
    with page.expect_navigation() as replay:
        page.click("a.replay")
    assert replay.value.status == 200
    console.shot(page, "replay-coordinator")
    assert decided["allocation_id"] in page.inner_text("h1")
    assert page.inner_text(".verdict").startswith("Reproduced")  # decided on exactly the recommendation shown

    auditor = console.page("auditor")
    auditor.goto(console.base_url + "/allocations")
    assert auditor.locator("#form-recommend").count() == 0  # an auditor reads, does not decide
    with auditor.expect_navigation() as opened:
        auditor.click(f'tr[data-allocation="{decided["allocation_id"]}"] a.replay')
    console.shot(auditor, "replay-auditor")
    assert opened.value.status == 200
    assert decided["allocation_id"] in auditor.inner_text("h1")
    assert "the clinic opens a second ward tomorrow" in auditor.inner_text("body")
    # an auditor may not open a transfer (403): the decision names its transfers without links
    auditor.goto(f"{console.base_url}/allocations/{decided['allocation_id']}")
    assert auditor.locator(".transfers-of a").count() == 0
    assert all(t["transfer_id"] in auditor.inner_text(".transfers-of") for t in decided["transfers"])
    assert console.outside() == []


def test_policies_are_named_in_words_in_the_readers_language_and_sent_as_ids(console: Console) -> None:
    _stocked(console)
    asked = {"from": A_NORTH, "item": FFP2, "quantity": 50, "recipients": [A_CLINIC, B_SOUTH]}
    decided = created(console.post("/v1/allocations", {**asked, "policy": "equal_days_of_supply"}))
    page = console.page("coordinator", language="da-DK")
    page.goto(console.base_url + "/allocations")
    row = page.locator(f'tr[data-allocation="{decided["allocation_id"]}"] td[data-policy]')
    assert row.get_attribute("data-policy") == "equal_days_of_supply"
    assert row.inner_text().strip() == "Lige mange dages forsyning"
    options = page.locator("#form-recommend select[name=policy] option")
    named = {options.nth(i).get_attribute("value"): options.nth(i).inner_text() for i in range(options.count())}
    assert named == {
        "proportional_to_consumption": "I forhold til forbruget",
        "proportional_to_population": "I forhold til den betjente befolkning",
        "equal_days_of_supply": "Lige mange dages forsyning",
    }
    _recommend(page)
    assert "I forhold til forbruget" in page.inner_text("main")
    assert page.get_attribute('#form-decide input[name="policy"]', "value") == "proportional_to_consumption"
    recommended = page.locator(f'#recommendation tr[data-depot="{B_SOUTH}"] [data-figure="recommended"]')
    assert recommended.inner_text() == "80"  # the consumption policy's figure, as in the test above
