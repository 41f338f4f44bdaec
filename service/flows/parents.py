"""Parents: a session from enrollment id and access code, throttled against guessing."""

from __future__ import annotations

import hmac
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.config import Settings
from service.errors import DomainError
from service.fees.models import Course
from service.flows import counters as rollups
from service.flows import enrollments
from service.flows.models import Complaint, Enrollment, ParentSession
from service.kit.clock import local_date, start_of_local_day
from service.kit.ids import (
    ACCESS_CODE_LENGTH,
    keyed_hash,
    new_id,
    new_token,
    normal_access_code,
    token_hash,
)
from service.kit.net import address_key
from service.registry import throttle
from service.registry.models import Institution, LoginThrottle

# A client's failures for one enrollment decay after a day; its failures over all
# enrollments, after the lockout window.
PAIR_WINDOW = timedelta(days=1)
# A parent's voice is one voice (issue 31, finding 2: one enrollment filed 60 complaints in
# 0.3 s and pushed a school to `high`): a few complaints a Beijing day per enrollment, and one
# open complaint of a category at a time (open until a regulator marks it handled).
COMPLAINTS_PER_DAY = 3


def _count_failure(
    pair: LoginThrottle, client: LoginThrottle, now: datetime, settings: Settings
) -> None:
    """Backoff per client and enrollment: free tries, then waits that double (to a cap); and a
    cap on a client's failures over all enrollments in the lockout window."""
    pair.failures += 1
    client.failures += 1
    over = pair.failures - settings.parent_max_failed_attempts
    if over >= 0:
        wait = min(
            settings.parent_backoff_base_seconds * 2**over,
            settings.parent_backoff_max_seconds,
        )
        pair.locked_until = now + timedelta(seconds=wait)
    if client.failures >= settings.parent_max_failed_per_client:
        client.locked_until = client.window_start + timedelta(
            minutes=settings.parent_lockout_minutes
        )


def sign_in_link(settings: Settings, enrollment_id: str) -> str:
    """The parent's sign-in page for an enrollment (the code is still typed), at the service's
    configured public address: what the institution hands out and its QR code encodes."""
    return f"{settings.public_base_url}/parent/e/{enrollment_id}"


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
    count must be committed, so the caller answers 401 without raising); a wrong code from a
    client past its limits is refused (429, with how long to wait).

    The right full-length code is admitted whatever the limits say: an address is shared (a
    mobile network, a school's NAT) and a guesser on it must not lock the parents out. What
    stops guessing is the code's length, not the lockout (docs/security.md: 80 bits against
    every address's rate). A code of the old, short format (50 bits) cannot stand without the
    lockout, so it is still refused while its address or pair is locked."""
    window = timedelta(minutes=settings.parent_lockout_minutes)
    client = address_key(client)  # an IPv6 subscriber is one client however it rotates
    pair = throttle.counter(session, f"pair:{client}:{enrollment_id}", now, PAIR_WINDOW)
    by_client = throttle.counter(session, f"client:{client}", now, window)
    code = normal_access_code(access_code)
    enrollment = session.get(Enrollment, enrollment_id)
    right = enrollment is not None and hmac.compare_digest(
        enrollment.access_code_hash, keyed_hash(settings.secret_key, code)
    )
    if not (right and len(code) >= ACCESS_CODE_LENGTH):
        throttle.refuse_if_locked([pair, by_client], now, "attempts from this client")
    if not right or enrollment is None:
        _count_failure(pair, by_client, now, settings)
        session.flush()
        return None
    # The parent is in: this client's past mistakes for this enrollment are forgiven.
    if pair in session.new:
        session.expunge(pair)
    else:
        session.delete(pair)
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
    """File a complaint. A parent's (with an enrollment) is bounded: `COMPLAINTS_PER_DAY` a
    day, and one open of a category; concurrent ones queue on the enrollment's lock, so no
    burst passes the count."""
    if enrollment_id is not None:
        enrollments.lock(session, enrollment_id)
        _refuse_past_limits(session, enrollment_id, category, now)
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


def _refuse_past_limits(session: Session, enrollment_id: str, category: str, now: datetime) -> None:
    mine = select(func.count()).where(Complaint.enrollment_id == enrollment_id)
    day_start = start_of_local_day(local_date(now))
    today = session.scalar(mine.where(Complaint.created_at >= day_start)) or 0
    if today >= COMPLAINTS_PER_DAY:
        wait = start_of_local_day(local_date(now) + timedelta(days=1)) - now
        raise DomainError(
            "complaint_limit",
            f"{COMPLAINTS_PER_DAY} complaints a day per enrollment; file again tomorrow",
            retry_after=max(1, math.ceil(wait.total_seconds())),
        )
    still_open = session.scalar(
        select(Complaint.id).where(
            Complaint.enrollment_id == enrollment_id,
            Complaint.category == category,
            Complaint.handled_at.is_(None),
        )
    )
    if still_open is not None:
        raise DomainError(
            "complaint_already_filed",
            f"this enrollment's {category} complaint {still_open} is open with the regulator; "
            "another of the kind may be filed once it is handled",
            extra={"category": category, "complaint_id": still_open},
        )


@dataclass(frozen=True, kw_only=True)
class Overview:
    enrollment: Enrollment
    institution: Institution
    course: Course


def overview(session: Session, enrollment: Enrollment) -> Overview:
    """What a parent sees first: the enrollment, whose it is and what it buys."""
    inst = session.get(Institution, enrollment.institution_id)
    course = session.get(Course, enrollment.course_id)
    assert inst is not None and course is not None
    return Overview(enrollment=enrollment, institution=inst, course=course)
