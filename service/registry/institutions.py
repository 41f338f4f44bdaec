"""Registering institutions, and changing their status and registry fields with history."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import ColumnElement, Select, and_, or_, select
from sqlalchemy.orm import Session

from service.errors import DomainError
from service.kit.choices import choose
from service.kit.ids import new_id, new_token, token_hash
from service.kit.paging import Paged, Paging, cut, page_rows
from service.registry.identifiers import credit_code_problem
from service.registry.models import (
    FINAL_STATUSES,
    AuditEvent,
    Bank,
    Institution,
    InstitutionChange,
    InstitutionKey,
    InstitutionStatus,
    Regulator,
)
from service.registry.regions import in_scope, is_valid_region, scope_prefix


@dataclass(frozen=True, kw_only=True)
class NewInstitution:
    name: str
    credit_code: str
    region_code: str
    category: str
    supervision_mode: str
    bank_id: str
    escrow_account_no: str
    operating_account_no: str | None = None
    reserve_account_no: str | None = None
    legal_person: str | None = None
    address: str | None = None
    sponsor: str | None = None  # 举办者: the campuses of one chain share it


def register(
    session: Session, *, regulator: Regulator, data: NewInstitution, now: datetime
) -> tuple[Institution, str]:
    """Register an institution in the regulator's region; returns it and its API key (shown
    once). Its ledger accounts are opened by the caller (`flows.onboarding`)."""
    problem = credit_code_problem(data.credit_code)
    if problem:
        raise DomainError("invalid_credit_code", f"credit code {data.credit_code!r}: {problem}")
    if not is_valid_region(data.region_code):
        raise DomainError("invalid_region_code", f"unknown region code {data.region_code!r}")
    if not in_scope(regulator.region_code, data.region_code):
        raise DomainError(
            "out_of_region",
            f"region {data.region_code} is outside this regulator's {regulator.region_code}",
        )
    if session.get(Bank, data.bank_id) is None:
        raise DomainError("unknown_bank", f"no custody bank {data.bank_id!r}")
    if session.scalar(select(Institution.id).where(Institution.credit_code == data.credit_code)):
        raise DomainError("duplicate_credit_code", f"credit code {data.credit_code} is registered")
    accounts = [a for a in (data.escrow_account_no, data.reserve_account_no) if a]
    clash = session.scalar(
        select(Institution.id).where(
            or_(
                Institution.escrow_account_no.in_(accounts),
                Institution.reserve_account_no.in_(accounts),
            )
        )
    )
    if clash or len(set(accounts)) != len(accounts):
        raise DomainError(
            "duplicate_account", "that escrow or reserve account is already registered"
        )
    api_key = new_token("tgi")
    inst = Institution(
        id=new_id("inst"),
        status="active",
        api_key_hash=token_hash(api_key),
        created_at=now,
        **data.__dict__,
    )
    session.add(inst)
    session.flush()
    # Its first named key (service.registry.institution_keys: the institution names, rotates
    # and revokes its keys from here on; `api_key_hash` keeps this first one's hash).
    session.add(InstitutionKey(id=new_id("key"), institution_id=inst.id, name="first key",
                               key_hash=inst.api_key_hash, created_at=now))  # fmt: skip
    session.flush()
    audit(
        session,
        actor=f"regulator:{regulator.id}",
        action="register",
        subject=inst.id,
        detail={"name": inst.name},
        now=now,
        institution=inst,
    )
    return inst, api_key


def set_status(
    session: Session,
    *,
    institution: Institution,
    status: InstitutionStatus,
    reason: str,
    actor: str,
    now: datetime,
) -> Institution:
    """Move an institution to `status` (one of `InstitutionStatus`, else `invalid_choice` and
    nothing changes), kept in its change history and audited."""
    status = choose(InstitutionStatus, status, field="status")
    if institution.status == status:
        return institution
    if (
        institution.status == InstitutionStatus.WINDING_DOWN
        and status is not InstitutionStatus.CLOSED
    ):
        # Only the wind-down moves its institution, and only on to closed.
        raise DomainError(
            "institution_winding_down", "the institution is being wound up: it can only close"
        )
    if institution.status in FINAL_STATUSES and status is InstitutionStatus.ACTIVE:
        raise DomainError(
            "institution_final", f"a {institution.status} institution cannot be reactivated"
        )
    record_change(
        session,
        institution=institution,
        field="status",
        new=status.value,
        reason=reason,
        actor=actor,
        now=now,
    )
    before = institution.status
    institution.status = status.value
    audit(
        session,
        actor=actor,
        action=f"status:{status.value}",
        subject=institution.id,
        detail={"reason": reason, "before": before, "after": status.value},
        now=now,
        institution=institution,
    )
    session.flush()
    return institution


def change_status(
    session: Session,
    *,
    regulator: Regulator,
    institution_id: str,
    status: InstitutionStatus,
    reason: str,
    now: datetime,
) -> Institution:
    """A regulator freezes, unfreezes, blacklists or closes an institution of their region,
    with a reason. Audited, and kept in the institution's change history."""
    status = choose(InstitutionStatus, status, field="status")
    inst = in_regulator_scope(session, regulator, institution_id)
    if status is InstitutionStatus.ACTIVE and inst.status != InstitutionStatus.FROZEN:
        raise DomainError("institution_not_frozen", f"the institution is {inst.status}, not frozen")
    return set_status(
        session,
        institution=inst,
        status=status,
        reason=reason,
        actor=f"regulator:{regulator.id}",
        now=now,
    )


