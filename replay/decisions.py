"""Decision replay: what the coordinator knew, what is known now, and what changed in between.

`known_then` recomputes the decision's policy from the ledger up to its basis position, at
its business time, with the same code that made the recommendation (so a mismatch means
the stored events changed, not the arithmetic). `hindsight` asks the same question of
everything recorded since. `late_information` lists the reports recorded after the basis,
dated at or before the decision, that changed a recipient's inputs: its stock at the
decision (a movement no later count superseded) or its 14-day consumption.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, field_serializer

from domain import events as ev
from domain.distribution import model_reference
from domain.policies import Recipient
from domain.stock import CONSUMPTION_WINDOW
from ledger.allocations import RecipientInput, Recommendation
from ledger.application import Ledger
from ledger.clock import utc_text
from ledger.distribution_models import SectorShare
from ledger.outcomes import AllocationLineView, RequestFillView
from projections.allocations import AllocationView, allocation_view, decision, stored_inputs
from projections.fold import CONSUMPTION

Change = Literal["on_hand", "consumption"]


class Picture(BaseModel):
    """The policy's answer at one cut of the ledger."""

    position: int = Field(description="The ledger read up to this position")
    known_at: datetime | None
    policy: str = Field(description="The policy recomputed; a distribution model with the version used")
    inputs: list[RecipientInput]
    recommendation: list[AllocationLineView]
    reserve: int | None = Field(None, description="Under a distribution model: units kept at the source")
    sectors: list[SectorShare] | None = None
    requests_filled: list[RequestFillView] = []

    @classmethod
    def of(cls, recommendation: Recommendation, **fields: Any) -> Any:
        return cls(
            position=recommendation.basis_position,
            known_at=recommendation.basis_known_at,
            policy=recommendation.policy,
            inputs=recommendation.inputs,
            recommendation=recommendation.lines,
            reserve=recommendation.reserve,
            sectors=recommendation.sectors,
            requests_filled=recommendation.requests_filled,
            **fields,
        )

    @field_serializer("known_at")
    def _utc(self, value: datetime | None) -> str | None:
        return None if value is None else utc_text(value)


class KnownThen(Picture):
    basis_position: int
    reproduced: bool = Field(description="The recomputed recommendation equals the stored one, to the unit")
    inputs_reproduced: bool = Field(description="The recomputed inputs equal those stored with the decision")


class LateEntry(BaseModel):
    position: int
    depot: str
    item: str
    type: str
    occurred_at: datetime
    recorded_at: datetime
    delay_hours: float = Field(description="Recorded this long after it occurred")
    late: bool = Field(description="Recorded more than 24 h after it occurred")
    recorded_after_decision: bool = Field(description="False: recorded between the basis and the decision")
    delta: int
    counted: int | None
    changes: list[Change]

    @field_serializer("occurred_at", "recorded_at")
    def _utc(self, value: datetime) -> str:
        return utc_text(value)


class Difference(BaseModel):
    to: str
    recommended: int
    chosen: int
    hindsight: int
    chosen_minus_recommended: int
    hindsight_minus_recommended: int


class AllocationReplay(BaseModel):
    allocation: AllocationView
    known_then: KnownThen
    hindsight: Picture
    current_model: Picture | None = Field(
        None,
        description="Under a distribution model revised since: the current version's answer with everything "
        "known now (hindsight keeps the decision's version)",
    )
    late_information: list[LateEntry]
    differences: list[Difference]
    findings: list[str] = Field(description="What the replay shows, in words")


def replay_allocation(ledger: Ledger, allocation_id: str) -> AllocationReplay:
    row, decided = decision(ledger, allocation_id)
    view = allocation_view(ledger, allocation_id)
    at, basis = decided.occurred_at, decided.basis_position
    asked = decided.quantity + (decided.reserve or 0)  # a model's reserve was part of the quantity split

    def at_position(policy: str, position: int) -> tuple[Recommendation, list[Recipient]]:
        return ledger.recommendation_at(row["source"], decided.item, asked, decided.recipients, policy, at, position)

    then, then_read = at_position(decided.policy, basis)
    latest = ledger.position()
    now, _ = at_position(decided.policy, latest)
    stored = {line.to: line.quantity for line in decided.recommended_lines}
    known_then = KnownThen.of(
        then,
        basis_position=basis,
        reproduced=then.line_map() == stored and then.reserve == decided.reserve,
        inputs_reproduced=not decided.inputs or then_read == stored_inputs(decided),
    )
    hindsight = Picture.of(now)
    current_model = None
    reference = model_reference(decided.policy)
    if reference is not None:
        current = ledger.distribution_model(reference[0], None)
        if current.policy != decided.policy:
            current_model = Picture.of(at_position(current.policy, latest)[0])
    late = late_information(ledger, decided, row["decided_position"])
    differences = _differences(decided, then.line_map(), now.line_map())
    return AllocationReplay(
        allocation=view,
        known_then=known_then,
        hindsight=hindsight,
        current_model=current_model,
        late_information=late,
        differences=differences,
        findings=_findings(view, known_then, hindsight, late, differences) + _model_findings(known_then, current_model),
    )


