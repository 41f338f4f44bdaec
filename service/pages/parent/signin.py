"""A parent's page session: the parent API's own session token (from the enrollment id and
the access code, throttled as the API throttles them), kept in an HttpOnly, SameSite=Strict
cookie scoped to /parent. Every form carries a CSRF token derived from it."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Form, Request
from sqlalchemy import delete
from sqlalchemy.orm import Session

from service.api.auth import vouch
from service.api.deps import NowDep, SessionDep, SettingsDep
from service.errors import DomainError
from service.flows import parents
from service.flows.models import Enrollment, ParentSession
from service.kit.ids import keyed_hash, token_hash

COOKIE = "tg_parent"
PATH = "/parent"


class ParentSignInRequired(Exception):
    """No valid parent session: the answer is the sign-in page (handled in app.py)."""


@dataclass(frozen=True)
class ParentIn:
    enrollment: Enrollment
    csrf: str


def csrf_for(secret: str, token: str) -> str:
    return keyed_hash(secret, f"parent-csrf:{token}")[:32]


def current(request: Request, session: Session, now: datetime, secret: str) -> ParentIn | None:
    token = request.cookies.get(COOKIE)
    if not token:
        return None
    e = parents.by_token(session, token, now)
    return None if e is None else ParentIn(e, csrf_for(secret, token))


def _signed(request: Request, session: SessionDep, now: NowDep, settings: SettingsDep) -> ParentIn:
    found = current(request, session, now, settings.secret_key)
    if found is None:
        raise ParentSignInRequired()
    vouch(request, "parent", found.enrollment.id)
    return found


ParentPageDep = Annotated[ParentIn, Depends(_signed)]


def _checked(signed: ParentPageDep, csrf: Annotated[str, Form(max_length=100)] = "") -> ParentIn:
    if not hmac.compare_digest(signed.csrf.encode(), csrf.encode()):
        raise DomainError("forbidden", "the form is stale or not this session's: reload the page")
    return signed


ParentPostDep = Annotated[ParentIn, Depends(_checked)]


def sign_out(session: Session, token: str | None) -> None:
    if token:
        session.execute(delete(ParentSession).where(ParentSession.token_hash == token_hash(token)))
