"""Parent endpoints. A parent session sees exactly one enrollment."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from sqlalchemy import select

from service.api.auth import bearer_token
from service.api.deps import NowDep, SessionDep, SettingsDep
from service.api.problems import problem_response
from service.errors import DomainError
from service.fees.models import Course
from service.flows import consumptions, enrollments, parents, refunds
from service.flows.models import Consumption, Enrollment, Refund
from service.flows.schemas import ComplaintBody, DisputeBody, ParentRefundBody, ParentSessionBody
from service.kit.money import format_money
from service.registry.models import Institution

router = APIRouter(prefix="/parent", tags=["parent"])


def _parent(request: Request, session: SessionDep, now: NowDep) -> Enrollment:
    e = parents.by_token(session, bearer_token(request), now)
    if e is None:
        raise DomainError("unauthenticated", "unknown or expired parent session")
    return e


ParentDep = Annotated[Enrollment, Depends(_parent)]


@router.post("/sessions", status_code=201)
def open_session(
    body: ParentSessionBody,
    request: Request,
    session: SessionDep,
    now: NowDep,
    settings: SettingsDep,
) -> Any:
    client = request.client.host if request.client else "unknown"
    out = parents.open_session(
        session,
        enrollment_id=body.enrollment_id,
        access_code=body.access_code,
        client=client,
        now=now,
        settings=settings,
    )
    if out is None:  # answered, not raised, so that the failure count is committed
        return problem_response("invalid_access_code", "the enrollment id or access code is wrong")
    token, expires = out
    return JSONResponse({"token": token, "expires_at": expires.isoformat()}, status_code=201)


@router.get("/enrollment")
def enrollment(e: ParentDep, session: SessionDep) -> dict[str, Any]:
    inst = session.get(Institution, e.institution_id)
    course = session.get(Course, e.course_id)
    assert inst is not None and course is not None
    return {
        "id": e.id,
        "institution": {"name": inst.name, "status": inst.status},
        "course": {"title": course.title},
        "lessons": e.lessons,
        "lessons_consumed": e.lessons_consumed,
        "lessons_refunded": e.lessons_refunded,
        "amount_due": format_money(e.amount_due),
        "amount_paid": format_money(e.amount_paid),
        "amount_consumed": format_money(e.amount_consumed),
        "refundable_amount": format_money(
            enrollments.balance(e) if e.status != "awaiting_payment" else e.amount_paid
        ),
        "status": e.status,
        "payment_reference": e.payment_reference,
    }


@router.post("/refunds", status_code=201)
def request_refund(
    body: ParentRefundBody, e: ParentDep, session: SessionDep, now: NowDep
) -> dict[str, Any]:
    r = refunds.request(
        session, enrollment_id=e.id, lessons=body.lessons, reason=body.reason, now=now
    )
    return {
        "id": r.id,
        "amount": format_money(r.amount),
        "lessons": r.lessons,
        "status": r.status,
        "respond_by": r.respond_by.isoformat(),
    }


@router.get("/refunds/{refund_id}")
def get_refund(refund_id: str, e: ParentDep, session: SessionDep) -> dict[str, Any]:
    r = session.get(Refund, refund_id)
    if r is None or r.enrollment_id != e.id:
        raise DomainError("not_found", f"no refund {refund_id}")
    return refunds.view(r, session, timeline=True)


@router.get("/consumptions")
def list_consumptions(e: ParentDep, session: SessionDep, now: NowDep) -> dict[str, Any]:
    rows = session.scalars(
        select(Consumption)
        .where(Consumption.enrollment_id == e.id)
        .order_by(Consumption.occurred_at)
    )
    return {"items": [consumptions.view(c, now) for c in rows], "next_cursor": None}


@router.post("/consumptions/{consumption_id}/dispute")
def dispute(
    consumption_id: str, body: DisputeBody, e: ParentDep, session: SessionDep, now: NowDep
) -> dict[str, Any]:
    c = consumptions.dispute(
        session, consumption_id=consumption_id, enrollment_id=e.id, reason=body.reason, now=now
    )
    return consumptions.view(c, now)


@router.post("/complaints", status_code=201)
def complain(body: ComplaintBody, e: ParentDep, session: SessionDep, now: NowDep) -> dict[str, Any]:
    c = parents.complain(
        session,
        institution_id=e.institution_id,
        enrollment_id=e.id,
        category=body.category,
        text=body.text,
        now=now,
    )
    return {"id": c.id}
