"""Institution endpoints for enrollments, lessons, refunds and balances."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, BackgroundTasks, Request

from service.api.auth import InstitutionDep
from service.api.bank.routes import deliver_later
from service.api.deps import NowDep, SessionDep, SettingsDep
from service.errors import DomainError
from service.flows import consumptions, enrollments, refunds
from service.flows.balances import institution_balances
from service.flows.models import Enrollment
from service.flows.schemas import ConsumptionBody, EnrollmentBody, RespondBody
from service.kit.money import format_money

router = APIRouter(tags=["institution"])


@router.post("/enrollments", status_code=201)
def enroll(
    body: EnrollmentBody,
    inst: InstitutionDep,
    session: SessionDep,
    now: NowDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    e, code = enrollments.create(
        session,
        institution=inst,
        course_id=body.course_id,
        student_ref=body.student_ref,
        lessons=body.lessons,
        amount=body.amount,
        now=now,
        settings=settings,
    )
    return {
        "id": e.id,
        "payment_reference": e.payment_reference,
        "access_code": code,
        "amount_due": format_money(e.amount_due),
        "lessons": e.lessons,
        "status": e.status,
        "escrow_account_no": inst.escrow_account_no,
    }


def _own_enrollment(session: Any, inst: Any, enrollment_id: str) -> Enrollment:
    e = session.get(Enrollment, enrollment_id)
    if e is None or e.institution_id != inst.id:
        raise DomainError("not_found", f"no enrollment {enrollment_id}")
    return e


@router.get("/enrollments/{enrollment_id}")
def get_enrollment(enrollment_id: str, inst: InstitutionDep, session: SessionDep) -> dict[str, Any]:
    return enrollments.view(_own_enrollment(session, inst, enrollment_id))


@router.post("/enrollments/{enrollment_id}/consumptions", status_code=201)
def consume(
    enrollment_id: str,
    body: ConsumptionBody,
    inst: InstitutionDep,
    session: SessionDep,
    now: NowDep,
) -> dict[str, Any]:
    c = consumptions.report(
        session,
        institution=inst,
        enrollment_id=enrollment_id,
        lessons=body.lessons,
        occurred_at=body.occurred_at,
        session_ref=body.session_ref,
        now=now,
    )
    e = _own_enrollment(session, inst, enrollment_id)
    return {
        "id": c.id,
        "amount": format_money(c.amount),
        "lessons": c.lessons,
        "lessons_remaining": enrollments.remaining_lessons(e),
        "balance": format_money(enrollments.balance(e)),
        "confirm_until": c.confirm_until.isoformat(),
    }


@router.post("/refunds/{refund_id}/respond")
def respond(
    refund_id: str,
    body: RespondBody,
    inst: InstitutionDep,
    session: SessionDep,
    now: NowDep,
    request: Request,
    tasks: BackgroundTasks,
) -> dict[str, Any]:
    refund = refunds.lock(session, refund_id)
    if refund.institution_id != inst.id:
        raise DomainError("not_found", f"no refund {refund_id}")
    refunds.respond(session, refund=refund, decision=body.decision, reason=body.reason, now=now)
    deliver_later(request, tasks)
    return refunds.view(refund, session, timeline=True)


@router.get("/balances")
def balances(inst: InstitutionDep, session: SessionDep) -> dict[str, Any]:
    b = institution_balances(session.connection(), inst.id)
    return {k: format_money(v) for k, v in b.as_wire().items()}
