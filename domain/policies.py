"""Allocation policies: how scarce stock is split between recipients (DESIGN.md, "Allocation policies").

Pure functions of the recipients' figures, with exact rational arithmetic (no floats), so
that replaying a decision from the same ledger position gives the same units, on any
machine. Every policy first computes an exact share per recipient, then rounds once, the
same way for all: floor each share, then hand out the remainder one unit at a time by
largest fractional part, ties broken by recipient code ascending.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from math import floor
from typing import Annotated, Literal, get_args

from pydantic import BeforeValidator, Field

from domain.stock import CONSUMPTION_WINDOW

Policy = Literal["proportional_to_consumption", "proportional_to_population", "equal_days_of_supply"]
POLICIES: tuple[str, ...] = get_args(Policy)

MODEL_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}"
MODEL_POLICY = rf"^model:{MODEL_NAME}(@[1-9][0-9]{{0,8}})?$"


def says_policy(pattern: str, words: str) -> BeforeValidator:
    """Refuse a policy that does not match `pattern` in words a coordinator reads, not the pattern itself."""

    def check(value: object) -> object:
        if isinstance(value, str) and re.fullmatch(pattern, value) is None:
            raise ValueError(f"{value!r} is not a policy: {words}")
        return value

    return BeforeValidator(check)


_MODEL_WORDS = "name a distribution model as model:NAME (its current version) or model:NAME@VERSION"
_POLICY_WORDS = f"give one of {', '.join(POLICIES)}, or a distribution model as model:NAME or model:NAME@VERSION"

ModelPolicy = Annotated[
    str,
    says_policy(MODEL_POLICY, _MODEL_WORDS),
    Field(
        pattern=MODEL_POLICY,
        max_length=80,
        description="A distribution model (`domain.distribution`): `model:NAME` (its current version) "
        "or `model:NAME@VERSION`",
        examples=["model:national-ppe", "model:national-ppe@2"],
    ),
]
"""A decision under a distribution model stores `model:NAME@VERSION`, so its replay uses that version."""
AnyPolicy = Policy | ModelPolicy
PolicyChoice = Annotated[
    str,
    says_policy("^(" + "|".join(POLICIES) + ")$|" + MODEL_POLICY, _POLICY_WORDS),
    Field(
        pattern="^(" + "|".join(POLICIES) + ")$|" + MODEL_POLICY,
        max_length=80,
        description=f"One of {', '.join(POLICIES)}, or a distribution model: `model:NAME` (its version current "
        "at the basis) or `model:NAME@VERSION`",
        examples=["equal_days_of_supply", "model:national-ppe"],
    ),
]
"""What a request names as its policy: one string, so a wrong one is one field error."""


@dataclass(frozen=True)
class Recipient:
    """What a policy knows of a recipient at the decision's cut."""

    code: str
    on_hand: int
    consumed_14d: int  # consumption dated in the 14 days up to the decision
    population: int | None = None

    @property
    def daily_consumption(self) -> Fraction:
        """`avg_daily_consumption`, exactly: the window's consumption over its 14 days."""
        return Fraction(self.consumed_14d, CONSUMPTION_WINDOW.days)


def recommend(policy: str, quantity: int, recipients: Sequence[Recipient]) -> dict[str, int]:
    """The recommended units per recipient code (every recipient, zeros included), summing to `quantity`."""
    if quantity < 0:
        raise ValueError("a quantity to allocate is not negative")
    if not recipients:
        raise ValueError("an allocation needs at least one recipient")
    if len({r.code for r in recipients}) != len(recipients):
        raise ValueError("each recipient is named once")
    match policy:
        case "proportional_to_consumption":
            shares = proportional(quantity, {r.code: r.daily_consumption for r in recipients})
        case "proportional_to_population":
            shares = proportional(quantity, {r.code: Fraction(r.population or 0) for r in recipients})
        case "equal_days_of_supply":
            shares = equal_days_of_supply(quantity, recipients)
        case _:
            raise ValueError(f"unknown policy {policy!r}: one of {', '.join(POLICIES)}")
    return round_shares(shares, quantity)


def proportional(quantity: int, weights: Mapping[str, Fraction]) -> dict[str, Fraction]:
    """Exact shares by weight; every weight zero splits equally."""
    total = sum(weights.values(), Fraction(0))
    if total == 0:
        return {code: Fraction(quantity, len(weights)) for code in weights}
    return {code: quantity * weight / total for code, weight in weights.items()}


def equal_days_of_supply(quantity: int, recipients: Sequence[Recipient]) -> dict[str, Fraction]:
    """Water-filling: the level L with sum(max(0, L*d - on_hand)) = quantity; each gets max(0, L*d - on_hand).

    Recipients that consume nothing get nothing, unless none consumes: then the quantity is
    split equally. L may be below zero when recipients are already in deficit (negative
    balances); the lowest are lifted first either way."""
    rates = {r.code: r.daily_consumption for r in recipients}
    consuming = [r for r in recipients if rates[r.code] > 0]
    if not consuming:
        return proportional(quantity, dict.fromkeys(rates, Fraction(0)))
    level = water_level(quantity, [(Fraction(r.on_hand), rates[r.code]) for r in consuming])
    shares = dict.fromkeys(rates, Fraction(0))
    for r in consuming:
        shares[r.code] = max(Fraction(0), level * rates[r.code] - r.on_hand)
    return shares


def water_level(quantity: int, tanks: Sequence[tuple[Fraction, Fraction]]) -> Fraction:
    """The level L for (on_hand, rate > 0) pairs: the tanks whose own level on_hand/rate is
    lowest are filled first; adding them one at a time, L is where the next one would start."""
    ordered = sorted(tanks, key=lambda tank: tank[0] / tank[1])
    held = rate = Fraction(0)
    level = Fraction(0)
    for n, (on_hand, daily) in enumerate(ordered):
        held += on_hand
        rate += daily
        level = (quantity + held) / rate
        following = ordered[n + 1] if n + 1 < len(ordered) else None
        if following is None or level <= following[0] / following[1]:
            break
    return level


def round_shares(shares: Mapping[str, Fraction], quantity: int) -> dict[str, int]:
    """Floor each share, then one unit each to the largest fractional parts (ties: code ascending)."""
    lines = {code: floor(share) for code, share in shares.items()}
    remainder = quantity - sum(lines.values())
    by_fraction = sorted(shares, key=lambda code: (-(shares[code] - lines[code]), code))
    for code in by_fraction[:remainder]:
        lines[code] += 1
    return dict(sorted(lines.items()))
