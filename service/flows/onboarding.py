"""Registering an institution: its registry record, and the ledger accounts its money will
move through (flows/chart.py), in one transaction."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from service.flows.chart import open_institution_accounts
from service.registry import institutions
from service.registry.models import Institution, Regulator


def register_institution(
    session: Session, *, regulator: Regulator, data: institutions.NewInstitution, now: datetime
) -> tuple[Institution, str]:
    """Register in the regulator's region (audited); returns the institution and its API key,
    shown once."""
    inst, api_key = institutions.register(session, regulator=regulator, data=data, now=now)
    open_institution_accounts(session.connection(), inst.id, at=now)
    return inst, api_key
