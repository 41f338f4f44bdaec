"""Regulator endpoints for the registry: banks and institutions. Each takes the authenticated
regulator, makes one domain call (which checks the region and writes the audit record) and
returns a typed body."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from sqlalchemy.orm import Session

from service.api.auth import RegulatorDep
from service.api.deps import NowDep, PageDep, ReadSessionDep, SessionDep, page_of
from service.api.problems import refusals
from service.api.regulator.approvals_routes import PENDING_RESPONSE, accepted
from service.api.regulator.schemas import (
    AuditEventRead,
    BankRead,
    ClosureIn,
    InstitutionDetailRead,
    InstitutionIn,
    InstitutionRead,
    ReasonIn,
    RegisteredRead,
    RegistryChangeIn,
    StatusIn,
)
from service.api.schemas import Page
from service.flows import onboarding
from service.flows.balances import balances_of
from service.kit.money import Instant
from service.kit.wire import RegionCode
from service.policy import approvals, unfreezing
from service.registry import closures, institutions
from service.registry.models import Institution, InstitutionStatus
from service.risk.store import latest_evaluations, latest_level_is

router = APIRouter(tags=["regulator"])
Level = Literal["low", "medium", "high", "critical"]
Status = Literal["active", "frozen", "blacklisted", "closed", "winding_down"]


@router.get("/banks", response_model=Page[BankRead])
def list_banks(_: RegulatorDep, session: ReadSessionDep, page: PageDep) -> Page[BankRead]:
    return page_of(
        institutions.banks(session, page),
        lambda b: BankRead.model_validate(b, from_attributes=True),
    )


def _detail(session: Session, inst: Institution) -> InstitutionDetailRead:
    latest = latest_evaluations(session, [inst.id]).get(inst.id)
    return InstitutionDetailRead.detail(
        inst, latest, balances_of(session.connection(), [inst.id])[inst.id]
    )


@router.get("/audit-events", response_model=Page[AuditEventRead])
def audit_events(
    regulator: RegulatorDep,
    session: ReadSessionDep,
    page: PageDep,
    actor: Annotated[str | None, Query(max_length=80)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    institution_id: Annotated[str | None, Query(max_length=40)] = None,
    since: Annotated[Instant | None, Query()] = None,
    until: Annotated[Instant | None, Query()] = None,
) -> Page[AuditEventRead]:
    """Who did what, when, why, before and after, in the regulator's region; newest first."""
    paged = institutions.audit_log(
        session, regulator=regulator, actor=actor, action=action, institution_id=institution_id,
        since=since, until=until, paging=page,
    )  # fmt: skip
    return page_of(paged, lambda e: AuditEventRead.model_validate(e, from_attributes=True))


@router.post(
    "/institutions",
    status_code=201,
    response_model=RegisteredRead,
    # A credit code's two check characters and a bank that exists: no schema states them.
    responses=refusals(
        "invalid_credit_code",
        "invalid_region_code",
        "unknown_bank",
        "out_of_region",
        "duplicate_credit_code",
    ),
)
def register_institution(
    body: InstitutionIn, regulator: RegulatorDep, session: SessionDep, now: NowDep
) -> RegisteredRead:
    inst, api_key = onboarding.register_institution(
        session, regulator=regulator, data=institutions.NewInstitution(**body.model_dump()), now=now
    )
    read = InstitutionRead.of(inst, None, balances_of(session.connection(), [inst.id])[inst.id])
    return RegisteredRead(**read.model_dump(), api_key=api_key)


@router.get("/institutions", response_model=Page[InstitutionRead])
def list_institutions(
    regulator: RegulatorDep,
    session: ReadSessionDep,
    page: PageDep,
    risk_level: Annotated[Level | None, Query()] = None,
    status: Annotated[Status | None, Query()] = None,
    region_code: Annotated[RegionCode | None, Query()] = None,
) -> Page[InstitutionRead]:
    paged = institutions.listed(
        session,
        regulator=regulator,
        status=status,
        region_code=region_code,
        where=latest_level_is(risk_level) if risk_level else None,
        paging=page,
    )
    ids = [i.id for i in paged.rows]
    latest = latest_evaluations(session, ids)
    balances = balances_of(session.connection(), ids)
    return page_of(paged, lambda i: InstitutionRead.of(i, latest.get(i.id), balances[i.id]))


