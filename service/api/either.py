"""A caller that may be a regulator or an institution (for the dry-run course check)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from service.api.auth import bearer_token
from service.api.deps import SessionDep
from service.errors import DomainError
from service.registry import credentials
from service.registry.models import Institution, Regulator


def _either(request: Request, session: SessionDep) -> Regulator | Institution:
    token = bearer_token(request)
    found: Regulator | Institution | None = credentials.regulator_by_token(session, token)
    if found is None:
        found = credentials.institution_by_key(session, token)
    if found is None:
        raise DomainError("unauthenticated", "unknown token")
    return found


RegulatorOrInstitutionDep = Annotated[Regulator | Institution, Depends(_either)]
