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
with the rest of the ledger.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import orjson
import structlog

from ledger import clock
from ledger.persistence import IndexStore
from projections.cut import BadCut, Cut, parse_instant, parse_position
from projections.fold import CONSUMPTION, ItemFold, ItemState, window_start

CHECKPOINT_EVERY = 250
CANDIDATES = 4

log = structlog.get_logger("supply_ledger.history")

ROW_COLUMNS = "occurred_at, position, line, event_type, delta, counted, lot, expires_on, transit_in, transit_out, reserved, min_days"


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

    # --- one item at one depot -------------------------------------------------------------

    def has_rows(self, depot: str, item: str, known: int) -> bool:
        rows = self.store.query(
            "SELECT MIN(position) AS first FROM {t}movements WHERE depot = :depot AND item = :item",
            depot=depot,
            item=item,
        )
        return rows[0]["first"] is not None and rows[0]["first"] <= known

    def item_fold(self, depot: str, item: str, cut: Cut) -> ItemFold:
        return ItemFold(self.item_state(depot, item, cut), self.consumed(depot, item, cut))

    def item_state(self, depot: str, item: str, cut: Cut) -> ItemState:
        state, after = self._start(depot, item, cut)
        rows = self._rows_after(depot, item, cut, after)
        pending: list[dict[str, Any]] = []
        for count, row in enumerate(rows, 1):
            state.apply(row)
            if count % CHECKPOINT_EVERY == 0:
                pending.append(self._checkpoint(depot, item, cut.known_position, row, state))
        if pending:
            self._save_checkpoints(pending)
        return state

    def consumed(self, depot: str, item: str, cut: Cut) -> int:
        """Consumption dated in (T - 14 days, T], as known at the cut."""
        end = cut.business_time
        rows = self.store.query(
            """SELECT COALESCE(SUM(delta), 0) AS total FROM {t}movements
               WHERE depot = :depot AND item = :item AND occurred_at > :start AND occurred_at <= :end
               AND event_type = :consumption AND position <= :known""",
            depot=depot,
            item=item,
            start=window_start(end),
            end=end,
            consumption=CONSUMPTION,
            known=cut.known_position,
        )
        return -int(rows[0]["total"])

    def _start(self, depot: str, item: str, cut: Cut) -> tuple[ItemState, dict[str, Any] | None]:
        """The nearest checkpoint that answers this cut, or the empty state."""
        bound = " AND occurred_at <= :as_of" if cut.as_of is not None else ""
        candidates = self.store.query(
            "SELECT occurred_at, position, line, known_position, state FROM {t}fold_checkpoints "
            "WHERE depot = :depot AND item = :item AND known_position <= :known"
            + bound
            + " ORDER BY occurred_at DESC, position DESC, line DESC, known_position DESC LIMIT :limit",
            depot=depot,
            item=item,
            known=cut.known_position,
            as_of=cut.as_of,
            limit=CANDIDATES,
        )
        for candidate in candidates:
            if candidate["known_position"] == cut.known_position or not self._late_rows(
                depot, item, candidate, cut.known_position
            ):
                return ItemState.load(orjson.loads(candidate["state"])), candidate
        return ItemState(), None

    def _late_rows(self, depot: str, item: str, checkpoint: dict[str, Any], known: int) -> bool:
        """Whether anything recorded after the checkpoint, up to the cut, is dated before its key."""
        rows = self.store.query(
            """SELECT 1 AS late FROM {t}movements WHERE depot = :depot AND item = :item
               AND position > :after AND position <= :known AND occurred_at < :at LIMIT 1""",
            depot=depot,
            item=item,
            after=checkpoint["known_position"],
            known=known,
            at=checkpoint["occurred_at"],
        )
        return bool(rows)

    def _rows_after(self, depot: str, item: str, cut: Cut, after: dict[str, Any] | None) -> list[dict[str, Any]]:
        where = " AND position <= :known"
        params: dict[str, Any] = {"depot": depot, "item": item, "known": cut.known_position}
        if cut.as_of is not None:
            where += " AND occurred_at <= :as_of"
            params["as_of"] = cut.as_of
        if after is not None:
            where += (
                " AND (occurred_at > :at OR (occurred_at = :at AND (position > :pos"
                " OR (position = :pos AND line > :line))))"
            )
            params |= {"at": after["occurred_at"], "pos": after["position"], "line": after["line"]}
        return self.store.query(
            f"SELECT {ROW_COLUMNS} FROM {{t}}movements WHERE depot = :depot AND item = :item"
            + where
            + " ORDER BY occurred_at, position, line",
            **params,
        )

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
                   ON CONFLICT DO NOTHING""",
                list(checkpoints),
            )
        except Exception:
            log.warning("checkpoint_not_saved", exc_info=True)
