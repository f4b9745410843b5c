"""Scenario files (`domain.scenario_file`): the sample in `scenarios/`, relative and absolute
times, every inject kind, JSON, and bad files reported with every error and its location."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml

from domain.scenario import (
    ConsumptionSurge,
    Delivery,
    DeliveryFailure,
    DepotLoss,
    Message,
    Scenario,
    UrgentRequest,
)
from domain.scenario_file import ScenarioError, load_scenario, scenario_from_path
from ledger.demo_world import ITEMS, PACK, REGIONS, SUPPLIERS, SURGE_REGIONS, all_depots

SAMPLE = Path(__file__).resolve().parent.parent / "scenarios" / "spring-2020-ppe-surge.yaml"
CET = timezone(timedelta(hours=1))
START = datetime(2020, 3, 16, 8, 0, tzinfo=CET)  # a Monday, 07:00 UTC
DEPOTS = {depot.code: depot for depot in all_depots()}  # the demo's own depot list, not a database
ITEM_CODES = {code for code, *_ in ITEMS}
REGION_CODES = {code for code, *_ in REGIONS}


def errors_of(text: str, filename: str | None = None, start: datetime = START) -> list[dict[str, Any]]:
    with pytest.raises(ScenarioError) as raised:
        load_scenario(text, start, filename=filename)
    return raised.value.errors


def locs(errors: list[dict[str, Any]]) -> list[list[Any]]:
    return [error["loc"] for error in errors]


# --- the sample ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample() -> Scenario:
    return scenario_from_path(SAMPLE, START)


def test_the_sample_loads_and_has_every_part_of_a_ppe_surge(sample: Scenario) -> None:
    kinds = Counter(inject.kind for inject in sample.injects)
    assert set(kinds) == {"consumption_surge", "delivery", "delivery_failure", "depot_loss", "request", "message"}
    assert kinds["consumption_surge"] >= 2 and kinds["delivery"] >= 3 and kinds["message"] >= 3
    assert sample.name and sample.description and sample.objectives
    capabilities = {
        "Supply chain coordination",
        "Resource allocation",
        "Situational awareness",
        "Logistics and distribution",
    }
    assert set(sample.capabilities) == capabilities
    assert {c for objective in sample.objectives for c in objective.capabilities} == capabilities

    ats = [inject.at for inject in sample.injects]
    assert ats == sorted(ats), "listed in the order they happen, so a controller can read it"
    assert min(ats) == START  # STARTEX at the start
    assert timedelta(days=14) <= max(ats) - START <= timedelta(days=25)  # about three weeks

    surges = [i for i in sample.injects if isinstance(i, ConsumptionSurge)]
    assert {s.region for s in surges if s.region} == set(SURGE_REGIONS)
    assert all(2.5 <= s.factor <= 3 for s in surges if s.region)

    loss = next(i for i in sample.injects if isinstance(i, DepotLoss))
    assert DEPOTS[loss.depot].kind == "regional" and 0.6 <= loss.fraction <= 1.0

    requests = [i for i in sample.injects if isinstance(i, UrgentRequest)]
    assert {r.priority for r in requests} <= {"critical", "high"} and "critical" in {r.priority for r in requests}
    assert {DEPOTS[r.depot].kind for r in requests} >= {"hospital", "municipal"}
    assert all(r.needed_by is not None and r.needed_by > r.at for r in requests)


def test_the_sample_names_only_what_the_demo_has(sample: Scenario) -> None:
    for inject in sample.injects:
        depot = getattr(inject, "depot", None)
        item = getattr(inject, "item", None)
        assert depot is None or depot in DEPOTS, depot
        assert item is None or item in ITEM_CODES, item
        if depot is not None and item is not None and not isinstance(inject, ConsumptionSurge | DepotLoss):
            assert item in DEPOTS[depot].items, f"{depot} does not hold {item}"
        if isinstance(inject, ConsumptionSurge) and inject.region is not None:
            assert inject.region in REGION_CODES
        if isinstance(inject, DeliveryFailure):
            assert inject.supplier in SUPPLIERS.values()
        if isinstance(inject, Delivery):
            assert inject.supplier == SUPPLIERS[inject.item], "the demo's supplier of the item"
        if isinstance(inject, Delivery | UrgentRequest):
            assert inject.quantity % PACK[inject.item] == 0, "whole cartons"


def test_the_samples_delivery_failure_stops_some_deliveries_and_not_the_rest(sample: Scenario) -> None:
    failure = next(i for i in sample.injects if isinstance(i, DeliveryFailure))
    deliveries = [i for i in sample.injects if isinstance(i, Delivery)]
    stopped = [d for d in deliveries if failure.stops(d)]
    same_supplier = [d for d in deliveries if d.supplier == failure.supplier]
    assert len(stopped) >= 2
    assert any(d.at >= failure.at + timedelta(days=failure.days) for d in same_supplier), "supply resumes"
    assert any(d.at < failure.at for d in same_supplier), "a delivery arrives before the failure"


def test_the_samples_surges_do_not_overlap(sample: Scenario) -> None:
    """Each depot-item-day is under at most one surge, so the file means the same however
    the simulation combines overlapping surges."""
    surges = [i for i in sample.injects if isinstance(i, ConsumptionSurge)]
    for day in range(30):
        day_end = START + timedelta(days=day)
        for code, depot in DEPOTS.items():
            for item in depot.items:
                assert sum(s.covers(day_end, code, depot.region, item) for s in surges) <= 1


def test_the_sample_resolves_against_any_start() -> None:
    """Relative times: the same days and times of day from any start."""
    same_time_of_day = datetime(2026, 11, 2, 8, 0, tzinfo=CET)
    a, b = scenario_from_path(SAMPLE, START), scenario_from_path(SAMPLE, same_time_of_day)
    assert [i.at - START for i in a.injects] == [i.at - same_time_of_day for i in b.injects]
    utc_morning = datetime(2026, 11, 2, 6, 0, tzinfo=UTC)
    c = scenario_from_path(SAMPLE, utc_morning)
    assert [(i.at.astimezone(CET).date() - START.date()).days for i in a.injects] == [
        (i.at.date() - utc_morning.date()).days for i in c.injects
    ]


def test_the_sample_as_json_is_the_same_scenario(sample: Scenario) -> None:
    data = yaml.safe_load(SAMPLE.read_text(encoding="utf-8"))
    assert load_scenario(json.dumps(data, ensure_ascii=False, indent=2), START, "sample.json") == sample
    assert load_scenario(json.dumps(data), START) == sample  # no name: JSON is recognised by its look


# --- times -----------------------------------------------------------------------------------------


def one(text: str, start: datetime = START) -> Any:
    return load_scenario(text, start).injects[0]


def test_relative_times_resolve_in_the_start_time_zone() -> None:
    assert one("injects: [{kind: message, text: x, day: 0}]").at == START
    assert one("injects: [{kind: message, text: x, day: 2}]").at == datetime(2020, 3, 18, 8, 0, tzinfo=CET)
    assert one('injects: [{kind: message, text: x, day: 2, time: "09:30"}]').at == datetime(
        2020, 3, 18, 8, 30, tzinfo=UTC
    )
    assert one('injects: [{kind: message, text: x, day: 1, time: "00:00"}]').at == datetime(
        2020, 3, 16, 23, 0, tzinfo=UTC
    )
    # unquoted 14:30 is a time here, not YAML 1.1's base-60 integer 870
    assert one("injects: [{kind: message, text: x, day: 1, time: 14:30}]").at == datetime(
        2020, 3, 17, 14, 30, tzinfo=CET
    )
    # seconds of the start are kept when no time is given
    start = datetime(2020, 3, 16, 8, 0, 30, tzinfo=UTC)
    assert one("injects: [{kind: message, text: x, day: 3}]", start).at == datetime(2020, 3, 19, 8, 0, 30, tzinfo=UTC)


def test_absolute_times_are_exact_and_kept_in_utc() -> None:
    quoted = one('injects: [{kind: message, text: x, at: "2020-03-17T09:15:00+01:00"}]')
    unquoted = one("injects: [{kind: message, text: x, at: 2020-03-17T09:15:00+01:00}]")
    zulu = one("injects: [{kind: message, text: x, at: 2020-03-17T08:15:00Z}]")
    assert quoted.at == unquoted.at == zulu.at == datetime(2020, 3, 17, 8, 15, tzinfo=UTC)
    assert quoted.at.tzinfo == UTC


def test_needed_by_may_be_relative_or_absolute() -> None:
    relative = one("""injects:
      - {kind: request, depot: D, item: I, quantity: 5, day: 1, time: "09:00", needed_by: {day: 2, time: "12:00"}}""")
    assert relative.needed_by == datetime(2020, 3, 18, 11, 0, tzinfo=UTC)
    absolute = one("""injects:
      - {kind: request, depot: D, item: I, quantity: 5, day: 1, needed_by: "2020-03-18T12:00:00+01:00"}""")
    assert absolute.needed_by == datetime(2020, 3, 18, 11, 0, tzinfo=UTC)


def test_bad_times_are_reported_where_they_are() -> None:
    errors = errors_of("""injects:
      - {kind: message, text: a, day: 1, time: "25:00"}
      - {kind: message, text: b, day: -1}
      - {kind: message, text: c, day: "3"}
      - {kind: message, text: d, time: "09:00"}
      - {kind: message, text: e}
      - {kind: message, text: f, day: 1, at: "2020-03-17T09:00:00+01:00"}
      - {kind: message, text: g, at: "2020-03-17T09:00:00"}
      - {kind: message, text: h, day: 0, time: "07:00"}
      - {kind: message, text: i, at: "2020-03-01T09:00:00Z"}
      - {kind: request, depot: D, item: I, quantity: 1, day: 1, needed_by: {day: 2, time: "9.30"}}
      - {kind: message, text: k, day: 1.0}
      - {kind: message, text: l, day: true}
    """)
    assert locs(errors) == [
        ["injects", 0, "time"],
        ["injects", 1, "day"],
        ["injects", 2, "day"],
        ["injects", 3, "day"],
        ["injects", 4, "at"],
        ["injects", 5, "day"],
        ["injects", 6, "at"],
        ["injects", 7, "time"],  # 07:00 on day 0 is before the 08:00 start
        ["injects", 8, "at"],
        ["injects", 9, "needed_by", "time"],
        ["injects", 10, "day"],
        ["injects", 11, "day"],
    ]
    assert "25:00" in errors[0]["msg"] and "HH:MM" in errors[0]["msg"]
    assert "timezone" in errors[6]["msg"]
    assert "before the scenario starts" in errors[7]["msg"]


# --- every inject kind ---------------------------------------------------------------------------

EVERY_KIND = """
name: every kind
objectives:
  - {title: Keep hospitals supplied, capabilities: [Resource allocation]}
