"""A ledger written before the late-data report gets its late events indexed when it is
next opened, once, on both backends: `GET /v1/late` is then complete."""

from __future__ import annotations

from datetime import timedelta

from domain import commands as cmd
from ledger import clock
from ledger.application import Context, Ledger
from ledger.settings import Database
from replay.late import late_reports

CTX = Context(actor="test")


def test_late_events_stored_before_the_index_are_found_after_reopening(database_url: str) -> None:
    ledger = Ledger(Database(database_url).env())
    try:
        ledger.define_item(cmd.DefineItem(code="FFP2", name="FFP2", unit="piece", category="ppe"), CTX)
        ledger.register_depot(
            cmd.RegisterDepot(code="D1", name="D1", region="r", organisation="o", kind="regional"), CTX
        )
        now = clock.now()
        ledger.record_receipt(
            "D1", cmd.RecordReceipt(item="FFP2", quantity=50, occurred_at=now - timedelta(days=3)), CTX
        )
        ledger.report_consumption(
            "D1", cmd.ReportConsumption(item="FFP2", quantity=5, occurred_at=now - timedelta(hours=2)), CTX
        )
        ledger.report_consumption(
            "D1", cmd.ReportConsumption(item="FFP2", quantity=7, occurred_at=now - timedelta(days=2)), CTX
        )
        expected = [(3, "D1", "ReceiptRecorded"), (5, "D1", "ConsumptionReported")]
        listed = late_reports(ledger, None, None)
        assert [(e.position, e.depot, e.type) for e in listed.events] == expected
        # as an earlier version left it: no late_events rows, no record of a backfill
        for table in ("late_events", "backfills"):
            with ledger.index_store.datastore.transaction(commit=True) as cursor:
                cursor.execute(ledger.index_store._sql(f"DELETE FROM {{t}}{table}"))
        assert late_reports(ledger, None, None).events == []
    finally:
        ledger.close()

    reopened = Ledger(Database(database_url).env())
    try:
        assert [(e.position, e.depot, e.type) for e in late_reports(reopened, None, None).events] == expected
        assert reopened.index_store.query(
            "SELECT name, upto FROM {t}backfills WHERE name = :name", name="late_events"
        ) == [{"name": "late_events", "upto": 5}]
    finally:
        reopened.close()
    again = Ledger(Database(database_url).env())  # a second start leaves the rows as they are
    try:
        assert len(late_reports(again, None, None).events) == 2
    finally:
        again.close()
