"""Alerts, the cases of a supervision office: opened when an institution's level rises,
carrying the indicators that drove it, each with its evidence; never two unresolved for one
institution (a partial unique index), new evidence appended to the one open. Regulators of the
region claim or assign a case, acknowledge it (签收), snooze it until a day (it reopens by
itself), escalate it to the region above, and close it with an outcome and a note. Every such
step is audited."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, case, or_, select
from sqlalchemy.orm import Session

from service.errors import DomainError
from service.kit.clock import local_date
from service.kit.ids import new_id
from service.kit.paging import Paged, Paging, page_rows
from service.policy import packs
from service.policy import rules as r
from service.registry.institutions import acting_officer, audit, in_regulator_scope, scoped_ids
from service.registry.models import Institution, Regulator
from service.registry.regions import ancestry, in_scope
from service.risk.models import Alert
from service.risk.scoring import Verdict, rank


def active_alerts(session: Session, institution_ids: list[str] | None = None) -> dict[str, Alert]:
    stmt = select(Alert).where(Alert.status != "resolved")
    if institution_ids is not None and len(institution_ids) < 5000:
        stmt = stmt.where(Alert.institution_id.in_(institution_ids))
    return {a.institution_id: a for a in session.scalars(stmt)}


OUTCOMES = ("no_risk_found", "rectified", "handled", "referred")


def merged_indicators(
    kept: list[dict[str, Any]], new: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The case's indicators with a sweep's appended: each indicator's latest figures, and its
    evidence from every sweep since the case opened (the newest first)."""
    by_code = {i["code"]: dict(i) for i in kept}
    for i in new:
        old = by_code.get(i["code"], {})
        evidence = list(dict.fromkeys([*i.get("evidence", []), *old.get("evidence", [])]))
        by_code[i["code"]] = {**i, "evidence": evidence[:50]}
    return sorted(by_code.values(), key=lambda i: -int(i.get("contribution", 0)))


def on_verdict(
    session: Session, *, institution_id: str, verdict: Verdict, active: Alert | None, at: datetime,
    rose: bool,
) -> bool:  # fmt: skip
    """A sweep's verdict on an institution: its new evidence appended to the open case, the
    case raised if the level rose past it; or, if there is none and the level rose, a case
    opened. True if a new case was opened."""
    indicators = [i.record() for i in verdict.indicators]
    if active is not None:
        active.indicators = merged_indicators(active.indicators, indicators)
        if rank(verdict.level) > rank(active.level):
            active.level, active.score = verdict.level, verdict.score
            if active.status in ("acknowledged", "snoozed"):  # worse: look at it again
                active.status, active.snoozed_until = "open", None
        if _due(active, at):  # the snooze's day has come, whatever the level
            _wake(session, active, at, by="risk_sweep")
        return False
    if not rose:
        return False
    session.add(
        Alert(
            id=new_id("alr"),
            institution_id=institution_id,
            level=verdict.level,
            opened_level=verdict.level,
            score=verdict.score,
            status="open",
            opened_at=at,
            indicators=indicators,
        )
    )
    return True


def _scoped(session: Session, regulator: Regulator, alert_id: str) -> Alert:
    """The case, locked, for a regulator about to act on it: of their region, and not
    escalated past them. An escalated case belongs to the office it went up to (and those
    above it); the office that sent it up still reads it, but acting on it is refused."""
    alert = session.get(Alert, alert_id, with_for_update=True)
    if alert is None:
        raise DomainError("not_found", f"no alert {alert_id}")
    in_regulator_scope(session, regulator, alert.institution_id)
    if not may_act(regulator, alert):
        raise DomainError(
            "case_escalated",
            f"the case was escalated to {alert.escalated_to}; only that office acts on it now",
        )
    return alert


def may_act(regulator: Regulator, alert: Alert) -> bool:
    """Whether the regulator (whose region holds the case) may act on it: not if it was
    escalated to an office above theirs."""
    return alert.escalated_to is None or in_scope(regulator.region_code, alert.escalated_to)


def latest_wake(session: Session, alert: Alert, now: datetime) -> datetime:
    """The furthest a case may be snoozed from `now`: `case_snooze_max_days` of the
    institution's region (a regional rule, 30 days by default)."""
    inst = session.get(Institution, alert.institution_id)
    region = inst.region_code if inst is not None else r.NATIONAL
    pack = packs.resolve(session, region, r.ALL, on=local_date(now)).values
    return now + timedelta(days=pack.case_snooze_max.days)


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


