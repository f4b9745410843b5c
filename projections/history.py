"""Historical (bitemporal) figures on demand, from the movement journal and fold checkpoints.

The journal (`ledger.persistence`) holds one row per item line of every depot event,
indexed by depot, item and business time, written in the same transaction as the event.
A question "as of T, as known at position K" folds the item's rows with
`occurred_at <= T` and `position <= K` in business order (`projections.fold`).

A long history is not refolded from the start. A *fold checkpoint* stores the state
after the rows up to a business key B among those recorded up to position P. It stays
true forever (events never change), so it is a cache any reader may write and anyone
may delete. It answers a question (T >= B, K >= P) when nothing recorded in (P, K] is
dated before B; then only the rows after B are folded. Folds that had to read more than
`CHECKPOINT_EVERY` rows leave checkpoints behind them, so the cost of a question grows
with the rows since the nearest checkpoint, not with the depot's history, and never
with the rest of the ledger. The projection also writes checkpoints ahead of the
questions as events arrive (`projections.checkpoints`), so the first question about a
cut is as cheap as the next.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
import structlog

from ledger import clock
from ledger.persistence import IndexStore
from projections.cut import BadCut, Cut, parse_instant, parse_position
from projections.fold import CONSUMPTION, Expiries, ItemFold, ItemState, as_date, window_start

RECEIPT = "ReceiptRecorded"
LOTS_PER_BRANCH = 500

CHECKPOINT_EVERY = 250
CANDIDATES = 8

log = structlog.get_logger("supply_ledger.history")

ROW_COLUMNS = (
    "occurred_at, position, line, event_type, delta, counted, lot, expires_on,"
    " transit_in, transit_out, reserved, min_days"
)


@dataclass
class Folded:
    """One item's state after a fold, the rows read after its starting checkpoint, the last of
    them, and the lots' expiries it was folded with (as known at the cut)."""

    state: ItemState
    rows: int = 0
    last: dict[str, Any] | None = None
    expiries: Expiries = field(default_factory=dict)


