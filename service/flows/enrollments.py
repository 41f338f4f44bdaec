"""Enrollments: the purchase of a course's next sessions, within the caps."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger import cumulative_share
from service.config import Settings
from service.errors import DomainError
from service.fees.caps import Purchase, check_purchase
from service.fees.models import Course, CourseSession
from service.flows.models import Enrollment
from service.kit.ids import keyed_hash, new_access_code, new_id, new_payment_reference
from service.kit.money import format_money
from service.registry.models import Institution

ZERO = Decimal("0.00")


def create(
    session: Session,
    *,
    institution: Institution,
    course_id: str,
    student_ref: str,
    lessons: int,
    amount: Decimal,
    now: datetime,
    settings: Settings,
) -> tuple[Enrollment, str]:
    """Returns the enrollment and the parent's access code (shown once, stored as a hash)."""
    course = session.get(Course, course_id)
    if course is None or course.institution_id != institution.id:
        raise DomainError("not_found", f"no course {course_id}")
    if institution.status == "frozen":
        raise DomainError(
            "institution_frozen", "the institution is frozen: it may not collect fees"
        )
    if institution.status != "active":
        raise DomainError("invalid_state", f"the institution is {institution.status}")
    if course.status != "approved":
        raise DomainError("course_not_approved", f"course {course.id} was {course.status}")
    sessions = list(
        session.scalars(
            select(CourseSession)
            .where(CourseSession.course_id == course.id, CourseSession.starts_at > now)
            .order_by(CourseSession.seq)
            .limit(lessons)
        )
    )
    if len(sessions) < lessons:
        raise DomainError(
            "not_enough_sessions",
            f"the course has {len(sessions)} sessions left after now; {lessons} asked",
        )
    check_purchase(
        Purchase(
            category=course.category,
            lessons=lessons,
            amount=amount,
            price_per_lesson=course.price_per_lesson,
            first_lesson=sessions[0].starts_at,
            last_lesson=sessions[-1].starts_at,
            enrolled_at=now,
        )
    )
    code = new_access_code()
    enrollment = Enrollment(
        id=new_id("enr"),
        institution_id=institution.id,
        course_id=course.id,
        student_ref=student_ref,
        lessons=lessons,
        first_session_seq=sessions[0].seq,
        last_session_seq=sessions[-1].seq,
        amount_due=amount,
        list_amount=course.price_per_lesson * lessons,
        amount_paid=ZERO,
        lessons_consumed=0,
        amount_consumed=ZERO,
        lessons_refunded=0,
        amount_refunded=ZERO,
        payment_reference=new_payment_reference(),
        access_code_hash=keyed_hash(settings.secret_key, code),
        status="awaiting_payment",
        enrolled_at=now,
    )
    session.add(enrollment)
    session.flush()
    # The parent's prepaid account exists from the start, so payments never have to open it.
    from service.flows.chart import prepaid_account

    prepaid_account(session.connection(), institution.id, enrollment.id, at=now)
    return enrollment, code


def lock(session: Session, enrollment_id: str) -> Enrollment:
    enrollment = session.get(
        Enrollment, enrollment_id, with_for_update=True, populate_existing=True
    )
    if enrollment is None:
        raise DomainError("not_found", f"no enrollment {enrollment_id}")
    return enrollment


def remaining_lessons(e: Enrollment) -> int:
    return e.lessons - e.lessons_consumed - e.lessons_refunded


def balance(e: Enrollment) -> Decimal:
    """Unconsumed and not refunded: what the parent could still get back."""
    return e.amount_paid - e.amount_consumed - e.amount_refunded


def consumption_amount(e: Enrollment, lessons: int) -> Decimal:
    """Cumulative rounding over the whole enrollment, so every report sums to the price."""
    return (
        cumulative_share(e.amount_paid, e.lessons, e.lessons_consumed + lessons) - e.amount_consumed
    )


def refund_amount(e: Enrollment, lessons: int) -> Decimal:
    """Refunds are priced as the last lessons; refunding all that remain returns the exact
    unconsumed balance."""
    if lessons == remaining_lessons(e):
        return balance(e)
    top = e.lessons - e.lessons_refunded
    return cumulative_share(e.amount_paid, e.lessons, top) - cumulative_share(
        e.amount_paid, e.lessons, top - lessons
    )


def settle_status(e: Enrollment) -> None:
    e.status = settled_status(e.status, e.lessons, e.lessons_consumed, e.lessons_refunded)


def settled_status(status: str, lessons: int, consumed: int, refunded: int) -> str:
    """What a paid enrollment is once its lessons are counted: active while any remain."""
    if status == "awaiting_payment":
        return status
    if lessons - consumed - refunded == 0:
        return "refunded" if refunded else "completed"
    return "active"


def view(e: Enrollment) -> dict[str, Any]:
    return {
        "id": e.id,
        "course_id": e.course_id,
        "student_ref": e.student_ref,
        "status": e.status,
        "lessons": e.lessons,
        "lessons_consumed": e.lessons_consumed,
        "lessons_refunded": e.lessons_refunded,
        "lessons_remaining": remaining_lessons(e),
        "amount_due": format_money(e.amount_due),
        "amount_paid": format_money(e.amount_paid),
        "amount_consumed": format_money(e.amount_consumed),
        "amount_refunded": format_money(e.amount_refunded),
        "balance": format_money(balance(e)),
        "payment_reference": e.payment_reference,
        "enrolled_at": e.enrolled_at.isoformat(),
    }
