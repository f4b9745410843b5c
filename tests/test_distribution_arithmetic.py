"""Distribution models' arithmetic (`domain.distribution`), to the unit, against DESIGN.md
("Distribution models"): hand-computed cases (each comment shows the arithmetic), then
properties that hold for any model, recipients and requests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from math import floor
from uuid import uuid4

from hypothesis import given, settings
from hypothesis import strategies as st

from domain import events as ev
from domain.distribution import RESERVE, CriticalRequest, model_reference, split
from domain.distribution_models import DefineDistributionModel
from domain.policies import POLICIES, Recipient, recommend

T0 = datetime(2020, 3, 20, 12, tzinfo=UTC)
KINDS = {"H-NORTH": "hospital", "H-SOUTH": "hospital", "M-ALBY": "municipal", "M-BRO": "municipal"}
PEOPLE = {"H-NORTH": 300_000, "H-SOUTH": 150_000, "M-ALBY": 40_000, "M-BRO": 25_000}


def model(
    sectors: list[tuple[str, tuple[str, ...], str]],
    reserve: str = "0",
    within: str = "proportional_to_population",
    requests_first: bool = False,
) -> ev.DistributionModelSet:
    return ev.DistributionModelDefined(
        originator_id=uuid4(),
        originator_version=1,
        occurred_at=T0,
        actor="test",
        source="api",
        command_id="c",
        name="m",
        version=1,
        sectors=tuple(ev.ModelSector(name=n, kinds=k, share=Decimal(s)) for n, k, s in sectors),  # type: ignore[arg-type]
        reserve=Decimal(reserve),
        within=within,  # type: ignore[arg-type]
        requests_first=requests_first,
    )


NATIONAL = [("specialist", ("regional", "hospital"), "0.7"), ("primary", ("municipal",), "0.2")]


def people(*codes: str) -> list[Recipient]:
    return [Recipient(code, 0, 0, PEOPLE[code]) for code in codes]


def request(
    request_id: str, depot: str, quantity: int, needed_in_days: int | None, hours_ago: int = 0
) -> CriticalRequest:
    needed = T0 + timedelta(days=needed_in_days) if needed_in_days is not None else None
    return CriticalRequest(request_id, depot, quantity, needed, T0 - timedelta(hours=hours_ago))


def test_the_issue_example_version_1_by_sector_and_population() -> None:
    # cut 700 / 200 / reserve 100; 700 * (300k, 150k) / 450k = 466.67, 233.33 -> 466 + 233 = 699, +1 H-NORTH (.67);
    # 200 * (40k, 25k) / 65k = 123.08, 76.92 -> 123 + 76 = 199, +1 M-BRO (.92)
    result = split(model(NATIONAL, "0.1"), 1_000, people(*KINDS), KINDS)
    assert result.lines == {"H-NORTH": 467, "H-SOUTH": 233, "M-ALBY": 123, "M-BRO": 77}
    assert result.reserve == 100 and result.allocated == 900
    assert result.sector_totals == {"specialist": 700, "primary": 200}
    assert result.sector_of == {
        "H-NORTH": "specialist",
        "H-SOUTH": "specialist",
        "M-ALBY": "primary",
        "M-BRO": "primary",
    }


def test_the_issue_example_version_2() -> None:
    # 600 -> 400, 200 exactly; 300 * (40k, 25k) / 65k = 184.62, 115.38 -> 184 + 115 = 299, +1 M-ALBY (.62)
    v2 = model([("specialist", ("regional", "hospital"), "0.6"), ("primary", ("municipal",), "0.3")], "0.1")
    result = split(v2, 1_000, people(*KINDS), KINDS)
    assert result.lines == {"H-NORTH": 400, "H-SOUTH": 200, "M-ALBY": 185, "M-BRO": 115}
    assert result.reserve == 100


def test_the_cut_ties_go_by_name_ascending() -> None:
    # 3 * (0.45, 0.45, 0.1) = 1.35, 1.35, 0.3 -> floors 1, 1, 0; the unit left: a tie at .35
    # between primary and specialist, and primary < specialist by name
    tied = model([("specialist", ("hospital",), "0.45"), ("primary", ("municipal",), "0.45")], "0.1")
    result = split(tied, 3, people("H-NORTH", "M-ALBY"), KINDS)
    assert result.sector_totals == {"primary": 2, "specialist": 1}
    assert result.lines == {"H-NORTH": 1, "M-ALBY": 2} and result.reserve == 0


def test_the_reserve_is_cut_as_a_recipient_named_reserve() -> None:
    # 2 * (0.5, 0.25, 0.25) = 1, 0.5, 0.5 -> floors 1, 0, 0; the unit left: a tie at .5 between
    # the reserve and zulu, and "reserve" < "zulu"
    tied = model([("alpha", ("hospital",), "0.5"), ("zulu", ("municipal",), "0.25")], "0.25")
    result = split(tied, 2, people("H-NORTH", "M-ALBY"), KINDS)
    assert result.lines == {"H-NORTH": 1, "M-ALBY": 0} and result.reserve == 1
    assert RESERVE == "reserve"


def test_a_sector_without_recipients_adds_to_the_reserve() -> None:
    # cut 700 / 200 / 100; no municipality in the decision: primary's 200 join the reserve
    result = split(model(NATIONAL, "0.1"), 1_000, people("H-NORTH", "H-SOUTH"), KINDS)
    assert result.lines == {"H-NORTH": 467, "H-SOUTH": 233}
    assert result.reserve == 300 and result.allocated == 700


def test_a_recipient_in_no_sector_gets_nothing_from_the_shares() -> None:
    only_hospitals = model([("specialist", ("hospital",), "1")])
    result = split(only_hospitals, 10, people("H-NORTH", "M-ALBY"), KINDS)
    assert result.lines == {"H-NORTH": 10, "M-ALBY": 0} and result.sector_of["M-ALBY"] is None


def test_critical_requests_first_in_needed_by_order() -> None:
    # M-ALBY's 80 are needed a day before M-BRO's 150 (which was requested earlier): 80 then 150;
    # R = 770: cut 539 / 154 / 77 exactly; 539 * (300k, 150k) / 450k = 359.33, 179.67 -> 359 + 179,
    # +1 H-SOUTH (.67); 154 * (40k, 25k) / 65k = 94.77, 59.23 -> 94 + 59, +1 M-ALBY (.77)
    requests = [request("R-BRO", "M-BRO", 150, 2, hours_ago=10), request("R-ALBY", "M-ALBY", 80, 1)]
    result = split(model(NATIONAL, "0.1", requests_first=True), 1_000, people(*KINDS), KINDS, requests)
    assert [(f.request_id, f.to, f.quantity) for f in result.requests_filled] == [
        ("R-ALBY", "M-ALBY", 80),
        ("R-BRO", "M-BRO", 150),
    ]
    assert result.sector_totals == {"specialist": 539, "primary": 154} and result.reserve == 77
    assert result.lines == {"H-NORTH": 359, "H-SOUTH": 180, "M-ALBY": 80 + 95, "M-BRO": 150 + 59}


def test_requests_without_needed_by_come_last_then_by_request_time() -> None:
    requests = [request("LATE", "M-BRO", 5, None, hours_ago=1), request("EARLY", "M-ALBY", 5, None, hours_ago=9)]
    requests.append(request("DUE", "H-SOUTH", 5, 3, hours_ago=0))
    result = split(model(NATIONAL, "0.1", requests_first=True), 12, people(*KINDS), KINDS, requests)
    assert [(f.request_id, f.quantity) for f in result.requests_filled] == [("DUE", 5), ("EARLY", 5), ("LATE", 2)]
    assert result.reserve == 0 and result.lines == {"H-NORTH": 0, "H-SOUTH": 5, "M-ALBY": 5, "M-BRO": 2}


def test_a_request_larger_than_the_quantity_takes_it_all() -> None:
    # 100: R-ALBY's 80 (needed first), then 20 of R-BRO's 150; nothing left to cut
    requests = [request("R-BRO", "M-BRO", 150, 2), request("R-ALBY", "M-ALBY", 80, 1)]
    result = split(model(NATIONAL, "0.1", requests_first=True), 100, people(*KINDS), KINDS, requests)
    assert [(f.request_id, f.quantity) for f in result.requests_filled] == [("R-ALBY", 80), ("R-BRO", 20)]
    assert result.lines == {"H-NORTH": 0, "H-SOUTH": 0, "M-ALBY": 80, "M-BRO": 20} and result.reserve == 0


def test_requests_are_ignored_without_requests_first() -> None:
    requests = [request("R-ALBY", "M-ALBY", 80, 1)]
    assert split(model(NATIONAL, "0.1"), 1_000, people(*KINDS), KINDS, requests).requests_filled == []


def test_policy_references() -> None:
    assert model_reference("model:national-ppe") == ("national-ppe", None)
    assert model_reference("model:national-ppe@12") == ("national-ppe", 12)
    assert model_reference("equal_days_of_supply") is None
    assert model(NATIONAL, "0.1").policy == "model:m@1"


def test_decimal_shares_sum_exactly() -> None:
    # 0.7 + 0.2 + 0.1 is 0.9999999999999999 in binary floating point, exactly 1 as decimals
    assert 0.7 + 0.2 + 0.1 != 1
    body = {
        "sectors": [
            {"name": "a", "kinds": ["hospital"], "share": 0.7},
            {"name": "b", "kinds": ["municipal"], "share": "0.2"},
        ]
    }
    assert (
        DefineDistributionModel.model_validate({**body, "reserve": 0.1, "within": "equal_days_of_supply"}).errors()
        == []
    )
    wrong = DefineDistributionModel.model_validate({**body, "reserve": "0.05", "within": "equal_days_of_supply"})
    assert [e["loc"] for e in wrong.errors()] == [["body", "reserve"]]


# --- properties ----------------------------------------------------------------------------------

CODES = ["A1", "B2", "C3", "D4", "E5"]
KIND_NAMES = ["hospital", "municipal", "regional"]


@st.composite
def cases(
    draw: st.DrawFn,
) -> tuple[ev.DistributionModelSet, int, list[Recipient], dict[str, str], list[CriticalRequest]]:
    thousandths = draw(st.lists(st.integers(0, 1000), min_size=1, max_size=3))
    total = sum(thousandths) or 1
    parts = [floor(Fraction(t * 1000, total)) for t in thousandths]
    reserve = 1000 - sum(parts) if draw(st.booleans()) else 0
    parts[0] += 1000 - sum(parts) - reserve
    sectors = [(f"s{n}", (KIND_NAMES[n],), str(Decimal(p) / 1000)) for n, p in enumerate(parts)]
    codes = draw(st.lists(st.sampled_from(CODES), min_size=1, max_size=5, unique=True))
    kinds = {code: draw(st.sampled_from(KIND_NAMES)) for code in codes}
    recipients = [
        Recipient(code, draw(st.integers(-50, 500)), draw(st.integers(0, 700)), draw(st.none() | st.integers(0, 10**6)))
        for code in codes
    ]
    requests = [
        request(
            f"R{n}", draw(st.sampled_from(codes)), draw(st.integers(0, 300)), draw(st.none() | st.integers(0, 9)), n
        )
        for n in range(draw(st.integers(0, 4)))
    ]
    within = draw(st.sampled_from(POLICIES))
    built = model(sectors, str(Decimal(reserve) / 1000), within, draw(st.booleans()))
    return built, draw(st.integers(0, 5_000)), recipients, kinds, requests


@settings(max_examples=300, deadline=None)
@given(cases())
def test_lines_and_reserve_are_non_negative_integers_summing_to_the_quantity(case) -> None:  # type: ignore[no-untyped-def]
    rules, quantity, recipients, kinds, requests = case
    result = split(rules, quantity, recipients, kinds, requests)
    assert all(isinstance(units, int) and units >= 0 for units in [*result.lines.values(), result.reserve])
    assert sum(result.lines.values()) + result.reserve == quantity
    assert set(result.lines) == {r.code for r in recipients}


@settings(max_examples=300, deadline=None)
@given(cases())
def test_a_sector_never_gets_more_than_its_rounded_share(case) -> None:  # type: ignore[no-untyped-def]
    rules, quantity, recipients, kinds, requests = case
    result = split(rules, quantity, recipients, kinds, requests)
    rest = quantity - sum(f.quantity for f in result.requests_filled)
    filled = {code: 0 for code in result.lines}
    for fill in result.requests_filled:
        filled[fill.to] += fill.quantity
    for sector in rules.sectors:
        exact = rest * Fraction(sector.share)
        assert floor(exact) <= result.sector_totals[sector.name] <= floor(exact) + 1
        given_out = sum(result.lines[c] - filled[c] for c, s in result.sector_of.items() if s == sector.name)
        assert given_out in (0, result.sector_totals[sector.name])
        assert given_out <= result.sector_totals[sector.name]


@settings(max_examples=300, deadline=None)
@given(cases(), st.sampled_from(POLICIES))
def test_one_sector_of_share_1_without_reserve_is_the_within_policy(case, within: str) -> None:  # type: ignore[no-untyped-def]
    _, quantity, recipients, kinds, requests = case
    whole = model([("everyone", tuple(KIND_NAMES), "1")], "0", within)
    result = split(whole, quantity, recipients, kinds, requests)
    assert result.lines == recommend(within, quantity, recipients) and result.reserve == 0
