"""The audit log of the region: who did what, when, why, before and after; filtered by who,
what, which institution and which days, and exported as CSV."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, StreamingResponse
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from service.api.deps import NowDep, ReadSessionDep, SessionDep
from service.kit.clock import start_of_local_day
from service.kit.paging import Paging
from service.pages import happened, i18n, labels
from service.pages.labels import N_
from service.pages.web import LangDep, SignedDep, render
from service.pages.workbench.common import DayQuery, Opt, csv_response, query_url
from service.registry import institutions
from service.registry.models import Institution, Officer, Regulator
from service.registry.regions import ancestry, scope_prefix

router = APIRouter(prefix="/workbench", include_in_schema=False)
PAGE = 100


@dataclass(frozen=True)
class AuditFilters:
    actor: str | None
    action: str | None
    institution_id: str | None
    since: date | None
    until: date | None

    def query(self) -> dict[str, Any]:
        return {
            "actor": self.actor,
            "action": self.action,
            "institution_id": self.institution_id,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
        }

    def bounds(self) -> dict[str, datetime | None]:
        """Whole Beijing days: from the start of `since` to the end of `until`."""
        return {
            "since": start_of_local_day(self.since) if self.since else None,
            "until": start_of_local_day(self.until + timedelta(days=1)) if self.until else None,
        }


def _filters(
    actor: Opt = None,
    action: Opt = None,
    institution_id: Opt = None,
    since: DayQuery = None,
    until: DayQuery = None,
) -> AuditFilters:
    return AuditFilters(actor or None, action or None, institution_id or None, since, until)


FiltersDep = Annotated[AuditFilters, Depends(_filters)]


def _read(session: Any, signed: Any, f: AuditFilters, paging: Paging) -> Any:
    return institutions.audit_log(
        session,
        regulator=signed.regulator,
        actor=f.actor,
        action=f.action,
        institution_id=f.institution_id,
        paging=paging,
        **f.bounds(),
    )


@router.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    signed: SignedDep,
    session: ReadSessionDep,
    lang: LangDep,
    f: FiltersDep,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> HTMLResponse:
    paged = _read(session, signed, f, Paging(limit=PAGE, after=cursor or None))
    next_url = None
    if paged.next_after:  # the last event's id, as the API's cursor
        next_url = query_url("/workbench/audit", {**f.query(), "cursor": paged.next_after})
    return render(
        request,
        "audit.html",
        lang,
        signed=signed,
        lines=happened.lines(paged.rows, happened.names(session, paged.rows), lang),
        f=f,
        choices=_choices(session, signed, f, lang),
        next_url=next_url,
        csv_url=query_url("/workbench/audit.csv", {**f.query(), "lang": lang}),
    )


@dataclass(frozen=True)
class Choices:
    """What the filters offer, by name: who, which action, the institution asked for."""

    actors: list[tuple[str, str]]
    actions: list[tuple[str, str]]
    institution: str | None


def _choices(session: Session, signed: Any, f: AuditFilters, lang: str) -> Choices:
    _ = i18n.gettext(lang)
    reg = signed.regulator
    prefix = scope_prefix(reg.region_code)
    people = session.execute(
        select(Regulator.id, Regulator.name)
        .where(or_(Regulator.region_code.startswith(prefix),
                   Regulator.region_code.in_(ancestry(reg.region_code))))
        .order_by(Regulator.region_code, Regulator.name)
    )  # fmt: skip
    offices = {str(i): str(n) for i, n in people}
    actors = [(f"regulator:{i}", n) for i, n in offices.items()]
    # The people of those offices, by name (disabled ones too: the log keeps naming them).
    staff = session.execute(
        select(Officer.id, Officer.name, Officer.regulator_id)
        .where(Officer.regulator_id.in_(list(offices)))
        .order_by(Officer.regulator_id, Officer.name)
    )
    actors += [(f"officer:{i}", f"{offices[str(r)]} · {n}") for i, n, r in staff]
    actors += [(code, _(text)) for code, text in happened.ACTORS.items()]
    actions = [(code, _(text)) for code, text in labels.ACTIONS.items()]
    actions += [(f"{code}:", _(text)) for code, text in labels.ACTION_PREFIXES.items()]
    name = None
    if f.institution_id:
        name = session.scalar(select(Institution.name).where(Institution.id == f.institution_id))
    return Choices(actors, actions, name or (_("An institution") if f.institution_id else None))


CSV_HEADER = [N_("When"), N_("Who"), N_("Action"), N_("On"), N_("Why"), N_("Before"), N_("After")]


@router.get("/audit.csv")
def audit_csv(
    signed: SignedDep,
    session: ReadSessionDep,
    primary: SessionDep,
    now: NowDep,
    f: FiltersDep,
    lang: LangDep,
) -> StreamingResponse:
    rows = _read(session, signed, f, Paging(limit=100_000, after=None)).rows
    # The log's own export is on the log (after what it exported: not in its own file).
    institutions.audit_export(primary, regulator=signed.regulator, export="audit",
                              filters=f.query(), rows=len(rows), now=now)  # fmt: skip
    _ = i18n.gettext(lang)
    lines = (
        [x.at, x.who, x.what, x.on, x.why, x.before, x.after]
        for x in happened.lines(rows, happened.names(session, rows), lang)
    )
    return csv_response("audit.csv", [_(h) for h in CSV_HEADER], lines)