capabilities: [Resource allocation]
injects:
  - {kind: consumption_surge, region: DK-84, factor: 2.5, days: 14, day: 1}
  - {kind: consumption_surge, depot: DK-84-RH, item: FFP3, factor: 3, days: 7, day: 1, time: "06:00"}
  - {kind: delivery, depot: DK-NATIONAL, item: FFP2, quantity: 200_000, supplier: Baltic Glove Trading Ltd,
     lot: L-1, day: 2, time: "07:30", title: delivery, note: n}
  - {kind: delivery_failure, supplier: Baltic Glove Trading Ltd, item: GLOVE-NIT-M, days: 5, day: 2}
  - {kind: delivery_failure, depot: DK-85-CENTRAL, days: 3, day: 2}
  - {kind: depot_loss, depot: DK-85-CENTRAL, fraction: 0.75, day: 3, time: "03:00"}
  - {kind: depot_loss, depot: DK-85-CENTRAL, item: FFP2, fraction: 1, day: 3}
  - {kind: request, depot: DK-84-KBH, item: MASK-IIR, quantity: 20000, priority: critical, day: 4}
  - {kind: request, depot: DK-84-KBH, item: GOWN-ISO, quantity: 500, day: 4}
  - {kind: message, text: "Ministry: report by noon", day: 5}
