"""Lessons reported by institutions (一课一消): prepaid → earned, with a dispute window."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

import ledger
from service.errors import DomainError
from service.fees.models import CourseSession
from service.flows import chart, enrollments
from service.flows import counters as rollups
from service.flows.models import Consumption, Enrollment
from service.kit.clock import local_date
from service.kit.ids import new_id
from service.policy import settings as policy
from service.registry.institutions import audit, in_regulator_scope
from service.registry.models import Institution, Regulator


@dataclass(frozen=True)
class Reported:
    consumption: Consumption
    enrollment: Enrollment  # as the lesson left it


def report(
    session: Session,
    *,
    institution: Institution,
    enrollment_id: str,
    lessons: int,
    occurred_at: datetime,
    session_ref: str | None,
    now: datetime,
) -> Reported:
    """Lessons delivered (一课一消): prepaid → earned, with the parent's window to dispute."""
    e = enrollments.lock(session, enrollment_id)
    if e.institution_id != institution.id:
        raise DomainError("not_found", f"no enrollment {enrollment_id}")
    if occurred_at > now:
        raise DomainError(
            "occurred_in_future", f"occurred_at {occurred_at.isoformat()} is after now"
        )
    if e.status == "awaiting_payment" or e.paid_at is None:
        raise DomainError("not_funded", "the enrollment has not been paid into escrow")
    if occurred_at < e.paid_at:
        raise DomainError(
            "occurred_before_payment",
            f"occurred_at {occurred_at.isoformat()} is before the enrollment was paid "
            f"({e.paid_at.isoformat()})",
        )
    remaining = enrollments.remaining_lessons(e)
    if lessons > remaining:
        raise DomainError("exceeds_remaining", f"{lessons} lessons reported; {remaining} remain")
    amount = enrollments.consumption_amount(e, lessons)
    window = int(
        policy.get(session, institution.region_code, "confirmation_window_days", on=local_date(now))
    )
    c = Consumption(
        id=new_id("con"),
        enrollment_id=e.id,
        institution_id=institution.id,
        lessons=lessons,
        amount=amount,
        occurred_at=occurred_at,
        reported_at=now,
        # From the report, never from the date claimed: a lesson claimed long ago still gives
        # the parent the whole window to dispute it.
        confirm_until=now + timedelta(days=window),
        session_ref=session_ref,
        status="pending",
        off_timetable=e.lessons_consumed + lessons > _sessions_started(session, e, occurred_at),
    )
    session.add(c)
    e.lessons_consumed += lessons
    e.amount_consumed += amount
    enrollments.settle_status(e)
    rollups.bump(
        session,
        institution_id=institution.id,
        at=now,
        lessons_consumed=lessons,
        prepaid_delta=-amount,
    )
    if amount > 0:
        _earn(session, institution.id, e.id, c.id, amount, now)
    session.flush()
    return Reported(c, e)


def _earn(
    session: Session, institution_id: str, enrollment_id: str, consumption_id: str,
    amount: Decimal, now: datetime,
) -> None:  # fmt: skip
    """The lesson's price moves from what the parent is owed to what the institution earned."""
    conn = session.connection()
    ledger.transfer(
        conn,
        debit=chart.prepaid_account(conn, institution_id, enrollment_id, at=now).id,
        credit=chart.institution_account(conn, institution_id, "earned").id,
        amount=amount,
        code="consumption",
        at=now,
        reference=f"consumption:{consumption_id}",
        idempotency_key=f"consumption:{consumption_id}",
    )


def _sessions_started(session: Session, e: Enrollment, by: datetime) -> int:
    """How many of the sessions the enrollment bought had started by `by`."""
    bought = {"course": e.course_id, "first": e.first_session_seq, "last": e.last_session_seq}
    return int(session.scalar(_STARTED, {**bought, "by": by}) or 0)


# Built once: run for every lesson reported (see policy.settings._IN_EFFECT).
_STARTED = select(func.count()).where(
    CourseSession.course_id == bindparam("course"),
    CourseSession.seq >= bindparam("first"),
    CourseSession.seq <= bindparam("last"),
    CourseSession.starts_at <= bindparam("by"),
)


def dispute(
    session: Session, *, consumption_id: str, enrollment_id: str, reason: str, now: datetime
) -> Consumption:
    c = session.get(Consumption, consumption_id, with_for_update=True, populate_existing=True)
    if c is None or c.enrollment_id != enrollment_id:
        raise DomainError("not_found", f"no consumption {consumption_id}")
    if c.status != "pending" or now > c.confirm_until or c.release_instruction_id is not None:
        raise DomainError(
            "invalid_state",
            "only a lesson inside its confirmation window can be disputed",
            extra={"state": parent_status(c, now)},
        )
    c.status, c.dispute_reason = "disputed", reason
    session.flush()
    return c


def decide(
    session: Session,
    *,
    regulator: Regulator,
    consumption_id: str,
    decision: str,
    reason: str,
    now: datetime,
) -> Consumption:
    """A regulator settles a disputed lesson in their region: uphold lets it be released,
    reverse returns its amount to the parent's balance. Audited."""
    consumption = session.get(Consumption, consumption_id, with_for_update=True)
    if consumption is None:
        raise DomainError("not_found", f"no consumption {consumption_id}")
    inst = in_regulator_scope(session, regulator, consumption.institution_id)
    if consumption.status != "disputed":
        raise DomainError(
            "invalid_state",
            f"the lesson is {consumption.status}, not disputed",
            extra={"state": consumption.status},
        )
    audit(
        session,
        actor=f"regulator:{regulator.id}",
        action=f"consumption:{decision}",
        subject=consumption.id,
        detail={"reason": reason, "before": "disputed", "after": decision},
        now=now,
        institution=inst,
    )
    if decision == "uphold":
        consumption.status = "upheld"
        session.flush()
        return consumption
    return _reverse(session, consumption, now)


def _reverse(session: Session, consumption: Consumption, now: datetime) -> Consumption:
    e = enrollments.lock(session, consumption.enrollment_id)
    e.lessons_consumed -= consumption.lessons
    e.amount_consumed -= consumption.amount
    enrollments.settle_status(e)
    rollups.bump(
        session,
        institution_id=consumption.institution_id,
        at=now,
        lessons_consumed=-consumption.lessons,
        prepaid_delta=consumption.amount,
    )
    consumption.status = "reversed"
    conn = session.connection()
    if consumption.amount > 0:
        ledger.transfer(
            conn,
            debit=chart.institution_account(conn, consumption.institution_id, "earned").id,
            credit=chart.prepaid_account(conn, consumption.institution_id, e.id, at=now).id,
            amount=consumption.amount,
            code="reversal",
            at=now,
            reference=f"consumption:{consumption.id}",
            idempotency_key=f"reversal:{consumption.id}",
        )
    session.flush()
    return consumption


def parent_status(c: Consumption, now: datetime) -> str:
    if c.status in ("disputed", "reversed"):
        return c.status
    return "pending" if now <= c.confirm_until and c.status == "pending" else "confirmed"


def of_enrollment(session: Session, enrollment_id: str) -> list[Consumption]:
    """The lessons reported on one enrollment, in the order they were held."""
    return list(
        session.scalars(
            select(Consumption)
            .where(Consumption.enrollment_id == enrollment_id)
            .order_by(Consumption.occurred_at)
        )
    )
