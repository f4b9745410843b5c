"""The OpenAPI document as client teams generate code from it (issue 13, "Contract").

Every schema has one clean name (two models titled `TimelineEntry` made a generator drop
the exercise review's response); every error of every operation is described as the
`Problem` body it is; and the time parameters say where a bare date falls in its day.
"""

from __future__ import annotations

import re
import types
import typing
from typing import Any

import pytest
from fastapi.routing import APIRoute
from pydantic import BaseModel

from api.app import create_app
from api.problems import PROBLEM_JSON, FieldError, Problem

CLEAN_NAME = re.compile(r"^[A-Z][A-Za-z0-9]*$")
PROBLEM_REF = {"schema": {"$ref": "#/components/schemas/Problem"}}
OUTCOME = {"application/fhir+json": {"schema": {"$ref": "#/components/schemas/FhirOperationOutcome"}}}
EVERY_V1_ERROR = {"401", "403", "404", "409", "422", "500", "503"}


@pytest.fixture(scope="module")
def app():  # type: ignore[no-untyped-def]
    return create_app()


@pytest.fixture(scope="module")
def document(app) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    return app.openapi()


def models_in(annotation: Any, found: dict[type[BaseModel], None]) -> None:
    """Every pydantic model an annotation reaches, through unions, lists and nested fields."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if annotation not in found:
            found[annotation] = None
            for field in annotation.model_fields.values():
                models_in(field.annotation, found)
        return
    for argument in typing.get_args(annotation):
        models_in(argument, found)
    if isinstance(annotation, types.UnionType):
        for argument in annotation.__args__:
            models_in(argument, found)


def api_routes(routes: list[Any]) -> typing.Iterator[APIRoute]:
    """Every operation, also inside the routers the app includes (FastAPI keeps them as routers)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):
            yield from api_routes(route.original_router.routes)


def reachable_models(app) -> list[type[BaseModel]]:  # type: ignore[no-untyped-def]
    found: dict[type[BaseModel], None] = {}
    for route in api_routes(app.routes):
        models_in(route.response_model, found)
        if route.body_field is not None:
            models_in(route.body_field.field_info.annotation, found)
        for parameter in route.dependant.body_params:
            models_in(parameter.field_info.annotation, found)
    models_in(Problem, found)
    return list(found)


def test_no_two_models_share_a_schema_name_and_every_name_is_clean(app, document) -> None:  # type: ignore[no-untyped-def]
    models = reachable_models(app)
    by_name: dict[str, list[str]] = {}
    for model in models:
        by_name.setdefault(model.__name__, []).append(f"{model.__module__}.{model.__qualname__}")
    assert {name: where for name, where in by_name.items() if len(where) > 1} == {}
    # The review's timeline and the depot timeline are both there, under names of their own.
    assert {"TimelineEntry", "ReviewTimelineEntry", "ExerciseReview", "Problem", "FieldError"} <= set(by_name)

    schemas = document["components"]["schemas"]
    assert [name for name in schemas if not CLEAN_NAME.match(name)] == []  # no module-qualified names
    assert set(schemas) <= set(by_name)
    review = schemas["ExerciseReview"]["properties"]["timeline"]
    assert review["items"] == {"$ref": "#/components/schemas/ReviewTimelineEntry"}
    assert "kind" in schemas["ReviewTimelineEntry"]["properties"]
    assert "balance" in schemas["TimelineEntry"]["properties"]


def test_every_error_response_of_every_operation_is_a_problem(document) -> None:  # type: ignore[no-untyped-def]
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            errors = {status for status in responses if status[0] in "45"}
            for status in errors:
                # /fhir answers FHIR's own error resource (docs/fhir.md); everything else a Problem
                expected = OUTCOME if path.startswith("/fhir/") else {PROBLEM_JSON: PROBLEM_REF}
                assert responses[status]["content"] == expected, (method, path, status)
            if path.startswith(("/v1/", "/fhir/")):
                assert EVERY_V1_ERROR <= errors, (method, path, EVERY_V1_ERROR - errors)
                assert "Retry-After" in responses["503"]["headers"], (method, path)
            if "requestBody" in operation:
                assert {"400", "413"} <= errors, (method, path)

    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas and "ValidationError" not in schemas
    problem = schemas["Problem"]
    assert set(problem["required"]) == {"type", "title", "status", "detail"}
    assert {"instance", "errors", "available", "requested", "depot", "item"} <= set(problem["properties"])
    assert problem["additionalProperties"] is True  # a problem may carry members added later
    errors = problem["properties"]["errors"]["anyOf"][0]
    assert errors["items"] == {"$ref": "#/components/schemas/FieldError"}
    assert set(schemas["FieldError"]["required"]) == {"loc", "msg", "type"}


def test_the_problem_model_reads_the_bodies_the_service_answers() -> None:
    """The model is the body `api.problems` writes: an insufficient stock 409 and a 422."""
    stock = Problem.model_validate(
        {
            "type": "https://supply-ledger.example/problems/insufficient-stock",
            "title": "Insufficient stock",
            "status": 409,
            "detail": "A-NORTH cannot dispatch 500 FFP2: only 100 available",
            "depot": "A-NORTH",
            "item": "FFP2",
            "available": 100,
            "requested": 500,
        }
    )
    assert (stock.available, stock.requested, stock.errors) == (100, 500, None)
    invalid = Problem.model_validate(
        {
            "type": "https://supply-ledger.example/problems/invalid-request",
            "title": "Invalid request",
            "status": 422,
            "detail": "the request is not valid: body.quantity: must be positive",
            "errors": [{"loc": ["body", "quantity"], "msg": "must be positive", "type": "greater_than"}],
        }
    )
    assert invalid.errors == [FieldError(loc=["body", "quantity"], msg="must be positive", type="greater_than")]


BARE_DATE_STARTS = {"from", "since"}
BARE_DATE_ENDS = {"as_of", "known_at", "to", "until"}


def test_every_time_parameter_says_where_a_bare_date_falls_in_its_day(document) -> None:  # type: ignore[no-untyped-def]
    """`from` and `since` open a range: a bare date is the start of that UTC day; `as_of`,
    `known_at`, `to` and `until`: its end (API.md, "Conventions")."""
    seen: dict[str, int] = {}
    for path, operations in document["paths"].items():
        for operation in operations.values():
            for parameter in operation.get("parameters", ()):
                name = parameter["name"]
                if parameter["in"] != "query" or name not in BARE_DATE_STARTS | BARE_DATE_ENDS:
                    continue
                if name in ("from", "to") and not path.endswith("/timeline"):
                    continue  # GET /v1/transfers?from=&to= are depots
                text = parameter["description"]
                where = "start" if name in BARE_DATE_STARTS else "end"
                assert f"A bare date (`{name}=2020-03-05`) means the {where} of that UTC day" in text, (path, name)
                seen[name] = seen.get(name, 0) + 1
    assert set(seen) == BARE_DATE_STARTS | BARE_DATE_ENDS
    assert seen["since"] == 2 and seen["from"] == 2  # /v1/late and its exercise twin, each timeline
