"""Signing in to the workbench: a regulator gives their API token once and gets a server-side
session for a working day, named by an HttpOnly, SameSite cookie (Secure behind TLS); the
token itself is never kept by the browser. Every form carries the session's CSRF token."""

from __future__ import annotations

import hmac
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from service.kit.ids import token_hash
from service.pages.models import PageSession
from service.registry import credentials
from service.registry.institutions import audit
from service.registry.models import Regulator

log = logging.getLogger("tuitionguard.security")

COOKIE = "tg_session"
SESSION_HOURS = 10  # a working day


@dataclass(frozen=True)
class SignedIn:
    regulator: Regulator
    csrf: str


def sign_in(
    session: Session, *, token: str, now: datetime, address: str
) -> tuple[str, SignedIn] | None:
    """A new session for the regulator whose API token this is: (cookie value, who), or None
    for a token nobody has — that failure is audited with the client's address (never the
    token given, nor its hash: a mistyped token is most of a real one)."""
    regulator = credentials.regulator_by_token(session, token.strip())
    if regulator is None:
        audit(session, actor=f"address:{address[:64]}", action="session:sign_in_failed",
              subject=address[:80], detail={"address": address}, now=now)  # fmt: skip
        log.warning("workbench sign-in failed from %s", address)
        return None
    session.execute(delete(PageSession).where(PageSession.expires_at <= now))
    cookie, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    session.add(
        PageSession(
            token_hash=token_hash(cookie),
            regulator_id=regulator.id,
            csrf=csrf,
            credential_hash=regulator.token_hash,
            created_at=now,
            expires_at=now + timedelta(hours=SESSION_HOURS),
        )
    )
    _audited(session, regulator, "session:sign_in", now)
    session.flush()
    return cookie, SignedIn(regulator, csrf)


def _audited(session: Session, regulator: Regulator, action: str, now: datetime) -> None:
    audit(session, actor=f"regulator:{regulator.id}", action=action, subject=regulator.id,
          detail={}, now=now, region_code=regulator.region_code)  # fmt: skip


def signed_in(session: Session, *, cookie: str | None, now: datetime) -> SignedIn | None:
    if not cookie:
        return None
    row = session.get(PageSession, token_hash(cookie))
    if row is None or row.expires_at <= now:
        return None
    regulator = session.get(Regulator, row.regulator_id)
    if regulator is None or not hmac.compare_digest(regulator.token_hash, row.credential_hash):
        return None  # the token it was opened with has been re-issued since
    return SignedIn(regulator, row.csrf)


def sign_out(session: Session, *, signed: SignedIn, cookie: str | None, now: datetime) -> None:
    if cookie:
        session.execute(delete(PageSession).where(PageSession.token_hash == token_hash(cookie)))
    _audited(session, signed.regulator, "session:sign_out", now)


def csrf_ok(expected: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(expected.encode(), (given or "").encode())


def regulators_over(session: Session, region_code: str) -> list[Regulator]:
    """The regulators who may take a case of an institution in `region_code`."""
    from service.registry.regions import ancestry

    found = session.scalars(
        select(Regulator).where(Regulator.region_code.in_(ancestry(region_code)))
    )
    return sorted(found, key=lambda r: (r.region_code, r.name))
