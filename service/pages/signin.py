"""Signing in to the workbench: an officer gives their username, password and TOTP code (or,
for the office as a whole, its API token) once and gets a server-side session for a working
day, named by an HttpOnly, SameSite cookie (Secure behind TLS); the
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
from service.registry import credentials, officers
from service.registry.institutions import audit
from service.registry.models import Officer, Regulator

log = logging.getLogger("tuitionguard.security")

COOKIE = "tg_session"
SESSION_HOURS = 10  # a working day


@dataclass(frozen=True)
class SignedIn:
    regulator: Regulator
    csrf: str
    officer: Officer | None = None  # None: signed in with the office's token

    @property
    def role(self) -> str | None:
        return self.officer.role if self.officer is not None else None


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
    return _opened(session, regulator, None, regulator.token_hash, now)


def sign_in_officer(
    session: Session,
    *,
    username: str,
    password: str,
    totp: str,
    now: datetime,
    address: str,
    secret_key: str,
) -> tuple[str, SignedIn] | None:
    """A session for the officer whose password and current code these are, or None (counted
    and audited by service.registry.officers.authenticate: commit, do not raise)."""
    officer = officers.authenticate(session, username=username, password=password, totp=totp,
                                    client=address, now=now, secret_key=secret_key)  # fmt: skip
    if officer is None:
        return None
    officers.acting(session, officer)
    regulator = officers.office(session, officer)
    return _opened(session, regulator, officer, officers.credential_hash(officer), now)


def _opened(
    session: Session,
    regulator: Regulator,
    officer: Officer | None,
    credential: str,
    now: datetime,
) -> tuple[str, SignedIn]:
    session.execute(delete(PageSession).where(PageSession.expires_at <= now))
    cookie, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
    session.add(
        PageSession(
            token_hash=token_hash(cookie),
            regulator_id=regulator.id,
            officer_id=officer.id if officer is not None else None,
            csrf=csrf,
            credential_hash=credential,
            created_at=now,
            expires_at=now + timedelta(hours=SESSION_HOURS),
        )
    )
    _audited(session, regulator, "session:sign_in", now)
    session.flush()
    return cookie, SignedIn(regulator, csrf, officer)


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
    if regulator is None:
        return None
    if row.officer_id is not None:
        # An officer's: ends at once when they are disabled or their password changes.
        officer = session.get(Officer, row.officer_id)
        if officer is None or not officers.live(officer, row.credential_hash):
            return None
        officers.acting(session, officer)
        return SignedIn(regulator, row.csrf, officer)
    if not hmac.compare_digest(regulator.token_hash, row.credential_hash):
        return None  # the token it was opened with has been re-issued since
    officers.acting(session, None)
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
