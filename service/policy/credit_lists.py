"""The lists a regulator keeps that a pack's entry gate refuses prepaid sales on (Siping's 2025
draft: no prepaid sales while on the dishonest-debtor or the abnormal-operations list). A
regulator of the institution's region puts it on a list and takes it off, with a reason, both
audited; an enrollment checks the lists only where the institution's pack names any
(service.flows.enrollments), so other regions read nothing."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.errors import DomainError
from service.kit.ids import new_id
from service.policy.models import CreditListEntry
from service.policy.rules import CREDIT_LISTS
from service.registry.institutions import audit, in_regulator_scope, scoped_ids
from service.registry.models import Regulator


def _known(list_name: str) -> str:
    if list_name not in CREDIT_LISTS:
        raise DomainError(
            "validation_error",
            f"no list {list_name!r}; known: {', '.join(CREDIT_LISTS)}",
            extra={"errors": [{"field": "path.list_name", "code": "unknown_list"}]},
        )
    return list_name


def _open(session: Session, institution_id: str, list_name: str) -> CreditListEntry | None:
    return session.scalar(
        select(CreditListEntry).where(
            CreditListEntry.institution_id == institution_id,
            CreditListEntry.list_name == list_name,
            CreditListEntry.removed_at.is_(None),
        )
    )


def listed_on(
    session: Session, institution_id: str, lists: Collection[str], at: datetime
) -> str | None:
    """The first of `lists` the institution is on at `at` (None: on none of them)."""
    if not lists:
        return None
    return session.scalar(
        select(CreditListEntry.list_name)
        .where(
            CreditListEntry.institution_id == institution_id,
            CreditListEntry.list_name.in_(list(lists)),
            CreditListEntry.listed_at <= at,
            (CreditListEntry.removed_at.is_(None)) | (CreditListEntry.removed_at > at),
        )
        .order_by(CreditListEntry.list_name)
        .limit(1)
    )


def add(
    session: Session,
    *,
    regulator: Regulator | None,
    list_name: str,
    institution_id: str,
    reason: str,
    now: datetime,
) -> CreditListEntry:
    """Put an institution on a list (a regulator of its region; None: the service's own tools,
    the demo). Already on it: the entry it is on, unchanged."""
    _known(list_name)
    actor = f"regulator:{regulator.id}" if regulator is not None else "service"
    if regulator is not None:
        inst = in_regulator_scope(session, regulator, institution_id)
    else:
        from service.registry.models import Institution

        found = session.get(Institution, institution_id)
        if found is None:
            raise DomainError("not_found", f"no institution {institution_id}")
        inst = found
    entry = _open(session, inst.id, list_name)
    if entry is not None:
        return entry
    entry = CreditListEntry(id=new_id("crl"), list_name=list_name, institution_id=inst.id,
                            reason=reason, listed_at=now, listed_by=actor)  # fmt: skip
    session.add(entry)
    audit(session, actor=actor, action=f"credit_list:add:{list_name}", subject=inst.id,
          detail={"reason": reason, "before": "not listed", "after": "listed"}, now=now,
          institution=inst)  # fmt: skip
    session.flush()
    return entry


def remove(
    session: Session,
    *,
    regulator: Regulator | None,
    list_name: str,
    institution_id: str,
    reason: str,
    now: datetime,
) -> CreditListEntry:
    """Take an institution off a list; 404 `not_found` if it is not on it."""
    _known(list_name)
    actor = f"regulator:{regulator.id}" if regulator is not None else "service"
    inst = in_regulator_scope(session, regulator, institution_id) if regulator else None
    entry = _open(session, institution_id, list_name)
    if entry is None:
        raise DomainError("not_found", f"{institution_id} is not on the list {list_name}")
    entry.removed_at, entry.removed_by, entry.removal_reason = now, actor, reason
    audit(session, actor=actor, action=f"credit_list:remove:{list_name}", subject=institution_id,
          detail={"reason": reason, "before": "listed", "after": "not listed"}, now=now,
          institution=inst)  # fmt: skip
    session.flush()
    return entry


def entries(
    session: Session, *, regulator: Regulator | None, list_name: str | None = None
) -> list[CreditListEntry]:
    """The entries still open (in the regulator's region), newest first."""
    stmt = select(CreditListEntry).where(CreditListEntry.removed_at.is_(None))
    if regulator is not None:
        stmt = stmt.where(CreditListEntry.institution_id.in_(scoped_ids(regulator)))
    if list_name is not None:
        stmt = stmt.where(CreditListEntry.list_name == _known(list_name))
    return list(session.scalars(stmt.order_by(CreditListEntry.listed_at.desc())))
