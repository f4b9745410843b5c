"""Each exportable view as a table: its columns, and one row per line of the view.

Every value is the view model's own, as its JSON has it (`model_dump(mode="json")`): times
as the ISO text the JSON carries, numbers as numbers, `null` as an empty cell. No figure is
computed here. Rows are produced lazily, so a writer can stream them as they come.

The views' lists inside a line (a depot stock line's lots, a transfer's lines) become one
text column each, so that one row is one line of the view and a sum down a column counts
nothing twice. An event's `data` and an alert's `figures` (their keys vary by type) are
one JSON text column each. See docs/exports.md for every view's columns.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import BaseModel

from projections.alerts.view import AlertList
from projections.compliance import ObligationsReport
from projections.national import NationalStock
from projections.stock import DepotStock
from projections.timeline import Timeline

Cell = str | int | float | bool | None
Row = tuple[Cell, ...]

CUT = ("as_of", "known_at", "known_position")
"""Every view read at a cut states it in its first columns: `known_position` is the JSON's
top-level `position`, so `known_at=pos:N` asks for the same knowledge again."""
FIGURES = (
    "on_hand",
    "in_transit_in",
    "in_transit_out",
    "reserved",
    "available",
    "avg_daily_consumption",
    "days_of_supply",
)


@dataclass(frozen=True)
class Table:
    """What a writer needs: a file name without its extension, a sheet title, the header and the rows."""

    stem: str
    sheet: str
    columns: tuple[str, ...]
    rows: Iterable[Sequence[Cell]]


def _cut(view: Any) -> Row:
    return (view.as_of, view.known_at, view.position)


def _stem(*parts: str) -> str:
    """A file name safe in a Content-Disposition header and on every file system."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", "-".join(parts))


def _cut_stem(view: Any, *names: str) -> str:
    return _stem(*names, view.as_of[:10], f"pos{view.position}")


def _pick(model: BaseModel, names: Sequence[str]) -> Row:
    dumped = model.model_dump(mode="json")
    return tuple(dumped[name] for name in names)


def json_text(value: Any) -> str:
    """A mapping of varying keys (an event's data, an alert's figures) as one JSON text cell."""
    return orjson.dumps(value).decode()


def link_text(link: dict[str, Any] | None) -> str | None:
    """An event reference as the CLI writes it: `pos:N` (its event id when it has no position)."""
    if link is None:
        return None
    return f"pos:{link['position']}" if link["position"] is not None else str(link["event_id"])


def links_text(links: Sequence[dict[str, Any]]) -> str | None:
    return "; ".join(str(link_text(link)) for link in links) or None


# --- stock --------------------------------------------------------------------------------------

NATIONAL_COLUMNS = (*CUT, "region", "depot", "item", *FIGURES)


def national_stock(view: NationalStock) -> Table:
    """One row per row of `GET /v1/stock` (per region and item with the national totals, per depot
    and item, or national only, as `group_by` asked)."""
    cut = _cut(view)
    rows = ((*cut, *_pick(row, NATIONAL_COLUMNS[3:])) for row in view.rows)
    return Table(_cut_stem(view, "stock", f"by-{view.group_by}"), "stock", NATIONAL_COLUMNS, rows)


DEPOT_STOCK_COLUMNS = (
    *CUT,
    "depot",
    "item",
    *FIGURES,
    "min_days",
    "basis",
    "required",
    "meets_obligation",
    "expired",
    "discrepancy",
    "lots",
)


def lots_text(lots: Sequence[dict[str, Any]]) -> str | None:
    """`LOT42: 400 expires 2027-12-31; -: 100` (`-`: stock without a lot), in the view's order."""
    return (
        "; ".join(
            f"{lot['lot'] or '-'}: {lot['quantity']}" + (f" expires {lot['expires_on']}" if lot["expires_on"] else "")
            for lot in lots
        )
        or None
    )


def depot_stock(view: DepotStock) -> Table:
    """One row per item of the depot; its lots in one column (a row per lot would repeat the
    item's figures, and a sum down a column would count them once per lot)."""
    head = (*_cut(view), view.depot)

    def rows() -> Iterator[Row]:
        for line in view.items:
            dumped = line.model_dump(mode="json")
            yield (*head, *(dumped[name] for name in DEPOT_STOCK_COLUMNS[4:-1]), lots_text(dumped["lots"]))

    return Table(_cut_stem(view, "stock", view.depot), "depot stock", DEPOT_STOCK_COLUMNS, rows())


# --- timeline and feed --------------------------------------------------------------------------

TIMELINE_COLUMNS = (
    *CUT,
    "depot",
    "order",
    "truncated",
    "position",
    "event_id",
    "version",
    "type",
    "occurred_at",
    "recorded_at",
    "actor",
    "source",
    "item",
    "delta",
    "balance",
    "late",
    "corrects",
    "corrected_by",
    "data",
)


