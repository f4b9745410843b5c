"""Distribution models in the service layer: defining a model's next version, reading the
versions as known at a ledger position, and what a model reads besides the recipients'
figures: their open critical requests for the item, at the decision's cut.

A recommendation, its decision and its replay read everything at one basis position: the
model `model:NAME` means the version current at the basis, and a request is open when the
basis knew it and knew no closing of it dated by the decision, less what decisions under a
model (known at the basis, dated by the decision, not revoked) already filled of it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from eventsourcing.application import AggregateNotFoundError
from eventsourcing.utils import get_topic
from pydantic import BaseModel, Field, field_serializer

from domain import events as ev
from domain.aggregate import projector
from domain.distribution import CriticalRequest, ModelSplit, model_reference
from domain.distribution_models import DefineDistributionModel, DistributionModels, version_of
from domain.exceptions import InvalidCommand, NotFound
from domain.ids import depot_id, distribution_models_id
from ledger.clock import utc_text
from ledger.outcomes import Outcome, RequestFillView

if TYPE_CHECKING:
    from ledger.application import Context
    from ledger.host import LedgerHost
else:
    LedgerHost = object

project_models = projector(DistributionModels)
MODEL_TOPICS = {get_topic(cls) for cls in (ev.DistributionModelDefined, ev.DistributionModelRevised)}
REQUEST_TOPICS = {get_topic(cls) for cls in (ev.SupplyRequested, ev.SupplyRequestClosed)}


class UnknownDistributionModel(NotFound):
    title = "Unknown distribution model"


class DistributionModelOutcome(Outcome):
    name: str
    version: int = Field(description="The version now current (unchanged when the rules were already these)")


class SectorView(BaseModel):
    name: str
    kinds: list[str]
    share: Decimal = Field(description="Exact decimal, as a string")


class DistributionModelView(BaseModel):
    """A version of a model as stored: its rules, who stored it and when."""

    name: str
    version: int
    sectors: list[SectorView]
    reserve: Decimal
    within: str
    requests_first: bool
    policy: str = Field(description="What a decision under this version stores: model:NAME@VERSION")
    note: str | None
    actor: str
    occurred_at: datetime
    recorded_at: datetime
    versions: int = Field(description="How many versions the model has")

    @field_serializer("occurred_at", "recorded_at")
    def _utc(self, value: datetime) -> str:
        return utc_text(value)

    @classmethod
    def of(cls, model: ev.DistributionModelSet, versions: int) -> DistributionModelView:
        return cls(
            name=model.name,
            version=model.version,
            sectors=[SectorView(name=s.name, kinds=list(s.kinds), share=s.share) for s in model.sectors],
            reserve=model.reserve,
            within=model.within,
            requests_first=model.requests_first,
            policy=model.policy,
            note=model.note,
            actor=model.actor,
            occurred_at=model.occurred_at,
            recorded_at=model.timestamp,
            versions=versions,
        )


class DistributionModelList(BaseModel):
    models: list[DistributionModelView] = Field(description="Each model's current version, by name")


class DistributionModelCommands(LedgerHost):
    """Mixed into `Ledger`."""

    def define_distribution_model(
        self, name: str, command: DefineDistributionModel, ctx: Context
    ) -> tuple[DistributionModelOutcome, bool]:
        errors = command.errors()
        if errors:
            raise InvalidCommand("the model is not valid: " + "; ".join(e["msg"] for e in errors), errors=errors)

        stored = self.model_versions(None)
        current = version_of(stored, name, None)
        if current is not None and command.same_rules(current):
            position = self.index_store.event_position(distribution_models_id(), stored.index(current) + 1)
            kept = DistributionModelOutcome(name=name, version=current.version, position=position or 0)
            return kept.model_copy(update={"recorded_at": current.timestamp}), True

        def decide() -> tuple[list[Any], DistributionModelOutcome]:
            stamp = self._stamp(ctx, None, command.note)
            fields = {
                "sectors": tuple(
                    ev.ModelSector(name=s.name, kinds=tuple(s.kinds), share=s.share) for s in command.sectors
                ),
                "reserve": command.reserve,
                "within": command.within,
                "requests_first": command.requests_first,
                **stamp.fields(),
            }
            try:
                models: DistributionModels = self.repository.get(
                    distribution_models_id(), projector_func=project_models
                )
            except AggregateNotFoundError:
                models = DistributionModels.start(
                    ev.DistributionModelDefined, distribution_models_id(), name=name, version=1, **fields
                )
                event = models.versions[-1]
            else:
                event = models.define(name, **fields)
            return [models], DistributionModelOutcome(name=name, version=event.version)

        return self._execute(ctx, DistributionModelOutcome, decide)

    # --- reading ---------------------------------------------------------------------------

    def _decoded(self, stored: Any) -> Any:
        return self.mapper.to_domain_event(stored)

    def model_versions(self, known: int | None) -> list[ev.DistributionModelSet]:
        """Every version of every model, as known at ledger position `known` (None: now)."""
        upto = self.position() if known is None else known
        return [
            self._decoded(stored)
            for _, stored in self.index_store.stream(distribution_models_id(), upto)
            if stored.topic in MODEL_TOPICS
        ]

    def distribution_model(self, name: str, version: int | None, known: int | None = None) -> ev.DistributionModelSet:
        found = version_of(self.model_versions(known), name, version)
        if found is None:
            which = f"version {version} of distribution model {name}" if version else f"distribution model {name}"
            at = "" if known is None else f" known at position {known}"
            raise UnknownDistributionModel(f"no {which}{at}", model=name, version=version)
        return found

    def model_for(self, policy: str, known: int) -> ev.DistributionModelSet | None:
        """The model a policy names, as known at `known` (None for a plain policy; 404 if unknown)."""
        reference = model_reference(policy)
        return None if reference is None else self.distribution_model(*reference, known=known)

    def critical_requests(self, item: str, codes: Sequence[str], at: datetime, known: int) -> list[CriticalRequest]:
        """The recipients' critical requests for `item` open at `at` as known at `known`, in recorded order."""
        found: list[tuple[int, CriticalRequest]] = []
        for code in codes:
            requested: dict[str, tuple[int, ev.SupplyRequested]] = {}
            closed: set[str] = set()
            for position, stored in self.index_store.stream(depot_id(code), known):
                if stored.topic not in REQUEST_TOPICS:
                    continue
                event = self._decoded(stored)
                if event.occurred_at > at:
                    continue
                if isinstance(event, ev.SupplyRequested):
                    if event.item == item and event.priority == "critical":
                        requested[event.request_id] = (position, event)
                else:
                    closed.add(event.request_id)
            for request_id, (position, event) in requested.items():
                if request_id not in closed:
                    found.append(
                        (
                            position,
                            CriticalRequest(request_id, code, event.quantity, event.needed_by, event.occurred_at),
                        )
                    )
        filled = self._filled(item, known, at, {request.request_id for _, request in found})
        return [
            CriticalRequest(
                r.request_id, r.depot, r.open_quantity - filled.get(r.request_id, 0), r.needed_by, r.requested_at
            )
            for _, r in sorted(found, key=lambda pair: pair[0])
        ]

    def _filled(self, item: str, known: int, at: datetime, request_ids: set[str]) -> dict[str, int]:
        """Units of each request that decisions under a model, known at `known`, dated by `at` and
        not revoked by then, filled first."""
        if not request_ids:
            return {}
        filled: dict[str, int] = {}
        rows = self.index_store.query(
            "SELECT decided_position FROM {t}allocations WHERE item = :item AND policy LIKE :models"
            " AND decided_position <= :known AND (revoked_position IS NULL OR revoked_position > :known)"
            " ORDER BY decided_position",
            item=item,
            known=known,
            models="model:%",
        )
        for row in rows:
            position = int(row["decided_position"])
            [notification] = self.recorder.select_notifications(position, 1, stop=position)
            decided = self._decoded(notification)
            if not isinstance(decided, ev.AllocationDecided) or decided.occurred_at > at:
                continue
            for fill in decided.requests_filled:
                if fill.request_id in request_ids:
                    filled[fill.request_id] = filled.get(fill.request_id, 0) + fill.quantity
        return filled


