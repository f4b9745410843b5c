"""Items' GTINs (docs/gs1.md): given when an item is defined or set later, kept as GTIN-14,
one item per GTIN (also across processes sharing a database), and found by any of their forms."""

from __future__ import annotations

import orjson
import pytest
from api_helpers import PROBLEM_JSON, created, error_locations, feed, is_utc_text, nothing_stored, ok, problem
from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic

from domain import commands as c
from domain import events as ev
from domain.exceptions import DuplicateCode, UnknownItem
from domain.gs1 import normalise_gtin
from domain.ids import item_id
from domain.item import Item
from ledger.application import Context, Ledger
from ledger.demo_world import GTINS, ITEMS
from ledger.persistence import OrjsonTranscoder, PydanticMapper
from ledger.settings import Database

MASK = {"code": "MASK-IIR", "name": "Surgical mask type IIR", "unit": "piece", "category": "ppe"}
GOWN = {"code": "GOWN-ISO", "name": "Isolation gown", "unit": "piece", "category": "ppe"}
MASK_13 = "5712345678923"  # a GTIN-13 ...
MASK_14 = "05712345678923"  # ... and the same number as GTIN-14
CARTON_14 = "15712345678920"  # the carton of masks: packaging indicator 1, its own check digit
GTIN_8 = "96385074"
CTX = Context(actor="gtin-tester")


def items(api) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    return {item["code"]: item["gtins"] for item in ok(api.get("/v1/items"))}


def test_an_item_defined_with_gtins_keeps_them_as_gtin_14(api):
    body = created(api.post("/v1/items", {**MASK, "gtins": [CARTON_14, MASK_13]}))

    assert body["gtins"] == [MASK_14, CARTON_14]
    assert items(api) == {"MASK-IIR": [MASK_14, CARTON_14]}
    [defined] = feed(api)
    assert (defined["type"], defined["data"]["gtins"]) == ("ItemDefined", [MASK_14, CARTON_14])


def test_setting_an_item_gtins_replaces_them(api):
    created(api.post("/v1/items", {**MASK, "gtins": [MASK_13]}))

    body = ok(api.put("/v1/items/MASK-IIR/gtins", {"gtins": [CARTON_14, GTIN_8]}))

    assert body["item"] == "MASK-IIR" and body["gtins"] == ["00000096385074", CARTON_14]
    assert body["position"] == 2 and body["version"] == 2 and is_utc_text(body["recorded_at"])
    assert items(api) == {"MASK-IIR": ["00000096385074", CARTON_14]}
    assert feed(api)[-1]["type"] == "ItemGtinsSet"
    # the GTIN it gave up is free for another item
    assert created(api.post("/v1/items", {**GOWN, "gtins": [MASK_14]}))["gtins"] == [MASK_14]
    assert ok(api.put("/v1/items/MASK-IIR/gtins", {"gtins": []}))["gtins"] == []
    assert items(api) == {"GOWN-ISO": [MASK_14], "MASK-IIR": []}


def test_a_gtin_of_another_item_is_a_conflict_in_any_of_its_forms(api):
    created(api.post("/v1/items", {**MASK, "gtins": [MASK_13]}))
    created(api.post("/v1/items", GOWN))

    with nothing_stored(api):
        for refused in (
            api.post("/v1/items", {**GOWN, "code": "GOWN-2", "gtins": [MASK_14]}),
            api.put("/v1/items/GOWN-ISO/gtins", {"gtins": [GTIN_8, MASK_14]}),
            api.put("/v1/items/GOWN-ISO/gtins", {"gtins": [MASK_13]}),
        ):
            body = problem(refused, 409)
            assert (body["title"], body["code"], body["item"]) == ("Duplicate code", MASK_14, "MASK-IIR")
            assert "MASK-IIR" in body["detail"]
    # giving an item a GTIN it already has is no conflict
    assert ok(api.put("/v1/items/MASK-IIR/gtins", {"gtins": [MASK_14, CARTON_14]}))["gtins"] == [MASK_14, CARTON_14]


BAD_GTINS = [
    (["5712345678924"], {"body.gtins.0"}),  # wrong check digit
    (["571234567892"], {"body.gtins.0"}),  # 12 digits, wrong check digit for a GTIN-12
    (["12345"], {"body.gtins.0"}),
    ([MASK_13, "abcdefghijklm", "1234567890123456"], {"body.gtins.1", "body.gtins.2"}),
    ([MASK_13, MASK_14], {"body.gtins"}),  # one product named twice
    ([5712345678923], {"body.gtins.0"}),  # a number, not text
    ("05712345678923", {"body.gtins"}),
]


def test_bad_gtins_are_refused_with_their_field_errors(api):
    created(api.post("/v1/items", GOWN))

    with nothing_stored(api):
        for gtins, locations in BAD_GTINS:
            for response in (
                api.post("/v1/items", {**MASK, "gtins": gtins}),
                api.put("/v1/items/GOWN-ISO/gtins", {"gtins": gtins}),
            ):
                assert error_locations(problem(response, 422)) == locations, gtins
    assert items(api) == {"GOWN-ISO": []}


