"""Items' GS1 trade item numbers in the service layer: which item a GTIN names, setting an
item's GTINs, and a receipt's item, lot and expiry read from a scanned label.

A GTIN names one item at most. What each GTIN names now is the `item_gtins` index, written
in the same transaction as the item's events; every lookup reads it (no cache), so processes
sharing one database agree, and its primary key refuses the second of two concurrent saves
giving one GTIN to two items (decided again, that save is refused as a duplicate).
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from domain import commands as cmd
from domain import gs1
from domain.exceptions import DuplicateCode, InvalidCommand, UnknownItem
from ledger.outcomes import ItemGtinsOutcome

if TYPE_CHECKING:
    from ledger.application import Context
    from ledger.host import LedgerHost
else:
    LedgerHost = object


class CatalogueCommands(LedgerHost):
    """Mixed into `Ledger`: GTINs of items, and GTINs read from labels."""

    def item_for_gtin(self, gtin: str) -> str:
        """The code of the item a GTIN (8, 12, 13 or 14 digits) belongs to; UnknownItem if none."""
        try:
            normalised = gs1.normalise_gtin(gtin)
        except ValueError as error:
            raise UnknownItem(f"no item has GTIN {gtin!r}: {error}", gtin=gtin) from None
        owner = self.journal.gtin_owners([normalised]).get(normalised)
        if owner is None:
            raise UnknownItem(f"no item has GTIN {normalised}", gtin=normalised)
        return owner

    def _refuse_taken_gtins(self, item: str, gtins: list[str]) -> None:
        """409 naming the item that already has one of `gtins` (other than `item` itself)."""
        taken = {gtin: owner for gtin, owner in self.journal.gtin_owners(gtins).items() if owner != item}
        if taken:
            gtin, owner = min(taken.items())
            raise DuplicateCode(f"GTIN {gtin} already belongs to item {owner}", code=gtin, item=owner)

    def set_item_gtins(self, code: str, command: cmd.SetItemGtins, ctx: Context) -> tuple[ItemGtinsOutcome, bool]:
        gtins = tuple(sorted(command.gtins))

        def decide() -> tuple[list[Any], ItemGtinsOutcome]:
            item = self.item(code)
            self._refuse_taken_gtins(code, list(gtins))
            item.set_gtins(gtins, self._stamp(ctx, None, command.note))
            return [item], ItemGtinsOutcome(item=code, gtins=list(gtins), version=item.version)

        return self._execute(ctx, ItemGtinsOutcome, decide)

    def _received_goods(self, command: cmd.RecordReceipt) -> tuple[str, str | None, date | None]:
        """A receipt's item, lot and expiry: as typed, or read from its label (`gs1`), which the
        typed fields may repeat but not contradict. Refusals name `gs1`, all reasons at once."""
        label = command.label()
        if label is None:
            assert command.item is not None  # the command requires one of them
            return command.item, command.lot, command.expires_on
        try:
            item = self.item_for_gtin(label.gtin)
        except UnknownItem:
            raise _label_refused(
                [f"no item has GTIN {label.gtin} (give it to an item: PUT /v1/items/{{code}}/gtins)"]
            ) from None
        reasons = label.disagreements(command.lot, command.expires_on)
        if command.item is not None and command.item != item:
            reasons.insert(0, f"`item` is {command.item} but the label's GTIN {label.gtin} is item {item}")
        if reasons:
            raise _label_refused(reasons)
        return item, label.lot, label.expires_on


def _label_refused(reasons: list[str]) -> InvalidCommand:
    return InvalidCommand(
        "the scanned label cannot be recorded: " + "; ".join(reasons),
        errors=[{"loc": ["body", "gs1"], "msg": reason, "type": "gs1_label"} for reason in reasons],
    )
