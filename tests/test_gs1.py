"""Receipts from scanned GS1 labels (docs/gs1.md): the GTIN names the item, AI 10 the lot,
AI 17 the expiry; printed `(01)…` and raw scans read alike; a label the ledger cannot take
is a 422 naming `gs1`, storing nothing."""

from __future__ import annotations

import calendar
from datetime import date

import pytest
from api_helpers import (
    A_CLINIC,
    A_NORTH,
    FFP2,
    GLOVE,
    created,
    error_locations,
    feed,
    nothing_stored,
    ok,
    problem,
    seed,
    stock,
)
from biip.gtin import gs1_standard_check_digit
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.gs1 import GS, Label, UnreadableLabel, read_label

PIECE = "05712345678909"  # FFP2, the piece; the example
CARTON = "15712345678906"  # FFP2, the carton of 400
SCAN = "(01)05712345678909(17)271231(10)LOT42"
TYPED = {"item": FFP2, "lot": "LOT42", "expires_on": "2027-12-31"}


@pytest.fixture
def scanning(api):  # type: ignore[no-untyped-def]
    """The api_helpers world, FFP2 with its two GTINs (GLOVE has none)."""
    seed(api)
    ok(api.put(f"/v1/items/{FFP2}/gtins", {"gtins": [PIECE, CARTON]}))
    return api


def receipt_data(api, depot: str) -> dict[str, object]:  # type: ignore[no-untyped-def]
    [event] = [e for e in feed(api) if e["type"] == "ReceiptRecorded" and e["depot"] == depot]
    return {name: event["data"][name] for name in ("item", "quantity", "lot", "expires_on", "supplier", "reference")}


def test_a_scanned_receipt_books_what_the_same_receipt_typed_by_hand_does(scanning):
    scanned = created(scanning.post(f"/v1/depots/{A_NORTH}/receipts", {"gs1": SCAN, "quantity": 400}))
    typed = created(scanning.post(f"/v1/depots/{A_CLINIC}/receipts", {**TYPED, "quantity": 400}))

    assert (scanned["depot"], typed["depot"]) == (A_NORTH, A_CLINIC)
    assert receipt_data(scanning, A_NORTH) == receipt_data(scanning, A_CLINIC)
    assert receipt_data(scanning, A_NORTH) == {
        "item": FFP2,
        "quantity": 400,
        "lot": "LOT42",
        "expires_on": "2027-12-31",
        "supplier": None,
        "reference": None,
    }
    line = stock(scanning, A_NORTH)
    assert line == stock(scanning, A_CLINIC)
    assert (line["on_hand"], line["lots"]) == (400, [{"lot": "LOT42", "expires_on": "2027-12-31", "quantity": 400}])


RAW_FORMS = [
    # raw as a scanner sends it: GS after a variable-length field, a symbology prefix or none, any AI order
    "]d2" + "01" + CARTON + "17271231" + "10LOT42",
    "]C1" + "10LOT42" + GS + "01" + CARTON + "17271231",
    "17271231" + "10LOT42" + GS + "01" + CARTON,
    "]d2" + "10LOT42" + GS + "17271231" + "01" + CARTON + GS,
    "(17)271231(01)" + CARTON + "(10)LOT42",
    "(10)LOT42(17)271231(01)" + CARTON,
]


def test_every_form_and_order_of_one_label_records_the_same_receipt(scanning):
    for label in RAW_FORMS:
        created(scanning.post(f"/v1/depots/{A_NORTH}/receipts", {"gs1": label, "quantity": 1, "reference": label}))

    receipts = [e["data"] for e in feed(scanning) if e["type"] == "ReceiptRecorded"]
    assert [(r["item"], r["lot"], r["expires_on"], r["reference"]) for r in receipts] == [
        (FFP2, "LOT42", "2027-12-31", label) for label in RAW_FORMS
    ]
    assert stock(scanning, A_NORTH)["lots"] == [{"lot": "LOT42", "expires_on": "2027-12-31", "quantity": 6}]


def test_day_00_expires_at_the_end_of_the_month_and_typed_fields_may_repeat_the_label(scanning):
    label = "(01)05712345678909(17)280200(10)FEB"  # 2028 is a leap year
    same = {"item": FFP2, "lot": "FEB", "expires_on": "2028-02-29"}
    created(scanning.post(f"/v1/depots/{A_NORTH}/receipts", {"gs1": label, "quantity": 5, **same}))
    created(scanning.post(f"/v1/depots/{A_NORTH}/receipts", {"gs1": "(01)" + PIECE, "quantity": 7}))

    assert stock(scanning, A_NORTH)["lots"] == [
        {"lot": "FEB", "expires_on": "2028-02-29", "quantity": 5},
        {"lot": None, "expires_on": None, "quantity": 7},
    ]


REFUSED = {
    "a wrong check digit": ("(01)05712345678908(10)LOT42", {}, "check digit"),
    "a GTIN no item has": ("(01)05712345678923(10)LOT42", {}, "no item has GTIN 05712345678923"),
    "no AI 01": ("(10)LOT42(17)271231", {}, "no AI (01)"),
    "unreadable": ("LOT42 exp 2027", {}, "not a GS1 element string"),
    "a GTIN too short for AI 01": ("(01)5712345678909", {}, "not a GS1 element string"),
    "an impossible expiry": ("(01)05712345678909(17)271331", {}, "not a GS1 element string"),
    "an item contradicting it": (SCAN, {"item": GLOVE}, "is item FFP2"),
    "a lot contradicting it": (SCAN, {"lot": "LOT43"}, "label says lot (10) 'LOT42'"),
    "an expiry contradicting it": (SCAN, {"expires_on": "2027-12-30"}, "label says expiry (17) 2027-12-31"),
    "no expiry on it but one typed": (
        "(01)05712345678909(10)LOT42",
        {"expires_on": "2027-12-31"},
        "has no expiry (17)",
    ),
    "the same AI twice, disagreeing": (
        "0105712345678909" + "10LOT42" + GS + "10LOT43",
        {},
        "AI (10) appears twice",
    ),
}


