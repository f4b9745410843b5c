"""Alert rule resolution (domain): the rules in force at a business time, the most specific
scope winning (depot, then region, then item, then category, then the default)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from domain.alert_rules import Rule, Target, in_force, threshold
from domain.alerts import DEFAULT_THRESHOLDS
from domain.events import AlertScope

T0 = datetime(2026, 3, 1, tzinfo=UTC)
TARGET = Target(depot="A", region="north", item="FFP2", category="ppe")


def rule(threshold: float, at: int, position: int, kind: str = "low_days_of_supply", **scope: str) -> Rule:
    return Rule(kind, threshold, AlertScope(**scope), T0 + timedelta(days=at), position)


def test_the_most_specific_scope_wins_and_only_rules_in_force_count() -> None:
    rules = [
        rule(20, 0, 1, category="ppe"),
        rule(10, 0, 2, item="FFP2"),
        rule(7, 0, 3, region="north"),
        rule(5, 5, 4, depot="A"),
        rule(4, 0, 5, depot="B"),  # another depot's
        rule(1, 0, 6, kind="silent_depot"),  # another kind's
    ]
    assert threshold(rules, "low_days_of_supply", TARGET, T0 + timedelta(days=1)) == 7
    assert threshold(rules, "low_days_of_supply", TARGET, T0 + timedelta(days=5)) == 5
    assert threshold(rules, "low_days_of_supply", TARGET, T0 - timedelta(seconds=1)) == 14  # before any rule
    assert threshold(rules[:2], "low_days_of_supply", TARGET, T0) == 10  # item beats category
    assert threshold(rules[:1], "low_days_of_supply", TARGET, T0) == 20
    # region and item together beat region alone; a later setting of one scope replaces it
    both = [*rules[:3], rule(9, 0, 7, region="north", item="FFP2"), rule(8, 2, 8, region="north", item="FFP2")]
    assert threshold(both, "low_days_of_supply", TARGET, T0 + timedelta(days=1)) == 9
    assert threshold(both, "low_days_of_supply", TARGET, T0 + timedelta(days=2)) == 8
    # a backdated setting recorded later does not override one dated after it
    assert (
        threshold(
            [rule(3, 2, 1, depot="A"), rule(6, 1, 2, depot="A")], "low_days_of_supply", TARGET, T0 + timedelta(days=3)
        )
        == 3
    )


scopes = st.fixed_dictionaries(
    {},
    optional={
        "depot": st.sampled_from(["A", "B"]),
        "region": st.sampled_from(["north", "south"]),
        "item": st.sampled_from(["FFP2", "GLOVE"]),
        "category": st.sampled_from(["ppe", "medicine"]),
    },
)
rule_lists = st.lists(
    st.builds(
        lambda th, at, scope: (th, at, scope),
        st.integers(0, 50),
        st.integers(0, 10),
        scopes,
    ),
    max_size=12,
)


@given(rule_lists, st.integers(-1, 11))
def test_the_threshold_is_the_most_specific_matching_rule_in_force(drawn, day) -> None:  # type: ignore[no-untyped-def]
    rules = [rule(th, at, position, **scope) for position, (th, at, scope) in enumerate(drawn, start=1)]
    at = T0 + timedelta(days=day)
    found = threshold(rules, "low_days_of_supply", TARGET, at)
    applicable = [r for r in in_force(rules, at) if r.matches(TARGET)]
    if not applicable:
        assert found == DEFAULT_THRESHOLDS["low_days_of_supply"]
        return
    [winner] = [r for r in applicable if all(other.specificity() <= r.specificity() for other in applicable)]
    assert winner.threshold == found
    # in force: dated at or before `at`, and no later setting of the same scope dated by then
    assert winner.occurred_at <= at
    assert not any(
        r.scope == winner.scope
        and r.occurred_at <= at
        and (r.occurred_at, r.position) > (winner.occurred_at, winner.position)
        for r in rules
    )
    # rules dated after `at` change nothing
    later = [*rules, rule(99, day + 1, len(rules) + 1, depot="A")]
    assert threshold(later, "low_days_of_supply", TARGET, at) == found
