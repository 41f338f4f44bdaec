"""How the regulator sees an institution: registry fields, balances and risk."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from service.flows.balances import institution_balances
from service.kit.money import format_money
from service.registry.models import Institution
from service.risk.summary import risk_summary


def institution_view(
    session: Session, inst: Institution, *, detail: bool = False
) -> dict[str, Any]:
    balances = institution_balances(session.connection(), inst.id)
    wire = {k: format_money(v) for k, v in balances.as_wire().items()}
    reserve: dict[str, Any] = {}
    if inst.supervision_mode == "reserve":
        # What guarantees the parents' refunds here, beside what they are owed.
        reserve = {"reserve_account_no": inst.reserve_account_no}
        wire["reserve"] = format_money(balances.reserve)
    return {
        "id": inst.id,
        "name": inst.name,
        "credit_code": inst.credit_code,
        "region_code": inst.region_code,
        "category": inst.category,
        "supervision_mode": inst.supervision_mode,
        "bank_id": inst.bank_id,
        "escrow_account_no": inst.escrow_account_no,
        "operating_account_no": inst.operating_account_no,
        **reserve,
        "status": inst.status,
        "risk": risk_summary(session, inst.id, with_indicators=detail),
        "balances": wire,
        "created_at": inst.created_at.isoformat(),
    }
