"""Regulator endpoints for refunds, disputed lessons, suspense, statements, jobs, the ledger
and region settings."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from service.api.auth import RegulatorDep
from service.api.deps import DeliverLaterDep, NowDep, PageDep, ReadSessionDep, SessionDep, page_of
from service.api.regulator.approvals_routes import PENDING_RESPONSE, accepted
from service.api.regulator.schemas import (
    ConsumptionDecisionIn,
    MatchIn,
    RefundDecisionIn,
    RegionSettingIn,
    RegionSettingRead,
    StatementRead,
    TrialBalanceRead,
    VerifyRead,
)
from service.api.schemas import ConsumptionRead, DepositRead, Page, RefundTimelineRead
from service.flows import books, consumptions, deposits, refunds, statements
from service.policy import approvals, region_settings
from service.registry.institutions import scoped_ids

router = APIRouter(tags=["regulator"])
DepositStatus = Literal["posted", "suspense", "matched", "returning", "returned"]


@router.post("/refunds/{refund_id}/decide", response_model=RefundTimelineRead)
def decide_refund(
    refund_id: str,
    body: RefundDecisionIn,
    regulator: RegulatorDep,
    session: SessionDep,
    now: NowDep,
    deliver_later: DeliverLaterDep,
) -> RefundTimelineRead:
    refund = refunds.decide(
        session,
        regulator=regulator,
        refund_id=refund_id,
        decision=refunds.Decision(body.decision),
        reason=body.reason,
        now=now,
    )
    deliver_later()
    return RefundTimelineRead.with_events(refund, refunds.timeline(session, refund), now)


@router.post("/consumptions/{consumption_id}/decide", response_model=ConsumptionRead)
def decide_consumption(
    consumption_id: str,
    body: ConsumptionDecisionIn,
    regulator: RegulatorDep,
    session: SessionDep,
    now: NowDep,
) -> ConsumptionRead:
    c = consumptions.decide(
        session,
        regulator=regulator,
        consumption_id=consumption_id,
        decision=consumptions.Decision(body.decision),
        reason=body.reason,
        now=now,
    )
    return ConsumptionRead.of(c, now)


@router.get("/deposits", response_model=Page[DepositRead])
def list_deposits(
    regulator: RegulatorDep,
    session: ReadSessionDep,
    page: PageDep,
    status: Annotated[DepositStatus | None, Query()] = None,
) -> Page[DepositRead]:
    paged = deposits.listed(session, institutions=scoped_ids(regulator), status=status, paging=page)
    return page_of(paged, DepositRead.of)


@router.post("/deposits/{deposit_id}/match", response_model=DepositRead)
def match_deposit(
    deposit_id: str, body: MatchIn, regulator: RegulatorDep, session: SessionDep, now: NowDep
) -> DepositRead:
    d = deposits.match_suspense(
        session,
        regulator=regulator,
        deposit_id=deposit_id,
        enrollment_id=body.enrollment_id,
        now=now,
    )
    return DepositRead.of(d)


@router.post("/deposits/{deposit_id}/return", response_model=DepositRead)
def return_deposit(
    deposit_id: str,
    regulator: RegulatorDep,
    session: SessionDep,
    now: NowDep,
    deliver_later: DeliverLaterDep,
) -> DepositRead:
    d = deposits.return_suspense(session, regulator=regulator, deposit_id=deposit_id, now=now)
    deliver_later()
    return DepositRead.of(d)


@router.get("/statements", response_model=Page[StatementRead])
def list_statements(
    regulator: RegulatorDep,
    session: ReadSessionDep,
    page: PageDep,
    status: Annotated[Literal["matched", "breaks", "unreviewed"] | None, Query()] = None,
    institution_id: Annotated[str | None, Query(max_length=40)] = None,
) -> Page[StatementRead]:
    """Statements of the region; `unreviewed`: those with breaks no regulator has reviewed,
    of any day (the workbench's reconciliation queue)."""
    paged = statements.listed(
        session,
        institutions=scoped_ids(regulator),
        status=status,
        institution_id=institution_id,
        paging=page,
    )
    return page_of(paged, StatementRead.of)


@router.get("/ledger/trial-balance", response_model=TrialBalanceRead)
def trial_balance(regulator: RegulatorDep, session: SessionDep) -> TrialBalanceRead:
    tb = books.trial_balance(session, regulator=regulator)
    return TrialBalanceRead.model_validate(tb, from_attributes=True)


@router.get("/ledger/verify", response_model=VerifyRead)
def verify(regulator: RegulatorDep, session: SessionDep) -> VerifyRead:
    return VerifyRead.model_validate(
        books.verify(session, regulator=regulator), from_attributes=True
    )


@router.post("/region-settings", response_model=RegionSettingRead, responses=PENDING_RESPONSE)
def put_region_setting(
    body: RegionSettingIn, regulator: RegulatorDep, session: SessionDep, now: NowDep
) -> Any:
    """Set a policy or threshold for a region of the regulator's, from an effective day, with a
    reason; every version kept. Audited. A rule of the region's pack: where the pack asks for
    four eyes on `rule_pack_change` (the default), 202 `{approval}` and nothing changes until a
    supervisor approves; it then takes effect as if set at that moment."""
    done = region_settings.change(
        session,
        regulator=regulator,
        region_code=body.region_code,
        key=body.key,
        value=body.value,
        now=now,
        effective_from=body.effective_from,
        reason=body.reason,
    )
    if isinstance(done, approvals.Pending):
        return accepted(session, done.approval, now)
    return RegionSettingRead.model_validate(done.answer)
