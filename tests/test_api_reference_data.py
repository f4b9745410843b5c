"""Reference data over HTTP: the item catalogue, the depot directory and stock obligations."""

from __future__ import annotations

import pytest
from api_helpers import (
    A_CLINIC,
    A_NORTH,
    B_SOUTH,
    DEPOTS,
    FFP2,
    GLOVE,
    ITEMS,
    created,
    dispatch,
    error_locations,
    is_utc_text,
    nothing_stored,
    ok,
    problem,
    production_logging,  # noqa: F401 - an autouse fixture
    receive_stock,
    seed,
    stock,
)

MASK = {"code": "MASK-IIR", "name": "Surgical mask type IIR", "unit": "piece", "category": "ppe"}
PARACETAMOL = {
    "code": "PCM-500",
    "name": "Paracetamol 500 mg",
    "unit": "tablet",
    "category": "medicine",
    "atc_code": "N02BE01",
}
DEPOT = {"code": "C-EAST", "name": "East municipality", "region": "east", "organisation": "org-c", "kind": "municipal"}


# --- items ---------------------------------------------------------------------------------


def test_coordinator_defines_an_item_and_it_appears_in_the_catalogue(api):
    body = created(api.post("/v1/items", PARACETAMOL))

    assert body == {**PARACETAMOL, "gtins": [], "position": 1, "recorded_at": body["recorded_at"]}
    assert is_utc_text(body["recorded_at"])
    assert ok(api.get("/v1/items")) == [{**PARACETAMOL, "gtins": []}]


def test_an_item_without_atc_code_lists_it_as_null(api):
    created(api.post("/v1/items", MASK))

    assert ok(api.get("/v1/items")) == [{**MASK, "atc_code": None, "gtins": []}]


def test_defining_an_item_code_twice_is_a_conflict_and_stores_nothing(api):
    created(api.post("/v1/items", MASK))

    with nothing_stored(api):
        body = problem(api.post("/v1/items", {**MASK, "name": "Another name"}), 409)

    assert body["title"] == "Duplicate code"
    assert body["code"] == MASK["code"]
    assert ok(api.get("/v1/items")) == [{**MASK, "atc_code": None, "gtins": []}]


INVALID_ITEMS = [
    ({"category": "food"}, "body.category"),
    ({"code": "has space"}, "body.code"),
    ({"code": ""}, "body.code"),
    ({"atc_code": "not-an-atc"}, "body.atc_code"),
    ({"unit": ""}, "body.unit"),
    ({"colour": "blue"}, "body.colour"),
]


def test_an_invalid_item_is_refused_with_the_field_in_error(api):
    with nothing_stored(api):
        for change, field in INVALID_ITEMS:
            body = problem(api.post("/v1/items", {**MASK, **change}), 422)
            assert field in error_locations(body), (change, body)


def test_an_item_with_several_bad_fields_reports_every_field_error(api):
    with nothing_stored(api):
        body = problem(api.post("/v1/items", {"code": "X", "category": "food", "unit": 5}), 422)

    assert error_locations(body) == {"body.name", "body.category", "body.unit"}


# --- depots ----------------------------------------------------------------------------------


def test_coordinator_registers_a_depot_and_gets_its_version_and_position(api):
    body = created(api.post("/v1/depots", DEPOT))

    assert body == {
        **DEPOT,
        "population_served": None,
        "version": 1,
        "position": 1,
        "recorded_at": body["recorded_at"],
    }
    assert is_utc_text(body["recorded_at"])


def test_registering_a_depot_code_twice_is_a_conflict_and_keeps_the_first(api):
    created(api.post("/v1/depots", DEPOT))

    with nothing_stored(api):
        body = problem(api.post("/v1/depots", {**DEPOT, "name": "Impostor", "organisation": "org-z"}), 409)

    assert body["title"] == "Duplicate code"
    assert body["code"] == DEPOT["code"]
    depot = ok(api.get(f"/v1/depots/{DEPOT['code']}"))
    assert (depot["name"], depot["organisation"]) == (DEPOT["name"], DEPOT["organisation"])


INVALID_DEPOTS = [
    ({"kind": "castle"}, "body.kind"),
    ({"population_served": -1}, "body.population_served"),
    ({"population_served": "5000"}, "body.population_served"),
    ({"population_served": 12.5}, "body.population_served"),
    ({"region": "north east"}, "body.region"),
    ({"manager": "someone"}, "body.manager"),
]


def test_an_invalid_depot_is_refused_with_the_field_in_error(api):
    with nothing_stored(api):
        for change, field in INVALID_DEPOTS:
            body = problem(api.post("/v1/depots", {**DEPOT, **change}), 422)
            assert field in error_locations(body), (change, body)


def test_a_depot_missing_required_fields_reports_each_of_them(api):
    with nothing_stored(api):
        body = problem(api.post("/v1/depots", {"code": "C-EAST"}), 422)

    assert error_locations(body) == {"body.name", "body.region", "body.organisation", "body.kind"}


def test_the_depot_directory_lists_every_depot(api):
    seed(api)

    listed = ok(api.get("/v1/depots"))

    expected = [{"population_served": None, **depot} for depot in DEPOTS]
    assert sorted(listed, key=lambda d: d["code"]) == sorted(expected, key=lambda d: d["code"])


DIRECTORY_FILTERS = [
    ({"region": "north"}, {A_NORTH, A_CLINIC}),
    ({"region": "south"}, {B_SOUTH}),
    ({"organisation": "org-a"}, {A_NORTH, A_CLINIC}),
    ({"organisation": "org-b"}, {B_SOUTH}),
    ({"kind": "hospital"}, {B_SOUTH}),
    ({"kind": "municipal"}, {A_CLINIC}),
    ({"region": "north", "kind": "regional"}, {A_NORTH}),
    ({"region": "north", "organisation": "org-b"}, set()),
    ({"kind": "wholesaler"}, set()),
    ({"region": "nowhere"}, set()),
]


