"""Regulator endpoints for guidance prices and school calendars."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from service.api.auth import RegulatorDep
from service.api.deps import NowDep, SessionDep
from service.api.regulator.schemas import (
    PriceGuideIn,
    PriceGuideRead,
    SchoolCalendarIn,
    SchoolCalendarRead,
    VacationRead,
)
from service.api.schemas import Page
from service.fees import guides, prices, school_calendar
from service.kit.clock import local_date

router = APIRouter(tags=["regulator"])
RegionQuery = Annotated[str, Query(pattern=r"^\d{6}$")]


@router.post("/price-guides", status_code=201, response_model=PriceGuideRead)
def create_price_guide(
    body: PriceGuideIn, regulator: RegulatorDep, session: SessionDep, now: NowDep
) -> PriceGuideRead:
    guide = guides.publish_guide(
        session,
        by=guides.Publisher.of(regulator, "api"),
        draft=body,
        existing="supersede" if body.supersede else "refuse",
        now=now,
    )
    return PriceGuideRead.of(guide, prices.guide_items(session, guide.id))


@router.get("/price-guides", response_model=Page[PriceGuideRead])
def list_price_guides(
    regulator: RegulatorDep, session: SessionDep, now: NowDep, region_code: RegionQuery
) -> Page[PriceGuideRead]:
    """The guides that apply to a region (its own and its parents'): the one in force today
    for each region, and any scheduled to take effect later."""
    found = prices.applicable(
        session, regulator=regulator, region_code=region_code, today=local_date(now)
    )
    return Page(items=[PriceGuideRead.of(a.guide, a.items, a.in_force) for a in found])


@router.post("/school-calendars", status_code=201, response_model=SchoolCalendarRead)
def set_school_calendar(
    body: SchoolCalendarIn, regulator: RegulatorDep, session: SessionDep, now: NowDep
) -> SchoolCalendarRead:
    rows = school_calendar.publish(
        session,
        regulator=regulator,
        region_code=body.region_code,
        year=body.year,
        vacations=[(v.name, v.start, v.end) for v in body.vacations],
        now=now,
    )
    return SchoolCalendarRead(
        region_code=body.region_code, year=body.year, vacations=[VacationRead.of(r) for r in rows]
    )


@router.get("/school-calendars", response_model=Page[VacationRead])
def get_school_calendar(
    regulator: RegulatorDep, session: SessionDep, region_code: RegionQuery
) -> Page[VacationRead]:
    rows = school_calendar.of_regulator(session, regulator=regulator, region_code=region_code)
    return Page(items=[VacationRead.of(r) for r in rows])
