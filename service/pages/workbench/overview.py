"""The overview: the region's levels, money, trend, districts and what needs attention."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from service.api.deps import NowDep, ReadSessionDep
from service.national.rollups import NATIONAL
from service.pages import charts, i18n, reads
from service.pages.web import LangDep, SignedDep, render
from service.policy import approvals

router = APIRouter(prefix="/workbench", include_in_schema=False)


LEVEL_SERIES = (
    ("critical", "Critical", "series-1"),
    ("high", "High", "series-2"),
    ("medium", "Medium", "series-3"),
    ("low", "Low", "series-4"),
)


@router.get("", response_class=HTMLResponse, response_model=None)
def overview(
    request: Request, signed: SignedDep, session: ReadSessionDep, now: NowDep, lang: LangDep
) -> HTMLResponse | RedirectResponse:
    if signed.regulator.region_code == NATIONAL:  # no institution of its own: the provinces
        return RedirectResponse("/workbench/national", status_code=303)
    o = reads.overview(session, regulator=signed.regulator, now=now)
    _ = i18n.gettext(lang)
    level_chart = coverage_chart = ""
    if o.trend:
        level_chart = charts.line_chart(
            _("Institutions at each level, day by day"),
            _("Counts of critical, high, medium and low institutions over the last 90 days."),
            [
                charts.Series(_(name), [(d.day, getattr(d, code)) for d in o.trend], css)
                for code, name, css in LEVEL_SERIES
            ],
            value_label=_("Institutions"),
            money=False,
        )
        coverage_chart = charts.line_chart(
            _("Escrow by the ledger against the banks' statements"),
            _("Total escrow by the ledger and by the banks' latest statements, yuan, by day."),
            [
                charts.Series(
                    _("Escrow by the ledger"), [(d.day, d.escrow) for d in o.trend], "series-4"
                ),
                charts.Series(
                    _("Escrow by the banks"), [(d.day, d.bank_balance) for d in o.trend], "series-2"
                ),
            ],
            value_label=_("Yuan"),
            money=True,
        )
    return render(
        request,
        "overview.html",
        lang,
        signed=signed,
        o=o,
        approvals_pending=approvals.pending_count(session, office=signed.regulator, now=now),
        level_chart=level_chart,
        coverage_chart=coverage_chart,
    )
