"""Regulator endpoints. Each authenticates, calls one domain function, returns a body."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from sqlalchemy import select

from service.api.auth import RegulatorDep
from service.api.deps import NowDep, PageDep, SessionDep, page_of, paginate
from service.api.regulator.schemas import InstitutionIn, ReasonIn, RegistryChangeIn, StatusIn
from service.api.regulator.views import institution_view
from service.errors import DomainError
from service.registry import institutions
from service.registry.models import Bank, Institution
from service.registry.regions import in_scope, scope_prefix
from service.risk.summary import risk_summary

router = APIRouter(tags=["regulator"])


@router.get("/banks")
def list_banks(_: RegulatorDep, session: SessionDep, page: PageDep) -> dict[str, Any]:
    return page_of(
        session, select(Bank), Bank.id, page, lambda b: {"id": b.id, "name": b.name, "code": b.code}
    )


@router.post("/institutions", status_code=201)
def register_institution(
    body: InstitutionIn, regulator: RegulatorDep, session: SessionDep, now: NowDep
) -> dict[str, Any]:
    inst, api_key = institutions.register(
        session, regulator=regulator, data=institutions.NewInstitution(**body.model_dump()), now=now
    )
    return {**institution_view(session, inst), "api_key": api_key}


@router.get("/institutions")
def list_institutions(
    regulator: RegulatorDep,
    session: SessionDep,
    page: PageDep,
    risk_level: Annotated[Literal["low", "medium", "high", "critical"] | None, Query()] = None,
    status: Annotated[Literal["active", "frozen", "blacklisted", "closed"] | None, Query()] = None,
    region_code: Annotated[str | None, Query(pattern=r"^\d{6}$")] = None,
) -> dict[str, Any]:
    prefix = scope_prefix(regulator.region_code)
    stmt = select(Institution).where(Institution.region_code.startswith(prefix))
    if region_code is not None:
        if not in_scope(regulator.region_code, region_code):
            raise DomainError("out_of_region", f"{region_code} is outside your region")
        stmt = stmt.where(Institution.region_code.startswith(scope_prefix(region_code)))
    if status is not None:
        stmt = stmt.where(Institution.status == status)
    if page.after is not None:
        stmt = stmt.where(Institution.id > str(page.after))
    stmt = stmt.order_by(Institution.id)
    items: list[dict[str, Any]] = []
    # Risk level lives in the latest evaluation; filter in order until the page is full.
    for inst in session.scalars(stmt):
        if risk_level is not None:
            if risk_summary(session, inst.id, with_indicators=False)["level"] != risk_level:
                continue
        items.append(institution_view(session, inst))
        if len(items) > page.limit:
            break
    return paginate(items, page, key=lambda i: i["id"])


@router.get("/institutions/{institution_id}")
def get_institution(
    institution_id: str, regulator: RegulatorDep, session: SessionDep
) -> dict[str, Any]:
    inst = institutions.in_regulator_scope(session, regulator, institution_id)
    return institution_view(session, inst, detail=True)


@router.post("/institutions/{institution_id}/freeze")
def freeze(
    institution_id: str, body: ReasonIn, regulator: RegulatorDep, session: SessionDep, now: NowDep
) -> dict[str, Any]:
    inst = institutions.in_regulator_scope(session, regulator, institution_id)
    institutions.set_status(
        session,
        institution=inst,
        status="frozen",
        reason=body.reason,
        actor=f"regulator:{regulator.id}",
        now=now,
    )
    return institution_view(session, inst, detail=True)


@router.post("/institutions/{institution_id}/unfreeze")
def unfreeze(
    institution_id: str, body: ReasonIn, regulator: RegulatorDep, session: SessionDep, now: NowDep
) -> dict[str, Any]:
    inst = institutions.in_regulator_scope(session, regulator, institution_id)
    if inst.status != "frozen":
        raise DomainError("invalid_state", f"the institution is {inst.status}, not frozen")
    institutions.set_status(
        session,
        institution=inst,
        status="active",
        reason=body.reason,
        actor=f"regulator:{regulator.id}",
        now=now,
    )
    return institution_view(session, inst, detail=True)


@router.post("/institutions/{institution_id}/registry-changes")
def change_registry(
    institution_id: str,
    body: RegistryChangeIn,
    regulator: RegulatorDep,
    session: SessionDep,
    now: NowDep,
) -> dict[str, Any]:
    """Record a change of legal person or address (a warning sign when recent)."""
    inst = institutions.in_regulator_scope(session, regulator, institution_id)
    institutions.record_change(
        session,
        institution=inst,
        field=body.field,
        new=body.value,
        reason=body.reason,
        actor=f"regulator:{regulator.id}",
        now=now,
    )
    session.flush()
    return institution_view(session, inst, detail=True)


@router.post("/institutions/{institution_id}/status")
def change_status(
    institution_id: str, body: StatusIn, regulator: RegulatorDep, session: SessionDep, now: NowDep
) -> dict[str, Any]:
    """Blacklist or close an institution (freeze and unfreeze have their own endpoints)."""
    inst = institutions.in_regulator_scope(session, regulator, institution_id)
    institutions.set_status(
        session,
        institution=inst,
        status=body.status,
        reason=body.reason,
        actor=f"regulator:{regulator.id}",
        now=now,
    )
    return institution_view(session, inst, detail=True)
