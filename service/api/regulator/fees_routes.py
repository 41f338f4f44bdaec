"""Regulator endpoints for guidance prices and school calendars."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from service.api.auth import RegulatorDep
from service.api.deps import NowDep, SessionDep
from service.api.regulator.approvals_routes import PENDING_RESPONSE, accepted
from service.api.regulator.schemas import (
    PriceGuideIn,
    PriceGuideRead,
    SchoolCalendarIn,
    SchoolCalendarRead,
    VacationRead,
)
from service.api.schemas import Page
from service.fees import guides, prices, school_calendar
from service.fees.models import PriceGuide
from service.kit.clock import local_date
from service.kit.wire import RegionCode
from service.policy import approvals

router = APIRouter(tags=["regulator"])
RegionQuery = Annotated[RegionCode, Query()]


@router.post("/price-guides", status_code=201, response_model=PriceGuideRead,
             responses=PENDING_RESPONSE)  # fmt: skip
def create_price_guide(
    body: PriceGuideIn, regulator: RegulatorDep, session: SessionDep, now: NowDep
) -> Any:
    """Publish a guidance-price table for a region of the regulator's, from the day it takes
    effect. Audited. Where the region's rule pack asks for four eyes on `price_guide_publish`
    (the default), 202 `{approval}` and nothing is published until a supervisor approves."""
    draft = guides.GuideDraft.model_validate_json(body.model_dump_json(exclude={"supersede"}))
    done = guides.submit_guide(
        session,
        regulator=regulator,
        via="api",
        draft=draft,
        existing="supersede" if body.supersede else "refuse",
        now=now,
    )
    if isinstance(done, approvals.Pending):
        return accepted(session, done.approval, now)
    guide_id = (done.answer["created"] or done.answer["unchanged"])[0]
    guide = session.get(PriceGuide, guide_id)
    assert guide is not None  # just published
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
