"""Integrity: the ledger's hash-chain digest, and verification of the stored events against it."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query
from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.deps import LedgerDep, Reader, requires
from api.responses import ERRORS
from domain.commands import MAX_POSITION
from ledger.access import Principal
from replay import digest as chain

router = APIRouter(prefix="/ledger", tags=["integrity"], responses=ERRORS)

# Every reader may read the digest (API.md: operators read everything). Verification is a
# POST that reads only, for auditors and coordinators (admin always may).
Auditor = Annotated[Principal, Depends(requires("auditor", "coordinator"))]

HexDigest = Annotated[str, Field(pattern=r"^[0-9a-fA-F]{64}$", description="SHA-256 digest, 64 hex digits")]


class DigestAnswer(BaseModel):
    position: int = Field(description="Ledger position the digest covers (every event at or before it)")
    digest: str = Field(description="Hex SHA-256 chain link; 64 zeros at position 0")


class VerifyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    position: Annotated[int, Field(ge=0, le=MAX_POSITION)] | None = None
    digest: HexDigest | None = None

    @model_validator(mode="after")
    def _both_or_neither(self) -> VerifyRequest:
        if (self.position is None) != (self.digest is None):
            raise ValueError("give both position and digest, or neither (to check the recorded links only)")
        return self


class VerifyAnswer(BaseModel):
    valid: bool
    position: int
    digest: str = Field(description="The digest at `position` recomputed from the stored events")
    first_mismatch: int | None = Field(
        None, description="First position whose stored event no longer matches the link recorded for it"
    )
    first_unreadable: int | None = Field(
        None, description="First position whose stored event the database cannot give back (damaged storage)"
    )
    detail: str


@router.get("/digest", response_model=DigestAnswer)
def ledger_digest(
    ledger: LedgerDep,
    _: Reader,
    position: Annotated[
        int | None, Query(ge=0, le=MAX_POSITION, description="Default: the ledger's last position")
    ] = None,
) -> DigestAnswer:
    result = chain.digest(ledger.recorder, position)
    return DigestAnswer(position=result.position, digest=result.digest)


@router.post("/verify", response_model=VerifyAnswer)
def ledger_verify(
    ledger: LedgerDep,
    _: Auditor,
    body: Annotated[VerifyRequest | None, Body()] = None,
) -> Any:
    request = body or VerifyRequest()
    result = chain.verify(ledger.recorder, request.position, request.digest)
    return VerifyAnswer(**result.__dict__)
