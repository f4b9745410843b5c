"""The item catalogue: what can be stocked, in which base unit, and by which GS1 trade item numbers."""

from __future__ import annotations

from typing import Self

from domain.aggregate import Aggregate
from domain.depot import Stamp
from domain.events import ItemCategory, ItemDefined, ItemGtinsSet


class Item(Aggregate):
    code: str
    name: str
    unit: str
    category: ItemCategory
    atc_code: str | None = None
    gtins: tuple[str, ...] = ()

    @classmethod
    def created(cls, event: ItemDefined) -> Self:
        return cls(
            **cls.born(event),
            code=event.code,
            name=event.name,
            unit=event.unit,
            category=event.category,
            atc_code=event.atc_code,
            gtins=event.gtins,
        )

    def set_gtins(self, gtins: tuple[str, ...], stamp: Stamp) -> ItemGtinsSet:
        """Replace the item's GTINs (already checked and normalised: `domain.gs1`)."""
        return self.trigger(ItemGtinsSet, gtins=gtins, **stamp.fields())

    def mutate(self, event: object) -> None:
        match event:
            case ItemGtinsSet():
                self.gtins = event.gtins
            case _:
                raise TypeError(f"Item cannot apply {type(event).__name__}")
