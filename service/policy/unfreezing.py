"""Unfreezing an institution (its status out of frozen) lets money move again: it is the
registry's four-eyes action `unfreeze` (service.policy.approvals). Freezing is protective and
never waits (service.registry.institutions.change_status)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from service.policy import approvals
from service.registry.institutions import change_status, in_regulator_scope
from service.registry.models import Approval, Institution, InstitutionStatus, Regulator


def unfreeze(
    session: Session, *, regulator: Regulator, institution_id: str, reason: str, now: datetime
) -> approvals.Done | approvals.Pending:
    """Every door's way to unfreeze (API, workbench): at once, or a pending approval where the
    institution's region asks for four eyes."""
    inst = in_regulator_scope(session, regulator, institution_id)
    payload = {"institution_id": inst.id, "reason": reason}
    return approvals.submit(session, action="unfreeze", office=regulator, target=inst.id,
                            region_code=inst.region_code, payload=payload, now=now)  # fmt: skip


def _run(
    session: Session, office: Regulator, payload: Mapping[str, Any], now: datetime
) -> dict[str, Any]:
    inst = change_status(session, regulator=office, institution_id=str(payload["institution_id"]),
                         status=InstitutionStatus.ACTIVE, reason=str(payload["reason"]),
                         now=now)  # fmt: skip
    return {"institution_id": inst.id, "status": inst.status}


def _describe(session: Session, approval: Approval) -> list[approvals.Fact]:
    inst = session.get(Institution, approval.payload["institution_id"])
    facts = [approvals.Fact(label="institution", value=inst.name if inst else approval.target),
             approvals.Fact(label="institution_id", value=approval.target),
             approvals.Fact(label="region", value=approval.region_code)]  # fmt: skip
    if inst is not None:
        facts.append(approvals.Fact(label="status_now", value=inst.status))
    facts += [approvals.Fact(label="status_after", value=InstitutionStatus.ACTIVE.value),
              approvals.Fact(label="reason", value=approval.payload["reason"])]  # fmt: skip
    return facts


approvals.register(approvals.Approvable(name="unfreeze", run=_run, describe=_describe))
