"""The stories the demo scripts on top of its routine days: a duplicate delivery note and its
correction, supply requests, allocation decisions (one revoked, one still reserved at the
end), mutual aid between regions, a loss in transit, a cancelled transfer and write-offs."""

from __future__ import annotations

from datetime import time

from domain import allocation_commands as alloc
from domain import commands as cmd
from ledger.demo_recording import ScenarioRecorder, Transit
from ledger.demo_world import (
    CLOSE_AT,
    COORDINATOR,
    DAYS,
    LOCAL_ARRIVAL_AT,
    NATIONAL,
    PACK,
    REGIONS,
    REQUEST_AT,
    round_down,
    round_up,
)
from ledger.outcomes import AllocationOutcome


class ScriptedStories(ScenarioRecorder):
    """Each story is a step of the day it happens on; `ledger.demo` calls them in order."""

    def scripted_correction(self, day: int) -> None:
        """A delivery note entered twice at Region Midtjylland's warehouse (the book shows stock
        that never arrived); the next day the duplicate is corrected by an adjustment that names
        it, dated when the duplicate was (so the book was never right in between)."""
        code, item = self.regional("DK-82").code, "FFP2"
        if day == 10:
            original = self.receipts[code, item]
            self.ledger.record_receipt(code, original.model_copy(update={"note": None}), self.ctx())
            self.duplicate = self.ledger.position()  # the physical stock does not change
        elif day == 11 and self.duplicate is not None:
            quantity = self.receipts[code, item].quantity
            self.ledger.adjust_stock(
                code,
                cmd.AdjustStock(
                    item=item,
                    quantity=-quantity,
                    reason="correction",
                    corrects=f"pos:{self.duplicate}",
                    note=f"Delivery note {self.receipts[code, item].reference} was entered twice",
                ),
                self.ctx(),
            )

    def scripted_requests(self, day: int) -> None:
        """A hospital's critical FFP3 request (fulfilled), a municipality's gown request (later
        withdrawn), and a region asking the nation for FFP2 (still open)."""
        requests = {
            15: ("rh-ffp3", "DK-84-RH", "FFP3", "critical", 2, "ICU expansion: FFP3 for two new cohort wards"),
            20: ("odense-gowns", "DK-83-ODENSE", "GOWN-ISO", "normal", 7, "Nursing homes: outbreak isolation"),
            33: ("dk85-ffp2", "DK-85-CENTRAL", "FFP2", "high", 10, "Rebuild the 90-day obligation after the surge"),
        }
        if day not in requests:
            return
        label, code, item, priority, days_needed, note = requests[day]
        quantity = round_up(10 * self.rate(self.depots[code], item, day), PACK[item])
        outcome, _ = self.ledger.request_supply(
            code,
            cmd.RequestSupply(
                item=item,
                quantity=quantity,
                priority=priority,
                needed_by=self.at(day + days_needed, time(12)),
                occurred_at=self.at(day, REQUEST_AT),
                note=note,
            ),
            self.ctx(),
        )
        request_id = outcome.request_id
        assert request_id is not None, "a supply request's outcome names the request"
        self.requests[label] = (code, request_id)
        if label == "rh-ffp3":  # Region Hovedstaden answers at once from its warehouse
            spare = round_down(self.stock["DK-84-CENTRAL", item] * 0.4, PACK[item])
            self.dispatch(
                "DK-84-CENTRAL",
                code,
                {item: min(quantity, spare)},
                day,
                day,
                reference=request_id,
                note="Answer to the critical FFP3 request",
            )

    def scripted_closures(self, day: int) -> None:
        closures = {15: ("rh-ffp3", "fulfilled", None), 24: ("odense-gowns", "withdrawn", "Covered by weekly delivery")}
        if day in closures:
            label, outcome, note = closures[day]
            code, request_id = self.requests[label]
            self.ledger.close_request(
                code,
                request_id,
                cmd.CloseRequest(outcome=outcome, occurred_at=self.at(day, CLOSE_AT), note=note),
                self.ctx(),
            )

    def allocate(
        self, source: str, item: str, quantity: int, recipients: list[str], policy: str, day: int, **choices: object
    ) -> AllocationOutcome:
        """A coordinator's decision at 09:30, on the ledger as it is known then."""
        body = {
            "from": source,
            "item": item,
            "quantity": quantity,
            "recipients": recipients,
            "policy": policy,
            "occurred_at": self.at(day, time(9, 30)),
            **choices,
        }
        outcome, _ = self.ledger.decide_allocation(alloc.DecideAllocation.model_validate(body), self.ctx(COORDINATOR))
        if source == NATIONAL and not choices.get("dispatch"):
            self.reserved[item] += quantity
        return outcome

    def dispatch_allocated(
        self, allocation: AllocationOutcome, recipients: list[str], day: int, reference: str
    ) -> None:
        """The stockpile ships these recipients' lines of an allocation, lot by lot, against it."""
        for line in allocation.lines:
            if line.to in recipients and line.quantity:
                self.reserved[allocation.item] -= line.quantity
                self.dispatch(
                    NATIONAL,
                    line.to,
                    {allocation.item: line.quantity},
                    day,
                    day + 1,
                    national_lots=True,
                    allocation_id=allocation.allocation_id,
                    reference=f"{reference}-{line.to}",
                )

    def scripted_allocations(self, day: int) -> None:
        """The national logistics centre's decisions, and one region's."""
        if day == 20:  # the emergency FFP2 (landed yesterday) shared by equal days of supply
            regions = [self.regional(region).code for region, *_ in REGIONS]
            allocation = self.allocate(NATIONAL, "FFP2", 300_000, regions, "equal_days_of_supply", day)
            self.dispatch_allocated(allocation, regions, day, "ALLOC-FFP2")
        elif day == 30:  # Hovedstaden's warehouse splits gloves, favouring the ICU, and ships at once
            central, item = "DK-84-CENTRAL", "GLOVE-NIT-M"
            quantity = round_down(self.stock[central, item] * 0.1, 10 * PACK[item])
            chosen = [
                {"to": "DK-84-RH", "quantity": quantity * 6 // 10},
                {"to": "DK-84-KBH", "quantity": quantity * 4 // 10},
            ]
            allocation = self.allocate(
                central,
                item,
                quantity,
                ["DK-84-RH", "DK-84-KBH"],
                "proportional_to_population",
                day,
                lines=chosen,
                dispatch=True,
                rationale="Cohort wards at Rigshospitalet use far more gloves per patient than home "
                "care; Copenhagen's home care has a supplier delivery due on Monday",
            )
            for transfer in allocation.transfers or []:
                self.stock[central, item] -= transfer.quantity
                self.transits.append(
                    Transit(
                        transfer.transfer_id, central, transfer.to, {item: transfer.quantity}, day, LOCAL_ARRIVAL_AT
                    )
                )
        elif day == 36:  # propofol for the ICUs by population, revoked the next day
            hospitals = sorted(d.code for d in self.depots.values() if d.kind == "hospital")
            self.revoking = self.allocate(NATIONAL, "PROPOFOL-20", 2_000, hospitals, "proportional_to_population", day)
        elif day == 37 and self.revoking is not None:
            self.ledger.revoke_allocation(
                self.revoking.allocation_id,
                alloc.RevokeAllocation(
                    reason="ICU admissions fell; the wholesaler now delivers to the hospitals directly",
                    occurred_at=self.at(day, time(11)),
                ),
                self.ctx(COORDINATOR),
            )
            self.reserved[self.revoking.item] -= self.revoking.quantity
        elif day == 39:  # FFP3 for three ICUs while Sjællands Universitetshospital's reports are late
            allocation = self.allocate(
                NATIONAL, "FFP3", 6_000, ["DK-83-OUH", "DK-84-RH", "DK-85-SUH"], "equal_days_of_supply", day
            )
            self.dispatch_allocated(allocation, ["DK-84-RH"], day, "ALLOC-FFP3")  # the rest stays reserved

    def scripted_transfers(self, day: int) -> None:
        """Mutual aid between regions (one loses a carton in transit, one is cancelled),
        a damaged-goods write-off, and deliveries still on the road when the demo ends."""
        if day == 18:  # Midtjylland helps Hovedstaden; two cartons of FFP2 go missing on the way
            transit = self.dispatch(
                "DK-82-CENTRAL",
                "DK-84-CENTRAL",
                {
                    "FFP2": round_down(self.stock["DK-82-CENTRAL", "FFP2"] * 0.2, PACK["FFP2"]),
                    "GOWN-ISO": round_down(self.stock["DK-82-CENTRAL", "GOWN-ISO"] * 0.15, PACK["GOWN-ISO"]),
                },
                day,
                day + 1,
                reference="MUTUAL-AID-DK82-DK84",
                note="Mutual aid agreed by the regional crisis staffs",
            )
            transit.received = dict(transit.lines, FFP2=transit.lines["FFP2"] - 2 * PACK["FFP2"])
            transit.note = "Two cartons of FFP2 missing on arrival; reported to the carrier"
        elif day == 22:  # Syddanmark offers masks to Sjælland, then the truck is needed at home
            transit = self.dispatch(
                "DK-83-CENTRAL",
                "DK-85-CENTRAL",
                {
                    "MASK-IIR": round_down(self.stock["DK-83-CENTRAL", "MASK-IIR"] * 0.15, PACK["MASK-IIR"]),
                },
                day,
                None,
                reference="MUTUAL-AID-DK83-DK85",
            )
            self.cancel(transit, day, "Recalled before departure: outbreak in Odense nursing homes")
        elif day == 24:
            self.adjust(
                "DK-83-OUH",
                "GOWN-ISO",
                -min(300, self.stock["DK-83-OUH", "GOWN-ISO"]),
                "damaged",
                day,
                time(11),
                "Water leak in basement store: three cartons destroyed",
            )
        elif day == 26:  # Nordjylland sends gloves to Sjælland: two days by road
            self.dispatch(
                "DK-81-CENTRAL",
                "DK-85-CENTRAL",
                {
                    "GLOVE-NIT-M": round_down(self.stock["DK-81-CENTRAL", "GLOVE-NIT-M"] * 0.2, PACK["GLOVE-NIT-M"]),
                },
                day,
                day + 2,
                reference="MUTUAL-AID-DK81-DK85",
            )
        elif day == DAYS - 11:  # the expired 2017 FFP2 lot: part fails inspection and is destroyed
            lot = min(self.national_lots["FFP2"], key=lambda lot: lot.expires_on)
            destroyed = round_down(lot.quantity * 0.1, PACK["FFP2"])
            lot.quantity -= destroyed
            self.adjust(
                NATIONAL,
                "FFP2",
                -destroyed,
                "expired",
                day,
                time(11),
                f"Lot {lot.lot} expired on {lot.expires_on}: straps perished in samples; cartons destroyed, "
                "the rest held for shelf-life extension testing",
            )
        elif day == DAYS - 1:  # on the road tonight: national gowns for Sjælland, aid for Hovedstaden
            self.dispatch(
                NATIONAL,
                "DK-85-CENTRAL",
                {"GOWN-ISO": 20_000, "FFP2": 40_000},
                day,
                None,
                national_lots=True,
                reference="NATIONAL-DK-85-REBUILD",
                note="Rebuilding Region Sjælland's obligation stock",
            )
            self.dispatch(
                "DK-83-CENTRAL",
                "DK-84-CENTRAL",
                {
                    "FFP3": round_down(self.stock["DK-83-CENTRAL", "FFP3"] * 0.1, PACK["FFP3"]),
                },
                day,
                None,
                reference="MUTUAL-AID-DK83-DK84",
            )