def change_registry(
    session: Session,
    *,
    regulator: Regulator,
    institution_id: str,
    field: str,
    value: str,
    reason: str | None,
    now: datetime,
) -> Institution:
    """A change of legal person or address, recorded by a regulator (a warning sign when
    recent). Audited."""
    inst = in_regulator_scope(session, regulator, institution_id)
    actor = f"regulator:{regulator.id}"
    before = getattr(inst, field, None)
    record_change(
        session, institution=inst, field=field, new=value, reason=reason, actor=actor, now=now
    )
    audit(session, actor=actor, action=f"registry:{field}", subject=inst.id,
          detail={"before": before, "after": value, "reason": reason}, now=now,
          institution=inst)  # fmt: skip
    session.flush()
    return inst


def listed(
    session: Session,
    *,
    regulator: Regulator,
    status: str | None,
    region_code: str | None,
    where: ColumnElement[bool] | None,
    paging: Paging,
) -> Paged[Institution]:
    """Institutions of the regulator's region (narrowed to a region of theirs, a status, any
    condition), a page at a time."""
    stmt = select(Institution).where(
        Institution.region_code.startswith(scope_prefix(regulator.region_code))
    )
    if region_code is not None:
        if not in_scope(regulator.region_code, region_code):
            raise DomainError("out_of_region", f"{region_code} is outside your region")
        stmt = stmt.where(Institution.region_code.startswith(scope_prefix(region_code)))
    if status is not None:
        stmt = stmt.where(Institution.status == status)
    if where is not None:
        stmt = stmt.where(where)
    return page_rows(session, stmt, Institution.id, paging)


def banks(session: Session, paging: Paging) -> Paged[Bank]:
    return page_rows(session, select(Bank), Bank.id, paging)


def record_change(
    session: Session,
    *,
    institution: Institution,
    field: str,
    new: str | None,
    reason: str | None,
    actor: str,
    now: datetime,
) -> None:
    old = getattr(institution, field, None)
    if isinstance(old, date):
        old = old.isoformat()
    session.add(
        InstitutionChange(
            id=new_id("chg"),
            institution_id=institution.id,
            field=field,
            old_value=old,
            new_value=new,
            reason=reason,
            actor=actor,
            at=now,
        )
    )
    if field in ("legal_person", "address"):
        setattr(institution, field, new)


# The key of `Session.info` naming the officer a request acts as.
ACTING_OFFICER = "acting_officer"
# The key naming the four-eyes approval an action runs for (service.policy.approvals): its
# records name the requester as well as the approver who acts.
ON_REQUEST_OF = "on_request_of"


def acting_officer(session: Session) -> str | None:
    """The officer the session's request acts as (service.registry.officers.acting), if any."""
    found = session.info.get(ACTING_OFFICER)
    return str(found) if found else None


def audit(
    session: Session,
    *,
    actor: str,
    action: str,
    subject: str,
    detail: dict[str, object],
    now: datetime,
    institution: Institution | None = None,
    region_code: str | None = None,
    officer_id: str | None = None,
) -> None:
    """On the audit log: who did what to what, when, why, and (in `detail`) the state before
    and after. It belongs to the institution it concerns, or to a region, so that only the
    regulators of that region read it. Where an officer signed in acted for the office, the
    record names them: the request's session carries who (service.registry.officers.acting),
    so no use case has to pass the person along. An action run on approval also names the
    approval and the person who asked for it (`detail["approval"]`)."""
    request = session.info.get(ON_REQUEST_OF)
    if request is not None:
        detail = {**detail, "approval": request}
    session.add(
        AuditEvent(
            id=new_id("aud"),
            at=now,
            actor=actor,
            action=action,
            subject=subject,
            detail=detail,
            institution_id=institution.id if institution is not None else None,
            region_code=institution.region_code if institution is not None else region_code,
            officer_id=officer_id or acting_officer(session),
        )
    )


