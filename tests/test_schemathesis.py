"""A seeded schemathesis run over the whole OpenAPI document, on SQLite and PostgreSQL.

Every operation gets a few generated requests that fit its schema and a few that do not,
each sent with the token of a role drawn from all four (admin, coordinator, operator,
auditor). Path parameters are often swapped for the depots, items, transfer, request,
allocation and exercise of a small world, so that requests reach the ledger instead of
stopping at 404. The run must find no 5xx, no status, content type, header or body the
document does not declare, and no invalid request accepted.

Bounded and reproducible: `derandomize=True` makes every run send the same requests;
EXAMPLES per operation and mode keep it to a few hundred requests per backend.

Not fuzzed: `POST /v1/exercises` (each exercise is a ledger of its own: the run would
create one per valid body; the world below creates one through it instead), and
`POST /v1/exercises/{exercise}/advance` and `/end` with the world's exercise (advancing
by generated years of simulated days is unbounded work; ending it would stop every later
exercise write) - they are still fuzzed with generated exercise codes.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from typing import Any

import hypothesis
import pytest
import schemathesis
import structlog
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api_helpers import A_CLINIC, A_NORTH, B_SOUTH, FFP2, created, dispatch, ok
from tests.exercise_world import CODE as EXERCISE
from tests.exercise_world import build_live, create

EXAMPLES = 4
"""Generated requests per operation and mode (positive, negative)."""
ROLES = ("admin", "coordinator", "operator", "auditor")
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]
"""Not `negative_data_rejection`: the service ignores query parameters it does not know (as
HTTP services do), and the check counts the token this test always sends as a negation of
the document's security scheme; tests/test_api_*bad_input.py check refusals one by one."""
NOT_FUZZED = {("POST", "/v1/exercises")}
UNBOUNDED_WITH_A_REAL_EXERCISE = {"/v1/exercises/{exercise}/advance", "/v1/exercises/{exercise}/end"}


def build_world(api: Any) -> dict[str, list[str]]:
    """The live ledger of tests/exercise_world.py, an exercise forked from it, one open
    transfer, supply request and allocation, a distribution model, a webhook subscription and
    an import: the values path parameters are drawn from."""
    fork_at = build_live(api)
    create(api, fork_at)
    transfer = created(dispatch(api, A_NORTH, A_CLINIC, 10))["transfer_id"]
    request = created(api.post(f"/v1/depots/{B_SOUTH}/requests", {"item": FFP2, "quantity": 50}))["request_id"]
    allocation = created(
        api.post(
            "/v1/allocations",
            {
                "from": A_NORTH,
                "item": FFP2,
                "quantity": 40,
                "recipients": [A_CLINIC, B_SOUTH],
                "policy": "equal_days_of_supply",
            },
        )
    )["allocation_id"]
    model = "national-ppe"
    sectors = [{"name": "hospitals", "kinds": ["hospital"], "share": "0.9"}]
    rules = {"sectors": sectors, "reserve": "0.1", "within": "proportional_to_population"}
    subscription = created(api.post("/v1/subscriptions", {"url": "http://127.0.0.1:9/hook", "secret": "s" * 16}))
    report = f"depot,item,date,on_hand\n{A_NORTH},{FFP2},2020-03-01,400\n"  # past on both clocks
    for ledger in ("/v1", f"/v1/exercises/{EXERCISE}"):  # the same import id in both (same principal and file)
        ok(api.put(f"{ledger}/distribution-models/{model}", rules))
        imported = api.client.post(
            f"{ledger}/imports",
            content=report.encode(),
            params={"kind": "stock_report"},
            headers={"Authorization": f"Bearer {api.tokens['coordinator']}", "Content-Type": "text/csv"},
        )
    return {
        "name": [model],
        "subscription_id": [subscription["subscription_id"]],
        "import_id": [created(imported)["import_id"]],
        "code": [A_NORTH, A_CLINIC, B_SOUTH],
        "item": [FFP2],
        "transfer_id": [transfer],
        "request_id": [request],
        "allocation_id": [allocation],
        "exercise": [EXERCISE],
    }


@pytest.fixture
def quiet() -> Iterator[None]:
    """Hundreds of request log lines would only bury a failure's report (which quotes each failure)."""
    previous = structlog.get_config()
    structlog.configure(logger_factory=structlog.ReturnLoggerFactory(), cache_logger_on_first_use=False)
    logging.disable(logging.INFO)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)
        structlog.configure(**previous)


def test_no_operation_answers_5xx_or_outside_its_schema(api, quiet) -> None:  # type: ignore[no-untyped-def]
    world = build_world(api)
    app = api.client.app

    async def requests_only(scope, receive, send):  # type: ignore[no-untyped-def]
        """The app without its lifespan: the test client already runs it, on the stores under test."""
        if scope["type"] != "lifespan":
            await app(scope, receive, send)

    schema = schemathesis.openapi.from_dict(app.openapi())
    schema.app = requests_only
    failures: dict[str, str] = {}
    statuses: Counter[tuple[str, int]] = Counter()

    for result in schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) in NOT_FUZZED:
            continue
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            run_operation(operation, mode, world, api.tokens, failures, statuses)

    assert not failures, "\n\n".join(f"{label}:\n{report}" for label, report in sorted(failures.items()))
    called = {label for label, _ in statuses}
    expected = {f"{o.ok().method.upper()} {o.ok().path}" for o in schema.get_all_operations()}
    assert called == expected - {f"{m} {p}" for m, p in NOT_FUZZED}
    answered = {label for (label, status) in statuses if status < 300}
    # The world makes the run reach the ledger: most operations answer 2xx at least once.
    assert len(answered) >= len(called) * 2 // 3, sorted(called - answered)
    assert {status for _, status in statuses} >= {200, 201, 403, 404, 409, 422}, sorted(set(statuses.values()))


def run_operation(operation, mode, world, tokens, failures, statuses) -> None:  # type: ignore[no-untyped-def]
    label = f"{operation.method.upper()} {operation.path}"
    names = [name for name in world if "{" + name + "}" in operation.path]
    if operation.path in UNBOUNDED_WITH_A_REAL_EXERCISE:
        names.remove("exercise")

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(
        case=operation.as_strategy(generation_mode=mode),
        role=st.sampled_from(ROLES),
        real=st.fixed_dictionaries({name: st.sampled_from(world[name]) for name in names}) | st.just({}),
    )
    def send(case, role, real) -> None:  # type: ignore[no-untyped-def]
        if mode.is_positive and real:
            case.path_parameters = {**case.path_parameters, **real}
        try:
            response = case.call(headers={"Authorization": f"Bearer {tokens[role]}"})
            statuses[(label, response.status_code)] += 1
            case.validate_response(response, checks=CHECKS)
        except BaseException as error:  # noqa: BLE001 - every failure is reported, the run goes on
            if isinstance(error, KeyboardInterrupt):
                raise
            failures.setdefault(f"{label} ({mode.value}, {role})", f"{type(error).__name__}: {error}"[:3000])

    try:
        send()
    except hypothesis.errors.Unsatisfiable:
        pass  # nothing to negate (an operation without parameters or body)
