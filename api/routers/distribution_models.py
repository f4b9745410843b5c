"""Distribution models: national rules for sharing scarce stock, versioned (DESIGN.md, "Distribution models")."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response

from api.deps import CommandContext, LedgerDep, Reader, requires
from api.responses import ERRORS, answer
from domain.distribution_models import DefineDistributionModel
from domain.policies import MODEL_NAME
from ledger.distribution_models import (
    DistributionModelList,
    DistributionModelOutcome,
    DistributionModelView,
    model_listing,
    model_view,
)

router = APIRouter(prefix="/distribution-models", tags=["distribution models"], responses=ERRORS)
ModelNameInPath = Annotated[
    str, Path(pattern=f"^{MODEL_NAME}$", description="The model's name", examples=["national-ppe"])
]


@router.put("/{name}", response_model=DistributionModelOutcome, dependencies=[Depends(requires("coordinator"))])
def define(
    name: ModelNameInPath, body: DefineDistributionModel, ledger: LedgerDep, ctx: CommandContext, response: Response
) -> DistributionModelOutcome:
    """Store the model's next version (the first: version 1). Shares and reserve are exact decimals
    that sum to 1; a depot kind is in at most one sector. The rules already current store nothing
    and answer the current version. Decisions taken under an earlier version keep it."""
    return answer(ledger.define_distribution_model(name, body, ctx), response)


@router.get("", response_model=DistributionModelList)
def list_models(ledger: LedgerDep, _: Reader) -> DistributionModelList:
    """Every model's current version."""
    return model_listing(ledger)


@router.get("/{name}", response_model=DistributionModelView)
def get_model(
    name: ModelNameInPath,
    ledger: LedgerDep,
    _: Reader,
    version: Annotated[int | None, Query(ge=1, le=999_999_999, description="Default: the current version")] = None,
) -> DistributionModelView:
    """A version of a model (404 when the model or the version does not exist)."""
    return model_view(ledger, name, version)
