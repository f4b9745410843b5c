"""Reading GS1 barcodes: GTINs, and the element strings scanned from DataMatrix and GS1-128 labels.

The reading is biip's (`biip.gtin`, `biip.gs1_messages`): check digits, the length and
format of each Application Identifier (AI), and GS1's date rule (AI 17 with day 00 is the
last day of that month) are GS1's, so we do not write them again. What is ours: a GTIN is
kept as GTIN-14 (the 8-, 12- and 13-digit forms are the same number padded with zeros,
so one product has one key), and a label is refused as a whole, with one reason, when
biip reads it only in part (a wrong check digit does not raise in biip: it says so in
`gtin_error`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

import biip
from biip.gs1_messages import GS1Message
from biip.gtin import Gtin

GTIN_DIGITS = re.compile(r"^(\d{8}|\d{12,14})$")
GS = "\x1d"
"""The group separator a scanner sends for FNC1: it ends a variable-length field."""

GTIN_AI, LOT_AI, EXPIRY_AI = "01", "10", "17"


class UnreadableLabel(ValueError):
    """A GS1 element string that is not one, or not one the ledger can take as a receipt."""


def normalise_gtin(value: str) -> str:
    """A GTIN-8, -12, -13 or -14 with a correct check digit, as its GTIN-14; else ValueError saying why."""
    text = value.strip()
    if not GTIN_DIGITS.match(text):
        raise ValueError(f"{value!r} is not a GTIN: 8, 12, 13 or 14 digits")
    try:
        return Gtin.parse(text).as_gtin_14()
    except biip.ParseError as error:
        raise ValueError(str(error)) from None


@dataclass(frozen=True)
class Label:
    """What a receipt takes from a scanned label: the product (GTIN-14), its lot (AI 10)
    and its expiry (AI 17), and the other AIs as read, for the record."""

    gtin: str
    lot: str | None = None
    expires_on: date | None = None
    others: tuple[tuple[str, str], ...] = ()

    def disagreements(self, lot: str | None, expires_on: date | None) -> list[str]:
        """Why typed fields contradict the label (a field not typed never does)."""
        reasons = []
        if lot is not None and lot != self.lot:
            label_lot = "has no lot (10)" if self.lot is None else f"says lot (10) {self.lot!r}"
            reasons.append(f"`lot` is {lot!r} but the label {label_lot}")
        if expires_on is not None and expires_on != self.expires_on:
            label_expiry = "has no expiry (17)" if self.expires_on is None else f"says expiry (17) {self.expires_on}"
            reasons.append(f"`expires_on` is {expires_on} but the label {label_expiry}")
        return reasons


def read_label(text: str) -> Label:
    """A label from its human-readable form `(01)…(17)…(10)…`, or as scanned: raw, with the GS
    character after variable-length fields and optionally a symbology prefix (`]d2`, `]C1`...)."""
    message = _message(text.strip())
    values: dict[str, str] = {}
    dates: dict[str, date] = {}
    for element in message.element_strings:
        code = element.ai.ai
        if element.gtin_error:
            raise UnreadableLabel(element.gtin_error)
        if values.get(code, element.value) != element.value:
            raise UnreadableLabel(f"AI ({code}) appears twice with different values")
        values[code] = element.value
        if element.date is not None:
            dates[code] = element.date
    if GTIN_AI not in values:
        raise UnreadableLabel("no GTIN: the label has no AI (01)")
    others = tuple((code, value) for code, value in values.items() if code not in (GTIN_AI, LOT_AI, EXPIRY_AI))
    return Label(
        gtin=normalise_gtin(values[GTIN_AI]),
        lot=values.get(LOT_AI),
        expires_on=dates.get(EXPIRY_AI),
        others=others,
    )


def _message(text: str) -> GS1Message:
    if not text:
        raise UnreadableLabel("the label is empty")
    try:
        if text.startswith("("):
            return GS1Message.parse_hri(text)
        result = biip.parse(text)
    except biip.ParseError as error:
        raise UnreadableLabel(f"not a GS1 element string: {error}") from None
    if result.gs1_message is None:
        raise UnreadableLabel(f"not a GS1 element string: {result.gs1_message_error or 'unreadable'}")
    return result.gs1_message