"""


def test_every_inject_kind_parses() -> None:
    scenario = load_scenario(EVERY_KIND, START)
    surge, depot_surge, delivery, failure, depot_failure, loss, item_loss, request, default, message = scenario.injects
    assert isinstance(surge, ConsumptionSurge) and (surge.region, surge.depot, surge.item) == ("DK-84", None, None)
    assert surge.exact_factor == 2.5 and surge.days == 14
    assert isinstance(depot_surge, ConsumptionSurge) and (depot_surge.depot, depot_surge.item) == ("DK-84-RH", "FFP3")
    assert depot_surge.at == datetime(2020, 3, 17, 5, 0, tzinfo=UTC)
    assert isinstance(delivery, Delivery) and delivery.quantity == 200_000 and delivery.lot == "L-1"
    assert (delivery.title, delivery.note) == ("delivery", "n")
    assert isinstance(failure, DeliveryFailure) and failure.item == "GLOVE-NIT-M" and failure.depot is None
    assert isinstance(depot_failure, DeliveryFailure) and depot_failure.supplier is None
    assert isinstance(loss, DepotLoss) and loss.exact_fraction == 0.75 and loss.item is None
    assert isinstance(item_loss, DepotLoss) and item_loss.fraction == 1 and item_loss.item == "FFP2"
    assert isinstance(request, UrgentRequest) and request.priority == "critical" and request.needed_by is None
    assert isinstance(default, UrgentRequest) and default.priority == "high"
    assert isinstance(message, Message) and message.text == "Ministry: report by noon"
    assert scenario.objectives[0].capabilities == ["Resource allocation"]


# --- bad files ---------------------------------------------------------------------------------------

BAD = """
name: bad
injects:
  - {kind: message, day: 0, text: fine}
  - {kind: fire, day: 1, depot: DK-85-CENTRAL}
  - {kind: consumption_surge, region: DK-84, days: 3, day: 1}
  - {kind: delivery, depot: DK-NATIONAL, item: FFP2, quantity: -400, day: 2}
  - {kind: consumption_surge, depot: DK-84-RH, region: DK-84, factor: 2, days: 3, day: 1}
  - {kind: message, day: 1, time: "25:00", text: late}
  - {kind: delivery, depot: DK-NATIONAL, item: FFP2, day: 2, quantity: 400, qty: 400}
  - {day: 2, text: no kind}
  - {kind: depot_loss, depot: DK-85-CENTRAL, fraction: 1.5, day: 3}
