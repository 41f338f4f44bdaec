"""Regulator endpoints for refunds, disputed lessons, suspense, statements, jobs and the ledger."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, BackgroundTasks, Query, Request
from sqlalchemy import select

import ledger
from service.api.auth import RegulatorDep, RegulatorOutsideTxDep
from service.api.bank.routes import deliver_later
from service.api.deps import NowDep, PageDep, SessionDep, SettingsDep, page_of, paginate
from service.api.either import RegulatorOrInstitutionDep
from service.errors import DomainError
from service.flows import consumptions, deposits, refunds
from service.flows.models import Consumption, Deposit, Refund, Statement, StatementBreak
from service.flows.refunds import RefundStatus
from service.flows.schemas import (
    ConsumptionDecisionBody,
    JobRunBody,
    MatchBody,
    RefundDecisionBody,
    RegionSettingBody,
)
from service.jobs.runner import run_job
from service.kit.money import format_money
from service.registry import institutions, policy
from service.registry.models import Institution, Regulator
from service.registry.regions import in_scope, scope_prefix

router = APIRouter(tags=["regulator"])


def _scoped_ids(session: Any, regulator: Regulator) -> Any:
    return select(Institution.id).where(
        Institution.region_code.startswith(scope_prefix(regulator.region_code))
    )


@router.get("/refunds")
def list_refunds(
    caller: RegulatorOrInstitutionDep,
    session: SessionDep,
    page: PageDep,
    status: Annotated[RefundStatus | None, Query()] = None,
) -> dict[str, Any]:
    """Refunds in the caller's scope: a regulator's region, or an institution's own (API.md
    gives both callers this path, so one route serves both)."""
    if isinstance(caller, Regulator):
        stmt = select(Refund).where(Refund.institution_id.in_(_scoped_ids(session, caller)))
    else:
        stmt = select(Refund).where(Refund.institution_id == caller.id)
    if status:
        stmt = stmt.where(Refund.status == status)
    return page_of(session, stmt, Refund.id, page, refunds.view)


@router.post("/refunds/{refund_id}/decide")
def decide_refund(
    refund_id: str,
    body: RefundDecisionBody,
    regulator: RegulatorDep,
    session: SessionDep,
    now: NowDep,
    request: Request,
    tasks: BackgroundTasks,
) -> dict[str, Any]:
    refund = refunds.lock(session, refund_id)
    institutions.in_regulator_scope(session, regulator, refund.institution_id)
    refunds.decide(session, refund=refund, decision=body.decision, reason=body.reason, now=now)
    institutions.audit(
        session,
        actor=f"regulator:{regulator.id}",
        action=f"refund:{body.decision}",
        subject=refund.id,
        detail={"reason": body.reason},
        now=now,
    )
    deliver_later(request, tasks)
    return refunds.view(refund, session, timeline=True)


@router.post("/consumptions/{consumption_id}/decide")
def decide_consumption(
    consumption_id: str,
    body: ConsumptionDecisionBody,
    regulator: RegulatorDep,
    session: SessionDep,
    now: NowDep,
) -> dict[str, Any]:
    c = session.get(Consumption, consumption_id, with_for_update=True)
    if c is None:
        raise DomainError("not_found", f"no consumption {consumption_id}")
    institutions.in_regulator_scope(session, regulator, c.institution_id)
    consumptions.decide(session, consumption=c, decision=body.decision, now=now)
    institutions.audit(
        session,
        actor=f"regulator:{regulator.id}",
        action=f"consumption:{body.decision}",
        subject=c.id,
        detail={"reason": body.reason},
        now=now,
    )
    return consumptions.view(c, now)


@router.get("/deposits")
def list_deposits(
    regulator: RegulatorDep,
    session: SessionDep,
    page: PageDep,
    status: Annotated[
        Literal["posted", "suspense", "matched", "returning", "returned"] | None, Query()
    ] = None,
) -> dict[str, Any]:
    stmt = select(Deposit).where(Deposit.institution_id.in_(_scoped_ids(session, regulator)))
    if status:
        stmt = stmt.where(Deposit.status == status)
    return page_of(session, stmt, Deposit.id, page, deposits.view)


def _scoped_deposit(session: Any, regulator: Regulator, deposit_id: str) -> Deposit:
    d = session.get(Deposit, deposit_id)
    if d is None:
        raise DomainError("not_found", f"no deposit {deposit_id}")
    institutions.in_regulator_scope(session, regulator, d.institution_id)
    return d


@router.post("/deposits/{deposit_id}/match")
def match_deposit(
    deposit_id: str, body: MatchBody, regulator: RegulatorDep, session: SessionDep, now: NowDep
) -> dict[str, Any]:
    _scoped_deposit(session, regulator, deposit_id)
    d = deposits.match_suspense(
        session, deposit_id=deposit_id, enrollment_id=body.enrollment_id, now=now
    )
    return deposits.view(d)


@router.post("/deposits/{deposit_id}/return")
def return_deposit(
    deposit_id: str,
    regulator: RegulatorDep,
    session: SessionDep,
    now: NowDep,
    request: Request,
    tasks: BackgroundTasks,
) -> dict[str, Any]:
    _scoped_deposit(session, regulator, deposit_id)
    d = deposits.return_suspense(session, deposit_id=deposit_id, now=now)
    deliver_later(request, tasks)
    return deposits.view(d)


@router.get("/statements")
def list_statements(
    regulator: RegulatorDep,
    session: SessionDep,
    page: PageDep,
    status: Annotated[Literal["matched", "breaks"] | None, Query()] = None,
    institution_id: Annotated[str | None, Query(max_length=40)] = None,
) -> dict[str, Any]:
    stmt = (
        select(Statement)
        .where(Statement.institution_id.in_(_scoped_ids(session, regulator)))
        .order_by(Statement.id)
        .limit(page.limit + 1)
    )
    if status:
        stmt = stmt.where(Statement.status == status)
    if institution_id:
        stmt = stmt.where(Statement.institution_id == institution_id)
    if page.after is not None:
        stmt = stmt.where(Statement.id > str(page.after))
    items = []
    for s in session.scalars(stmt):
        breaks = session.scalars(select(StatementBreak).where(StatementBreak.statement_id == s.id))
        items.append(
            {
                "id": s.id,
                "institution_id": s.institution_id,
                "account_no": s.account_no,
                "statement_date": s.statement_date,
                "status": s.status,
                "closing_balance": format_money(s.closing_balance),
                "ledger_balance": format_money(s.ledger_balance),
                "breaks": [
                    {
                        "kind": b.kind,
                        "direction": b.direction,
                        "bank_txn_id": b.bank_txn_id,
                        "expected": format_money(b.expected) if b.expected is not None else None,
                        "actual": format_money(b.actual) if b.actual is not None else None,
                    }
                    for b in breaks
                ],
            }
        )
    return paginate(items, page, key=lambda s: s["id"])


@router.post("/jobs/{name}/run")
def run(
    name: str,
    body: JobRunBody,
    regulator: RegulatorOutsideTxDep,
    request: Request,
    now: NowDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    """Run a job for the regulator's region only, as if the clock read `as_of` (default now;
    never later than now, nor older than the re-run bound)."""
    return run_job(
        request.app.state.sessions,
        name,
        as_of=body.as_of or now,
        settings=settings,
        now=now,
        clock=request.app.state.clock,
        region_prefix=scope_prefix(regulator.region_code),
    )


def _ledgers(session: Any, regulator: Regulator) -> list[str]:
    return list(session.scalars(_scoped_ids(session, regulator)))


@router.get("/ledger/trial-balance")
def trial_balance(regulator: RegulatorDep, session: SessionDep) -> dict[str, Any]:
    tb = ledger.trial_balance(session.connection(), ledgers=_ledgers(session, regulator))
    return {
        "total_debits": format_money(tb.total_debits),
        "total_credits": format_money(tb.total_credits),
        "pending_debits": format_money(tb.pending_debits),
        "pending_credits": format_money(tb.pending_credits),
        "balanced": tb.balanced,
    }


@router.get("/ledger/verify")
def verify(regulator: RegulatorDep, session: SessionDep) -> dict[str, Any]:
    report = ledger.verify(session.connection(), ledgers=_ledgers(session, regulator))
    return {
        "ok": report.ok,
        "entries_checked": report.entries_checked,
        "accounts_checked": report.accounts_checked,
        "first_bad_entry": report.first_bad_entry,
        "problems": [p.__dict__ for p in report.problems],
    }


@router.post("/region-settings")
def put_region_setting(
    body: RegionSettingBody, regulator: RegulatorDep, session: SessionDep, now: NowDep
) -> dict[str, Any]:
    if not in_scope(regulator.region_code, body.region_code):
        raise DomainError("out_of_region", f"{body.region_code} is outside your region")
    row = policy.put(session, region_code=body.region_code, key=body.key, value=body.value, now=now)
    return {"region_code": row.region_code, "key": row.key, "value": row.value}