def test_only_a_coordinator_sets_gtins_and_only_of_a_known_item(api):
    created(api.post("/v1/items", MASK))

    with nothing_stored(api):
        problem(api.put("/v1/items/MASK-IIR/gtins", {"gtins": [MASK_13]}, role="operator"), 403)
        problem(api.put("/v1/items/MASK-IIR/gtins", {"gtins": [MASK_13]}, role="auditor"), 403)
        assert problem(api.put("/v1/items/NOPE/gtins", {"gtins": [MASK_13]}), 404)["title"] == "Unknown item"
        assert error_locations(problem(api.put("/v1/items/MASK-IIR/gtins", {}), 422)) == {"body.gtins"}
    response = api.put("/v1/items/MASK-IIR/gtins", {"gtins": [MASK_13]}, **{"Idempotency-Key": "g1"})
    again = api.put("/v1/items/MASK-IIR/gtins", {"gtins": [MASK_13]}, **{"Idempotency-Key": "g1"})
    assert ok(again) == ok(response) and again.headers["Idempotent-Replayed"] == "true"
    assert response.headers["content-type"] != PROBLEM_JSON


def test_item_for_gtin_takes_any_form_and_follows_every_process(database_url):
    first, second = Ledger(Database(database_url).env()), Ledger(Database(database_url).env())
    try:
        first.define_item(c.DefineItem(**MASK, gtins=[MASK_13]), CTX)
        first.define_item(c.DefineItem(**GOWN), CTX)
        for form in (MASK_13, MASK_14, f" {MASK_14} "):
            assert second.item_for_gtin(form) == "MASK-IIR"
        assert second.item("MASK-IIR").gtins == (MASK_14,)

        second.set_item_gtins("GOWN-ISO", c.SetItemGtins(gtins=[GTIN_8]), CTX)
        for form in (GTIN_8, "000096385074", "0000096385074", "00000096385074"):  # as GTIN-8, -12, -13, -14
            assert first.item_for_gtin(form) == "GOWN-ISO"
        second.set_item_gtins("MASK-IIR", c.SetItemGtins(gtins=[]), CTX)
        for unknown in (MASK_13, "5712345678924", "not a gtin"):
            with pytest.raises(UnknownItem):
                first.item_for_gtin(unknown)
    finally:
        first.close()
        second.close()


def test_two_processes_giving_one_gtin_to_two_items_store_only_the_first(database_url, monkeypatch):
    """The second decided before the first was stored (it saw the GTIN free): the index's key
    refuses its save, and decided again it is refused as a duplicate."""
    first, second = Ledger(Database(database_url).env()), Ledger(Database(database_url).env())
    try:
        stale_checks = iter([True])
        original = Ledger._refuse_taken_gtins

        def decided_before_the_first_was_stored(self, item, gtins):  # type: ignore[no-untyped-def]
            if self is second and next(stale_checks, False):
                return None  # what the check saw before the first save
            return original(self, item, gtins)

        monkeypatch.setattr(Ledger, "_refuse_taken_gtins", decided_before_the_first_was_stored)
        first.define_item(c.DefineItem(**MASK, gtins=[MASK_13]), CTX)
        position = first.position()
        with pytest.raises(DuplicateCode, match="MASK-IIR"):
            second.define_item(c.DefineItem(**GOWN, gtins=[MASK_14]), CTX)
        assert second.position() == position
        assert [row["code"] for row in second.journal.items()] == ["MASK-IIR"]
        assert second.item_for_gtin(MASK_14) == "MASK-IIR"
    finally:
        first.close()
        second.close()


def test_the_demo_items_have_valid_distinct_gtins():
    every = [gtin for gtins in GTINS.values() for gtin in gtins]
    assert set(GTINS) == {code for code, *_ in ITEMS}
    assert all(gtins for gtins in GTINS.values())
    assert [normalise_gtin(gtin) for gtin in every] == every and len(set(every)) == len(every)


def test_an_item_defined_before_gtins_existed_reads_back_without_any():
    """Events are stored forever: an ItemDefined written before `gtins` existed still reads."""
    mapper = PydanticMapper(transcoder=OrjsonTranscoder())
    old = orjson.dumps(
        {
            "originator_id": str(item_id("MASK-IIR")),
            "originator_version": 1,
            "timestamp": "2026-03-01T08:00:00+00:00",
            "occurred_at": "2026-03-01T08:00:00+00:00",
            "actor": "coordinator",
            "source": "api",
            "command_id": "c-1",
            **MASK,
            "atc_code": None,
        }
    )
    event = mapper.to_domain_event(StoredEvent(item_id("MASK-IIR"), 1, get_topic(ev.ItemDefined), old))

    assert isinstance(event, ev.ItemDefined) and event.gtins == ()
    assert Item.created(event).gtins == ()
