"""Regulator endpoints for guidance prices and school calendars."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from sqlalchemy import select

from service.api.auth import RegulatorDep
from service.api.deps import NowDep, SessionDep
from service.errors import DomainError
from service.fees import prices, school_calendar
from service.fees.models import PriceGuide
from service.fees.schemas import PriceGuideIn, SchoolCalendarIn
from service.kit.money import format_money
from service.registry.models import Regulator
from service.registry.regions import ancestry, in_scope, is_valid_region

router = APIRouter(tags=["regulator"])


def _in_scope(regulator: Regulator, region_code: str) -> None:
    if not is_valid_region(region_code):
        raise DomainError("invalid_region_code", f"unknown region code {region_code!r}")
    if not in_scope(regulator.region_code, region_code):
        raise DomainError("out_of_region", f"{region_code} is outside your region")


def guide_view(session: Any, guide: PriceGuide) -> dict[str, Any]:
    return {
        "id": guide.id,
        "region_code": guide.region_code,
        "effective_from": guide.effective_from.isoformat(),
        "source": guide.source,
        "items": [
            {
                "mode": i.mode,
                "grade_band": i.grade_band,
                "class_size_min": i.class_size_min,
                "class_size_max": i.class_size_max,
                "standard_minutes": i.standard_minutes,
                "base_price": format_money(i.base_price),
                "max_float_pct": format_money(i.max_float_pct),
            }
            for i in sorted(
                prices.guide_items(session, guide.id), key=lambda i: (i.mode, i.class_size_min)
            )
        ],
    }


@router.post("/price-guides", status_code=201)
def create_price_guide(
    body: PriceGuideIn, regulator: RegulatorDep, session: SessionDep, now: NowDep
) -> dict[str, Any]:
    _in_scope(regulator, body.region_code)
    bands = [
        prices.Band(
            i.mode,
            i.grade_band,
            i.class_size_min,
            i.class_size_max,
            i.standard_minutes,
            i.base_price,
            i.max_float_pct,
        )
        for i in body.items
    ]
    guide = prices.create_guide(
        session,
        region_code=body.region_code,
        effective_from=body.effective_from,
        bands=bands,
        now=now,
        source=body.source,
    )
    return guide_view(session, guide)


@router.get("/price-guides")
def list_price_guides(
    regulator: RegulatorDep,
    session: SessionDep,
    now: NowDep,
    region_code: Annotated[str, Query(pattern=r"^\d{6}$")],
) -> dict[str, Any]:
    """The guides that apply to a region (its own and its parents'): the one in force today
    for each region, and any scheduled to take effect later."""
    _in_scope(regulator, region_code)
    today = now.date()
    items = []
    for code in ancestry(region_code):
        guides = list(
            session.scalars(
                select(PriceGuide)
                .where(PriceGuide.region_code == code)
                .order_by(PriceGuide.effective_from.desc())
            )
        )
        in_force = next((g for g in guides if g.effective_from <= today), None)
        for g in guides:
            if g.effective_from > today or g is in_force:
                items.append({**guide_view(session, g), "in_force": g is in_force})
    return {"items": items, "next_cursor": None}


@router.post("/school-calendars", status_code=201)
def set_school_calendar(
    body: SchoolCalendarIn, regulator: RegulatorDep, session: SessionDep
) -> dict[str, Any]:
    _in_scope(regulator, body.region_code)
    for v in body.vacations:
        if v.start.year != body.year:
            raise DomainError(
                "validation_error", f"vacation {v.name} does not start in {body.year}"
            )
    rows = school_calendar.set_year(
        session,
        region_code=body.region_code,
        year=body.year,
        vacations=[(v.name, v.start, v.end) for v in body.vacations],
    )
    return {
        "region_code": body.region_code,
        "year": body.year,
        "vacations": [
            {"name": r.name, "start": r.start_date.isoformat(), "end": r.end_date.isoformat()}
            for r in rows
        ],
    }


@router.get("/school-calendars")
def get_school_calendar(
    regulator: RegulatorDep,
    session: SessionDep,
    region_code: Annotated[str, Query(pattern=r"^\d{6}$")],
) -> dict[str, Any]:
    _in_scope(regulator, region_code)
    rows = school_calendar.of_region(session, region_code)
    return {
        "items": [
            {"name": r.name, "start": r.start_date.isoformat(), "end": r.end_date.isoformat()}
            for r in rows
        ],
        "next_cursor": None,
    }
