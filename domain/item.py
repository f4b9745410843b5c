"""The item catalogue: what can be stocked, in which base unit."""

from __future__ import annotations

from typing import Self

from domain.aggregate import Aggregate
from domain.events import ItemCategory, ItemDefined


class Item(Aggregate):
    code: str
    name: str
    unit: str
    category: ItemCategory
    atc_code: str | None = None

    @classmethod
    def created(cls, event: ItemDefined) -> Self:
        return cls(
            **cls.born(event),
            code=event.code,
            name=event.name,
            unit=event.unit,
            category=event.category,
            atc_code=event.atc_code,
        )

    def mutate(self, event: object) -> None:  # no later events yet
        raise TypeError(f"Item cannot apply {type(event).__name__}")