def test_the_depot_directory_filters_by_region_organisation_and_kind(api):
    seed(api)

    for filters, codes in DIRECTORY_FILTERS:
        listed = ok(api.get("/v1/depots", **filters))
        assert {depot["code"] for depot in listed} == codes, filters


def test_filtering_depots_by_an_unknown_kind_is_invalid(api):
    problem(api.get("/v1/depots", kind="castle"), 422)


def test_one_depot_shows_its_version_obligations_open_transfers_and_requests(api):
    seed(api)
    ok(api.put(f"/v1/depots/{A_NORTH}/obligations/{FFP2}", {"min_days": 90}))
    receive_stock(api, A_NORTH, 100)
    created(dispatch(api, A_NORTH, B_SOUTH, 10))
    created(api.post(f"/v1/depots/{A_NORTH}/requests", {"item": GLOVE, "quantity": 500}))

    depot = ok(api.get(f"/v1/depots/{A_NORTH}"))

    assert depot == {
        "code": A_NORTH,
        "name": "North regional store",
        "region": "north",
        "organisation": "org-a",
        "kind": "regional",
        "population_served": None,
        "version": 5,
        "obligations": {FFP2: 90},
        "obligation_bases": {FFP2: "recent_consumption"},
        "open_transfers": 1,
        "open_requests": 1,
    }
    destination = ok(api.get(f"/v1/depots/{B_SOUTH}"))
    assert (destination["version"], destination["open_transfers"], destination["population_served"]) == (2, 1, 50_000)


def test_an_unknown_depot_is_404(api):
    body = problem(api.get("/v1/depots/NOWHERE"), 404)

    assert body["title"] == "Unknown depot"
    problem(api.get("/v1/depots/NOWHERE/stock"), 404)


# --- obligations -------------------------------------------------------------------------------


def test_setting_an_obligation_answers_200_and_shows_in_stock(api):
    seed(api)

    body = ok(api.put(f"/v1/depots/{A_NORTH}/obligations/{FFP2}", {"min_days": 90}))

    assert body == {
        "depot": A_NORTH,
        "item": FFP2,
        "min_days": 90,
        "basis": "recent_consumption",
        "share_of_year": None,
        "years": None,
        "exclude_years": [],
        "daily_quantity": None,
        "version": 2,
        "position": api.position(),
        "recorded_at": body["recorded_at"],
    }
    assert is_utc_text(body["recorded_at"])
    line = stock(api, A_NORTH)
    assert (line["min_days"], line["basis"], line["required"], line["meets_obligation"]) == (
        90,
        "recent_consumption",
        0,
        None,
    )


def test_setting_an_obligation_again_replaces_it(api):
    seed(api)
    ok(api.put(f"/v1/depots/{A_NORTH}/obligations/{FFP2}", {"min_days": 90}))

    body = ok(api.put(f"/v1/depots/{A_NORTH}/obligations/{FFP2}", {"min_days": 180}))

    assert (body["min_days"], body["version"]) == (180, 3)
    assert ok(api.get(f"/v1/depots/{A_NORTH}"))["obligations"] == {FFP2: 180}
    assert stock(api, A_NORTH)["min_days"] == 180


def test_an_obligation_for_an_unknown_depot_or_item_is_404_and_stores_nothing(api):
    seed(api)

    with nothing_stored(api):
        assert problem(api.put(f"/v1/depots/NOWHERE/obligations/{FFP2}", {"min_days": 90}), 404)["title"] == (
            "Unknown depot"
        )
        assert problem(api.put(f"/v1/depots/{A_NORTH}/obligations/NOTHING", {"min_days": 90}), 404)["title"] == (
            "Unknown item"
        )


def test_an_obligation_needs_a_positive_whole_number_of_days(api):
    seed(api)

    with nothing_stored(api):
        for min_days in (0, -5, "90", 9.5, True, None, 3651):
            body = problem(api.put(f"/v1/depots/{A_NORTH}/obligations/{FFP2}", {"min_days": min_days}), 422)
            assert "body.min_days" in error_locations(body), min_days


# --- who may register ------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["operator", "auditor"])
def test_only_coordinators_and_admins_may_register_reference_data(api, role):
    seed(api)

    with nothing_stored(api):
        for response in (
            api.post("/v1/items", MASK, role=role),
            api.post("/v1/depots", {**DEPOT, "organisation": "org-a"}, role=role),
            api.put(f"/v1/depots/{A_NORTH}/obligations/{FFP2}", {"min_days": 90}, role=role),
        ):
            body = problem(response, 403)
            assert body["title"] == "Forbidden"


def test_an_admin_may_register_reference_data(api):
    created(api.post("/v1/items", MASK, role="admin"))
    created(api.post("/v1/depots", DEPOT, role="admin"))
    ok(api.put(f"/v1/depots/{DEPOT['code']}/obligations/{MASK['code']}", {"min_days": 30}, role="admin"))


def test_every_role_may_read_reference_data(api):
    seed(api)

    for role in ("operator", "auditor", "coordinator", "admin"):
        assert {item["code"] for item in ok(api.get("/v1/items", role=role))} == {item["code"] for item in ITEMS}
        assert len(ok(api.get("/v1/depots", role=role))) == 3
        assert ok(api.get(f"/v1/depots/{B_SOUTH}", role=role))["code"] == B_SOUTH