"""


def test_a_bad_file_gives_every_error_with_its_location() -> None:
    errors = errors_of(BAD, "bad.yaml")
    assert locs(errors) == [
        ["injects", 1, "kind"],
        ["injects", 2, "factor"],
        ["injects", 3, "quantity"],
        ["injects", 4],
        ["injects", 5, "time"],
        ["injects", 6, "qty"],
        ["injects", 7, "kind"],
        ["injects", 8, "fraction"],
    ]
    by_index = {error["loc"][1]: error for error in errors}
    assert "unknown kind 'fire'" in by_index[1]["msg"] and "consumption_surge" in by_index[1]["msg"]
    assert by_index[2]["msg"] == "Field required"
    assert "greater than 0" in by_index[3]["msg"]
    assert by_index[4]["msg"] == "a surge names either a depot or a region"
    assert "25:00" in by_index[5]["msg"]
    assert all(set(error) == {"loc", "msg", "type"} for error in errors), "a 422 problem's errors member"
    json.dumps(errors)  # serialisable as is


def test_the_error_message_names_the_file_and_the_first_errors() -> None:
    with pytest.raises(ScenarioError) as raised:
        load_scenario(BAD, START, filename="bad.yaml")
    assert str(raised.value).startswith("bad.yaml: 8 errors: injects.1.kind: unknown kind 'fire'")
    assert "(and 3 more)" in str(raised.value)
    assert isinstance(raised.value, ValueError)


def test_top_level_errors() -> None:
    assert locs(errors_of("")) == [[]]
    assert "empty" in errors_of("# only a comment\n")[0]["msg"]
    assert "mapping" in errors_of("- {kind: message, day: 0, text: x}")[0]["msg"]
    assert locs(errors_of("name: x")) == [["injects"]]
    assert locs(errors_of("injects: []")) == [["injects"]]
    assert locs(errors_of("injects: [{kind: message, day: 0, text: x}]\nowner: me")) == [["owner"]]
    assert locs(errors_of("injects: [{kind: message, day: 0, text: x}]\nobjectives: [{capabilities: []}]")) == [
        ["objectives", 0, "title"]
    ]


def test_bad_yaml_syntax_says_where() -> None:
    [error] = errors_of("name: x\ninjects:\n  - {kind: message, day: 0, text: [unclosed}\n", "s.yaml")
    assert error["loc"] == [] and error["type"] == "syntax_error"
    assert error["msg"].startswith("YAML syntax error at line 3")
    assert error["line"] == 3


def test_a_key_given_twice_is_an_error_not_a_silent_overwrite() -> None:
    [error] = errors_of("injects:\n  - kind: message\n    day: 1\n    text: x\n    day: 2\n")
    assert "'day' is given twice" in error["msg"] and error["line"] == 5
    [error] = errors_of('{"injects": [{"kind": "message", "day": 1, "text": "x", "day": 2}]}', "s.json")
    assert "'day' is given twice" in error["msg"]


def test_yaml_merge_keys_may_be_overridden() -> None:
    scenario = load_scenario(
        """
