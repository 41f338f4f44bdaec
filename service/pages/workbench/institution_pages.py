"""The institutions: the sortable, filterable list and its CSV; one institution's file and
its actions (freeze, unfreeze, raise a case, revoke one of its API keys)."""

from __future__ import annotations

import dataclasses
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, StreamingResponse

from service.api.deps import NowDep, ReadSessionDep, SessionDep
from service.flows import winddowns
from service.kit.clock import local_date
from service.pages import charts, evidence, happened, i18n, labels, reads
from service.pages.labels import N_
from service.pages.web import LangDep, PostDep, SignedDep, render
from service.pages.workbench.common import (
    PER_PAGE,
    Opt,
    PageNo,
    Text,
    act,
    csv_response,
    local_path,
    query_url,
)
from service.policy import unfreezing
from service.registry import institution_keys, institutions
from service.registry.models import InstitutionStatus
from service.risk import alerts

router = APIRouter(prefix="/workbench", include_in_schema=False)


def _filters(
    level: str | None,
    status: str | None,
    district: str | None,
    category: str | None,
    mode: str | None,
    q: str | None,
    sort: str,
    desc: str,
) -> reads.Filters:
    return reads.Filters(
        level=level or None,
        status=status or None,
        district=district or None,
        category=category or None,
        mode=mode or None,
        q=(q or "").strip() or None,
        sort=sort if sort in reads.SORTS else "score",
        desc=desc != "0",
    )


