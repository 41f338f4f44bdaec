"""Routes docs/api.md gives both regulators and institutions, each answering in the caller's
scope."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import Field

from service.api.auth import RegulatorOrInstitutionDep
from service.api.deps import NowDep, PageDep, ReadSessionDep, SessionDep, page_of
from service.api.institution.routes import course_data
from service.api.institution.schemas import CourseCheckIn, CourseCheckRead
from service.api.problems import refusals
from service.api.schemas import Page, Read, RefundRead
from service.errors import DomainError
from service.fees import filings, working_days
from service.flows import refunds
from service.flows.refunds import RefundStatus
from service.kit.clock import local_date
from service.kit.money import Instant, InstantOut
from service.kit.wire import RegionCode
from service.registry.institutions import in_regulator_scope, scoped_ids
from service.registry.models import Regulator

router = APIRouter(tags=["regulator", "institution"])


@router.get("/refunds", response_model=Page[RefundRead])
def list_refunds(
    caller: RegulatorOrInstitutionDep,
    session: ReadSessionDep,
    page: PageDep,
    now: NowDep,
    status: Annotated[RefundStatus | None, Query()] = None,
) -> Page[RefundRead]:
    """Refunds in the caller's scope: a regulator's region, or an institution's own (docs/api.md
    gives both callers this path, so one route serves both)."""
    whose = scoped_ids(caller) if isinstance(caller, Regulator) else caller.id
    paged = refunds.listed(session, institutions=whose, status=status, paging=page)
    return page_of(paged, lambda r: RefundRead.of(r, now))


@router.post(
    "/courses/check",
    response_model=CourseCheckRead,
    responses=refusals("not_found", "out_of_region", "invalid_region_code", "region_conflict"),
)
def check_course(
    body: CourseCheckIn, caller: RegulatorOrInstitutionDep, session: SessionDep, now: NowDep
) -> CourseCheckRead:
    """Answer what a filing would get, storing nothing: try a price before filing it. A
    regulator may ask for any region of theirs (`region_code`), as one of their institutions
    (`institution_id`: its region and sector) and under any sector's pack (`sector`; default
    the institution's own, else the school sector of the course's category). A `region_code`
    beside an institution (named, or the caller) must be its region: 422 `region_conflict`."""
    data = course_data(body)
    if isinstance(caller, Regulator):
        named = (
            in_regulator_scope(session, caller, body.institution_id)
            if body.institution_id is not None
            else None
        )
        verdict = filings.check_for(
            session, regulator=caller, data=data, region_code=body.region_code,
            on=local_date(now), sector=body.sector, institution=named,
        )  # fmt: skip
    else:
        if body.institution_id not in (None, caller.id):
            raise DomainError("not_found", f"no institution {body.institution_id}")
        filings.region_agrees(body.region_code, caller)
        verdict = filings.check(
            session,
            data,
            region_code=caller.region_code,
            sector=body.sector or filings.sector_for(caller, data),
            on=local_date(now),
        )
    return CourseCheckRead.model_validate(verdict, from_attributes=True)


class WorkingDaysRead(Read):
    """The instant `count` working days after `from`; `provisional` when a day counted lies in
    a year whose holiday arrangement is not yet published (counted on the statutory holidays
    alone)."""

    from_: InstantOut = Field(alias="from")
    count: int
    date: InstantOut
    provisional: bool


@router.get("/working-days", response_model=WorkingDaysRead)
def get_working_days(
    caller: RegulatorOrInstitutionDep,
    start: Annotated[Instant, Query(alias="from")],
    count: Annotated[int, Query(ge=0, le=working_days.MAX_COUNT)],
    region_code: Annotated[RegionCode | None, Query()] = None,
) -> WorkingDaysRead:
    """Count working days as deadlines are counted (the State Council's arrangement, same
    Beijing time of day). Public knowledge, so any regulator or institution may ask for any
    region; `region_code` defaults to the caller's own."""
    region = region_code or caller.region_code
    end = working_days.deadline_in(region, start, count)
    return WorkingDaysRead.model_validate(
        {"from": start, "count": count, "date": end.at, "provisional": end.provisional}
    )
