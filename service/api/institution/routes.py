"""Institution endpoints: course filings (enrollments, lessons and refunds join later)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import select

from service.api.auth import InstitutionDep
from service.api.deps import NowDep, PageDep, SessionDep, page_of
from service.api.either import RegulatorOrInstitutionDep
from service.errors import DomainError
from service.fees import filings
from service.fees.models import Course
from service.fees.schemas import CourseCheckIn, CourseIn
from service.registry.models import Regulator
from service.registry.regions import in_scope, is_valid_region

router = APIRouter(tags=["institution"])


def _course_data(body: CourseIn) -> filings.CourseData:
    return filings.CourseData(
        title=body.title,
        subject=body.subject,
        category=body.category,
        grade_band=body.grade_band,
        mode=body.mode,
        class_size=body.class_size,
        lesson_minutes=body.lesson_minutes,
        lessons_total=body.lessons_total,
        price_per_lesson=body.price_per_lesson,
        list_price_per_lesson=body.list_price_per_lesson,
        sessions=tuple((s.starts_at, s.ends_at) for s in body.sessions),
    )


@router.post("/courses", status_code=201)
def file_course(
    body: CourseIn, inst: InstitutionDep, session: SessionDep, now: NowDep
) -> dict[str, Any]:
    if inst.status != "active":
        raise DomainError("institution_frozen", f"the institution is {inst.status}")
    course = filings.file_course(session, institution=inst, data=_course_data(body), now=now)
    return filings.course_view(course)


@router.post("/courses/check")
def check_course(
    body: CourseCheckIn, caller: RegulatorOrInstitutionDep, session: SessionDep
) -> dict[str, Any]:
    """Answer what a filing would get, storing nothing: try a price before filing it."""
    if isinstance(caller, Regulator):
        region = body.region_code or caller.region_code
        if not is_valid_region(region):
            raise DomainError("invalid_region_code", f"unknown region code {region!r}")
        if not in_scope(caller.region_code, region):
            raise DomainError("out_of_region", f"{region} is outside your region")
    else:
        region = caller.region_code
    verdict = filings.check(session, _course_data(body), region_code=region)
    return {
        "status": verdict.status,
        "violations": verdict.violations,
        "price_check": verdict.price_check,
    }


@router.get("/courses")
def list_courses(inst: InstitutionDep, session: SessionDep, page: PageDep) -> dict[str, Any]:
    stmt = select(Course).where(Course.institution_id == inst.id)
    return page_of(session, stmt, Course.id, page, filings.course_view)


@router.get("/courses/{course_id}")
def get_course(course_id: str, inst: InstitutionDep, session: SessionDep) -> dict[str, Any]:
    course = session.get(Course, course_id)
    if course is None or course.institution_id != inst.id:
        raise DomainError("not_found", f"no course {course_id}")
    return filings.course_view(course)
