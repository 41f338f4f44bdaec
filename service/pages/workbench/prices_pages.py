"""Price guides and school calendars: guides in force, CSV import, vacations."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from service.api.deps import NowDep, SessionDep
from service.errors import DomainError
from service.fees import prices, school_calendar
from service.kit.clock import local_date
from service.pages.labels import N_
from service.pages.web import LangDep, PostDep, SignedDep, back, render
from service.pages.workbench.common import act

router = APIRouter(prefix="/workbench", include_in_schema=False)


@router.get("/prices", response_class=HTMLResponse)
def price_page(
    request: Request,
    signed: SignedDep,
    session: SessionDep,
    now: NowDep,
    lang: LangDep,
    region: Annotated[str | None, Query(pattern=r"^\d{6}$")] = None,
) -> Response:
    code = region or signed.regulator.region_code
    try:
        guides = prices.applicable(
            session, regulator=signed.regulator, region_code=code, today=local_date(now)
        )
        vacations = school_calendar.of_regulator(
            session, regulator=signed.regulator, region_code=code
        )
    except DomainError as exc:
        return back("/workbench/prices", problem=exc.detail)
    return render(
        request, "prices.html", lang, signed=signed, region=code, guides=guides, vacations=vacations
    )


@router.post("/prices/import")
async def import_prices(
    signed: PostDep, session: SessionDep, now: NowDep, file: Annotated[UploadFile, File()]
) -> RedirectResponse:
    raw = await file.read(1_000_001)
    if len(raw) > 1_000_000:
        return back("/workbench/prices", problem=N_("The file is over 1 MB."))
    text = raw.decode("utf-8-sig", errors="replace")
    return act(
        session,
        "/workbench/prices",
        lambda: prices.import_for(session, regulator=signed.regulator, text=text, now=now),
        N_("Imported."),
    )


@router.post("/prices/vacations")
def add_vacation(
    signed: PostDep,
    session: SessionDep,
    now: NowDep,
    region_code: Annotated[str, Form(pattern=r"^\d{6}$")],
    name: Annotated[str, Form(min_length=1, max_length=40)],
    start: Annotated[date, Form()],
    end: Annotated[date, Form()],
) -> RedirectResponse:
    def work() -> None:
        kept = school_calendar.of_regulator(
            session, regulator=signed.regulator, region_code=region_code
        )
        year = [
            (v.name, v.start_date, v.end_date)
            for v in kept
            if v.start_date.year == start.year and v.region_code == region_code
        ]
        if end < start:
            raise DomainError("validation_error", "a vacation ends before it starts")
        school_calendar.publish(
            session,
            regulator=signed.regulator,
            region_code=region_code,
            year=start.year,
            vacations=[*year, (name, start, end)],
            now=now,
        )

    return act(
        session, f"/workbench/prices?region={region_code}", work, N_("The vacation is added.")
    )
