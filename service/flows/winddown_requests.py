"""Opening a wind-down and distributing a round are the registry's four-eyes actions
`wind_down_open` and `wind_down_round` (service.policy.approvals): every door (API, workbench)
asks through `open_wind_down` and `make_round` here, which run at once where the
institution's region does not list the action, else leave a pending approval that a second
supervisor decides. On approval the use case (service.flows.winddowns, rounds) runs once, as
the approver's act, judged again at that moment."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from service.flows import rounds, winddowns
from service.flows.models import WindDown
from service.policy import approvals
from service.registry.institutions import in_regulator_scope
from service.registry.models import Approval, Institution, Regulator


def open_wind_down(
    session: Session,
    *,
    regulator: Regulator,
    institution_id: str,
    reason: str,
    effective_at: datetime,
    note: str,
    now: datetime,
) -> approvals.Done | approvals.Pending:
    """Ask to open the wind-down of an institution of the regulator's region; `Done.answer`
    names the wind-down (`wind_down_id`)."""
    inst = in_regulator_scope(session, regulator, institution_id)
    payload = {"institution_id": inst.id, "reason": reason,
               "effective_at": effective_at.isoformat(), "note": note}  # fmt: skip
    return approvals.submit(session, action="wind_down_open", office=regulator, target=inst.id,
                            region_code=inst.region_code, payload=payload, now=now)  # fmt: skip


def make_round(
    session: Session,
    *,
    regulator: Regulator,
    wind_down_id: str,
    amount: Decimal | None,
    now: datetime,
) -> approvals.Done | approvals.Pending:
    """Ask to distribute `amount` (None: everything available) among a wind-down's claims;
    `Done.answer` names the round (`round_id`)."""
    wd = winddowns.of_regulator(session, regulator=regulator, wind_down_id=wind_down_id)
    inst = session.get(Institution, wd.institution_id)
    assert inst is not None
    payload = {"wind_down_id": wd.id, "amount": None if amount is None else f"{amount:.2f}"}
    return approvals.submit(session, action="wind_down_round", office=regulator, target=wd.id,
                            region_code=inst.region_code, payload=payload, now=now)  # fmt: skip


def _run_open(
    session: Session, office: Regulator, payload: Mapping[str, Any], now: datetime
) -> dict[str, Any]:
    wd = winddowns.open_wind_down(
        session, regulator=office, institution_id=str(payload["institution_id"]),
        reason=payload["reason"],  # the use case chooses (invalid_choice)
        effective_at=datetime.fromisoformat(str(payload["effective_at"])),
        note=str(payload["note"]), now=now,
    )  # fmt: skip
    return {"wind_down_id": wd.id, "institution_id": wd.institution_id,
            "effective_at": wd.effective_at.isoformat()}  # fmt: skip


def _run_round(
    session: Session, office: Regulator, payload: Mapping[str, Any], now: datetime
) -> dict[str, Any]:
    amount = payload.get("amount")
    made = rounds.make_round(session, regulator=office, wind_down_id=str(payload["wind_down_id"]),
                             amount=None if amount is None else Decimal(str(amount)),
                             now=now)  # fmt: skip
    r = made.round
    return {"wind_down_id": r.wind_down_id, "round_id": r.id, "seq": r.seq,
            "amount": f"{r.amount:.2f}", "reissued": f"{r.reissued:.2f}",
            "claims_paid": made.claims_paid, "instructions": made.instructions}  # fmt: skip


def _institution_facts(session: Session, institution_id: str) -> list[approvals.Fact]:
    inst = session.get(Institution, institution_id)
    facts = [approvals.Fact(label="institution", value=inst.name if inst else institution_id),
             approvals.Fact(label="institution_id", value=institution_id)]  # fmt: skip
    if inst is not None:
        facts += [approvals.Fact(label="region", value=inst.region_code),
                  approvals.Fact(label="status_now", value=inst.status)]  # fmt: skip
    return facts


def _describe_open(session: Session, approval: Approval) -> list[approvals.Fact]:
    p = approval.payload
    return [*_institution_facts(session, str(p["institution_id"])),
            approvals.Fact(label="wind_down_reason", value=p["reason"]),
            approvals.Fact(label="effective_at", value=p["effective_at"]),
            approvals.Fact(label="note", value=p["note"])]  # fmt: skip


def _describe_round(session: Session, approval: Approval) -> list[approvals.Fact]:
    p = approval.payload
    wd = session.get(WindDown, p["wind_down_id"])
    facts = [approvals.Fact(label="wind_down_id", value=p["wind_down_id"])]
    if wd is not None:
        facts += _institution_facts(session, wd.institution_id)
    # None: everything available when approved (the round judges the money then).
    facts.append(approvals.Fact(label="amount", value=p["amount"]))
    return facts


approvals.register(approvals.Approvable(name="wind_down_open", run=_run_open,
                                        describe=_describe_open))  # fmt: skip
approvals.register(approvals.Approvable(name="wind_down_round", run=_run_round,
                                        describe=_describe_round))  # fmt: skip
