"""A supervised institution's API keys, for its regulator (docs/api.md "Institutions"): listed
and revoked at once (a leaked key, a retired system), never issued nor shown. One domain call
each (service.registry.institution_keys); outside the region 404, as every scoped route."""

from __future__ import annotations

from fastapi import APIRouter

from service.api.auth import RegulatorDep
from service.api.deps import NowDep, SessionDep
from service.api.institution.keys_routes import KeyRead
from service.api.schemas import Page
from service.registry import institution_keys

router = APIRouter(tags=["regulator"])


@router.get("/institutions/{institution_id}/api-keys", response_model=Page[KeyRead])
def list_keys(institution_id: str, regulator: RegulatorDep, session: SessionDep) -> Page[KeyRead]:
    """The institution's API keys, revoked and expired ones too (never the keys themselves)."""
    found = institution_keys.of_institution_in_scope(
        session, regulator=regulator, institution_id=institution_id
    )
    return Page[KeyRead](items=[KeyRead.of(k) for k in found], next_cursor=None)


@router.post(
    "/institutions/{institution_id}/api-keys/{key_id}/revoke",
    response_model=KeyRead,
    responses={409: {"description": "last_key"}},
)
def revoke_key(
    institution_id: str, key_id: str, regulator: RegulatorDep, session: SessionDep, now: NowDep
) -> KeyRead:
    """Stop one of the institution's keys at once (an `officer` or above), audited as the
    regulator's act naming the officer. The institution's last live key is 409 `last_key`:
    to stop the institution altogether, freeze it."""
    done = institution_keys.revoke_as_regulator(
        session, regulator=regulator, institution_id=institution_id, key_id=key_id, now=now
    )
    return KeyRead.of(done)
