"""Price guides and school calendars: guides in force, CSV import, vacations."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session

from service.api.deps import NowDep, ReadSessionDep, SessionDep
from service.errors import DomainError
from service.fees import guides, prices, school_calendar
from service.kit.clock import local_date
from service.kit.money import Day
from service.pages.labels import N_
from service.pages.signin import SignedIn
from service.pages.web import LangDep, PostDep, SignedDep, back, render
from service.pages.workbench.common import SUBMITTED, act, refusal, waits

router = APIRouter(prefix="/workbench", include_in_schema=False)

# What a row of a refused import says on a Chinese page, by the kind of problem (English pages
# show the checker's own words, which name the bound exactly).
IMPORT_PROBLEMS = {
    "invalid_money": N_("must be an amount above zero, at most 13 digits and 2 decimals"),
    "money_not_positive": N_("must be above zero"),
    "literal_error": N_("is not one of the allowed values"),
    "int_type": N_("must be a whole number"),
    "int_parsing": N_("must be a whole number"),
    "greater_than_equal": N_("is below the smallest allowed value"),
    "less_than_equal": N_("is above the largest allowed value"),
    "control_character": N_("holds a control character (NUL and the like)"),
    "date_out_of_range": N_("must be a day in the years 2000 to 2099"),
    "date_from_datetime_parsing": N_("must be a day written YYYY-MM-DD"),
    "date_parsing": N_("must be a day written YYYY-MM-DD"),
    "string_pattern_mismatch": N_("is not written as expected"),
    "string_too_long": N_("is too long"),
    "value_error": N_("the values of the row do not fit together"),
    "band_overlap": N_("overlaps another band of the same mode and grade"),
    "out_of_region": N_("is outside your region"),
    "invalid_region_code": N_("is not a region code that exists"),
    "price_guide_exists": N_(
        "a different guide is published for this day; tick the box to replace it (the old one "
        "is kept)"
    ),
    "too_many_fields": N_("has more fields than the header"),
    "too_few_fields": N_("has fewer fields than the header"),
    "missing_columns": N_("lacks columns of the published format"),
    "too_many_rows": N_("the file has too many rows"),
    "empty_file": N_("the file has no guide"),
    "unreadable": N_("the file cannot be read as CSV"),
}


@router.get("/prices", response_class=HTMLResponse)
def price_page(
    request: Request,
    signed: SignedDep,
    session: ReadSessionDep,
    now: NowDep,
    lang: LangDep,
    region: Annotated[str | None, Query(pattern=r"^\d{6}$")] = None,
) -> Response:
    return _page(request, signed, session, now, lang, region or signed.regulator.region_code)


def _page(
    request: Request,
    signed: SignedIn,
    session: Session,
    now: datetime,
    lang: str,
    code: str,
    report: list[dict[str, Any]] | None = None,
) -> Response:
    """The guides and vacations of a region; after a refused import, its row-by-row report
    (answered 422, on the page itself: nothing was written)."""
    try:
        guides = prices.applicable(
            session, regulator=signed.regulator, region_code=code, today=local_date(now)
        )
        vacations = school_calendar.of_regulator(
            session, regulator=signed.regulator, region_code=code
        )
    except DomainError as exc:
        return back("/workbench/prices", problem=refusal(exc))
    status = 422 if report else 200
    return render(request, "prices.html", lang, signed=signed, region=code, guides=guides,
                  vacations=vacations, report=report, http_status=status,
                  problem_kinds=IMPORT_PROBLEMS)  # fmt: skip


@router.post("/prices/import", response_model=None)
async def import_prices(
    request: Request,
    signed: PostDep,
    session: SessionDep,
    now: NowDep,
    lang: LangDep,
    file: Annotated[UploadFile, File()],
    supersede: Annotated[bool, Form()] = False,
) -> Response:
    """The same use case as the API's and the CLI's: checked whole, all or nothing."""
    raw = await file.read(1_000_001)
    if len(raw) > 1_000_000:
        return back("/workbench/prices", problem=N_("The file is over 1 MB."))
    text = raw.decode("utf-8-sig", errors="replace")
    existing: guides.Existing = "supersede" if supersede else "refuse"
    try:
        with session.begin_nested():
            done = guides.submit_file(session, regulator=signed.regulator, via="workbench",
                                      text=text, existing=existing, now=now)  # fmt: skip
    except DomainError as exc:
        errors = exc.extra.get("errors") or [{"line": None, "field": "", "message": exc.detail}]
        if exc.status in (401, 404):
            raise
        code = signed.regulator.region_code
        return _page(request, signed, session, now, lang, code, report=errors)
    if waits(done):
        return back("/workbench/prices", done=SUBMITTED)
    return back("/workbench/prices", done=N_("Imported."))


@router.post("/prices/vacations")
def add_vacation(
    signed: PostDep,
    session: SessionDep,
    now: NowDep,
    region_code: Annotated[str, Form(pattern=r"^\d{6}$")],
    name: Annotated[str, Form(min_length=1, max_length=40)],
    start: Annotated[Day, Form()],
    end: Annotated[Day, Form()],
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
