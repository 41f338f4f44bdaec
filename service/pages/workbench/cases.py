"""The case queue and one case: claim, assign, acknowledge, snooze, escalate, close."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.orm import Session

from service.api.deps import NowDep, ReadSessionDep, SessionDep
from service.kit.clock import SHANGHAI, local_date
from service.kit.money import Day
from service.pages import evidence, happened, reads
from service.pages.labels import N_
from service.pages.signin import regulators_over
from service.pages.web import LangDep, PostDep, SignedDep, render
from service.pages.workbench.common import PER_PAGE, Opt, PageNo, Text, act, paging
from service.risk import alerts
from service.risk.models import Alert

router = APIRouter(prefix="/workbench", include_in_schema=False)


@router.get("/alerts", response_class=HTMLResponse)
def case_queue(
    request: Request,
    signed: SignedDep,
    session: ReadSessionDep,
    now: NowDep,
    lang: LangDep,
    status: Opt = None,
    level: Opt = None,
    q: Opt = None,
    mine: str | None = None,
    page: PageNo = 1,
) -> HTMLResponse:
    found, total = reads.cases(
        session,
        regulator=signed.regulator,
        status=status or None,
        level=level or None,
        mine=bool(mine),
        q=q or None,
        now=now,
        page=page,
        per_page=PER_PAGE,
    )
    names = _names(session, [a for a, _i, _l in found])
    return render(
        request,
        "alerts.html",
        lang,
        signed=signed,
        cases=found,
        case_status=status,
        lvl=level,
        q=q,
        mine=bool(mine),
        now=now,
        names=names,
        **paging(request, "/workbench/alerts", page, total),
    )


def _names(session: Session, cases: list[Alert]) -> dict[str, str]:
    """The assignees' names by id: the offices', and the officers' who claimed (经办人)."""
    offices = (f"regulator:{a.assignee_id}" for a in cases if a.assignee_id)
    found = evidence.actor_names(session, offices)
    found |= happened.officer_names(session, (a.assignee_officer_id or "" for a in cases))
    return {key.split(":", 1)[1]: name for key, name in found.items()}


@router.get("/alerts/{alert_id}", response_class=HTMLResponse)
def case_page(
    alert_id: str,
    request: Request,
    signed: SignedDep,
    session: ReadSessionDep,
    now: NowDep,
    lang: LangDep,
) -> HTMLResponse:
    alert, inst, history, risk = reads.case_file(
        session, regulator=signed.regulator, alert_id=alert_id
    )
    assignees = regulators_over(session, inst.region_code)
    return render(
        request,
        "case.html",
        lang,
        signed=signed,
        a=alert,
        i=inst,
        risk=risk,
        history=history,
        now=now,
        tomorrow=(local_date(now) + timedelta(days=1)).isoformat(),
        latest_wake=local_date(alerts.latest_wake(session, alert, now)).isoformat(),
        may_act=alerts.may_act(signed.regulator, alert),
        assignees=assignees,
        names={r.id: r.name for r in assignees} | _names(session, [alert]),
        evidence=evidence.described(session, evidence.of_indicators(alert.indicators)),
        actor_names=happened.actor_names(session, history),
    )


def _case(alert_id: str) -> str:
    return f"/workbench/alerts/{alert_id}"


@router.post("/alerts/{alert_id}/claim")
def claim(alert_id: str, signed: PostDep, session: SessionDep, now: NowDep) -> RedirectResponse:
    return act(
        session,
        _case(alert_id),
        lambda: alerts.claim(session, regulator=signed.regulator, alert_id=alert_id, now=now),
        N_("The case is yours."),
    )


@router.post("/alerts/{alert_id}/assign")
def assign(
    alert_id: str,
    signed: PostDep,
    session: SessionDep,
    now: NowDep,
    assignee_id: Annotated[str, Form(max_length=40)],
) -> RedirectResponse:
    return act(
        session,
        _case(alert_id),
        lambda: alerts.assign(
            session, regulator=signed.regulator, alert_id=alert_id, assignee_id=assignee_id, now=now
        ),
        N_("The case is assigned."),
    )


@router.post("/alerts/{alert_id}/acknowledge")
def acknowledge(
    alert_id: str, signed: PostDep, session: SessionDep, now: NowDep, note: Text
) -> RedirectResponse:
    return act(
        session,
        _case(alert_id),
        lambda: alerts.acknowledge_as(
            session, regulator=signed.regulator, alert_id=alert_id, note=note, now=now
        ),
        N_("The case is acknowledged."),
    )


@router.post("/alerts/{alert_id}/snooze")
def snooze(
    alert_id: str,
    signed: PostDep,
    session: SessionDep,
    now: NowDep,
    until: Annotated[Day, Form()],
    reason: Text,
) -> RedirectResponse:
    wake = datetime.combine(until, datetime.min.time(), tzinfo=SHANGHAI)
    return act(
        session,
        _case(alert_id),
        lambda: alerts.snooze(
            session,
            regulator=signed.regulator,
            alert_id=alert_id,
            until=wake,
            reason=reason,
            now=now,
        ),
        N_("The case is snoozed."),
    )


@router.post("/alerts/{alert_id}/escalate")
def escalate(
    alert_id: str, signed: PostDep, session: SessionDep, now: NowDep, reason: Text
) -> RedirectResponse:
    return act(
        session,
        _case(alert_id),
        lambda: alerts.escalate(
            session, regulator=signed.regulator, alert_id=alert_id, reason=reason, now=now
        ),
        N_("The case is escalated."),
    )


@router.post("/alerts/{alert_id}/close")
def close(
    alert_id: str,
    signed: PostDep,
    session: SessionDep,
    now: NowDep,
    outcome: Annotated[str, Form(min_length=1, max_length=24)],
    note: Text,
) -> RedirectResponse:
    return act(
        session,
        _case(alert_id),
        lambda: alerts.close(
            session,
            regulator=signed.regulator,
            alert_id=alert_id,
            outcome=outcome,
            note=note,
            now=now,
        ),
        N_("The case is closed."),
    )