def late_information(ledger: Ledger, decided: ev.AllocationDecided, decided_position: int) -> list[LateEntry]:
    """Journal rows of the recipients' item recorded after the basis, dated at or before the decision,
    that change its inputs."""
    at = decided.occurred_at
    rows = _rows(ledger, decided.recipients, decided.item, at)
    counts = [row for row in rows if row["counted"] is not None]
    entries = []
    for row in rows:
        if row["position"] <= decided.basis_position:
            continue
        changes = changes_at(row, counts, at)
        if not changes:
            continue
        entries.append(
            LateEntry(
                position=row["position"],
                depot=row["depot"],
                item=row["item"],
                type=row["event_type"],
                occurred_at=row["occurred_at"],
                recorded_at=row["recorded_at"],
                delay_hours=ev.delay_hours(row["occurred_at"], row["recorded_at"]),
                late=row["recorded_at"] - row["occurred_at"] > ev.LATE_AFTER,
                recorded_after_decision=row["position"] > decided_position,
                delta=row["delta"],
                counted=row["counted"],
                changes=changes,
            )
        )
    return sorted(entries, key=lambda entry: (entry.position, entry.depot))


def changes_at(row: dict[str, Any], counts: list[dict[str, Any]], at: datetime) -> list[Change]:
    """Which inputs at business time `at` a journal row changes; `counts` are its depot's and
    item's counts dated at or before `at`, as known now. A movement that a later count (dated
    at or before `at`) already saw does not change the stock at `at`."""
    changes: list[Change] = []
    key = (row["occurred_at"], row["position"], row["line"])
    moves = row["delta"] != 0 or row["counted"] is not None
    superseded = any(
        count["depot"] == row["depot"] and (count["occurred_at"], count["position"], count["line"]) > key
        for count in counts
    )
    if moves and not superseded:
        changes.append("on_hand")
    if row["event_type"] == CONSUMPTION and at - CONSUMPTION_WINDOW < row["occurred_at"] <= at:
        changes.append("consumption")
    return changes


def _rows(ledger: Ledger, depots: tuple[str, ...], item: str, at: datetime) -> list[dict[str, Any]]:
    store = ledger.index_store
    marks = ", ".join(f":d{n}" for n in range(len(depots)))
    rows = store.query(
        f"""SELECT depot, item, position, line, event_type, occurred_at, recorded_at, delta, counted
            FROM {{t}}movements WHERE depot IN ({marks}) AND item = :item AND occurred_at <= :at
            ORDER BY position, line""",
        item=item,
        at=at,
        **{f"d{n}": depot for n, depot in enumerate(depots)},
    )
    for row in rows:
        row["occurred_at"] = store.from_db_time(row["occurred_at"])
        row["recorded_at"] = store.from_db_time(row["recorded_at"])
    return rows


def _differences(decided: ev.AllocationDecided, then: dict[str, int], now: dict[str, int]) -> list[Difference]:
    chosen = {line.to: line.quantity for line in decided.lines}
    rows = []
    for to in sorted(set(chosen) | set(then) | set(now)):
        recommended, picked, hindsight = then.get(to, 0), chosen.get(to, 0), now.get(to, 0)
        if picked != recommended or hindsight != recommended:
            rows.append(
                Difference(
                    to=to,
                    recommended=recommended,
                    chosen=picked,
                    hindsight=hindsight,
                    chosen_minus_recommended=picked - recommended,
                    hindsight_minus_recommended=hindsight - recommended,
                )
            )
    return rows


def _findings(
    view: AllocationView, then: KnownThen, hindsight: Picture, late: list[LateEntry], differences: list[Difference]
) -> list[str]:
    findings = []
    if then.reproduced:
        findings.append(
            f"Replaying the ledger up to position {then.basis_position} reproduces the recommended lines exactly."
        )
    else:
        findings.append(
            f"Replaying the ledger up to position {then.basis_position} does NOT reproduce the recommended lines "
            "stored with the decision: the events it was computed from differ from those stored now."
        )
    departed = [d for d in differences if d.chosen != d.recommended]
    if departed:
        moves = ", ".join(f"{d.to} {d.chosen_minus_recommended:+d}" for d in departed)
        findings.append(f"The coordinator departed from the recommendation ({moves}); rationale: {view.rationale!r}.")
    else:
        findings.append("The coordinator took the recommendation as it was.")
    after = [entry for entry in late if entry.recorded_after_decision]
    if after:
        depots = ", ".join(sorted({entry.depot for entry in after}))
        findings.append(f"{len(after)} report(s) recorded after the decision changed its inputs ({depots}).")
    if then.recommendation != hindsight.recommendation:
        moves = ", ".join(
            f"{d.to} {d.hindsight_minus_recommended:+d}" for d in differences if d.hindsight != d.recommended
        )
        findings.append(f"With everything known now, the policy would recommend differently ({moves}).")
    else:
        findings.append("With everything known now, the policy would recommend the same lines.")
    return findings


def _model_findings(then: KnownThen, current: Picture | None) -> list[str]:
    """Which version of a distribution model the replay used, and what the current one would give."""
    reference = model_reference(then.policy)
    if reference is None:
        return []
    name, version = reference
    findings = [
        f"The decision was taken under distribution model {name} version {version}, and is replayed under "
        f"that version (reserve {then.reserve})."
    ]
    if current is not None:
        lines = ", ".join(f"{line.to} {line.quantity}" for line in current.recommendation)
        findings.append(
            f"The model's current version ({current.policy}) would give, with everything known now: {lines}; "
            f"reserve {current.reserve}."
        )
    return findings