def test_a_label_the_ledger_cannot_take_is_refused_naming_gs1_and_stores_nothing(scanning):
    with nothing_stored(scanning):
        for what, (label, typed, reason) in REFUSED.items():
            body = problem(scanning.post(f"/v1/depots/{A_NORTH}/receipts", {"gs1": label, "quantity": 1, **typed}), 422)
            assert error_locations(body) == {"body.gs1"}, (what, body)
            assert any(reason in error["msg"] for error in body["errors"]), (what, body)
            # the reason itself, as docs/gs1.md shows it, without pydantic's "Value error, " in front
            assert not any(error["msg"].startswith("Value error") for error in body["errors"]), (what, body)
        wrong_digit = problem(
            scanning.post(f"/v1/depots/{A_NORTH}/receipts", {"gs1": REFUSED["a wrong check digit"][0], "quantity": 1}),
            422,
        )
        assert wrong_digit["errors"][0]["msg"] == "Invalid GTIN check digit for '05712345678908': Expected 9, got 8."


def test_every_contradiction_is_listed_at_once():
    """The pure reading: both typed fields that disagree with the label are named."""
    label = read_label(SCAN)
    assert label == Label(gtin=PIECE, lot="LOT42", expires_on=date(2027, 12, 31))
    assert len(label.disagreements("LOT43", date(2027, 12, 30))) == 2
    assert label.disagreements("LOT42", None) == [] and label.disagreements(None, None) == []


def test_item_is_required_only_without_gs1(scanning):
    with nothing_stored(scanning):
        body = problem(scanning.post(f"/v1/depots/{A_NORTH}/receipts", {"quantity": 1}), 422)
        assert error_locations(body) == {"body.item"} and "gs1" in body["errors"][0]["msg"]
        body = problem(scanning.post(f"/v1/depots/{A_NORTH}/receipts", {"gs1": "", "quantity": 0}), 422)
        assert error_locations(body) == {"body.gs1", "body.quantity"}  # not body.item: gs1 was given
        problem(scanning.post(f"/v1/depots/{A_NORTH}/receipts", {"gs1": 1234, "quantity": 1}), 422)


def test_an_operator_scans_only_at_its_own_depots(scanning):
    created(scanning.post(f"/v1/depots/{A_NORTH}/receipts", {"gs1": SCAN, "quantity": 2}, role="operator"))
    with nothing_stored(scanning):
        problem(scanning.post("/v1/depots/B-SOUTH/receipts", {"gs1": SCAN, "quantity": 2}, role="operator"), 403)


# --- the reading, as a property: any label composed either way reads back the same -------------------------

LOT_CHARACTERS = "!\"%&'*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
"""GS1's AI 10 characters, but for the parentheses, which the printed form uses to mark AIs."""


@st.composite
def gtins(draw: st.DrawFn) -> str:
    """A valid GTIN-8, -12, -13 or -14 (the check digit is biip's, GS1's algorithm)."""
    length = draw(st.sampled_from([8, 12, 13, 14]))
    payload = draw(st.text("0123456789", min_size=length - 1, max_size=length - 1))
    return payload + str(gs1_standard_check_digit(payload))


@st.composite
def expiries(draw: st.DrawFn) -> tuple[str, date]:
    """AI 17's YYMMDD and the date it means: day 00 is the month's last day (GS1's rule)."""
    year, month = draw(st.integers(2000, 2060)), draw(st.integers(1, 12))
    last = calendar.monthrange(year, month)[1]
    day = draw(st.integers(0, last))
    return f"{year % 100:02d}{month:02d}{day:02d}", date(year, month, day or last)


@settings(max_examples=150, deadline=None)
@given(
    gtin=gtins(),
    lot=st.none() | st.text(LOT_CHARACTERS, min_size=1, max_size=20),
    expiry=st.none() | expiries(),
    order=st.permutations(["01", "10", "17"]),
    prefix=st.sampled_from(["", "]d2", "]C1", "]Q3"]),
)
def test_any_label_reads_back_the_same_printed_or_raw(
    gtin: str, lot: str | None, expiry: tuple[str, date] | None, order: list[str], prefix: str
) -> None:
    values = {"01": gtin.zfill(14), "10": lot, "17": expiry[0] if expiry else None}
    present = [ai for ai in order if values[ai] is not None]
    printed = "".join(f"({ai}){values[ai]}" for ai in present)
    raw = prefix + "".join(f"{ai}{values[ai]}" + (GS if ai == "10" and ai != present[-1] else "") for ai in present)

    expected = Label(gtin=gtin.zfill(14), lot=lot, expires_on=expiry[1] if expiry else None)
    assert read_label(printed) == expected
    assert read_label(raw) == expected


@settings(max_examples=100, deadline=None)
@given(gtin=gtins(), position=st.integers(0, 13), wrong=st.integers(1, 9))
def test_any_changed_digit_is_refused(gtin: str, position: int, wrong: int) -> None:
    """A single mistyped digit always breaks GS1's check digit: the label is refused, never misread."""
    digits = gtin.zfill(14)
    changed = digits[:position] + str((int(digits[position]) + wrong) % 10) + digits[position + 1 :]
    with pytest.raises(UnreadableLabel, match="check digit"):
        read_label(f"(01){changed}")