@router.get("/institutions/{institution_id}", response_model=InstitutionDetailRead)
def get_institution(
    institution_id: str, regulator: RegulatorDep, session: SessionDep
) -> InstitutionDetailRead:
    return _detail(session, institutions.in_regulator_scope(session, regulator, institution_id))


def _status(
    session: Session, regulator: RegulatorDep, institution_id: str, status: InstitutionStatus,
    reason: str,
    now: NowDep,
) -> InstitutionDetailRead:  # fmt: skip
    inst = institutions.change_status(
        session,
        regulator=regulator,
        institution_id=institution_id,
        status=status,
        reason=reason,
        now=now,
    )
    return _detail(session, inst)


@router.post("/institutions/{institution_id}/freeze", response_model=InstitutionDetailRead)
def freeze(
    institution_id: str, body: ReasonIn, regulator: RegulatorDep, session: SessionDep, now: NowDep
) -> InstitutionDetailRead:
    return _status(session, regulator, institution_id, InstitutionStatus.FROZEN, body.reason, now)


@router.post("/institutions/{institution_id}/unfreeze", response_model=InstitutionDetailRead,
             responses=PENDING_RESPONSE)  # fmt: skip
def unfreeze(
    institution_id: str, body: ReasonIn, regulator: RegulatorDep, session: SessionDep, now: NowDep
) -> Any:
    """Lift a freeze, with a reason. Audited. Where the institution's region's rule pack asks
    for four eyes on `unfreeze` (the default), 202 `{approval}`: nothing changes until a
    supervisor of the office or of one above, not the requester, approves."""
    done = unfreezing.unfreeze(
        session, regulator=regulator, institution_id=institution_id, reason=body.reason, now=now
    )
    if isinstance(done, approvals.Pending):
        return accepted(session, done.approval, now)
    return _detail(session, institutions.in_regulator_scope(session, regulator, institution_id))


@router.post(
    "/institutions/{institution_id}/closure",
    response_model=InstitutionDetailRead,
    # Not before today: a day the schema cannot fix.
    responses=refusals("closure_in_past", "not_found", "institution_inactive"),
)
def announce_closure(
    institution_id: str, body: ClosureIn, regulator: RegulatorDep, session: SessionDep, now: NowDep
) -> InstitutionDetailRead:
    """Record an institution's planned closure: from now it collects no new fees, and its
    refunds and wind-down are judged against the plan."""
    inst = closures.announce_as(
        session, regulator=regulator, institution_id=institution_id, effective=body.effective,
        reason=body.reason, now=now,
    )  # fmt: skip
    return _detail(session, inst)


@router.post("/institutions/{institution_id}/status", response_model=InstitutionDetailRead)
def change_status(
    institution_id: str, body: StatusIn, regulator: RegulatorDep, session: SessionDep, now: NowDep
) -> InstitutionDetailRead:
    """Blacklist or close an institution (freeze and unfreeze have their own endpoints)."""
    status = InstitutionStatus(body.status)
    return _status(session, regulator, institution_id, status, body.reason, now)


@router.post(
    "/institutions/{institution_id}/registry-changes", response_model=InstitutionDetailRead
)
def change_registry(
    institution_id: str,
    body: RegistryChangeIn,
    regulator: RegulatorDep,
    session: SessionDep,
    now: NowDep,
) -> InstitutionDetailRead:
    """Record a change of legal person or address (a warning sign when recent)."""
    inst = institutions.change_registry(
        session,
        regulator=regulator,
        institution_id=institution_id,
        field=body.field,
        value=body.value,
        reason=body.reason,
        now=now,
    )
    return _detail(session, inst)