# What a status asks for in the queue. A snoozed case whose day has come is open (the job that
# reopens it may not have run yet); "unresolved" is every case not closed.
QUEUE_STATUSES = ("unresolved", "open", "acknowledged", "snoozed", "resolved")


def awake(now: datetime) -> ColumnElement[bool]:
    """A case waiting for work: open, or snoozed until a day that has come."""
    return or_(Alert.status == "open", and_(Alert.status == "snoozed", Alert.snoozed_until <= now))


def queue(
    regulator: Regulator,
    *,
    now: datetime,
    status: str | None = None,
    level: str | None = None,
    mine: bool = False,
    institution: str | None = None,
    officer_id: str | None = None,
) -> Select[tuple[Alert]]:
    """The region's cases that match, unordered: the one query of the case queue, which the
    API pages by id and the workbench by severity (`queue_order`). `status` None: every case;
    `institution`: a part of its name; `mine`: the cases the officer claimed (`officer_id`,
    the person signed in), or the office's when the office's own token asks."""
    stmt = select(Alert).where(Alert.institution_id.in_(scoped_ids(regulator)))
    if status == "unresolved":
        stmt = stmt.where(Alert.status != "resolved")
    elif status == "open":
        stmt = stmt.where(awake(now))
    elif status == "snoozed":
        stmt = stmt.where(Alert.status == "snoozed", ~awake(now))
    elif status:
        stmt = stmt.where(Alert.status == status)
    if level:
        stmt = stmt.where(Alert.level == level)
    if mine and officer_id is not None:
        stmt = stmt.where(Alert.assignee_officer_id == officer_id)
    elif mine:
        stmt = stmt.where(Alert.assignee_id == regulator.id)
    if institution:
        like = "%" + institution.replace("%", "").replace("_", "") + "%"
        stmt = stmt.where(
            Alert.institution_id.in_(select(Institution.id).where(Institution.name.like(like)))
        )
    return stmt


def queue_order(status: str | None, alert: Any = Alert) -> list[Any]:
    """The gravest first, then the oldest; closed cases newest first (`alert`: the entity or
    an alias of it the query selects from)."""
    if status == "resolved":
        return [alert.resolved_at.desc(), alert.id]
    by_level = case(*((alert.level == lvl, n) for lvl, n in LEVEL_RANK.items()), else_=0)
    return [by_level.desc(), alert.opened_at, alert.id]


LEVEL_RANK = {"critical": 4, "high": 3, "medium": 2, "low": 1}


def listed(
    session: Session,
    *,
    regulator: Regulator,
    status: str | None,
    level: str | None,
    paging: Paging,
    now: datetime,
    mine: bool = False,
    institution: str | None = None,
) -> Paged[Alert]:
    stmt = queue(regulator, now=now, status=status, level=level, mine=mine, institution=institution,
                 officer_id=acting_officer(session))  # fmt: skip
    return page_rows(session, stmt, Alert.id, paging)


def claim(session: Session, *, regulator: Regulator, alert_id: str, now: datetime) -> Alert:
    """The regulator takes the case: the officer signed in, by name (the case's 经办人)."""
    return assign(session, regulator=regulator, alert_id=alert_id, assignee_id=regulator.id,
                  now=now, action="claim")  # fmt: skip


def assign(
    session: Session,
    *,
    regulator: Regulator,
    alert_id: str,
    assignee_id: str,
    now: datetime,
    action: str = "assign",
) -> Alert:
    """Give the case to a regulator whose region holds the institution (one's own: a claim)."""
    alert = _open_case(session, regulator, alert_id)
    assignee = session.get(Regulator, assignee_id)
    inst = session.get(Institution, alert.institution_id)
    if assignee is None or inst is None or not in_scope(assignee.region_code, inst.region_code):
        raise DomainError("not_found", f"no regulator {assignee_id} over this institution")
    before, alert.assignee_id = alert.assignee_id, assignee.id
    # A claim names the person who claimed; an assignment gives the case to an office.
    alert.assignee_officer_id = acting_officer(session) if action == "claim" else None
    _audited(session, regulator, alert, action, now, before=before, assignee=assignee.id)
    return alert


