"""The national regulator's workbench (region `100000`): the provinces' rollups received by
logical replication, each province's figures with their as-of (service.national.view)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from service.api.deps import NowDep, ReadSessionDep
from service.errors import DomainError
from service.national import view
from service.national.rollups import NATIONAL
from service.pages.signin import SignedIn
from service.pages.web import LangDep, SignedDep, render

router = APIRouter(prefix="/workbench", include_in_schema=False)


def national_only(signed: SignedIn) -> None:
    """Only the national office reads the national view; to anyone else it is not there."""
    if signed.regulator.region_code != NATIONAL:
        raise DomainError("not_found", "no such page")


@router.get("/national", response_class=HTMLResponse)
def national(
    request: Request, signed: SignedDep, session: ReadSessionDep, now: NowDep, lang: LangDep
) -> HTMLResponse:
    national_only(signed)
    lines = view.provinces(session, now=now)
    return render(request, "national.html", lang, signed=signed, lines=lines,
                  totals=view.totals(lines), late_seconds=view.LATE_SECONDS,
                  resyncing=view.resyncing(session))  # fmt: skip


@router.get("/national/{province}", response_class=HTMLResponse)
def national_province(
    request: Request,
    province: str,
    signed: SignedDep,
    session: ReadSessionDep,
    now: NowDep,
    lang: LangDep,
) -> HTMLResponse:
    national_only(signed)
    found = view.province(session, province[:6], now=now)
    if found is None:
        sync = next((r for r in view.resyncing(session) if r.province == province[:6]), None)
        if sync is None:
            raise DomainError("not_found", "no such province")
        return render(request, "national_resync.html", lang, signed=signed, sync=sync)
    return render(request, "national_province.html", lang, signed=signed, f=found,
                  district_coverage=view.district_coverage,
                  late_seconds=view.LATE_SECONDS)  # fmt: skip
