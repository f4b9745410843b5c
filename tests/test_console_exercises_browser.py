"""Exercise control in a real browser: an admin creates a fork of the live ledger, loads a
scenario file, advances the clock (a resubmitted form advances once), opens the exercise's
own dashboard (marked, in its colour, with the exercise's figures and not the live
ledger's), ends it and opens the review; a scenario naming depots the exercise does not
have is refused in the problem's words; only the admin gets the control forms.

The live ledger is tests/exercise_world.py's; its docstring computes the figures by hand:
FFP2 on hand at the fork A-NORTH 810 (10 a day), A-CLINIC 30 (5 a day), B-SOUTH 20 (20 a day).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from tests.api_helpers import FFP2, ok
from tests.console_browser import Console
from tests.exercise_world import build_live

CODE = "north-drill"
SCENARIO = """\
name: North outbreak
injects:
  - day: 1
    time: "12:00"
    kind: depot_loss
    depot: A-NORTH
    fraction: 0.5
    title: Fire at the north store
  - day: 1
    kind: message
    text: The ministry asks for a daily situation report.
"""
SAMPLE = Path(__file__).parents[1] / "scenarios" / "spring-2020-ppe-surge.yaml"


def _cell(page: Any, row: str, item: str, figure: str) -> str:
    return page.inner_text(f'tr[data-row="{row}"] td[data-item="{item}"] [data-figure="{figure}"]').strip()


def _submit(page: Any, form: str) -> None:
    page.click(f"#form-{form} button[type=submit]")
    page.wait_for_load_state()


def test_an_exercise_is_played_through_the_pages(console: Console, tmp_path: Path) -> None:
    build_live(console)
    page = console.page("admin")
    page.click('nav a:text-is("Exercises")')
    page.wait_for_load_state()
    assert page.url.endswith("/exercises")
    console.shot(page, "exercises-empty")

    page.fill("#form-create input[name=code]", CODE.upper())  # stored in lower case, as the API does
    page.fill("#form-create input[name=name]", "North outbreak drill")
    page.fill("#form-create input[name=scenario_start]", "2020-03-02T00:00")
    page.select_option("#form-create select[name=start]", "live_now")
    _submit(page, "create")
    assert page.url.endswith(f"/exercises/{CODE}/control?done=created"), page.inner_text("main")
    assert "The exercise was created." in page.inner_text("#done")
    assert page.locator("body").get_attribute("class") == "exercise"
    shown = ok(console.get(f"/v1/exercises/{CODE}", role="admin"))
    assert shown["fork"] is not None and shown["scenario_start"] == "2020-03-02T00:00:00Z"
    assert {b["depot"]: b["on_hand"] for b in shown["fork"]["balances"] if b["item"] == FFP2} == {
        "A-NORTH": 810,
        "A-CLINIC": 30,
        "B-SOUTH": 20,
    }

    scenario = tmp_path / "north.yaml"
    scenario.write_text(SCENARIO)
    page.set_input_files("#form-injects input[name=scenario_file]", str(scenario))
    _submit(page, "injects")
    assert "done=loaded" in page.url, page.inner_text("main")
    assert page.locator("#inject-list tbody tr").count() == 2
    assert "Fire at the north store" in page.inner_text("#inject-list")
    console.shot(page, "exercise-control-loaded")

    page.fill("#form-advance input[name=until]", "2020-03-04T00:00")
    key = page.get_attribute("#form-advance input[name=idempotency_key]", "value")
    csrf = page.get_attribute("#form-advance input[name=csrf]", "value")
    _submit(page, "advance")
    assert "done=advanced" in page.url, page.inner_text("main")
    advanced = ok(console.get(f"/v1/exercises/{CODE}", role="admin"))
    assert advanced["applied_until"] == "2020-03-04T00:00:00Z"
    assert [i["status"] for i in advanced["injects"]] == ["applied", "applied"]
    assert page.inner_text('[data-figure="position"]') == str(advanced["position"])
    console.shot(page, "exercise-control-advanced")

    # The same form sent again (a lost answer, a reload): the first answer, nothing stored twice.
    session = next(c["value"] for c in page.context.cookies() if c["name"] == "sl_session")
    again = httpx.post(
        console.base_url + f"/exercises/{CODE}/control/advance",
        data={"csrf": csrf, "idempotency_key": key, "form": "advance", "until": "2020-03-04T00:00"},
        cookies={"sl_session": session},
    )
    assert again.status_code == 303 and again.headers["location"].endswith("done=advanced")
    assert ok(console.get(f"/v1/exercises/{CODE}", role="admin"))["position"] == advanced["position"]

    page.click("#open-dashboard")
    page.wait_for_load_state()
    console.shot(page, "exercise-dashboard")
    assert page.url.endswith(f"/exercises/{CODE}/")
    assert page.inner_text(".exercise-mark") == f"Exercise {CODE} — not live data"
    assert page.locator("body").get_attribute("class") == "exercise"
    band = page.eval_on_selector("header.top", "e => getComputedStyle(e).backgroundColor")
    assert band == "rgb(107, 44, 145)"  # the exercise's purple, not the live ledger's blue
    played = ok(console.get(f"/v1/exercises/{CODE}/stock"))
    for row in played["rows"]:
        name = "national" if row["region"] == "national" else row["region"]
        assert _cell(page, name, row["item"], "on_hand") == f"{row['on_hand']:,}"
    # By hand: north 810 - 10 (day 1) - 400 (fire) - 10 (day 2) + 30 - 5 - 5; south 20 - 20 - 0.
    assert _cell(page, "north", FFP2, "on_hand") == "410"
    assert _cell(page, "south", FFP2, "on_hand") == "0"
    live = ok(console.get("/v1/stock"))
    assert next(r for r in live["rows"] if r["region"] == "north" and r["item"] == FFP2)["on_hand"] == 840

    page.goto(console.base_url + f"/exercises/{CODE}/control")
    page.fill("#form-observation textarea[name=text]", "The fire was reported late")
    page.fill("#form-observation input[name=capability]", "Situational awareness")
    page.select_option("#form-observation select[name=rating]", "M")
    _submit(page, "observation")
    assert "done=observed" in page.url, page.inner_text("main")
    (observation,) = ok(console.get(f"/v1/exercises/{CODE}", role="admin"))["observations"]
    assert (observation["text"], observation["rating"], observation["at"]) == (
        "The fire was reported late",
        "M",
        "2020-03-04T00:00:00Z",  # the scenario clock, standing still
    )
    assert "The fire was reported late" in page.inner_text(".observations")

    asked: list[str] = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
    with page.expect_navigation():
        page.click("#form-end button[type=submit]")
    assert asked and asked[0].startswith("End exercise")
    assert "done=ended" in page.url, page.inner_text("main")
    assert page.inner_text('#exercise-facts [data-figure="status"]') == "ended"
    assert page.locator("#form-advance").count() == 0 and page.locator("#form-end").count() == 0
    console.shot(page, "exercise-control-ended")

    page.click("#open-review")
    page.wait_for_load_state()
    console.shot(page, "exercise-review")
    assert page.inner_text("h1") == f"Exercise {CODE}: North outbreak drill"
    assert "Fire at the north store" in page.inner_text("body")
    assert "The fire was reported late" in page.inner_text("body")
    with page.expect_navigation():
        page.click("text=Back to the exercise")
    assert page.url.endswith(f"/exercises/{CODE}/control")

    page.goto(console.base_url + "/exercises")
    row = f'tr[data-exercise="{CODE}"]'
    assert page.inner_text(f'{row} [data-figure="status"]') == "ended"
    console.shot(page, "exercises-list")
    assert console.outside() == []


def test_a_refused_scenario_is_told_why_and_only_the_admin_controls(console: Console) -> None:
    page = console.page("admin")
    for _ in range(2):  # the second time, the code is taken
        page.goto(console.base_url + "/exercises")
        page.fill("#form-create input[name=code]", "empty")
        page.fill("#form-create input[name=name]", "Empty")
        page.fill("#form-create input[name=scenario_start]", "2020-03-02T00:00")
        page.fill("#form-create input[name=offset]", "+01:00")
        page.select_option("#form-create select[name=start]", "empty")
        _submit(page, "create")
    console.shot(page, "create-refused")
    assert "exercise empty already exists" in page.inner_text("#form-create .problem")
    assert page.input_value("#form-create input[name=offset]") == "+01:00"  # what was typed is kept
    shown = ok(console.get("/v1/exercises/empty", role="admin"))
    assert (shown["scenario_start"], shown["scenario_offset"], shown["fork"]) == (
        "2020-03-01T23:00:00Z",
        "+01:00",
        None,
    )

    page.goto(console.base_url + "/exercises/empty/control")
    page.set_input_files("#form-injects input[name=scenario_file]", str(SAMPLE))
    _submit(page, "injects")
    console.shot(page, "scenario-refused")
    problem = page.inner_text("#form-injects .problem")
    assert "injects name depots, items or regions the exercise does not have" in problem
    said = page.inner_text("#form-injects .field-problem")
    assert said.startswith("no region DK-84 in this exercise; no depot DK-NATIONAL in this exercise; ")
    assert said.count("no item FFP2 in this exercise") == 1  # each different error once
    assert ok(console.get("/v1/exercises/empty", role="admin"))["injects"] == []

    coordinator = console.page("coordinator")
    coordinator.goto(console.base_url + "/exercises")
    assert coordinator.locator('tr[data-exercise="empty"]').count() == 1
    assert coordinator.locator("#form-create").count() == 0
    coordinator.goto(console.base_url + "/exercises/empty/control")
    assert coordinator.locator("form.command").count() == 0
    session = next(c["value"] for c in coordinator.context.cookies() if c["name"] == "sl_session")
    csrf = httpx.get(console.base_url + "/exercises", cookies={"sl_session": session})
    token = csrf.text.split('name="csrf" value="')[1].split('"')[0]
    refused = httpx.post(
        console.base_url + "/exercises/empty/control/advance",
        data={"csrf": token, "idempotency_key": "k1", "until": "2020-03-03T00:00"},
        cookies={"sl_session": session},
    )
    assert refused.status_code == 403
    assert ok(console.get("/v1/exercises/empty", role="admin"))["applied_until"] == "2020-03-01T23:00:00Z"