def timeline(view: Timeline) -> Table:
    """One row per entry, in the order asked; `truncated` says the limit cut the list short."""
    head = (*_cut(view), view.depot, view.order, view.truncated)

    def rows() -> Iterator[Row]:
        for entry in view.entries:
            dumped = entry.model_dump(mode="json")
            yield (
                *head,
                *(dumped[name] for name in TIMELINE_COLUMNS[6:-3]),
                link_text(dumped["corrects"]),
                links_text(dumped["corrected_by"]),
                json_text(dumped["data"]),
            )

    return Table(_cut_stem(view, "timeline", view.depot), "timeline", TIMELINE_COLUMNS, rows())


FEED_COLUMNS = (
    "position",
    "event_id",
    "depot",
    "type",
    "version",
    "occurred_at",
    "recorded_at",
    "actor",
    "source",
    "command_id",
    "corrects",
    "corrected_by",
    "data",
)


def feed(entries: Iterable[BaseModel], stem: str) -> Table:
    """One row per event of the feed, `entries` read page by page as the rows are written."""

    def rows() -> Iterator[Row]:
        for entry in entries:
            dumped = entry.model_dump(mode="json")
            yield (
                *(dumped[name] for name in FEED_COLUMNS[:-3]),
                link_text(dumped["corrects"]),
                links_text(dumped["corrected_by"]),
                json_text(dumped["data"]),
            )

    return Table(stem, "events", FEED_COLUMNS, rows())


# --- alerts and obligations -------------------------------------------------------------------

ALERT_COLUMNS = (
    *CUT,
    "alert_id",
    "kind",
    "severity",
    "depot",
    "region",
    "item",
    "since",
    "message",
    "figures",
    "acknowledged_by",
    "acknowledged_at",
    "acknowledged_note",
)


def alerts(view: AlertList) -> Table:
    """One row per open alert, most severe first, as the JSON lists them."""
    cut = _cut(view)

    def rows() -> Iterator[Row]:
        for alert in view.alerts:
            dumped = alert.model_dump(mode="json")
            seen = dumped["acknowledged"] or {}
            yield (
                *cut,
                *(dumped[name] for name in ALERT_COLUMNS[3:-4]),
                json_text(dumped["figures"]),
                seen.get("by"),
                seen.get("at"),
                seen.get("note"),
            )

    return Table(_cut_stem(view, "alerts"), "alerts", ALERT_COLUMNS, rows())


OBLIGATION_COLUMNS = (
    *CUT,
    "organisation",
    "item",
    "depot",
    "region",
    "basis",
    "min_days",
    "required",
    "held",
    "shortfall",
    "days_covered",
    "meets_obligation",
    "compliant",
    "depots",
    "depots_short",
)
_LINE = OBLIGATION_COLUMNS[5:-3]


def obligations(view: ObligationsReport) -> Table:
    """Per organisation and item: first its total row (`depot` empty: `required`, `held`,
    `shortfall`, `days_covered` of the organisation, `compliant`, `depots`, `depots_short`),
    then one row per depot line (`meets_obligation` of that depot), as national stock lists
    region totals beside depots. Filter on an empty `depot` for the report's rows alone."""
    cut = _cut(view)

    def rows() -> Iterator[Row]:
        for row in view.rows:
            dumped = row.model_dump(mode="json")
            key = (dumped["organisation"], dumped["item"])
            yield (
                *cut,
                *key,
                None,
                None,
                None,
                None,
                dumped["required"],
                dumped["held"],
                dumped["shortfall"],
                dumped["days_covered"],
                None,
                dumped["compliant"],
                dumped["depots"],
                dumped["depots_short"],
            )
            for line in dumped["lines"]:
                yield (*cut, *key, *(line[name] for name in _LINE), None, None, None)

    return Table(_cut_stem(view, "obligations"), "obligations", OBLIGATION_COLUMNS, rows())


# --- transfers ----------------------------------------------------------------------------------

TRANSFER_COLUMNS = (
    "transfer_id",
    "from",
    "to",
    "status",
    "lines",
    "received",
    "shortfall",
    "allocation_id",
    "reference",
    "dispatched_at",
    "received_at",
    "cancelled_at",
    "cancel_reason",
)


def transfers(views: Sequence[BaseModel], stem: str) -> Table:
    """One row per transfer; its lines (`FFP2: 100 lot L1; GLOVE: 50`), what was received per item
    (`FFP2: 90 of 100`) and the shortfall (`FFP2: 10`) in one column each."""

    def rows() -> Iterator[Row]:
        for view in views:
            dumped = view.model_dump(mode="json", by_alias=True)
            received = dumped["received"]
            yield (
                *(dumped[name] for name in TRANSFER_COLUMNS[:4]),
                "; ".join(
                    f"{line['item']}: {line['quantity']}" + (f" lot {line['lot']}" if line["lot"] else "")
                    for line in dumped["lines"]
                ),
                None
                if received is None
                else "; ".join(f"{r['item']}: {r['quantity_received']} of {r['quantity_dispatched']}" for r in received)
                or None,
                "; ".join(f"{s['item']}: {s['shortfall']}" for s in dumped["shortfall"]) or None,
                *(dumped[name] for name in TRANSFER_COLUMNS[7:]),
            )

    return Table(stem, "transfers", TRANSFER_COLUMNS, rows())
