"""Regulator endpoints for risk: sweeps (also at a past instant), alerts, history."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from sqlalchemy import select

from service.api.auth import RegulatorDep
from service.api.deps import NowDep, PageDep, SessionDep, SettingsDep, page_of
from service.api.regulator.schemas import NoteIn
from service.errors import DomainError
from service.flows.schemas import JobRunBody
from service.jobs.runner import check_as_of
from service.registry import institutions
from service.registry.models import Institution
from service.registry.regions import scope_prefix
from service.risk import alerts
from service.risk.models import Alert, RiskEvaluation
from service.risk.sweep import sweep

router = APIRouter(tags=["regulator"])


@router.post("/risk/sweeps")
def run_sweep(
    body: JobRunBody,
    regulator: RegulatorDep,
    session: SessionDep,
    now: NowDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    """Evaluate every institution in the regulator's region as if the clock read `as_of`
    (default now; never later than now, nor older than the re-run bound)."""
    as_of = body.as_of or now
    check_as_of(as_of, now=now, settings=settings)
    return sweep(session, as_of=as_of, now=now, region_prefix=scope_prefix(regulator.region_code))


def _scoped(regulator: Any) -> Any:
    return select(Institution.id).where(
        Institution.region_code.startswith(scope_prefix(regulator.region_code))
    )


@router.get("/risk/alerts")
def list_alerts(
    regulator: RegulatorDep,
    session: SessionDep,
    page: PageDep,
    status: Annotated[Literal["open", "acknowledged", "resolved"] | None, Query()] = None,
    level: Annotated[Literal["low", "medium", "high", "critical"] | None, Query()] = None,
) -> dict[str, Any]:
    stmt = select(Alert).where(Alert.institution_id.in_(_scoped(regulator)))
    if status:
        stmt = stmt.where(Alert.status == status)
    if level:
        stmt = stmt.where(Alert.level == level)
    return page_of(session, stmt, Alert.id, page, alerts.view)


def _alert(session: Any, regulator: Any, alert_id: str) -> Alert:
    alert = session.get(Alert, alert_id, with_for_update=True)
    if alert is None:
        raise DomainError("not_found", f"no alert {alert_id}")
    institutions.in_regulator_scope(session, regulator, alert.institution_id)
    return alert


@router.post("/risk/alerts/{alert_id}/acknowledge")
def acknowledge(
    alert_id: str, body: NoteIn, regulator: RegulatorDep, session: SessionDep, now: NowDep
) -> dict[str, Any]:
    alert = alerts.acknowledge(
        session, _alert(session, regulator, alert_id), note=body.note, now=now
    )
    institutions.audit(
        session,
        actor=f"regulator:{regulator.id}",
        action="alert:acknowledge",
        subject=alert.id,
        detail={"note": body.note},
        now=now,
    )
    return alerts.view(alert)


@router.post("/risk/alerts/{alert_id}/resolve")
def resolve(
    alert_id: str, body: NoteIn, regulator: RegulatorDep, session: SessionDep, now: NowDep
) -> dict[str, Any]:
    alert = alerts.resolve(session, _alert(session, regulator, alert_id), note=body.note, now=now)
    institutions.audit(
        session,
        actor=f"regulator:{regulator.id}",
        action="alert:resolve",
        subject=alert.id,
        detail={"note": body.note},
        now=now,
    )
    return alerts.view(alert)


@router.get("/institutions/{institution_id}/risk-history")
def risk_history(
    institution_id: str,
    regulator: RegulatorDep,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 180,
) -> dict[str, Any]:
    institutions.in_regulator_scope(session, regulator, institution_id)
    rows = list(
        session.scalars(
            select(RiskEvaluation)
            .where(RiskEvaluation.institution_id == institution_id)
            .order_by(RiskEvaluation.as_of.desc())
            .limit(limit)
        )
    )
    return {
        "items": [
            {
                "as_of": r.as_of.isoformat(),
                "score": r.score,
                "level": r.level,
                "indicators": r.indicators,
            }
            for r in reversed(rows)
        ],
        "next_cursor": None,
    }
