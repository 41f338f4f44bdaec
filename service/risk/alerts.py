"""Alerts: opened when an institution's level rises, carrying the indicators that drove it;
acknowledged and resolved by regulators with a note; never two unresolved for one institution."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.errors import DomainError
from service.kit.ids import new_id
from service.risk.models import Alert
from service.risk.scoring import Verdict, rank


def active_alerts(session: Session, institution_ids: list[str] | None = None) -> dict[str, Alert]:
    stmt = select(Alert).where(Alert.status != "resolved")
    if institution_ids is not None and len(institution_ids) < 5000:
        stmt = stmt.where(Alert.institution_id.in_(institution_ids))
    return {a.institution_id: a for a in session.scalars(stmt)}


def on_rise(
    session: Session, *, institution_id: str, verdict: Verdict, active: Alert | None, at: datetime
) -> bool:
    """Open an alert, or raise the one already open; True if a new alert was opened."""
    indicators = [i.wire() for i in verdict.indicators]
    if active is not None:
        if rank(verdict.level) > rank(active.level):
            active.level, active.score, active.indicators = verdict.level, verdict.score, indicators
            if active.status == "acknowledged":  # it got worse: it needs looking at again
                active.status = "open"
        return False
    session.add(
        Alert(
            id=new_id("alr"),
            institution_id=institution_id,
            level=verdict.level,
            score=verdict.score,
            status="open",
            opened_at=at,
            indicators=indicators,
        )
    )
    return True


def acknowledge(session: Session, alert: Alert, *, note: str, now: datetime) -> Alert:
    if alert.status != "open":
        raise DomainError("invalid_state", f"the alert is {alert.status}, not open")
    alert.status, alert.acknowledged_at, alert.acknowledge_note = "acknowledged", now, note
    session.flush()
    return alert


def resolve(session: Session, alert: Alert, *, note: str, now: datetime) -> Alert:
    if alert.status == "resolved":
        raise DomainError("invalid_state", "the alert is already resolved")
    alert.status, alert.resolved_at, alert.resolve_note = "resolved", now, note
    session.flush()
    return alert


def view(a: Alert) -> dict[str, Any]:
    return {
        "id": a.id,
        "institution_id": a.institution_id,
        "level": a.level,
        "score": a.score,
        "status": a.status,
        "opened_at": a.opened_at.isoformat(),
        "indicators": a.indicators,
        "acknowledged_at": a.acknowledged_at.isoformat() if a.acknowledged_at else None,
        "acknowledge_note": a.acknowledge_note,
        "resolved_at": a.resolved_at.isoformat() if a.resolved_at else None,
        "resolve_note": a.resolve_note,
    }