injects:
  - &nordic {kind: delivery, depot: DK-NATIONAL, item: FFP2, supplier: Nordic Respiratory Protection A/S,
             quantity: 400, day: 1}
  - {<<: *nordic, item: FFP3, quantity: 200, day: 2}
""",
        START,
    )
    first, second = scenario.injects
    assert (second.item, second.quantity, second.supplier) == ("FFP3", 200, first.supplier)


def test_an_alias_bomb_is_refused() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 10)}]" for n in range(1, 8)]
    [error] = errors_of("\n".join(lines) + "\ninjects: *a7\n")
    assert error["type"] == "too_large"


DEEP = 5000  # far past Python's recursion limit (1000): parsing it recursively would overflow the stack


@pytest.mark.parametrize(
    ("text", "filename", "where"),
    [
        ("injects:\n" + "- " * DEEP + "x\n", None, (2, 63)),  # block lists, two characters a level
        ("injects: " + "[" * DEEP + "]" * DEEP, None, (1, 41)),  # flow lists
        ("".join("  " * n + f"k{n}:\n" for n in range(40)), None, (32, 63)),  # block mappings
        ('{"injects": ' + "[" * DEEP + "]" * DEEP + "}", "s.json", None),
        ('{"a": ' * DEEP + "1" + "}" * DEEP, None, None),  # looks like JSON: read as JSON
        ('{"injects": ' + "[" * 40 + "]" * 40 + "}", "s.json", None),  # deeper than the bound, parses fine
        # aliases of aliases: each line is short and one level deep, the value 3,000 levels
        (
            "chain:\n" + "\n".join(f"- &a{n} [{f'*a{n - 1}' if n else 'x'}]" for n in range(3000)) + "\ninjects: []\n",
            None,
            None,
        ),
    ],
    ids=[
        "yaml-block-lists",
        "yaml-flow-lists",
        "yaml-mappings",
        "json-lists",
        "json-objects",
        "json-41",
        "yaml-aliases",
    ],
)
def test_a_file_nested_too_deep_is_refused_with_where(
    text: str, filename: str | None, where: tuple[int, int] | None
) -> None:
    [error] = errors_of(text, filename)
    assert error["type"] == "too_deep" and error["loc"] == []
    assert "nested deeper than 32 levels of mappings and lists" in error["msg"]
    assert (error.get("line"), error.get("column")) == (where or (None, None))


def test_nesting_up_to_the_bound_is_read() -> None:
    """32 levels: the scenario mapping and 31 lists in `injects` (then refused as not an inject);
    one more is too deep."""
    assert errors_of("injects: " + "[" * 31 + "]" * 31) == [
        {
            "loc": ["injects", 0],
            "msg": "an inject is a mapping of fields (kind, at or day, ...)",
            "type": "model_attributes_type",
        }
    ]
    assert [e["type"] for e in errors_of("injects: " + "[" * 32 + "]" * 32)] == ["too_deep"]


# --- JSON --------------------------------------------------------------------------------------------


def test_json_works_too() -> None:
    text = json.dumps(
        {
            "name": "json",
            "injects": [
                {
                    "kind": "delivery",
                    "depot": "DK-NATIONAL",
                    "item": "FFP2",
                    "quantity": 400,
                    "day": 1,
                    "time": "07:30",
                },
                {"kind": "message", "at": "2020-03-18T09:00:00+01:00", "text": "x"},
            ],
        }
    )
    for name in ("s.json", None, "s.yaml"):
        delivery, message = load_scenario(text, START, name).injects
        assert delivery.at == datetime(2020, 3, 17, 6, 30, tzinfo=UTC)
        assert message.at == datetime(2020, 3, 18, 8, 0, tzinfo=UTC)


def test_json_errors_are_located_like_yaml_errors() -> None:
    text = json.dumps(
        {
            "injects": [
                {"kind": "consumption_surge", "region": "DK-84", "day": 0, "days": 3},
                {"kind": "delivery", "depot": "D", "item": "I", "quantity": 0, "day": 0},
            ]
        }
    )
    assert locs(errors_of(text, "s.json")) == [["injects", 0, "factor"], ["injects", 1, "quantity"]]


def test_json_syntax_errors_are_reported_as_json() -> None:
    broken = '{"name": "x",\n "injects": [\n  {"kind": "message", "day": 0 "text": "x"}\n ]\n}'
    for name in ("s.json", None):
        [error] = errors_of(broken, name)
        assert error["msg"] == "JSON syntax error at line 3, column 32: Expecting ',' delimiter", error["msg"]
        assert (error["line"], error["column"]) == (3, 32)


def test_a_trailing_comma_is_an_error_in_a_json_file_and_read_as_yaml_otherwise() -> None:
    """YAML reads `[a, b,]` as `[a, b]`; only a file named .json is held to JSON's rules."""
    text = '{"injects": [{"kind": "message", "day": 0, "text": "x"},]}'
    [error] = errors_of(text, "s.json")
    assert error["msg"].startswith("JSON syntax error at line 1, column 57")
    assert len(load_scenario(text, START).injects) == 1


def test_a_yaml_flow_mapping_is_still_yaml() -> None:
    assert len(load_scenario("{injects: [{kind: message, day: 0, text: hi}]}", START).injects) == 1


def test_files_from_disk(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_text('{"injects": [{"kind": "message", "day": 0, "text": "x",}]}', encoding="utf-8")
    with pytest.raises(ScenarioError) as raised:
        scenario_from_path(path, START)
    assert raised.value.filename == str(path) and "JSON syntax error" in raised.value.errors[0]["msg"]
    path.write_bytes(b"injects: [{kind: message, day: 0, text: \xff}]")
    with pytest.raises(ScenarioError, match="not UTF-8"):
        scenario_from_path(path, START)
    path = tmp_path / "s.yaml"
    path.write_text("\ufeffinjects: [{kind: message, day: 0, text: Sjælland}]", encoding="utf-8")
    assert scenario_from_path(path, START).injects[0].text == "Sjælland"


def test_the_start_must_be_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        load_scenario("injects: [{kind: message, day: 0, text: x}]", datetime(2020, 3, 16, 8))
