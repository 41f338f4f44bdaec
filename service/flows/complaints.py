"""The regulator's complaint queue: what parents filed in a region, grouped by institution and
category with the number of parents behind each group, and the complaints themselves newest
first — both paged, so that no flood (issue 31, finding 3: 200 spam complaints pushed a real
one out of a list that stopped at 200) hides anyone's complaint."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.orm import Session

from service.errors import DomainError
from service.flows.models import Complaint
from service.kit.paging import Paged, Paging, cut
from service.registry.institutions import audit, in_regulator_scope
from service.registry.models import Institution, Regulator


def complainant() -> ColumnElement[str]:
    """Who filed a complaint: its enrollment (a parent), or, where none is known, itself."""
    return func.coalesce(Complaint.enrollment_id, Complaint.id)


@dataclass(frozen=True, kw_only=True)
class Group:
    institution_id: str
    institution_name: str
    category: str
    parents: int  # distinct complainants
    complaints: int
    still_open: int  # not yet handled
    latest: datetime


@dataclass(frozen=True, kw_only=True)
class Filters:
    category: str | None = None
    institution_id: str | None = None


def _where(stmt: Select[Any], scope: Select[tuple[str]], f: Filters) -> Select[Any]:
    stmt = stmt.where(Complaint.institution_id.in_(scope))
    if f.category:
        stmt = stmt.where(Complaint.category == f.category)
    if f.institution_id:
        stmt = stmt.where(Complaint.institution_id == f.institution_id)
    return stmt


def groups(
    session: Session, *, scope: Select[tuple[str]], filters: Filters, page: int, per_page: int
) -> tuple[list[Group], int]:
    """One page of (institution, category) groups, most parents first; and how many groups."""
    parents = func.count(func.distinct(complainant()))
    stmt = _where(
        select(Complaint.institution_id, Institution.name, Complaint.category, parents,
               func.count(), func.count(Complaint.id) - func.count(Complaint.handled_at),
               func.max(Complaint.created_at))
        .join(Institution, Institution.id == Complaint.institution_id),
        scope, filters,
    ).group_by(Complaint.institution_id, Institution.name, Complaint.category)  # fmt: skip
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.execute(
        stmt.order_by(parents.desc(), func.max(Complaint.created_at).desc(),
                      Complaint.institution_id, Complaint.category)
        .limit(per_page).offset((page - 1) * per_page)
    )  # fmt: skip
    return [
        Group(
            institution_id=i,
            institution_name=n,
            category=c,
            parents=int(p),
            complaints=int(k),
            still_open=int(o),
            latest=at,
        )
        for i, n, c, p, k, o, at in rows
    ], int(total)


def newest(
    session: Session, *, scope: Select[tuple[str]], filters: Filters, paging: Paging
) -> Paged[tuple[Complaint, Institution]]:
    """Complaints newest first, `paging.limit` at a time; a page starts after the (instant,
    id) of the last one before it."""
    joined = select(Complaint, Institution).join(
        Institution, Institution.id == Complaint.institution_id
    )
    stmt = _where(joined, scope, filters)
    if paging.after is not None:
        at, cid = paging.after
        stmt = stmt.where(
            or_(Complaint.created_at < at, and_(Complaint.created_at == at, Complaint.id < cid))
        )
    rows = [
        (c, i)
        for c, i in session.execute(
            stmt.order_by(Complaint.created_at.desc(), Complaint.id.desc()).limit(paging.limit + 1)
        ).tuples()
    ]
    return cut(rows, paging, lambda r: (r[0].created_at, r[0].id))


def handle(
    session: Session, *, regulator: Regulator, complaint_id: str, now: datetime
) -> Complaint:
    """A regulator of its region marks a complaint handled: it leaves the open ones, and its
    parent may file another of its kind. Audited; a complaint handled already is 409."""
    c = session.get(Complaint, complaint_id, with_for_update=True, populate_existing=True)
    if c is None:
        raise DomainError("not_found", f"no complaint {complaint_id}")
    inst = in_regulator_scope(session, regulator, c.institution_id)
    if c.handled_at is not None:
        raise DomainError("invalid_state", f"complaint {c.id} was handled already",
                          extra={"state": "handled"})  # fmt: skip
    c.handled_at, c.handled_by = now, regulator.id
    audit(session, actor=f"regulator:{regulator.id}", action="complaint:handle", subject=c.id,
          detail={"category": c.category}, now=now, institution=inst)  # fmt: skip
    session.flush()
    return c