def refuse_unless_disputed(what: str, status: str) -> None:
    """A regulator decides only what a parent or an institution disputed (a refund, a lesson):
    anything else is 409 `invalid_state`, naming the state it is in."""
    if status != "disputed":
        raise DomainError(
            "invalid_state", f"the {what} is {status}, not disputed", extra={"state": status}
        )


def audit_decision(
    session: Session,
    *,
    regulator: Regulator,
    kind: str,
    subject: str,
    decision: str,
    reason: str,
    now: datetime,
    institution: Institution,
) -> None:
    """A regulator's decision on something disputed, on the audit log (`kind:decision`, from
    disputed to the decision), in the one form every decision of the kind is written in."""
    audit(session, actor=f"regulator:{regulator.id}", action=f"{kind}:{decision}",
          subject=subject, detail={"reason": reason, "before": "disputed", "after": decision},
          now=now, institution=institution)  # fmt: skip


def audit_export(
    session: Session,
    *,
    regulator: Regulator,
    export: str,
    filters: Mapping[str, object],
    rows: int,
    now: datetime,
) -> None:
    """A regulator took a file out of the service: on the region's audit log, with the filter
    it was taken with and how many rows it held (an export is a disclosure)."""
    audit(session, actor=f"regulator:{regulator.id}", action=f"export:{export}",
          subject=f"{export}.csv", now=now, region_code=regulator.region_code,
          detail={"filters": {k: v for k, v in filters.items() if v not in (None, "")},
                  "rows": rows})  # fmt: skip


def audit_log(
    session: Session,
    *,
    regulator: Regulator,
    actor: str | None = None,
    action: str | None = None,
    institution_id: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    paging: Paging,
) -> Paged[AuditEvent]:
    """The audit log of the regulator's region: every action on its institutions and
    settings, newest first, filtered. `actor` is an actor as recorded (`regulator:…`, a job)
    or `officer:<id>`, the person who acted for an office."""
    prefix = scope_prefix(regulator.region_code)
    stmt = select(AuditEvent).where(AuditEvent.region_code.startswith(prefix))
    if actor and actor.startswith("officer:"):  # a person: whatever they did for the office
        stmt = stmt.where(AuditEvent.officer_id == actor.partition(":")[2])
    elif actor:
        stmt = stmt.where(AuditEvent.actor == actor)
    if action:
        stmt = stmt.where(AuditEvent.action.startswith(action))
    if institution_id:
        stmt = stmt.where(AuditEvent.institution_id == institution_id)
    if since is not None:
        stmt = stmt.where(AuditEvent.at >= since)
    if until is not None:
        stmt = stmt.where(AuditEvent.at <= until)
    stmt = stmt.order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(paging.limit + 1)
    if paging.after is not None:  # the id of the last event seen: after it in (at, id) order
        last = str(paging.after)
        at = select(AuditEvent.at).where(AuditEvent.id == last).scalar_subquery()
        # An id naming no event has no place in the order: an empty page, not an error.
        stmt = stmt.where(or_(AuditEvent.at < at, and_(AuditEvent.at == at, AuditEvent.id < last)))
    return cut(list(session.scalars(stmt)), paging, lambda e: e.id)


def region_of_regulator(regulator: Regulator, region_code: str) -> str:
    """`region_code` if it exists and lies in the regulator's region; refused otherwise."""
    if not is_valid_region(region_code):
        raise DomainError("invalid_region_code", f"unknown region code {region_code!r}")
    if not in_scope(regulator.region_code, region_code):
        raise DomainError("out_of_region", f"{region_code} is outside your region")
    return region_code


def scoped_ids(regulator: Regulator) -> Select[tuple[str]]:
    """The ids of the institutions in the regulator's region, as a subquery to filter by."""
    return select(Institution.id).where(
        Institution.region_code.startswith(scope_prefix(regulator.region_code))
    )


def in_regulator_scope(session: Session, regulator: Regulator, institution_id: str) -> Institution:
    """The institution if it is in the regulator's region; 404 otherwise (existence outside
    the region is not revealed)."""
    inst = session.get(Institution, institution_id)
    if inst is None or not in_scope(regulator.region_code, inst.region_code):
        raise DomainError("not_found", f"no institution {institution_id} in your region")
    return inst
