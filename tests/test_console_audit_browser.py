"""The auditor's pages in a real browser, on both backends: a decision's replay opened from the
audit index with its figures (tests/allocation_world.py's equal-days split), the feed page
beside the JSON feed (pages, "next", a depot filter), the late-data report with the decision
a late report changed, and the digest and its verification (valid, against a kept digest,
refused input next to its field)."""

from __future__ import annotations

from typing import Any

from tests.allocation_world import EAST, EQUAL_DAYS, FFP2, SOUTH, WEST, request, world
from tests.api_helpers import ago, created, ok
from tests.console_browser import Console


def _decided(console: Console) -> str:
    world(console)
    return str(created(console.post("/v1/allocations", request()))["allocation_id"])


def _rows(page: Any, table: str) -> list[str]:
    return [
        str(p)
        for p in page.locator(f"table#{table} tbody tr").evaluate_all("rows => rows.map(r => r.dataset.position)")
    ]


def test_an_auditor_opens_a_decision_replay_from_the_audit_index(console: Console) -> None:
    allocation = _decided(console)
    page = console.page("auditor")
    page.goto(console.base_url + "/audit")
    console.shot(page, "audit-index")
    page.click(f'tr[data-allocation="{allocation}"] a[href$="/audit/allocations/{allocation}"]')
    page.wait_for_load_state()
    console.shot(page, "audit-replay")
    assert page.url.endswith(f"/audit/allocations/{allocation}")
    replay = ok(console.get(f"/v1/allocations/{allocation}/replay"))
    assert replay["known_then"]["reproduced"] is True
    report = page.locator("#replay")
    assert "Reproduced: replaying the ledger up to position" in report.inner_text()
    chosen = {
        cells[0]: int(cells[2].replace("\u202f", ""))
        for cells in report.locator("table")
        .first.locator("tbody tr")
        .evaluate_all("rows => rows.map(r => [...r.cells].map(c => c.textContent.trim()))")
    }
    assert chosen == EQUAL_DAYS == {line["to"]: line["quantity"] for line in replay["allocation"]["lines"]}
    assert page.locator("#replay svg").count() == 2  # known then, known now

    page.goto(console.base_url + "/audit?item=GLOVE")
    assert page.locator("table#decisions").count() == 0  # no decision about gloves
    page.fill('input[name="item"]', "")
    page.fill('input[name="decision"]', allocation)
    page.click("form.picker button[type=submit]")
    page.wait_for_load_state()
    assert page.url.endswith(f"/audit/allocations/{allocation}")
    unknown = page.goto(console.base_url + "/audit/allocations/A-000000000000")
    assert unknown is not None and unknown.status == 404
    phone = console.page("auditor", viewport={"width": 390, "height": 844})
    phone.goto(f"{console.base_url}/audit/allocations/{allocation}")
    console.shot(phone, "audit-replay-phone")
    wide = phone.evaluate("document.documentElement.scrollWidth")
    assert wide <= 390, f"the replay scrolls sideways on a phone: {wide}px"
    assert console.outside() == []


