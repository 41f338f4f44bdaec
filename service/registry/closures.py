"""Planned closures (docs/domain.md "Prepaid fees"): an institution that cannot go on gives
notice of the day it closes and refunds everything unconsumed through the custody bank. The
notice is recorded by the institution itself or by a regulator of its region; from then on the
institution collects no new fees (`institution_closing`), and the risk engine judges its refunds
and wind-down against the plan instead of reading them as flight."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy.orm import Session

from service.errors import DomainError
from service.kit.clock import local_date
from service.registry.institutions import audit, in_regulator_scope, record_change
from service.registry.models import Institution, Regulator


def announce(
    session: Session,
    *,
    institution: Institution,
    effective: date,
    reason: str,
    actor: str,
    now: datetime,
) -> Institution:
    """Record that the institution closes on `effective` (a Beijing day, today or later). A
    second notice moves the day; the first notice's instant is kept. Audited, and kept in the
    institution's change history."""
    if institution.status in ("closed", "blacklisted"):
        raise DomainError("institution_inactive", f"the institution is {institution.status}")
    if effective < local_date(now):
        raise DomainError(
            "closure_in_past", f"{effective.isoformat()} is before today ({local_date(now)})"
        )
    before = institution.closing_on.isoformat() if institution.closing_on else None
    record_change(
        session, institution=institution, field="closing_on", new=effective.isoformat(),
        reason=reason, actor=actor, now=now,
    )  # fmt: skip
    institution.closing_on = effective
    if institution.closure_announced_at is None:
        institution.closure_announced_at = now
    audit(
        session, actor=actor, action="closure:announce", subject=institution.id,
        detail={"reason": reason, "before": before, "after": effective.isoformat()},
        now=now, institution=institution,
    )  # fmt: skip
    session.flush()
    return institution


def announce_as(
    session: Session,
    *,
    regulator: Regulator,
    institution_id: str,
    effective: date,
    reason: str,
    now: datetime,
) -> Institution:
    """A regulator records the planned closure of an institution of their region."""
    inst = in_regulator_scope(session, regulator, institution_id)
    return announce(
        session, institution=inst, effective=effective, reason=reason,
        actor=f"regulator:{regulator.id}", now=now,
    )  # fmt: skip
