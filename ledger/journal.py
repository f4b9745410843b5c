"""Reading the write indexes: the movement journal, transfers, the directory, idempotency keys."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import orjson

from domain.exceptions import IdempotencyKeyReused
from domain.stock import Movement, balance
from ledger.persistence import IndexStore


def filters(**values: Any) -> tuple[str, dict[str, Any]]:
    """`AND column = :column` for each filter that has a value; `t__x` names column `t.x`."""
    given = {name: value for name, value in values.items() if value is not None}
    return "".join(f" AND {name.replace('__', '.')} = :{name}" for name in given), given


class Journal:
    def __init__(self, store: IndexStore) -> None:
        self.store = store

    # --- movements -------------------------------------------------------------------

    def _movement(self, row: dict[str, Any]) -> Movement:
        return Movement(
            occurred_at=self.store.from_db_time(row["occurred_at"]),
            position=row["position"],
            delta=row["delta"],
            counted=row["counted"],
        )

    def book_at(self, depot: str, item: str, at: datetime) -> int:
        """The balance at business time `at` (everything dated at or before it), as known now."""
        last_count = self.store.query(
            """SELECT occurred_at, position, counted FROM {t}movements
               WHERE depot = :depot AND item = :item AND counted IS NOT NULL AND occurred_at <= :at
               ORDER BY occurred_at DESC, position DESC LIMIT 1""",
            depot=depot,
            item=item,
            at=at,
        )
        if not last_count:
            rows = self.store.query(
                """SELECT COALESCE(SUM(delta), 0) AS total FROM {t}movements
                   WHERE depot = :depot AND item = :item AND occurred_at <= :at""",
                depot=depot,
                item=item,
                at=at,
            )
            return int(rows[0]["total"])
        count = last_count[0]
        rows = self.store.query(
            """SELECT COALESCE(SUM(delta), 0) AS total FROM {t}movements
               WHERE depot = :depot AND item = :item AND occurred_at <= :at
               AND (occurred_at > :count_at OR (occurred_at = :count_at AND position > :count_position))""",
            depot=depot,
            item=item,
            at=at,
            count_at=self.store.from_db_time(count["occurred_at"]),
            count_position=count["position"],
        )
        return int(count["counted"]) + int(rows[0]["total"])

    def movements_after(self, depot: str, item: str, at: datetime) -> tuple[list[Movement], bool]:
        """Movements dated after `at` up to the next count; and whether no count follows (the run reaches now)."""
        next_count = self.store.query(
            """SELECT occurred_at, position FROM {t}movements
               WHERE depot = :depot AND item = :item AND counted IS NOT NULL AND occurred_at > :at
               ORDER BY occurred_at, position LIMIT 1""",
            depot=depot,
            item=item,
            at=at,
        )
        bound: dict[str, Any] = {}
        before_next_count = ""
        if next_count:
            # Movements at the count's own instant but recorded before it come before it.
            before_next_count = " AND (occurred_at < :until OR (occurred_at = :until AND position < :until_position))"
            bound = {
                "until": self.store.from_db_time(next_count[0]["occurred_at"]),
                "until_position": next_count[0]["position"],
            }
        rows = self.store.query(
            """SELECT occurred_at, position, delta, counted FROM {t}movements
               WHERE depot = :depot AND item = :item AND occurred_at > :at"""
            + before_next_count
            + " ORDER BY occurred_at, position",
            depot=depot,
            item=item,
            at=at,
            **bound,
        )
        return [self._movement(row) for row in rows], not next_count

    def history(self, depot: str, item: str | None = None) -> list[dict[str, Any]]:
        """Every journal row of a depot (or one item of it) in business order."""
        where, given = filters(item=item)
        rows = self.store.query(
            "SELECT * FROM {t}movements WHERE depot = :depot" + where + " ORDER BY occurred_at, position, line",
            depot=depot,
            **given,
        )
        for row in rows:
            row["occurred_at"] = self.store.from_db_time(row["occurred_at"])
            row["recorded_at"] = self.store.from_db_time(row["recorded_at"])
            if isinstance(row["expires_on"], str):
                row["expires_on"] = date.fromisoformat(row["expires_on"])
        return rows

    def balance_now(self, depot: str, item: str) -> int:
        """The on-demand fold at now, for checking the aggregate against the journal."""
        return balance(
            Movement(r["occurred_at"], r["position"], r["delta"], r["counted"]) for r in self.history(depot, item)
        )

    # --- transfers ---------------------------------------------------------------------

    def _transfer(self, row: dict[str, Any]) -> dict[str, Any]:
        row = dict(row)
        for name in ("dispatched_at", "received_at", "cancelled_at"):
            if row.get(name) is not None:
                row[name] = self.store.from_db_time(row[name])
        row["lines"] = orjson.loads(row["lines"])
        row["received_lines"] = orjson.loads(row["received_lines"]) if row.get("received_lines") else None
        return row

    def transfer(self, transfer_id: str) -> dict[str, Any] | None:
        rows = self.store.query("SELECT * FROM {t}transfers WHERE transfer_id = :id", id=transfer_id)
        return self._transfer(rows[0]) if rows else None

    def transfers(
        self,
        status: str | None = None,
        source: str | None = None,
        destination: str | None = None,
        region: str | None = None,
        limit: int = 1000,
    ) -> list[dict[str, Any]]:
        where, given = filters(t__status=status, t__source=source, t__destination=destination)
        if region is not None:
            where += " AND (s.region = :region OR d.region = :region)"
            given["region"] = region
        rows = self.store.query(
            """SELECT t.* FROM {t}transfers t
               JOIN {t}depots s ON s.code = t.source JOIN {t}depots d ON d.code = t.destination
               WHERE 1 = 1"""
            + where
            + " ORDER BY t.dispatched_position LIMIT :limit",
            limit=limit,
            **given,
        )
        return [self._transfer(row) for row in rows]

    def transfers_against(self, allocation_id: str) -> list[dict[str, Any]]:
        rows = self.store.query(
            "SELECT * FROM {t}transfers WHERE allocation_id = :id ORDER BY dispatched_position", id=allocation_id
        )
        return [self._transfer(row) for row in rows]

    # --- allocations -------------------------------------------------------------------------

    def _allocation(self, row: dict[str, Any]) -> dict[str, Any]:
        row = dict(row)
        for name in ("decided_at", "recorded_at", "revoked_at"):
            if row.get(name) is not None:
                row[name] = self.store.from_db_time(row[name])
        row["recipients"] = orjson.loads(row["recipients"])
        return row

    def allocation(self, allocation_id: str) -> dict[str, Any] | None:
        rows = self.store.query("SELECT * FROM {t}allocations WHERE allocation_id = :id", id=allocation_id)
        return self._allocation(rows[0]) if rows else None

    def allocations(
        self,
        source: str | None = None,
        item: str | None = None,
        status: str | None = None,
        decided_from: datetime | None = None,
        limit: int = 1000,
    ) -> list[dict[str, Any]]:
        where, given = filters(source=source, item=item, status=status)
        if decided_from is not None:
            where += " AND decided_at >= :decided_from"
            given["decided_from"] = decided_from
        rows = self.store.query(
            "SELECT * FROM {t}allocations WHERE 1 = 1" + where + " ORDER BY decided_position LIMIT :limit",
            limit=limit,
            **given,
        )
        return [self._allocation(row) for row in rows]

    # --- late reports -------------------------------------------------------------------------

    def late_events(
        self, since: datetime | None, until: datetime | None, after: int = 0, limit: int = 1000
    ) -> list[dict[str, Any]]:
        """Events recorded more than 24 h after they occurred, recorded in [since, until], in position order."""
        where, given = "", {}
        if since is not None:
            where += " AND recorded_at >= :since"
            given["since"] = since
        if until is not None:
            where += " AND recorded_at <= :until"
            given["until"] = until
        rows = self.store.query(
            "SELECT * FROM {t}late_events WHERE position > :after" + where + " ORDER BY position LIMIT :limit",
            after=after,
            limit=limit,
            **given,
        )
        for row in rows:
            row["occurred_at"] = self.store.from_db_time(row["occurred_at"])
            row["recorded_at"] = self.store.from_db_time(row["recorded_at"])
        return rows

    def rows_at(self, positions: list[int]) -> list[dict[str, Any]]:
        """The journal rows of the events at these positions (their depot, item and effect)."""
        if not positions:
            return []
        marks = ", ".join(f":p{n}" for n in range(len(positions)))
        rows = self.store.query(
            f"SELECT * FROM {{t}}movements WHERE position IN ({marks}) ORDER BY position, line",
            **{f"p{n}": position for n, position in enumerate(positions)},
        )
        for row in rows:
            row["occurred_at"] = self.store.from_db_time(row["occurred_at"])
            row["recorded_at"] = self.store.from_db_time(row["recorded_at"])
        return rows

    # --- corrections -----------------------------------------------------------------------

    def corrections_touching(self, positions: list[int]) -> list[dict[str, Any]]:
        """The correction rows of which an event at one of these positions is the correction or the
        corrected event, in position order."""
        if not positions:
            return []
        marks = ", ".join(f":p{n}" for n in range(len(positions)))
        return self.store.query(
            f"""SELECT position, depot, event_id, corrects, corrects_position FROM {{t}}corrections
                WHERE position IN ({marks}) OR corrects_position IN ({marks}) ORDER BY position""",
            **{f"p{n}": position for n, position in enumerate(positions)},
        )

    # --- directory -----------------------------------------------------------------------

    def registered_at(self, depot: str) -> int | None:
        """The ledger position of the depot's registration."""
        rows = self.store.query("SELECT position FROM {t}depots WHERE code = :code", code=depot)
        return int(rows[0]["position"]) if rows else None

    def depots(
        self, region: str | None = None, organisation: str | None = None, kind: str | None = None
    ) -> list[dict[str, Any]]:
        where, given = filters(region=region, organisation=organisation, kind=kind)
        return self.store.query(
            "SELECT code, name, region, organisation, kind, population_served FROM {t}depots WHERE 1 = 1"
            + where
            + " ORDER BY code",
            **given,
        )

    def items(self) -> list[dict[str, Any]]:
        """The catalogue, each item with its GTINs (GTIN-14, in order)."""
        items: dict[str, dict[str, Any]] = {}
        for row in self.store.query(
            """SELECT i.code, i.name, i.unit, i.category, i.atc_code, g.gtin FROM {t}items i
               LEFT JOIN {t}item_gtins g ON g.item = i.code ORDER BY i.code, g.gtin"""
        ):
            gtin = row.pop("gtin")
            item = items.setdefault(row["code"], {**row, "gtins": []})
            if gtin is not None:
                item["gtins"].append(gtin)
        return list(items.values())

    def gtin_owners(self, gtins: list[str]) -> dict[str, str]:
        """GTIN-14 -> the item it belongs to now, for those of `gtins` that belong to one."""
        if not gtins:
            return {}
        marks = ", ".join(f":g{n}" for n in range(len(gtins)))
        rows = self.store.query(
            f"SELECT gtin, item FROM {{t}}item_gtins WHERE gtin IN ({marks})",
            **{f"g{n}": gtin for n, gtin in enumerate(gtins)},
        )
        return {row["gtin"]: row["item"] for row in rows}

    # --- idempotency -----------------------------------------------------------------------

    def _idempotency_row(self, scope: str, key: str) -> dict[str, Any] | None:
        rows = self.store.query(
            "SELECT fingerprint, outcome, position FROM {t}idempotency WHERE scope = :scope AND key = :key",
            scope=scope,
            key=key,
        )
        return rows[0] if rows else None

    def idempotency(self, scope: str, key: str) -> tuple[str, dict[str, Any]] | None:
        row = self._idempotency_row(scope, key)
        if row is None:
            return None
        outcome = orjson.loads(row["outcome"])
        outcome["position"] = row["position"]  # filled in by the database in the write transaction
        return row["fingerprint"], outcome

    def stored_answer(self, scope: str, key: str, fingerprint: str) -> tuple[dict[str, Any], int] | None:
        """The answer stored with a key used before, and the position it was stored at;
        409 when the key came then with another request."""
        row = self._idempotency_row(scope, key)
        if row is None:
            return None
        if row["fingerprint"] != fingerprint:
            raise IdempotencyKeyReused(f"Idempotency-Key {key!r} was used for a different request", key=key)
        return orjson.loads(row["outcome"]), int(row["position"])