class History:
    def __init__(self, store: IndexStore) -> None:
        self.store = store

    # --- the cut -------------------------------------------------------------------------

    def cut(self, as_of: str | None, known_at: str | None, latest: int, now: datetime | None = None) -> Cut:
        """Resolve the query parameters; `latest` is the ledger position when the request began."""
        now = now or clock.now()
        as_of_time = parse_instant(as_of, "as_of", now) if as_of else None
        if not known_at:
            return Cut(as_of_time, latest, None, now)
        position = parse_position(known_at, "known_at", latest)
        if position is not None:
            return Cut(as_of_time, position, self.recorded_at(position), now)
        if known_at.strip().startswith("pos"):
            raise BadCut("known_at", f"{known_at!r} is not a time or a position like pos:1234")
        known_time = parse_instant(known_at, "known_at", now)
        return Cut(as_of_time, min(self.position_at(known_time), latest), min(known_time, now), now)

    def position_at(self, recorded: datetime) -> int:
        """The last position recorded at or before `recorded`."""
        rows = self.store.query(
            """SELECT position FROM {t}positions WHERE recorded_at <= :at
               ORDER BY recorded_at DESC, position DESC LIMIT 1""",
            at=recorded,
        )
        return int(rows[0]["position"]) if rows else 0

    def recorded_at(self, position: int) -> datetime | None:
        rows = self.store.query(
            "SELECT recorded_at FROM {t}positions WHERE position <= :known ORDER BY position DESC LIMIT 1",
            known=position,
        )
        return self.store.from_db_time(rows[0]["recorded_at"]) if rows else None

    # --- the items of one depot ------------------------------------------------------------
    #
    # Each step below is one statement for all the items asked about (a UNION ALL of one
    # indexed branch per item), so a depot's stock costs a handful of round trips however
    # many items it holds.

    def item_fold(self, depot: str, item: str, cut: Cut) -> ItemFold:
        return self.depot_folds(depot, [item], cut).get(item) or ItemFold(ItemState())

    def depot_folds(self, depot: str, items: list[str], cut: Cut) -> dict[str, ItemFold]:
        """The fold of each item the depot had rows for as known at the cut (others are left out)."""
        items = self._known_items(depot, items, cut.known_position)
        if not items:
            return {}
        folded = self._fold(depot, items, cut)
        consumed = self._consumed(depot, items, cut)
        return {item: ItemFold(folded[item].state, consumed.get(item, 0), folded[item].expiries) for item in items}

    def checkpoint_ahead(self, depot: str, items: list[str], known: int, every: int) -> dict[str, int]:
        """Fold each item with every row recorded up to position `known`, and leave a checkpoint at
        its last row when `every` or more rows had to be folded since the nearest usable one.

        The projection calls this as events arrive, so a question nobody asked before still
        finds a checkpoint near its cut. Returns, per item, the rows a fold at `known` now has
        to read after its nearest checkpoint (0 where one was just left)."""
        folded = self._fold(depot, items, Cut(None, known, None, clock.now()))
        due = {item: f for item, f in folded.items() if f.rows >= every and f.last is not None}
        if due:
            self._save_checkpoints(
                self._checkpoint(depot, item, known, f.last, f.state) for item, f in due.items() if f.last is not None
            )
        return {item: 0 if item in due else f.rows for item, f in folded.items()}

    def _fold(self, depot: str, items: list[str], cut: Cut) -> dict[str, Folded]:
        """Each item's state at the cut, folded from its nearest usable checkpoint; a fold that
        reads many rows leaves a checkpoint every `CHECKPOINT_EVERY` of them.

        First-expiry-first-out draws depend on the lots' expiries, which the cut may know better
        than the checkpoint did (a receipt stating one recorded since): a checkpoint folded with
        other expiries for its lots is passed over, and that item folded from the start."""
        starts = self._starts(depot, items, cut)
        states = self._states(depot, starts)
        rows = self._rows_by_item(depot, starts, cut)
        expiries = self.expiries(_lots_named(states, rows), cut.known_position)
        stale: dict[str, dict[str, Any] | None] = {
            item: None for item, state in states.items() if starts[item] and not state.lots.agrees(expiries[item])
        }
        if stale:
            states |= {item: ItemState() for item in stale}
            rows |= self._rows_by_item(depot, stale, cut)
            expiries |= self.expiries(_lots_named({}, {item: rows[item] for item in stale}), cut.known_position)
        folded = {item: Folded(state, expiries=expiries[item]) for item, state in states.items()}
        pending: list[dict[str, Any]] = []
        for row in (row for item in items for row in rows[item]):
            f = folded[row["item"]]
            f.state.apply(row, f.expiries)
            f.rows += 1
            f.last = row
            if f.rows % CHECKPOINT_EVERY == 0:
                pending.append(self._checkpoint(depot, row["item"], cut.known_position, row, f.state))
        if pending:
            self._save_checkpoints(pending)
        return folded

    def _union(self, branch: str, items: list[str], **params: Any) -> list[dict[str, Any]]:
        """Run `branch` once per item in one statement; `:item` and parameters named `:name_#` are per item."""
        parts, bound = [], dict(params)
        for n, item in enumerate(items):
            parts.append(f"SELECT * FROM ({branch.replace('_#', f'_{n}').replace(':item', f':item_{n}')}) AS b{n}")
            bound[f"item_{n}"] = item
        return self.store.query(" UNION ALL ".join(parts), **bound)

    def _known_items(self, depot: str, items: list[str], known: int) -> list[str]:
        if not items:
            return []
        first = self._union(
            "SELECT CAST(:item AS TEXT) AS item,"
            " (SELECT MIN(position) FROM {t}movements WHERE depot = :depot AND item = :item) AS first",
            items,
            depot=depot,
        )
        present = {row["item"] for row in first if row["first"] is not None and row["first"] <= known}
        return [item for item in items if item in present]

    def _starts(self, depot: str, items: list[str], cut: Cut) -> dict[str, dict[str, Any] | None]:
        """For each item the nearest checkpoint that answers the cut, or None (fold from the start)."""
        bound = " AND occurred_at <= :as_of" if cut.as_of is not None else ""
        candidates: dict[str, list[dict[str, Any]]] = {item: [] for item in items}
        for row in self._union(
            "SELECT CAST(:item AS TEXT) AS item, occurred_at, position, line, known_position FROM {t}fold_checkpoints "
            "WHERE depot = :depot AND item = :item AND known_position <= :known"
            + bound
            + " ORDER BY occurred_at DESC, position DESC, line DESC, known_position DESC LIMIT :limit",
            items,
            depot=depot,
            known=cut.known_position,
            as_of=cut.as_of,
            limit=CANDIDATES,
        ):
            candidates[row["item"]].append(row)
        for found in candidates.values():
            found.sort(key=lambda c: (c["occurred_at"], c["position"], c["line"], c["known_position"]), reverse=True)
        starts: dict[str, dict[str, Any] | None] = {}
        while candidates:
            probes = {item: found[0] for item, found in candidates.items() if found}
            for item in [item for item, found in candidates.items() if not found]:
                starts[item] = None
                del candidates[item]
            late = self._late_items(depot, probes, cut.known_position)
            for item, probe in probes.items():
                if item in late:
                    candidates[item].pop(0)
                else:
                    starts[item] = probe
                    del candidates[item]
        return starts

    def expiries(self, lots: dict[str, set[str]], known: int) -> dict[str, dict[str, Any]]:
        """Per item, the expiry of each of `lots` as known at position `known`: what the first
        receipt of that lot stating one said, at whichever depot (a lot is the manufacturer's, and
        so is its expiry). Lots no receipt known by then dates are left out (undated)."""
        found: dict[str, dict[str, Any]] = {item: {} for item in lots}
        branches, params = [], {"known": known, "receipt": RECEIPT}
        for n, (item, names) in enumerate(lots.items()):
            ordered = sorted(names)
            for m in range(0, len(ordered), LOTS_PER_BRANCH):
                chunk = ordered[m : m + LOTS_PER_BRANCH]
                marks = ", ".join(f":lot_{n}_{m + k}" for k in range(len(chunk)))
                branches.append(
                    f"SELECT item, lot, expires_on, position FROM {{t}}movements WHERE item = :item_{n}"
                    f" AND lot IN ({marks}) AND expires_on IS NOT NULL AND event_type = :receipt AND position <= :known"
                )
                params |= {f"lot_{n}_{m + k}": lot for k, lot in enumerate(chunk)}
            params[f"item_{n}"] = item
        if not branches:
            return found
        first: dict[tuple[str, str], int] = {}
        for row in self.store.query(" UNION ALL ".join(branches), **params):
            key = (row["item"], row["lot"])
            if key not in first or row["position"] < first[key]:
                first[key] = row["position"]
                found[row["item"]][row["lot"]] = as_date(row["expires_on"])
        return found

    def _rows_by_item(
        self, depot: str, starts: dict[str, dict[str, Any] | None], cut: Cut
    ) -> dict[str, list[dict[str, Any]]]:
        rows: dict[str, list[dict[str, Any]]] = {item: [] for item in starts}
        for row in self._rows_after(depot, starts, cut):
            rows[row["item"]].append(row)
        return rows

    def _states(self, depot: str, starts: dict[str, dict[str, Any] | None]) -> dict[str, ItemState]:
        """The saved states of the chosen checkpoints (only those: a state can be large); a
        checkpoint saved in another format is passed over (that item is folded from the start)."""
        states = {item: ItemState() for item in starts}
        chosen = [item for item, start in starts.items() if start is not None]
        if not chosen:
            return states
        params: dict[str, Any] = {}
        for n, item in enumerate(chosen):
            start = starts[item]
            assert start is not None
            params |= {
                f"at_{n}": start["occurred_at"],
                f"pos_{n}": start["position"],
                f"line_{n}": start["line"],
                f"known_{n}": start["known_position"],
            }
        for row in self._union(
            "SELECT CAST(:item AS TEXT) AS item, state FROM {t}fold_checkpoints WHERE depot = :depot AND item = :item"
            " AND occurred_at = :at_# AND position = :pos_# AND line = :line_# AND known_position = :known_#",
            chosen,
            depot=depot,
            **params,
        ):
            loaded = ItemState.load(orjson.loads(row["state"]))
            if loaded is not None:
                states[row["item"]] = loaded
                chosen.remove(row["item"])
        for item in chosen:  # deleted meanwhile (checkpoints are a cache): fold that item from the start
            starts[item] = None
        return states

    def _late_items(self, depot: str, probes: dict[str, dict[str, Any]], known: int) -> set[str]:
        """The items for which something recorded after the checkpoint, up to the cut, is dated before its key.

        Only a backdated entry (dated before one the item already had) can be: any other entry
        recorded after the checkpoint is dated at or after every entry before it, so at or
        after the checkpoint's key. The journal indexes backdated entries on their own."""
        asked = [item for item, probe in probes.items() if probe["known_position"] < known]
        if not asked:
            return set()
        params: dict[str, Any] = {}
        for n, item in enumerate(asked):
            params[f"after_{n}"] = probes[item]["known_position"]
            params[f"at_{n}"] = probes[item]["occurred_at"]
        rows = self._union(
            "SELECT CAST(:item AS TEXT) AS item WHERE EXISTS"
            " (SELECT 1 FROM {t}movements WHERE depot = :depot AND item = :item"
            " AND backdated = 1 AND position > :after_# AND position <= :known AND occurred_at < :at_#)",
            asked,
            depot=depot,
            known=known,
            **params,
        )
        return {row["item"] for row in rows}

    def _rows_after(self, depot: str, starts: dict[str, dict[str, Any] | None], cut: Cut) -> list[dict[str, Any]]:
        """Each item's rows after its starting checkpoint, up to the cut, in business order."""
        params: dict[str, Any] = {"depot": depot, "known": cut.known_position, "as_of": cut.as_of}
        items = list(starts)
        branches = []
        for n, item in enumerate(items):
            where = " AND occurred_at <= :as_of" if cut.as_of is not None else ""
            start = starts[item]
            if start is not None:
                # `occurred_at >= :at` repeats the bound in a form the index range can use;
                # without it the database reads every row from the item's first.
                where += (
                    f" AND occurred_at >= :at_{n} AND (occurred_at > :at_{n} OR (occurred_at = :at_{n}"
                    f" AND (position > :pos_{n} OR (position = :pos_{n} AND line > :line_{n}))))"
                )
                params |= {f"at_{n}": start["occurred_at"], f"pos_{n}": start["position"], f"line_{n}": start["line"]}
            branches.append(
                f"SELECT item, {ROW_COLUMNS} FROM {{t}}movements WHERE depot = :depot AND item = :item_{n}"
                f" AND position <= :known{where}"
            )
            params[f"item_{n}"] = item
        return self.store.query(" UNION ALL ".join(branches) + " ORDER BY item, occurred_at, position, line", **params)

    def _consumed(self, depot: str, items: list[str], cut: Cut) -> dict[str, int]:
        """Consumption dated in (T - 14 days, T], as known at the cut."""
        end = cut.business_time
        rows = self._union(
            "SELECT CAST(:item AS TEXT) AS item, COALESCE(SUM(delta), 0) AS total"
            " FROM {t}movements WHERE depot = :depot"
            " AND item = :item AND occurred_at > :start AND occurred_at <= :end AND event_type = :consumption"
            " AND position <= :known",
            items,
            depot=depot,
            start=window_start(end),
            end=end,
            consumption=CONSUMPTION,
            known=cut.known_position,
        )
        return {row["item"]: -int(row["total"]) for row in rows}

    @staticmethod
    def _checkpoint(depot: str, item: str, known: int, row: dict[str, Any], state: ItemState) -> dict[str, Any]:
        return {
            "depot": depot,
            "item": item,
            "known_position": known,
            "occurred_at": row["occurred_at"],
            "at_position": row["position"],
            "line": row["line"],
            "state": orjson.dumps(state.dump()).decode(),
        }

    def _save_checkpoints(self, checkpoints: Iterable[dict[str, Any]]) -> None:
        """Best effort: a checkpoint only saves work, so failing to store one is not an error."""
        try:
            self.store.write(
                """INSERT INTO {t}fold_checkpoints (depot, item, known_position, occurred_at, position, line, state)
                   VALUES (:depot, :item, :known_position, :occurred_at, :at_position, :line, :state)
                   ON CONFLICT (depot, item, occurred_at, position, line, known_position)
                   DO UPDATE SET state = excluded.state""",
                list(checkpoints),
            )
        except Exception:
            log.warning("checkpoint_not_saved", exc_info=True)


def _lots_named(states: dict[str, ItemState], rows: dict[str, list[dict[str, Any]]]) -> dict[str, set[str]]:
    """Per item, every lot a fold from these states over these rows may draw, list or has drawn."""
    named = {item: set(state.lots.seen) | set(state.lots.by_lot) for item, state in states.items()}
    for item, item_rows in rows.items():
        named.setdefault(item, set()).update(row["lot"] for row in item_rows if row["lot"] is not None)
    return named
