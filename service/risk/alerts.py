"""Alerts: opened when an institution's level rises, carrying the indicators that drove it;
acknowledged and resolved by regulators with a note; never two unresolved for one institution."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.errors import DomainError
from service.kit.ids import new_id
from service.kit.paging import Paged, Paging, page_rows
from service.registry.institutions import audit, in_regulator_scope, scoped_ids
from service.registry.models import Institution, Regulator
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
    indicators = [i.record() for i in verdict.indicators]
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


def _scoped(session: Session, regulator: Regulator, alert_id: str) -> Alert:
    alert = session.get(Alert, alert_id, with_for_update=True)
    if alert is None:
        raise DomainError("not_found", f"no alert {alert_id}")
    in_regulator_scope(session, regulator, alert.institution_id)
    return alert


def _audited(
    session: Session, regulator: Regulator, alert: Alert, action: str, now: datetime,
    **detail: object,
) -> None:  # fmt: skip
    inst = session.get(Institution, alert.institution_id)
    audit(session, actor=f"regulator:{regulator.id}", action=f"alert:{action}",
          subject=alert.id, detail={**detail, "after": alert.status}, now=now,
          institution=inst)  # fmt: skip


def acknowledge_as(
    session: Session, *, regulator: Regulator, alert_id: str, note: str, now: datetime
) -> Alert:
    """A regulator acknowledges an open alert of their region (签收). Audited."""
    alert = acknowledge(session, _scoped(session, regulator, alert_id), note=note, now=now)
    _audited(session, regulator, alert, "acknowledge", now, note=note)
    return alert


def resolve_as(
    session: Session, *, regulator: Regulator, alert_id: str, note: str, now: datetime
) -> Alert:
    """A regulator resolves an alert of their region with a note. Audited."""
    alert = resolve(session, _scoped(session, regulator, alert_id), note=note, now=now)
    _audited(session, regulator, alert, "resolve", now, note=note)
    return alert


def listed(
    session: Session,
    *,
    regulator: Regulator,
    status: str | None,
    level: str | None,
    paging: Paging,
) -> Paged[Alert]:
    stmt = select(Alert).where(Alert.institution_id.in_(scoped_ids(regulator)))
    if status:
        stmt = stmt.where(Alert.status == status)
    if level:
        stmt = stmt.where(Alert.level == level)
    return page_rows(session, stmt, Alert.id, paging)


def acknowledge(session: Session, alert: Alert, *, note: str, now: datetime) -> Alert:
    if alert.status != "open":
        raise DomainError("alert_not_open", f"the alert is {alert.status}, not open")
    alert.status, alert.acknowledged_at, alert.acknowledge_note = "acknowledged", now, note
    session.flush()
    return alert


def resolve(session: Session, alert: Alert, *, note: str, now: datetime) -> Alert:
    if alert.status == "resolved":
        raise DomainError("alert_resolved", "the alert is already resolved")
    alert.status, alert.resolved_at, alert.resolve_note = "resolved", now, note
    session.flush()
    return alert
