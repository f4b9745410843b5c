"""The alert projection: current alerts kept beside the stock view, and their changes enqueued
for webhook subscribers in the same transaction as the view's tracking record.

The alert evaluation itself is passed in (`Evaluate`): the open alerts of some depots at a
business time, computed from the ledger by the one fold. After each batch the stock view
asks it about the depots the batch touched; `tick` asks it about every depot, because time
passing alone opens alerts (a silent depot, a lot coming within the expiry horizon, an
overdue transfer) without any event. Each time the answer is compared with the alerts kept
(`domain.alerts.changes`): openings, escalations and closings go to the outbox.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

import orjson

from domain.alerts import Alert, AlertChange, Severity, changes, listing_order
from domain.events import AlertRuleSet
from ledger import clock as ledger_clock
from ledger.clock import utc_text
from projections.current import Changes, DepotRow
from projections.outbox import Outbox

if TYPE_CHECKING:
    from projections.stock_view import StockView

TICK_CHUNK = 50
"""Depots a tick evaluates per view transaction."""

MARK_DIRTY = """INSERT INTO {t}alert_dirty (depot, mark) VALUES (:depot, :mark)
    ON CONFLICT (depot) DO UPDATE SET mark = excluded.mark"""

AlertPlace = tuple[str, str, str | None, Severity]
"""Where open alerts are counted: region, depot, item (None: the depot's own) and severity."""
Evaluate = Callable[[frozenset[str], datetime], list[Alert]]
"""`evaluate(depots, now)`: the open alerts of these depots (codes) at business time `now`."""

UPSERT_ALERT = """INSERT INTO {t}current_alerts (alert_id, kind, severity, depot, region, item, since, figures,
    message, acknowledged) VALUES (:alert_id, :kind, :severity, :depot, :region, :item, :since, :figures, :message,
    :acknowledged)
    ON CONFLICT (alert_id) DO UPDATE SET severity = excluded.severity, figures = excluded.figures,
    message = excluded.message, acknowledged = excluded.acknowledged"""


def touched_depots(events: Sequence[tuple[int, Any]], changes: Changes, depots: dict[UUID, DepotRow]) -> frozenset[str]:
    """The depots whose alerts a batch may have changed: those its events belong to, those
    whose stock rows it wrote (a transfer's destination too) and those it registered."""
    known = {**depots, **{row.id: row for row in changes.depots}}
    codes = {known[event.originator_id].code for _, event in events if getattr(event, "originator_id", None) in known}
    codes.update(depot for depot, _ in changes.stock)
    codes.update(row.code for row in changes.depots)
    return frozenset(codes)


class AlertWatch:
    """Keeps `current_alerts` and fills the outbox; plugged into a `StockView` as `view.alerts`."""

    def __init__(
        self,
        view: StockView,
        evaluate: Evaluate,
        clock: Callable[[], datetime] = ledger_clock.now,
    ) -> None:
        self.view = view
        self.evaluate = evaluate
        self.clock = clock
        self.outbox = Outbox(view)

    def after_batch(
        self, cursor: Any, events: Sequence[tuple[int, Any]], batch: Changes, depots: dict[UUID, DepotRow]
    ) -> list[AlertChange]:
        """Inside `StockView.apply`'s transaction, before its tracking record is written: the depots
        the batch touched are marked for re-evaluation (`settle`), durably with the tracking record.
        Evaluating here would make every reader that waits for the stock view wait for the alerts."""
        touched = set(touched_depots(events, batch, depots))
        if any(isinstance(event, AlertRuleSet) for _, event in events):  # a rule can change any depot's alerts
            touched.update(row.code for row in depots.values())
            touched.update(row.code for row in batch.depots)
        if touched:
            mark = events[-1][0]
            cursor.executemany(
                self.view._sql(MARK_DIRTY), [{"depot": depot, "mark": mark} for depot in sorted(touched)]
            )
        return []

    def settle(self, now: datetime | None = None, at_most: int | None = None) -> list[AlertChange]:
        """Evaluate the depots marked since the last settle, store their alerts and enqueue what
        changed; the marks go in the same transaction as the alerts and their deliveries.
        `at_most`: do nothing when more depots than this are marked (a reader leaves a bulk
        load's depots to the follower rather than evaluate them while its caller waits)."""
        marks = self._marks()
        if at_most is not None and len(marks) > at_most:
            return []
        return self._evaluate_chunks(sorted(marks), marks, now or self.clock())

    def tick(self, now: datetime | None = None) -> list[AlertChange]:
        """Evaluate every depot at `now` (default: the clock) and enqueue what changed: time
        passing alone opens and closes some alerts."""
        marks = self._marks()
        every = sorted(row["code"] for row in self.view.query("SELECT code FROM {t}depots"))
        return self._evaluate_chunks(every, marks, now or self.clock())

    def _marks(self) -> dict[str, int]:
        return {row["depot"]: row["mark"] for row in self.view.query("SELECT depot, mark FROM {t}alert_dirty")}

    def _evaluate_chunks(self, depots: list[str], marks: dict[str, int], now: datetime) -> list[AlertChange]:
        """`TICK_CHUNK` depots at a time, each evaluated before its transaction (evaluation reads
        only the ledger and takes long: no view transaction may wait for it, and PostgreSQL ends
        one idle for 5 s). A depot marked again meanwhile (a batch touched it after its marks
        were read) is left marked for the next settle, and one another settle cleared is left
        alone: only an evaluation that saw every batch of its depot is stored."""
        found: list[AlertChange] = []
        for first in range(0, len(depots), TICK_CHUNK):
            chunk = depots[first : first + TICK_CHUNK]
            evaluated = self.evaluate(frozenset(chunk), now)
            with self.view._transaction(commit=True) as cursor:
                self.view._lock(cursor)
                cursor.execute(*self.view._in("SELECT depot, mark FROM {t}alert_dirty WHERE depot", chunk))
                current = {row["depot"]: row["mark"] for row in cursor.fetchall()}
                settled = frozenset(depot for depot in chunk if current.get(depot) == marks.get(depot))
                if not settled:
                    continue
                found.extend(self._store(cursor, settled, [a for a in evaluated if a.depot in settled], now, now))
                cleared = sorted(depot for depot in settled if depot in current)
                if cleared:
                    cursor.execute(*self.view._in("DELETE FROM {t}alert_dirty WHERE depot", cleared))
        return found

    def _store(
        self, cursor: Any, depots: frozenset[str], evaluated: list[Alert], now: datetime, at: datetime
    ) -> list[AlertChange]:
        before = self._current(cursor, depots)
        after = {alert.alert_id: alert for alert in evaluated if alert.depot in depots}
        found = changes(before, after, at)
        closed = [key for key in before if key not in after]
        if closed:
            cursor.executemany(
                self.view._sql("DELETE FROM {t}current_alerts WHERE alert_id = :alert_id"),
                [{"alert_id": key} for key in closed],
            )
        if after:
            cursor.executemany(self.view._sql(UPSERT_ALERT), [self._row(alert) for alert in after.values()])
        self.outbox.enqueue(cursor, found, now)
        return found

    def current(self, region: str | None = None) -> list[Alert]:
        """The alerts kept open, most severe first (the fast path for the whole country)."""
        where = " WHERE region = :region" if region is not None else ""
        rows = self.view.query("SELECT * FROM {t}current_alerts" + where, region=region)
        return sorted((self._alert(dict(row)) for row in rows), key=Alert.order)

    def summary(self, region: str | None = None, first: int = 50) -> tuple[Counter[AlertPlace], list[Alert]]:
        """The kept alerts counted per region, depot, item and severity, and the `first` of their
        listing read whole: a dashboard of thousands of alerts reads only their columns."""
        where = " WHERE region = :region" if region is not None else ""
        columns = "SELECT alert_id, kind, severity, depot, region, item FROM {t}current_alerts" + where
        rows = self.view.query(columns, region=region)
        counts: Counter[AlertPlace] = Counter(
            (row["region"], row["depot"], row["item"], row["severity"]) for row in rows
        )
        order = {
            row["alert_id"]: listing_order(row["severity"], row["region"], row["depot"], row["item"], row["kind"])
            for row in rows
        }
        wanted = sorted(order, key=order.__getitem__)[:first]
        if not wanted:
            return counts, []
        with self.view._transaction(commit=False) as cursor:
            cursor.execute(*self.view._in("SELECT * FROM {t}current_alerts WHERE alert_id", wanted))
            found = [self._alert(dict(row)) for row in cursor.fetchall()]
        return counts, sorted(found, key=Alert.order)

    def _current(self, cursor: Any, depots: Collection[str]) -> dict[str, Alert]:
        cursor.execute(*self.view._in("SELECT * FROM {t}current_alerts WHERE depot", sorted(depots)))
        return {row["alert_id"]: self._alert(dict(row)) for row in cursor.fetchall()}

    def _row(self, alert: Alert) -> dict[str, Any]:
        return {
            **alert.fields(),
            "since": self.view.to_db_time(alert.since),
            "figures": _json(alert.figures),
            "acknowledged": None if alert.acknowledged is None else _json(alert.acknowledged),
        }

    def _alert(self, row: dict[str, Any]) -> Alert:
        since = self.view.from_db_time(row["since"])
        assert since is not None  # NOT NULL
        since = since.astimezone(UTC)  # as evaluated: the episode's id is derived from its text
        alert = Alert(
            kind=row["kind"],
            severity=row["severity"],
            depot=row["depot"],
            region=row["region"],
            item=row["item"],
            since=since,
            message=row["message"],
            figures=orjson.loads(row["figures"]),
            acknowledged=_acknowledged(row.get("acknowledged")),
        )
        alert.__dict__["alert_id"] = row["alert_id"]  # stored as evaluated: not hashed again for every reader
        return alert


def _json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS, default=_text).decode()


def _text(value: Any) -> str:
    return utc_text(value) if isinstance(value, datetime) else str(value)


def _acknowledged(text: str | None) -> dict[str, Any] | None:
    """An acknowledgement as evaluated ({by, at, note}), its time back as an aware datetime."""
    if text is None:
        return None
    found = orjson.loads(text)
    return {**found, "at": datetime.fromisoformat(found["at"].replace("Z", "+00:00"))}


__all__ = ["AlertWatch", "Evaluate", "touched_depots"]