def model_listing(ledger: Any) -> DistributionModelList:
    versions: list[ev.DistributionModelSet] = ledger.model_versions(None)
    names = sorted({model.name for model in versions})
    return DistributionModelList(
        models=[
            DistributionModelView.of(
                version_of(versions, name, None),  # type: ignore[arg-type]
                sum(1 for model in versions if model.name == name),
            )
            for name in names
        ]
    )


def model_view(ledger: Any, name: str, version: int | None) -> DistributionModelView:
    model = ledger.distribution_model(name, version)
    versions = sum(1 for m in ledger.model_versions(None) if m.name == name)
    return DistributionModelView.of(model, versions)


class SectorShare(BaseModel):
    """A sector's cut of a decision under a model."""

    name: str
    share: Decimal
    total: int = Field(description="Its part of what the requests left, rounded with the reserve and the others")
    recipients: list[str] = Field(description="The decision's recipients in the sector")
    to_reserve: bool = Field(description="No recipient is in the sector: its total was added to the reserve")


def sector_shares(model: ev.DistributionModelSet, result: ModelSplit) -> list[SectorShare]:
    return [
        SectorShare(
            name=sector.name,
            share=sector.share,
            total=result.sector_totals[sector.name],
            recipients=members,
            to_reserve=not members,
        )
        for sector in model.sectors
        for members in [sorted(code for code, name in result.sector_of.items() if name == sector.name)]
    ]


def fills_view(fills: Iterable[ev.RequestFill]) -> list[RequestFillView]:
    return [RequestFillView(request_id=f.request_id, to=f.to, quantity=f.quantity) for f in fills]
