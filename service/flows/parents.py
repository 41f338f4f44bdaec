"""Parents: a session from enrollment id and access code, throttled against guessing."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.config import Settings
from service.errors import DomainError
from service.flows.models import Complaint, Enrollment, LoginThrottle, ParentSession
from service.ids import keyed_hash, new_id, new_token, token_hash
from service.risk import rollups


def _throttle(session: Session, key: str, now: datetime, settings: Settings) -> LoginThrottle:
    row = session.get(LoginThrottle, key, with_for_update=True)
    window = timedelta(minutes=settings.parent_lockout_minutes)
    if row is None or now - row.window_start > window:
        if row is None:
            row = LoginThrottle(key=key, failures=0, window_start=now)
            session.add(row)
        else:
            row.failures, row.window_start = 0, now
    return row


def open_session(
    session: Session,
    *,
    enrollment_id: str,
    access_code: str,
    client: str,
    now: datetime,
    settings: Settings,
) -> tuple[str, datetime] | None:
    """A token and its expiry, or None for a wrong code. A wrong code is counted (and the
    count must be committed, so the caller answers 401 without raising); past the limit the
    answer is 429 whatever the code."""
    keys = [f"enrollment:{enrollment_id}"[:120], f"client:{client}"[:120]]
    rows = [_throttle(session, k, now, settings) for k in keys]
    limits = (settings.parent_max_failed_attempts, settings.parent_max_failed_per_client)
    if any(r.failures >= limit for r, limit in zip(rows, limits, strict=True)):
        raise DomainError(
            "too_many_attempts",
            f"too many failed attempts; try again in {settings.parent_lockout_minutes} minutes",
        )
    enrollment = session.get(Enrollment, enrollment_id)
    if enrollment is None or enrollment.access_code_hash != keyed_hash(
        settings.secret_key, access_code.upper()
    ):
        for r in rows:
            r.failures += 1
        session.flush()
        return None
    token = new_token("tgp")
    expires = now + timedelta(hours=settings.parent_session_hours)
    session.add(
        ParentSession(
            token_hash=token_hash(token),
            enrollment_id=enrollment.id,
            created_at=now,
            expires_at=expires,
        )
    )
    session.flush()
    return token, expires


def by_token(session: Session, token: str, now: datetime) -> Enrollment | None:
    ps = session.scalar(select(ParentSession).where(ParentSession.token_hash == token_hash(token)))
    if ps is None or ps.expires_at <= now:
        return None
    return session.get(Enrollment, ps.enrollment_id)


def complain(
    session: Session,
    *,
    institution_id: str,
    enrollment_id: str | None,
    category: str,
    text: str,
    now: datetime,
) -> Complaint:
    c = Complaint(
        id=new_id("cmp"),
        institution_id=institution_id,
        enrollment_id=enrollment_id,
        category=category,
        text=text,
        created_at=now,
    )
    session.add(c)
    rollups.bump(session, institution_id=institution_id, at=now, complaints=1)
    session.flush()
    return c
