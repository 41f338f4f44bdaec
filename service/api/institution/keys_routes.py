"""An institution's own API keys (docs/api.md "Institutions"): several at once, each named,
listed, revoked, rotated without downtime; each shown once. One domain call each
(service.registry.institution_keys)."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter
from pydantic import Field

from service.api.auth import InstitutionDep
from service.api.deps import NowDep, SessionDep
from service.api.schemas import Page, Read
from service.kit.money import InstantOut
from service.kit.wire import Strict, WholeNumber
from service.registry import institution_keys
from service.registry.models import InstitutionKey

router = APIRouter(tags=["institution"])


class KeyIn(Strict):
    name: str = Field(min_length=1, max_length=100)


class KeyRead(Read):
    id: str
    name: str
    created_at: InstantOut
    expires_at: InstantOut | None  # set by a rotation: the end of the overlap
    revoked_at: InstantOut | None

    @classmethod
    def of(cls, k: InstitutionKey) -> KeyRead:
        return cls(id=k.id, name=k.name, created_at=k.created_at, expires_at=k.expires_at,
                   revoked_at=k.revoked_at)  # fmt: skip


class KeyIssuedRead(KeyRead):
    api_key: str = Field(description="the bearer key, shown this once")


class RotateIn(Strict):
    overlap_hours: WholeNumber = Field(default=24, ge=0, le=168)


class RotatedRead(Read):
    new: KeyIssuedRead
    previous: KeyRead


def _actor(inst_id: str) -> str:
    return f"institution:{inst_id}"


@router.get("/api-keys", response_model=Page[KeyRead])
def list_keys(institution: InstitutionDep, session: SessionDep) -> Page[KeyRead]:
    """The institution's API keys, revoked and expired ones too (never the keys themselves)."""
    found = institution_keys.of_institution(session, institution)
    return Page[KeyRead](items=[KeyRead.of(k) for k in found], next_cursor=None)


@router.post("/api-keys", status_code=201, response_model=KeyIssuedRead)
def issue_key(
    body: KeyIn, institution: InstitutionDep, session: SessionDep, now: NowDep
) -> KeyIssuedRead:
    """Another key, named (one per system that calls us); kept as a hash, shown this once."""
    made = institution_keys.issue(session, institution=institution, name=body.name, now=now,
                                  actor=_actor(institution.id))  # fmt: skip
    return KeyIssuedRead(**KeyRead.of(made.row).model_dump(), api_key=made.api_key)


@router.post(
    "/api-keys/{key_id}/revoke",
    response_model=KeyRead,
    responses={409: {"description": "last_key"}},
)
def revoke_key(
    key_id: str, institution: InstitutionDep, session: SessionDep, now: NowDep
) -> KeyRead:
    """The key stops at once. The last live key is 409 `last_key`: issue the next first."""
    done = institution_keys.revoke(session, institution=institution, key_id=key_id, now=now,
                                   actor=_actor(institution.id))  # fmt: skip
    return KeyRead.of(done)


@router.post("/api-keys/{key_id}/rotate", status_code=201, response_model=RotatedRead)
def rotate_key(
    key_id: str, body: RotateIn, institution: InstitutionDep, session: SessionDep, now: NowDep
) -> RotatedRead:
    """The next key under the same name, shown this once; the one it replaces keeps working
    for `overlap_hours` (0 to 168, 24 by default) and then stops by itself, so no request is
    refused while the institution's systems switch over."""
    made, old = institution_keys.rotate(
        session, institution=institution, key_id=key_id, now=now,
        overlap=timedelta(hours=body.overlap_hours), actor=_actor(institution.id),
    )  # fmt: skip
    new = KeyIssuedRead(**KeyRead.of(made.row).model_dump(), api_key=made.api_key)
    return RotatedRead(new=new, previous=KeyRead.of(old))
