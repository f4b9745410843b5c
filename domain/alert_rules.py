"""Alert rules: which threshold an alert kind uses for a depot and item at a business time.

A rule is an event (`AlertRuleSet`), so the alerts of last March are computed with last
March's rules. The rules in force at `t` are those dated at or before `t`; of several for
the same kind and scope, the one dated last (ties: recorded last) replaces the others. Of the
rules in force that match a depot and item, the most specific scope wins: one naming a depot
beats one naming a region, which beats one naming an item, which beats one naming a category;
a rule naming more members beats one naming fewer of the same rank (region + item beats
region). Without a matching rule the kind's default applies (`DEFAULT_THRESHOLDS`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Self

from domain.aggregate import Aggregate
from domain.alerts import DEFAULT_THRESHOLDS, AlertKind
from domain.events import AlertRuleSet, AlertScope


@dataclass(frozen=True)
class Target:
    """The depot and item an alert is about, with what rules scope by."""

    depot: str
    region: str
    item: str | None
    category: str | None


@dataclass(frozen=True)
class Rule:
    kind: str
    threshold: float
    scope: AlertScope
    occurred_at: datetime
    position: int  # ledger position (recorded order), breaks ties between rules dated alike

    def matches(self, target: Target) -> bool:
        scope = self.scope
        return (
            (scope.depot is None or scope.depot == target.depot)
            and (scope.region is None or scope.region == target.region)
            and (scope.item is None or scope.item == target.item)
            and (scope.category is None or scope.category == target.category)
        )

    def specificity(self) -> tuple[bool, bool, bool, bool]:
        """Compared as a tuple: depot first, then region, item, category."""
        s = self.scope
        return (s.depot is not None, s.region is not None, s.item is not None, s.category is not None)

    @classmethod
    def of(cls, event: AlertRuleSet, position: int) -> Rule:
        return cls(event.kind, event.threshold, event.scope, event.occurred_at, position)


def in_force(rules: Iterable[Rule], at: datetime) -> list[Rule]:
    """The rules in force at business time `at`: per kind and scope, the one dated last."""
    latest: dict[tuple[str, AlertScope], Rule] = {}
    for rule in rules:
        if rule.occurred_at > at:
            continue
        key = (rule.kind, rule.scope)
        held = latest.get(key)
        if held is None or (rule.occurred_at, rule.position) > (held.occurred_at, held.position):
            latest[key] = rule
    return list(latest.values())


def threshold(rules: Sequence[Rule], kind: AlertKind, target: Target, at: datetime) -> float | None:
    """The threshold of `kind` for `target` at `at`: the most specific rule in force, else the default."""
    matching = [rule for rule in in_force(rules, at) if rule.kind == kind and rule.matches(target)]
    if not matching:
        return DEFAULT_THRESHOLDS[kind]
    return max(matching, key=lambda rule: (rule.specificity(), sum(rule.specificity()))).threshold


class AlertRules(Aggregate):
    """Every rule ever set, in recorded order: one aggregate per ledger (`domain.ids.alert_rules_id`)."""

    rules: list[AlertRuleSet] = []

    @classmethod
    def created(cls, event: AlertRuleSet) -> Self:
        return cls(**cls.born(event), rules=[event])

    def set_rule(self, **fields: object) -> AlertRuleSet:
        return self.trigger(AlertRuleSet, **fields)

    def mutate(self, event: object) -> None:
        if not isinstance(event, AlertRuleSet):
            raise TypeError(f"AlertRules cannot apply {type(event).__name__}")
        self.rules = [*self.rules, event]
