"""Public disclosure: fees must be public before service (docs/domain.md); each institution's
published liabilities to parents and the public log that holds them (docs/proofs.md)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import PlainTextResponse

from service.api.deps import ReadSessionDep, SessionDep, SettingsDep
from service.api.public.schemas import (
    ConsistencyRead,
    InclusionRead,
    LiabilitiesRead,
    LogEntriesRead,
    LogEntryRead,
    LogKeysRead,
    PublicInstitutionRead,
)
from service.fees.filings import disclosed
from service.proofs import keys as log_keys
from service.proofs import serving

router = APIRouter(prefix="/public", tags=["public"])
# At the site's root, not under /api/v1 (docs/proofs.md §5).
well_known_router = APIRouter(tags=["public"])

Size = Annotated[int, Query(ge=0, le=2**31 - 1)]
CHECKPOINT: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/plain": {"schema": {"type": "string"}}},
          "description": "a C2SP signed note (docs/proofs.md §5)"}
}  # fmt: skip


@router.get("/institutions/{credit_code}", response_model=PublicInstitutionRead)
def disclose(credit_code: str, session: ReadSessionDep) -> PublicInstitutionRead:
    return PublicInstitutionRead.of(disclosed(session, credit_code))


@router.get("/institutions/{institution_id}/liabilities", response_model=LiabilitiesRead)
def liabilities(
    institution_id: str, session: SessionDep, date: date | None = None
) -> LiabilitiesRead:
    """The day's published snapshot (the latest when no date is given)."""
    return LiabilitiesRead.of(serving.liabilities(session, institution_id, date))


@router.get("/log/checkpoint", response_class=PlainTextResponse, responses=CHECKPOINT)
def checkpoint(session: SessionDep, settings: SettingsDep) -> PlainTextResponse:
    """The newest checkpoint with the log's signature and a quorum of cosignatures."""
    return PlainTextResponse(serving.checkpoint_text(session, settings, None))


@router.get("/log/checkpoints", response_class=PlainTextResponse, responses=CHECKPOINT)
def checkpoint_at(size: Size, session: SessionDep, settings: SettingsDep) -> PlainTextResponse:
    """The checkpoint the log signed at that size, with the cosignatures it gathered."""
    return PlainTextResponse(serving.checkpoint_text(session, settings, size))


@router.get("/log/entries", response_model=LogEntriesRead)
def entries(start: Size, end: Size, session: SessionDep) -> LogEntriesRead:
    """Entries [start, end), at most 1,000."""
    found = serving.entries(session, start, end)
    return LogEntriesRead(items=[LogEntryRead(**e) for e in found])


@router.get("/log/proof/inclusion", response_model=InclusionRead)
def inclusion(index: Size, size: Size, session: SessionDep) -> InclusionRead:
    """That entry `index` is in the log of `size` entries (RFC 9162 §2.1.3)."""
    return InclusionRead(**serving.inclusion(session, index, size))


@router.get("/log/proof/consistency", response_model=ConsistencyRead, response_model_by_alias=True)
def consistency(
    session: SessionDep, from_: Annotated[int, Query(alias="from", ge=0, le=2**31 - 1)],
    to: Size,
) -> ConsistencyRead:  # fmt: skip
    """That the log of `to` entries extends the log of `from` entries (RFC 9162 §2.1.4)."""
    return ConsistencyRead.model_validate(serving.consistency(session, from_, to))


@well_known_router.get("/.well-known/tuitionguard-log-keys", response_model=LogKeysRead)
def log_keys_published(settings: SettingsDep) -> LogKeysRead:
    """The log's key and the witnesses' (C2SP vkeys) and the quorum: what a verifier pins."""
    return LogKeysRead(**log_keys.published(settings))
