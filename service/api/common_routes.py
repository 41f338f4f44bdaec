"""Routes docs/api.md gives both regulators and institutions, each answering in the caller's
scope."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from service.api.auth import RegulatorOrInstitutionDep
from service.api.deps import PageDep, SessionDep, page_of
from service.api.institution.routes import course_data
from service.api.institution.schemas import CourseCheckIn, CourseCheckRead
from service.api.schemas import Page, RefundRead
from service.fees import filings
from service.flows import refunds
from service.flows.refunds import RefundStatus
from service.registry.institutions import scoped_ids
from service.registry.models import Regulator

router = APIRouter(tags=["regulator", "institution"])


@router.get("/refunds", response_model=Page[RefundRead])
def list_refunds(
    caller: RegulatorOrInstitutionDep,
    session: SessionDep,
    page: PageDep,
    status: Annotated[RefundStatus | None, Query()] = None,
) -> Page[RefundRead]:
    """Refunds in the caller's scope: a regulator's region, or an institution's own (docs/api.md
    gives both callers this path, so one route serves both)."""
    whose = scoped_ids(caller) if isinstance(caller, Regulator) else caller.id
    paged = refunds.listed(session, institutions=whose, status=status, paging=page)
    return page_of(paged, RefundRead.of)


@router.post("/courses/check", response_model=CourseCheckRead)
def check_course(
    body: CourseCheckIn, caller: RegulatorOrInstitutionDep, session: SessionDep
) -> CourseCheckRead:
    """Answer what a filing would get, storing nothing: try a price before filing it. A
    regulator may ask for any region of theirs (`region_code`)."""
    data = course_data(body)
    if isinstance(caller, Regulator):
        verdict = filings.check_for(
            session, regulator=caller, data=data, region_code=body.region_code
        )
    else:
        verdict = filings.check(session, data, region_code=caller.region_code)
    return CourseCheckRead.model_validate(verdict, from_attributes=True)