def snooze(
    session: Session,
    *,
    regulator: Regulator,
    alert_id: str,
    until: datetime,
    reason: str,
    now: datetime,
) -> Alert:
    """Put the case aside until `until` (it reopens by itself then, whatever its level), with
    a reason; at most `case_snooze_max_days` ahead (a regional rule, 30 days by default)."""
    alert = _open_case(session, regulator, alert_id)
    if until <= now:
        raise DomainError("validation_error", "a case is snoozed until a later day")
    latest = latest_wake(session, alert, now)
    if until > latest:
        raise DomainError("snooze_too_long", "a case is snoozed for at most "
                          f"{(latest - now).days} days here (until {latest.date()})")  # fmt: skip
    before = alert.status
    alert.status, alert.snoozed_until, alert.snooze_reason = "snoozed", until, reason
    _audited(session, regulator, alert, "snooze", now, before=before, until=until.isoformat(),
             reason=reason)  # fmt: skip
    return alert


def reopen_due(session: Session, *, now: datetime, region_prefix: str | None = None) -> int:
    """Snoozed cases whose day has come are open again. Returns how many."""
    stmt = select(Alert).where(Alert.status == "snoozed", Alert.snoozed_until <= now)
    if region_prefix is not None:
        scope = select(Institution.id).where(Institution.region_code.startswith(region_prefix))
        stmt = stmt.where(Alert.institution_id.in_(scope))
    due = list(session.scalars(stmt.with_for_update()))
    for alert in due:
        _wake(session, alert, now, by="job:alert_reopen")
    session.flush()
    return len(due)


def _due(alert: Alert, at: datetime) -> bool:
    return (
        alert.status == "snoozed" and alert.snoozed_until is not None and alert.snoozed_until <= at
    )


def _wake(session: Session, alert: Alert, at: datetime, *, by: str) -> None:
    """A snoozed case whose day has come is open again, at any level (a critical case cannot
    rise, so waiting for a worse level would keep it asleep for ever). Audited."""
    until = alert.snoozed_until
    alert.status, alert.snoozed_until = "open", None
    inst = session.get(Institution, alert.institution_id)
    audit(session, actor=by, action="alert:reopen", subject=alert.id,
          detail={"before": "snoozed", "after": "open",
                  "until": until.isoformat() if until else None},
          now=at, institution=inst)  # fmt: skip


def escalate(
    session: Session, *, regulator: Regulator, alert_id: str, reason: str, now: datetime
) -> Alert:
    """Send the case up to the region above the regulator's (a city's to its province)."""
    alert = _open_case(session, regulator, alert_id)
    above = [code for code in ancestry(regulator.region_code) if code != regulator.region_code]
    if not above:
        raise DomainError("cannot_escalate", "a province's case has no region above it here")
    alert.escalated_to, alert.escalated_at = above[0], now
    if alert.status == "snoozed":
        alert.status, alert.snoozed_until = "open", None
    _audited(session, regulator, alert, "escalate", now, to=above[0], reason=reason)
    return alert


def close(
    session: Session, *, regulator: Regulator, alert_id: str, outcome: str, note: str,
    now: datetime,
) -> Alert:  # fmt: skip
    """Close the case with its outcome (no risk found, rectified, handled, referred for
    enforcement) and a note. Closed cases are kept and searchable."""
    if outcome not in OUTCOMES:
        raise DomainError("validation_error", f"outcome is one of {', '.join(OUTCOMES)}")
    alert = _scoped(session, regulator, alert_id)
    resolve(session, alert, note=note, now=now)
    alert.outcome = outcome
    _audited(session, regulator, alert, "close", now, outcome=outcome, note=note)
    return alert


def raise_case(
    session: Session, *, regulator: Regulator, institution_id: str, note: str, now: datetime
) -> Alert:
    """A regulator opens a case by hand (a statement break, a tip-off), or adds the note to
    the institution's open case. Audited."""
    inst = in_regulator_scope(session, regulator, institution_id)
    manual = {"code": "regulator_note", "value": "1", "threshold": "1", "contribution": 0,
              "floor": "medium", "evidence": [note[:200]]}  # fmt: skip
    alert = active_alerts(session, [inst.id]).get(inst.id)
    if alert is None:
        alert = Alert(id=new_id("alr"), institution_id=inst.id, level="medium",
                      opened_level="medium", score=0,
                      status="open", opened_at=now, indicators=[manual])  # fmt: skip
        session.add(alert)
        session.flush()
    else:
        alert.indicators = merged_indicators(alert.indicators, [manual])
    _audited(session, regulator, alert, "raise", now, note=note)
    return alert


def _open_case(session: Session, regulator: Regulator, alert_id: str) -> Alert:
    alert = _scoped(session, regulator, alert_id)
    if alert.status == "resolved":
        raise DomainError("alert_resolved", "the case is closed")
    return alert


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
