"""Offering a wind-down's parents a successor school is the registry's four-eyes action
`successor_offer` (service.policy.approvals), asked as `wind_down_open` and `wind_down_round`
are (service/flows/winddown_requests.py): every door (API, workbench) asks through
`offer_successor` here, which runs at once where the institution's region does not list the
action, else leaves a pending approval that a second supervisor decides; on approval
`successors.make_offers` runs once, as the approver's act, judged again at that moment."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from service.flows import successors, winddowns
from service.flows.models import WindDown
from service.policy import approvals
from service.registry.models import Approval, Institution, Regulator


def offer_successor(
    session: Session,
    *,
    regulator: Regulator,
    wind_down_id: str,
    successor_institution_id: str,
    enrollment_ids: list[str] | None,
    now: datetime,
) -> approvals.Done | approvals.Pending:
    """Ask to offer the successor to the named claims (None: every claim it can take);
    `Done.answer` names the offers (`offer_ids`)."""
    wd = winddowns.of_regulator(session, regulator=regulator, wind_down_id=wind_down_id)
    inst = session.get(Institution, wd.institution_id)
    assert inst is not None
    named = None if enrollment_ids is None else list(enrollment_ids)
    payload = {"wind_down_id": wd.id, "successor_institution_id": successor_institution_id,
               "enrollment_ids": named}  # fmt: skip
    return approvals.submit(session, action="successor_offer", office=regulator, target=wd.id,
                            region_code=inst.region_code, payload=payload, now=now)  # fmt: skip


def _run(
    session: Session, office: Regulator, payload: Mapping[str, Any], now: datetime
) -> dict[str, Any]:
    named = payload.get("enrollment_ids")
    offers = successors.make_offers(
        session, regulator=office, wind_down_id=str(payload["wind_down_id"]),
        successor_institution_id=str(payload["successor_institution_id"]),
        enrollment_ids=None if named is None else [str(x) for x in named], now=now,
    )  # fmt: skip
    return {"wind_down_id": str(payload["wind_down_id"]),
            "successor_institution_id": str(payload["successor_institution_id"]),
            "offers": len(offers), "offer_ids": [o.id for o in offers],
            "expires_at": offers[0].expires_at.isoformat()}  # fmt: skip


def _describe(session: Session, approval: Approval) -> list[approvals.Fact]:
    p = approval.payload
    wd = session.get(WindDown, p["wind_down_id"])
    facts = [approvals.Fact(label="wind_down_id", value=p["wind_down_id"])]
    if wd is not None:
        inst = session.get(Institution, wd.institution_id)
        facts.append(approvals.Fact(label="institution",
                                    value=inst.name if inst else wd.institution_id))  # fmt: skip
    successor = session.get(Institution, p["successor_institution_id"])
    facts += [
        approvals.Fact(label="successor",
                       value=successor.name if successor else p["successor_institution_id"]),
        approvals.Fact(label="successor_institution_id", value=p["successor_institution_id"]),
        # None: every claim the successor can take when approved (judged then).
        approvals.Fact(label="enrollments", value=p.get("enrollment_ids")),
    ]  # fmt: skip
    return facts


approvals.register(approvals.Approvable(name="successor_offer", run=_run, describe=_describe))
