"""The books as a regulator reads them: the ledger's trial balance and its verification, over
the institutions of their region (one ledger per institution)."""

from __future__ import annotations

from sqlalchemy.orm import Session

import ledger
from service.registry.institutions import scoped_ids
from service.registry.models import Regulator


def _ledgers(session: Session, regulator: Regulator) -> list[str]:
    return list(session.scalars(scoped_ids(regulator)))


def trial_balance(session: Session, *, regulator: Regulator) -> ledger.TrialBalance:
    return ledger.trial_balance(session.connection(), ledgers=_ledgers(session, regulator))


def verify(session: Session, *, regulator: Regulator) -> ledger.VerifyReport:
    return ledger.verify(session.connection(), ledgers=_ledgers(session, regulator))