def test_the_feed_page_pages_and_filters_as_the_json_feed(console: Console) -> None:
    _decided(console)
    everything = ok(console.get("/v1/events", limit=1000))["events"]
    assert len(everything) == 15  # 2 items, 4 depots, 5 receipts, 3 consumptions, the decision
    page = console.page("auditor")
    page.goto(console.base_url + "/audit/feed?limit=1000")
    console.shot(page, "audit-feed")
    assert _rows(page, "feed") == [str(e["position"]) for e in everything]

    page.goto(console.base_url + "/audit/feed?limit=6")
    first = ok(console.get("/v1/events", limit=6))
    assert _rows(page, "feed") == [str(e["position"]) for e in first["events"]]
    page.click("a[rel=next]")
    page.wait_for_load_state()
    second = ok(console.get("/v1/events", limit=6, after=first["next_after"]))
    assert _rows(page, "feed") == [str(e["position"]) for e in second["events"]]

    page.goto(console.base_url + "/audit/feed")
    page.fill('input[name="depot"]', EAST)
    page.select_option('select[name="type"]', "ConsumptionReported")
    page.click("form.picker button[type=submit]")
    page.wait_for_load_state()
    east = ok(console.get("/v1/events", depot=EAST, type="ConsumptionReported"))["events"]
    assert len(east) == 1 and east[0]["data"]["quantity"] == 1400
    assert _rows(page, "feed") == [str(east[0]["position"])]
    assert "quantity: 1400" in page.inner_text("table#feed")

    # an exercise's feed, under its own prefix: the fork's events, then what was played in it
    fork = {"code": "drill", "name": "Drill", "scenario_start": "2020-03-02T00:00:00Z"}
    fork["fork_known_at"] = everything[-1]["recorded_at"]
    created(console.post("/v1/exercises", fork, role="admin"))
    created(console.post("/v1/exercises/drill/depots/R-WEST/consumption", {"item": FFP2, "quantity": 7}, role="admin"))
    played = ok(console.get("/v1/exercises/drill/events", role="admin", limit=1000))["events"]
    admin = console.page("admin")
    admin.goto(console.base_url + "/exercises/drill/audit/feed?limit=1000")
    console.shot(admin, "audit-feed-exercise")
    assert admin.locator("body.exercise").count() == 1
    assert _rows(admin, "feed") == [str(e["position"]) for e in played] != _rows(page, "feed")
    assert admin.locator(f'a[href="/exercises/drill/depots/{WEST}"]').count() >= 1


def test_the_late_report_shows_the_decision_a_late_report_changed(console: Console) -> None:
    allocation = _decided(console)
    late = created(
        console.post(f"/v1/depots/{SOUTH}/consumption", {"item": FFP2, "quantity": 30, "occurred_at": ago(days=3)})
    )
    created(console.post(f"/v1/depots/{WEST}/consumption", {"item": FFP2, "quantity": 5}))  # on time
    report = ok(console.get("/v1/late"))["events"]
    assert [(e["position"], e["changed_allocations"]) for e in report] == [(late["position"], [allocation])]
    page = console.page("coordinator")
    page.goto(console.base_url + "/audit/late")
    console.shot(page, "audit-late")
    assert _rows(page, "late") == [str(late["position"])]
    row = page.locator(f'table#late tr[data-position="{late["position"]}"]')
    assert row.locator('[data-figure="delay_hours"]').inner_text() == "72.0"
    row.locator(f'a[href$="/audit/allocations/{allocation}"]').click()
    page.wait_for_load_state()
    assert "Information that arrived after the basis" in page.inner_text("#replay")
    assert str(late["position"]) in page.inner_text("#replay")


def test_the_digest_is_shown_and_the_ledger_verified(console: Console) -> None:
    _decided(console)
    digest = ok(console.get("/v1/ledger/digest"))
    page = console.page("auditor")
    page.goto(console.base_url + "/audit/integrity")
    assert page.inner_text('[data-figure="position"]') == str(digest["position"])
    assert page.inner_text('[data-figure="digest"]') == digest["digest"]

    page.click("#form-verify button[type=submit]")
    page.wait_for_load_state()
    console.shot(page, "audit-verified")
    assert page.get_attribute("#verification", "data-valid") == "yes"
    assert page.inner_text('[data-figure="verified_position"]') == str(digest["position"])

    page.fill("#form-verify input[name=position]", str(digest["position"]))
    page.fill("#form-verify input[name=digest]", "0" * 64)
    page.click("#form-verify button[type=submit]")
    page.wait_for_load_state()
    assert page.get_attribute("#verification", "data-valid") == "no"
    assert "0" * 64 != digest["digest"]

    page.fill("#form-verify input[name=position]", str(digest["position"]))
    page.fill("#form-verify input[name=digest]", "not hex")
    page.click("#form-verify button[type=submit]")
    page.wait_for_load_state()
    console.shot(page, "audit-verify-refused")
    assert page.locator("#verification").count() == 0
    assert "should match pattern" in page.inner_text("#form-verify .field.invalid .field-problem")

    operator = console.page("operator")
    response = operator.goto(console.base_url + "/audit/integrity")
    assert response is not None and response.status == 403