@router.get("/institutions", response_class=HTMLResponse)
def institution_list(
    request: Request,
    signed: SignedDep,
    session: ReadSessionDep,
    lang: LangDep,
    level: Opt = None,
    status: Opt = None,
    district: Opt = None,
    category: Opt = None,
    mode: Opt = None,
    q: Opt = None,
    sort: str = "score",
    desc: str = "1",
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> HTMLResponse:
    f = _filters(level, status, district, category, mode, q, sort, desc)
    rows, total = reads.institutions(
        session, regulator=signed.regulator, filters=f, page=page, per_page=PER_PAGE
    )
    query = {k: v for k, v in request.query_params.items() if k not in ("page", "done", "problem")}

    def sort_url(key: str) -> str:
        flip = "0" if f.sort == key and f.desc else "1"
        return query_url("/workbench/institutions", {**query, "sort": key, "desc": flip})

    return render(
        request,
        "institutions.html",
        lang,
        signed=signed,
        f=f,
        rows=rows,
        total=total,
        page=page,
        pages=(total + PER_PAGE - 1) // PER_PAGE,
        page_url=lambda n: query_url("/workbench/institutions", {**query, "page": n}),
        sort_url=sort_url,
        csv_url=query_url("/workbench/institutions.csv", {**query, "lang": lang}),
    )


@router.get("/institutions.csv")
def institutioncsv_response(
    signed: SignedDep,
    session: ReadSessionDep,
    primary: SessionDep,
    now: NowDep,
    lang: LangDep,
    level: Opt = None,
    status: Opt = None,
    district: Opt = None,
    category: Opt = None,
    mode: Opt = None,
    q: Opt = None,
    sort: str = "score",
    desc: str = "1",
) -> StreamingResponse:
    """The list as the page shows it, in the page's language: names and labels, no codes.
    Read where the page reads (it may lag); the export's own audit record is the primary's."""
    f = _filters(level, status, district, category, mode, q, sort, desc)
    rows = reads.all_institutions(session, regulator=signed.regulator, filters=f)
    institutions.audit_export(primary, regulator=signed.regulator, export="institutions",
                              filters=dataclasses.asdict(f), rows=len(rows), now=now)  # fmt: skip
    _ = i18n.gettext(lang)
    lines = (
        [
            r.name,
            r.credit_code,
            labels.place(r.region_code),
            _(labels.label("statuses", r.status)),
            _(labels.label("categories", r.category)),
            _(labels.label("modes", r.mode)),
            _(labels.label("levels", r.level)),
            "" if r.score is None else r.score,
            f"{r.escrow:.2f}",
            f"{r.owed:.2f}",
            "" if r.coverage is None else i18n.ratio(r.coverage),
            i18n.instant(r.evaluated_at, lang) if r.evaluated_at else "",
        ]
        for r in rows
    )
    return csv_response("institutions.csv", [_(h) for h in CSV_HEADER], lines)


CSV_HEADER = [
    N_("Institution"),
    N_("Credit code"),
    N_("District"),
    N_("Status"),
    N_("Category"),
    N_("Supervision"),
    N_("Level"),
    N_("Score"),
    N_("Escrow, yuan"),
    N_("Owed to parents, yuan"),
    N_("Coverage"),
    N_("Last evaluated"),
]


def file_pages(
    changes: PageNo = 1,
    alerts: PageNo = 1,
    refunds: PageNo = 1,
    lessons: PageNo = 1,
    suspense: PageNo = 1,
    statements: PageNo = 1,
    complaints: PageNo = 1,
    courses: PageNo = 1,
    audit: PageNo = 1,
) -> dict[str, int]:
    """The page each of the file's lists is at (`reads.FILE_LISTS`), from the address."""
    return {"changes": changes, "alerts": alerts, "refunds": refunds, "lessons": lessons,
            "suspense": suspense, "statements": statements, "complaints": complaints,
            "courses": courses, "audit": audit}  # fmt: skip


@router.get("/institutions/{institution_id}", response_class=HTMLResponse)
def institution_page(
    institution_id: str,
    request: Request,
    signed: SignedDep,
    session: ReadSessionDep,
    now: NowDep,
    lang: LangDep,
    pages: Annotated[dict[str, int], Depends(file_pages)],
) -> HTMLResponse:
    inst = institutions.in_regulator_scope(session, signed.regulator, institution_id)
    f = reads.institution_file(session, inst, pages)
    _ = i18n.gettext(lang)
    shown = evidence.of_indicators(f.latest.indicators if f.latest else [])
    return render(
        request,
        "institution.html",
        lang,
        signed=signed,
        i=inst,
        file=f,
        region=reads.region_name(inst.region_code),
        balance_chart=_balance_chart(f, _, local_date(now)),
        score_chart=_score_chart(f, _),
        evidence=evidence.described(session, shown),
        actor_names=happened.actor_names(session, f.audit),
        wind_down=winddowns.of_institution(session, inst.id),
        keys=institution_keys.of_institution(session, inst),
        key_names=labels.KEY_NAMES,
        now=now,
    )


def _balance_chart(f: reads.File, _: Any, today: date) -> str:
    """The ledger's escrow at each statement's day and now, the bank's closing balances, and
    what parents were owed at each day's end."""
    stmts = sorted((date.fromisoformat(s.statement_date), s) for s, _b in f.statements)
    if not stmts and not f.owed_by_day:
        return ""
    ledger = [(d, s.ledger_balance) for d, s in stmts if d < today]
    series = [
        charts.Series(_("Escrow by the ledger"), [*ledger, (today, f.balances.escrow)], "series-4"),
        charts.Series(
            _("Escrow by the bank"), [(d, s.closing_balance) for d, s in stmts], "series-2"
        ),
        charts.Series(_("Owed to parents"), f.owed_by_day, "series-3"),
    ]
    return charts.line_chart(
        _("Escrow by the ledger, by the bank's statements, and what parents are owed"),
        _("Yuan at each day's end."),
        [s for s in series if s.points],
        value_label=_("Yuan"),
        money=True,
    )


def _score_chart(f: reads.File, _: Any) -> str:
    if not f.history:
        return ""
    points = [(charts.as_day(e.as_of), e.score) for e in f.history]
    return charts.line_chart(
        _("Score at each evaluation"),
        _("Risk score from 0 to 100, by evaluation day."),
        [charts.Series(_("Score"), points, "series-1")],
        value_label=_("Score"),
        money=False,
    )


@router.post("/institutions/{institution_id}/freeze")
@router.post("/institutions/{institution_id}/unfreeze")
def freeze(
    institution_id: str,
    request: Request,
    signed: PostDep,
    session: SessionDep,
    now: NowDep,
    reason: Text,
) -> RedirectResponse:
    """Freezing is protective and done at once; unfreezing waits for a second person where the
    region's rule pack asks for four eyes (the API's use cases)."""
    unfreeze = request.url.path.endswith("unfreeze")

    def work() -> object:
        if unfreeze:
            return unfreezing.unfreeze(
                session,
                regulator=signed.regulator,
                institution_id=institution_id,
                reason=reason,
                now=now,
            )
        return institutions.change_status(session, regulator=signed.regulator,
                                          institution_id=institution_id,
                                          status=InstitutionStatus.FROZEN, reason=reason,
                                          now=now)  # fmt: skip

    return act(session, f"/workbench/institutions/{institution_id}", work,
               N_("Unfrozen.") if unfreeze else N_("Frozen."))  # fmt: skip


@router.post("/institutions/{institution_id}/raise")
def raise_case(
    institution_id: str,
    signed: PostDep,
    session: SessionDep,
    now: NowDep,
    note: Text,
    back_to: Annotated[str, Form(max_length=300)] = "",
) -> RedirectResponse:
    return act(
        session,
        local_path(back_to or f"/workbench/institutions/{institution_id}"),
        lambda: alerts.raise_case(
            session, regulator=signed.regulator, institution_id=institution_id, note=note, now=now
        ),
        N_("The case is raised."),
    )


@router.post("/institutions/{institution_id}/api-keys/{key_id}/revoke")
def revoke_key(
    institution_id: str, key_id: str, signed: PostDep, session: SessionDep, now: NowDep
) -> RedirectResponse:
    """One of the institution's API keys stopped at once (the API's use case, audited naming
    the officer); its last live key stays (`last_key`: freeze the institution instead)."""
    return act(
        session,
        f"/workbench/institutions/{institution_id}#keys-h",
        lambda: institution_keys.revoke_as_regulator(
            session, regulator=signed.regulator, institution_id=institution_id, key_id=key_id,
            now=now,
        ),
        N_("The key is revoked: it stopped working at once."),
    )  # fmt: skip
