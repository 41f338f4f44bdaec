"""Public disclosure: fees must be public before service (docs/domain.md)."""

from __future__ import annotations

from fastapi import APIRouter

from service.api.deps import SessionDep
from service.api.public.schemas import PublicInstitutionRead
from service.fees.filings import disclosed

router = APIRouter(prefix="/public", tags=["public"])


@router.get("/institutions/{credit_code}", response_model=PublicInstitutionRead)
def disclose(credit_code: str, session: SessionDep) -> PublicInstitutionRead:
    return PublicInstitutionRead.of(disclosed(session, credit_code))
