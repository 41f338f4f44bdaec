"""Regulator endpoints for risk: sweeps (also at a past instant), alerts, history."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query

from service.api.auth import RegulatorDep
from service.api.deps import NowDep, PageDep, ReadSessionDep, SessionDep, SettingsDep, page_of
from service.api.problems import refusals
from service.api.regulator.schemas import (
    AsOfIn,
    AssignIn,
    CloseIn,
    EscalateIn,
    EvaluationRead,
    NoteIn,
    SnoozeIn,
    SweepRead,
)
from service.api.schemas import AlertRead, Page
from service.risk import alerts
from service.risk.sweep import history_of, sweep_as

router = APIRouter(tags=["regulator"])
Level = Literal["low", "medium", "high", "critical"]
CaseStatus = Literal["unresolved", "open", "acknowledged", "snoozed", "resolved"]


@router.post(
    "/risk/sweeps",
    response_model=SweepRead,
    # `as_of` inside the re-run window: bounds that move with the clock.
    responses=refusals("as_of_in_future", "as_of_too_old"),
)
def run_sweep(
    body: AsOfIn, regulator: RegulatorDep, session: SessionDep, now: NowDep, settings: SettingsDep
) -> SweepRead:
    """Evaluate every institution in the regulator's region as if the clock read `as_of`
    (default now; never later than now, nor older than the re-run bound). Audited."""
    out = sweep_as(
        session, regulator=regulator, as_of=body.as_of or now, now=now, settings=settings
    )
    return SweepRead(**out)


@router.get("/risk/alerts", response_model=Page[AlertRead])
def list_alerts(
    regulator: RegulatorDep,
    session: ReadSessionDep,
    page: PageDep,
    now: NowDep,
    status: Annotated[CaseStatus | None, Query()] = None,
    level: Annotated[Level | None, Query()] = None,
    mine: Annotated[bool, Query()] = False,
    institution: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
) -> Page[AlertRead]:
    """The region's cases, the workbench's queue by the same query (`alerts.queue`): `open`
    includes a snoozed case whose day has come, `snoozed` only those still asleep,
    `unresolved` every case not closed; `institution` matches a part of its name."""
    paged = alerts.listed(
        session,
        regulator=regulator,
        status=status,
        level=level,
        mine=mine,
        institution=institution,
        paging=page,
        now=now,
    )
    return page_of(paged, AlertRead.of)


@router.post("/risk/alerts/{alert_id}/acknowledge", response_model=AlertRead)
def acknowledge(
    alert_id: str, body: NoteIn, regulator: RegulatorDep, session: SessionDep, now: NowDep
) -> AlertRead:
    alert = alerts.acknowledge_as(
        session, regulator=regulator, alert_id=alert_id, note=body.note, now=now
    )
    return AlertRead.of(alert)


@router.post("/risk/alerts/{alert_id}/resolve", response_model=AlertRead)
def resolve(
    alert_id: str, body: NoteIn, regulator: RegulatorDep, session: SessionDep, now: NowDep
) -> AlertRead:
    alert = alerts.resolve_as(
        session, regulator=regulator, alert_id=alert_id, note=body.note, now=now
    )
    return AlertRead.of(alert)


@router.post("/risk/alerts/{alert_id}/claim", response_model=AlertRead)
def claim(alert_id: str, regulator: RegulatorDep, session: SessionDep, now: NowDep) -> AlertRead:
    return AlertRead.of(alerts.claim(session, regulator=regulator, alert_id=alert_id, now=now))


@router.post("/risk/alerts/{alert_id}/assign", response_model=AlertRead)
def assign(
    alert_id: str, body: AssignIn, regulator: RegulatorDep, session: SessionDep, now: NowDep
) -> AlertRead:
    alert = alerts.assign(
        session, regulator=regulator, alert_id=alert_id, assignee_id=body.assignee_id, now=now
    )
    return AlertRead.of(alert)


@router.post(
    "/risk/alerts/{alert_id}/snooze",
    response_model=AlertRead,
    # Until a later day, and no longer than the region's rule: bounds the schema cannot fix.
    responses=refusals("snooze_too_long", "not_found", "alert_resolved", "case_escalated"),
)
def snooze(
    alert_id: str, body: SnoozeIn, regulator: RegulatorDep, session: SessionDep, now: NowDep
) -> AlertRead:
    alert = alerts.snooze(
        session, regulator=regulator, alert_id=alert_id, until=body.until, reason=body.reason,
        now=now,
    )  # fmt: skip
    return AlertRead.of(alert)


@router.post("/risk/alerts/{alert_id}/escalate", response_model=AlertRead)
def escalate(
    alert_id: str, body: EscalateIn, regulator: RegulatorDep, session: SessionDep, now: NowDep
) -> AlertRead:
    alert = alerts.escalate(
        session, regulator=regulator, alert_id=alert_id, reason=body.reason, now=now
    )
    return AlertRead.of(alert)


@router.post("/risk/alerts/{alert_id}/close", response_model=AlertRead)
def close(
    alert_id: str, body: CloseIn, regulator: RegulatorDep, session: SessionDep, now: NowDep
) -> AlertRead:
    alert = alerts.close(
        session, regulator=regulator, alert_id=alert_id, outcome=body.outcome, note=body.note,
        now=now,
    )  # fmt: skip
    return AlertRead.of(alert)


@router.get("/institutions/{institution_id}/risk-history", response_model=Page[EvaluationRead])
def risk_history(
    institution_id: str,
    regulator: RegulatorDep,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 180,
) -> Page[EvaluationRead]:
    rows = history_of(session, regulator=regulator, institution_id=institution_id, limit=limit)
    return Page(items=[EvaluationRead.model_validate(r, from_attributes=True) for r in rows])
