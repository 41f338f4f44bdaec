"""The audit log of the region: who did what, when, why, before and after; filtered by who,
what, which institution and which days, and exported as CSV."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, StreamingResponse

from service.api.deps import NowDep, SessionDep
from service.kit.clock import SHANGHAI, start_of_local_day
from service.kit.paging import Paging
from service.pages import evidence
from service.pages.web import LangDep, SignedDep, render
from service.pages.workbench.common import DayQuery, Opt, csv_response, query_url
from service.registry import institutions

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
    session: SessionDep,
    lang: LangDep,
    f: FiltersDep,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> HTMLResponse:
    after = cursor.split("|", 1) if cursor else None
    paged = _read(session, signed, f, Paging(PAGE, after))
    next_url = None
    if paged.next_after:
        next_url = query_url(
            "/workbench/audit", {**f.query(), "cursor": "|".join(paged.next_after)}
        )
    return render(
        request,
        "audit.html",
        lang,
        signed=signed,
        events=paged.rows,
        f=f,
        next_url=next_url,
        csv_url=query_url("/workbench/audit.csv", f.query()),
        actor_names=evidence.actor_names(session, (e.actor for e in paged.rows)),
    )


CSV_HEADER = ["at", "actor", "actor_name", "action", "subject", "institution_id", "region_code",
              "detail"]  # fmt: skip


@router.get("/audit.csv")
def audit_csv(
    signed: SignedDep, session: SessionDep, now: NowDep, f: FiltersDep
) -> StreamingResponse:
    rows = _read(session, signed, f, Paging(100_000, None)).rows
    # The log's own export is on the log (after what it exported: not in its own file).
    institutions.audit_export(session, regulator=signed.regulator, export="audit",
                              filters=f.query(), rows=len(rows), now=now)  # fmt: skip
    names = evidence.actor_names(session, (e.actor for e in rows))
    lines = (
        [
            e.at.astimezone(SHANGHAI).isoformat(),
            e.actor,
            names.get(e.actor, ""),
            e.action,
            e.subject,
            e.institution_id or "",
            e.region_code or "",
            json.dumps(e.detail, ensure_ascii=False),
        ]
        for e in rows
    )
    return csv_response("audit.csv", CSV_HEADER, lines)
